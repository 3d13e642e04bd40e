#!/usr/bin/python3
"""Reference values for every tape op (tests/test_tape_ops.c), from PyTorch in float64.

For each case of the table below this writes into tests/data/tape_ops/ref.safetensors
its inputs (<case>.in<k>, float32), the output (<case>.out), a fixed weight R
(<case>.r) and the gradient of sum(out * R) for every input that takes one
(<case>.grad<k>), all computed in float64; and, in the metadata under the case's
name, how its inputs are drawn (so the C runner can draw larger ones for its
1 vs 2 threads check) and its tolerances. The C table maps each case to the op
call it checks. Run: /usr/bin/python3 tests/ref/ref_tape_ops.py
"""
import json, math, os, struct
import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
g = torch.Generator().manual_seed(5)


def X(*shape, lo=-1.0, hi=1.0, away=0.0, grad=True, batched=True):
    """uniform values in [lo, hi) with |x| >= away (kinks); batched: dim 0 grows in the threads check"""
    return dict(kind="x", shape=list(shape), lo=lo, hi=hi, away=away, grad=grad, batched=batched)

def MASK(*shape, batched=True, fixed=None):   # 0/1 (a keep mask), constant; fixed: these values here
    return dict(kind="mask", shape=list(shape), grad=False, batched=batched, fixed=fixed)

def INT(*shape, hi, batched=True):   # integers in [0, hi) (labels, ids, hashes), constant
    return dict(kind="int", shape=list(shape), hi=hi, grad=False, batched=batched)

def SIGN(*shape, batched=False):     # +-1, constant
    return dict(kind="sign", shape=list(shape), grad=False, batched=batched)

def SPACED(*shape):                  # distinct values 0.05 apart (max pooling: no ties within the FD step)
    return dict(kind="spaced", shape=list(shape), lo=-2.0, hi=2.0, grad=True, batched=True)


def draw(spec):
    shape, k = spec["shape"], spec["kind"]
    if k == "x":
        v = spec["lo"] + (spec["hi"] - spec["lo"]) * torch.rand(shape, generator=g)
        while spec["away"] > 0 and (v.abs() < spec["away"]).any():
            bad = v.abs() < spec["away"]
            v[bad] = spec["lo"] + (spec["hi"] - spec["lo"]) * torch.rand(int(bad.sum()), generator=g)
        return v
    if k == "mask":
        if spec["fixed"] is not None: return torch.tensor(spec["fixed"], dtype=torch.float64).reshape(shape)
        return (torch.rand(shape, generator=g) < 0.6).double()
    if k == "int":
        return torch.randint(0, spec["hi"], shape, generator=g).double()
    if k == "sign":
        return torch.randint(0, 2, shape, generator=g).double() * 2 - 1
    if k == "spaced":
        n = int(np.prod(shape))
        return (-2.0 + 0.05 * torch.randperm(n, generator=g).double()).reshape(shape)
    raise ValueError(k)


# ------------------------------------------------------------- references

def masked_softmax(s, keep):
    e = torch.exp(s - s.detach().max(-1, keepdim=True).values) * keep
    tot = e.sum(-1, keepdim=True)
    return e / torch.where(tot > 0, tot, torch.ones_like(tot))


def attention(q, k, v, nh, keep=None, causal=False):
    """softmax(q k^T / sqrt(D)) v per head (heads side by side); keep [B, Tk]; causal: query t
    sees keys <= t + Tk - Tq; a query with no visible key gives 0"""
    B, Tq, E = q.shape
    Tk, D = k.shape[1], E // nh
    sp = lambda t, T: t.reshape(B, T, nh, D).transpose(1, 2)
    s = sp(q, Tq) @ sp(k, Tk).transpose(-1, -2) / math.sqrt(D)
    vis = torch.ones(B, 1, Tq, Tk)
    if keep is not None: vis = vis * keep[:, None, None, :]
    if causal: vis = vis * (torch.arange(Tk)[None, :] <= torch.arange(Tq)[:, None] + Tk - Tq).double()
    return (masked_softmax(s, vis) @ sp(v, Tk)).transpose(1, 2).reshape(B, Tq, E)


def ce_rows(logits, labels, smoothing):
    logp = torch.log_softmax(logits, -1)
    C = logits.shape[-1]
    tgt = F.one_hot(labels.long(), C).double() * (1 - smoothing) + smoothing / C
    return -(tgt * logp).sum(-1)


def infonce(a, b, t):
    n = lambda x: x / torch.sqrt((x * x).sum(-1, keepdim=True))
    S = torch.exp(t[0]) * n(a) @ n(b).T
    y = torch.arange(a.shape[0])
    return ((F.cross_entropy(S, y) + F.cross_entropy(S.T, y)) / 2).reshape(1)


def bn(x, gam, bet, eps=1e-5):
    return F.batch_norm(x, None, None, gam, bet, training=True, eps=eps)


def count_sketch(x, h, s, d):
    S = torch.zeros(x.shape[1], d)
    S[torch.arange(x.shape[1]), h.long()] = s
    return x @ S


def circ_conv(a, b):
    return torch.fft.ifft(torch.fft.fft(a) * torch.fft.fft(b)).real


def ssqrt(x, eps):
    return torch.sign(x) * (torch.sqrt(x.abs() + eps) - math.sqrt(eps))


# ------------------------------------------------------------------ cases
# name: (inputs, reference, options). options: big = how many times dim 0 of the
# batched inputs grows for the threads check; training; tol = (atol, rtol) for
# the value and gradient against float64; fd = (eps, atol, rtol); ref = False
# when the value is random (dropout: checked by its own rule in the C runner).
CASES = {}
def case(name, inputs, fn, **opt):
    CASES[name] = (inputs, fn, opt)

case("linear", [X(4, 5), X(3, 5, batched=False), X(3, batched=False)], lambda x, w, b: F.linear(x, w, b), big=20000)
case("linear_3d_nobias", [X(2, 3, 4), X(5, 4, batched=False)], lambda x, w: F.linear(x, w), big=10000)
for ta in (0, 1):
    for tb in (0, 1):
        a2, b2 = (X(4, 3) if ta else X(3, 4, batched=True)), (X(5, 4, batched=False) if tb else X(4, 5, batched=ta == 1))
        case("matmul_ta%d_tb%d" % (ta, tb), [a2, b2],
             lambda a, b, ta=ta, tb=tb: (a.T if ta else a) @ (b.T if tb else b), big=1 if ta else 20000)
        case("bmm_ta%d_tb%d" % (ta, tb), [X(2, 4, 3) if ta else X(2, 3, 4), X(2, 5, 4) if tb else X(2, 4, 5)],
             lambda a, b, ta=ta, tb=tb: (a.transpose(1, 2) if ta else a) @ (b.transpose(1, 2) if tb else b), big=2000)
case("add", [X(3, 4), X(3, 4)], lambda a, b: a + b, big=8000)
case("add_row_bcast", [X(3, 4), X(4, batched=False)], lambda a, b: a + b, big=8000)
case("sub_both_bcast", [X(3, 1), X(1, 4, batched=False)], lambda a, b: a - b, big=8000)
case("mul_3d_bcast", [X(2, 3, 4), X(3, 1, batched=False)], lambda a, b: a * b, big=4000)
case("mul_scalar", [X(3, 4), X(1, batched=False)], lambda a, b: a * b, big=8000)
case("scale", [X(3, 4)], lambda x: -1.5 * x + 0.25, big=8000)
case("concat_axis0", [X(2, 3), X(4, 3), X(2, 3, grad=False)], lambda a, b, c: torch.cat([a, b, c], 0), big=8000)
case("concat_axis1", [X(2, 3), X(2, 1), X(2, 3, grad=False)], lambda a, b, c: torch.cat([a, b, c], 1), big=8000)
for ax in range(3):
    case("slice_axis%d" % ax, [X(4, 4, 4)], lambda x, ax=ax: x.narrow(ax, 1, 2), big=2000)
case("reshape", [X(2, 3, 4)], lambda x: x.reshape(-1, 8) ** 2, big=4000)
for ax in range(3):
    case("sum_axis%d" % ax, [X(2, 3, 4)], lambda x, ax=ax: x.sum(ax), big=4000)
case("sum_all", [X(3, 4)], lambda x: x.sum().reshape(1), big=8000)
case("mean_all", [X(3, 4)], lambda x: x.mean().reshape(1), big=8000)

case("tanh", [X(3, 5, lo=-2, hi=2)], torch.tanh, big=8000)
case("sigmoid", [X(3, 5, lo=-2, hi=2)], torch.sigmoid, big=8000)
case("relu", [X(3, 5, lo=-2, hi=2, away=0.1)], torch.relu, big=8000)
case("gelu", [X(3, 5, lo=-2, hi=2)], F.gelu, big=8000)
case("exp", [X(3, 5, lo=-2, hi=2)], torch.exp, big=8000)
case("signed_sqrt", [X(3, 5, lo=-2, hi=2, away=0.1)], lambda x: ssqrt(x, 1e-6), big=8000)
case("gated_sum_m2", [X(3, 8, lo=-2, hi=2), X(3, 4, lo=-2, hi=2), X(3, 4, lo=-2, hi=2)],
     lambda gt, a0, a1: torch.sigmoid(gt[:, :4]) * torch.tanh(a0) + torch.sigmoid(gt[:, 4:]) * torch.tanh(a1), big=8000)
case("gated_sum_m2_masked", [X(3, 8, lo=-2, hi=2), X(3, 4, lo=-2, hi=2), X(3, 4, lo=-2, hi=2), MASK(3, 2, fixed=[1, 1, 0, 1, 1, 0])],
     lambda gt, a0, a1, k: k[:, :1] * torch.sigmoid(gt[:, :4]) * torch.tanh(a0) + k[:, 1:] * torch.sigmoid(gt[:, 4:]) * torch.tanh(a1),
     big=8000)
case("gated_sum_m3_masked", [X(2, 15, lo=-2, hi=2), X(2, 5, lo=-2, hi=2), X(2, 5, lo=-2, hi=2), X(2, 5, lo=-2, hi=2), MASK(2, 3)],
     lambda gt, a0, a1, a2, k: sum(k[:, m:m + 1] * torch.sigmoid(gt[:, 5 * m:5 * m + 5]) * torch.tanh(a) for m, a in enumerate((a0, a1, a2))),
     big=8000)
case("gated_sum_shared_block", [X(3, 8, lo=-2, hi=2), X(3, 4, lo=-2, hi=2)],
     lambda gt, a: (torch.sigmoid(gt[:, :4]) + torch.sigmoid(gt[:, 4:])) * torch.tanh(a), big=8000)
case("softmax", [X(4, 5, lo=-2, hi=2)], lambda x: torch.softmax(x, -1), big=8000)
case("softmax_masked", [X(4, 5, lo=-2, hi=2), MASK(4, 5)], lambda x, k: masked_softmax(x, k), big=8000)
case("layernorm", [X(3, 6, lo=-2, hi=2), X(6, lo=0.5, hi=1.5, batched=False), X(6, batched=False)],
     lambda x, w, b: F.layer_norm(x, (6,), w, b, 1e-5), big=8000)
case("layernorm_plain", [X(2, 2, 6, lo=-2, hi=2)], lambda x: F.layer_norm(x, (6,), None, None, 1e-5), big=4000)
case("l2norm", [X(3, 6, lo=-2, hi=2)], lambda x: x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-12), big=8000)
case("dropout", [X(4, 6, lo=-2, hi=2)], None, training=True, big=8000, ref=False)
case("embedding", [X(4, 3, lo=-2, hi=2, batched=False), INT(5, hi=4)], lambda t, ids: t[ids.long()], big=20000)

case("attention", [X(2, 3, 4), X(2, 3, 4), X(2, 3, 4)], lambda q, k, v: attention(q, k, v, 2), big=64)
case("attention_key_mask_cross", [X(2, 3, 4), X(2, 4, 4), X(2, 4, 4), MASK(2, 4)],
     lambda q, k, v, m: attention(q, k, v, 2, m), big=64)
case("attention_causal", [X(2, 4, 3), X(2, 4, 3), X(2, 4, 3)], lambda q, k, v: attention(q, k, v, 1, causal=True), big=64)
case("attention_causal_cross", [X(2, 2, 4), X(2, 4, 4), X(2, 4, 4)], lambda q, k, v: attention(q, k, v, 2, causal=True), big=64)
case("attention_all_masked_row", [X(2, 2, 3), X(2, 3, 3), X(2, 3, 3), MASK(2, 3, fixed=[0, 0, 0, 1, 1, 0])],
     lambda q, k, v, m: attention(q, k, v, 1, m), big=64)
case("gru_cell", [X(2, 3), X(2, 2), X(6, 3, batched=False), X(6, 2, batched=False), X(6, batched=False), X(6, batched=False)],
     lambda x, h, wi, wh, bi, bh: torch.gru_cell(x, h, wi, wh, bi, bh), big=20000)
case("lstm_cell", [X(2, 3), X(2, 2), X(2, 2), X(8, 3, batched=False), X(8, 2, batched=False), X(8, batched=False), X(8, batched=False)],
     lambda x, h, c, wi, wh, bi, bh: torch.cat(torch.lstm_cell(x, (h, c), wi, wh, bi, bh), 1), big=20000)

case("outer", [X(2, 3), X(2, 4)], lambda a, b: (a[:, :, None] * b[:, None, :]).reshape(a.shape[0], -1), big=8000)
case("count_sketch", [X(3, 5), INT(5, hi=4, batched=False), SIGN(5)], lambda x, h, s: count_sketch(x, h, s, 4), big=8000)
case("circ_conv", [X(2, 8), X(2, 8)], circ_conv, big=2048, tol=(1e-6, 1e-4))
case("circ_conv_d1", [X(2, 1), X(2, 1)], circ_conv, big=16)

case("cross_entropy", [X(3, 4, lo=-2, hi=2), INT(3, hi=4)], lambda x, y: ce_rows(x, y, 0.0).mean().reshape(1), big=8000)
case("cross_entropy_smooth", [X(3, 4, lo=-2, hi=2), INT(3, hi=4)], lambda x, y: ce_rows(x, y, 0.2).mean().reshape(1), big=8000)
case("cross_entropy_weighted", [X(3, 4, lo=-2, hi=2), INT(3, hi=4), X(3, lo=0, hi=2, grad=False)],
     lambda x, y, w: ((w * ce_rows(x, y, 0.1)).sum() / w.sum()).reshape(1), big=8000)
case("bce_logits", [X(3, 4, lo=-3, hi=3), X(3, 4, lo=0, hi=1, grad=False)],
     lambda x, t: F.binary_cross_entropy_with_logits(x, t).reshape(1), big=8000)
case("mse", [X(3, 4, lo=-3, hi=3), X(3, 4, lo=-1, hi=1, grad=False)], lambda x, t: F.mse_loss(x, t).reshape(1), big=8000)
case("infonce", [X(4, 3), X(4, 3), X(1, lo=0.5, hi=1.5, batched=False)], infonce, big=256)

conv = lambda s, p: (lambda x, w, b=None: F.conv2d(x, w, b, s, p))
case("conv2d_3x3_s1_p1", [X(2, 3, 5, 4), X(4, 3, 3, 3, lo=-0.5, hi=0.5, batched=False), X(4, batched=False)], conv(1, 1), big=64)
case("conv2d_3x3_s1_p1_width1", [X(2, 2, 3, 1), X(3, 2, 3, 3, lo=-0.5, hi=0.5, batched=False)], conv(1, 1), big=64)
case("conv2d_3x3_s1_p1_width2", [X(2, 2, 5, 2), X(2, 2, 3, 3, lo=-0.5, hi=0.5, batched=False)], conv(1, 1), big=64)
case("conv2d_5x5_s1_p2", [X(2, 2, 4, 3), X(2, 2, 5, 5, lo=-0.5, hi=0.5, batched=False)], conv(1, 2), big=64)
case("conv2d_2x3_s1_p1", [X(2, 2, 3, 4), X(2, 2, 2, 3, lo=-0.5, hi=0.5, batched=False)], conv(1, 1), big=64)
case("conv2d_3x3_s1_p1_16ch", [X(2, 16, 4, 4), X(16, 16, 3, 3, lo=-0.5, hi=0.5, batched=False), X(16, batched=False)],
     conv(1, 1), big=16)
case("conv2d_3x2_s2_p0", [X(2, 2, 7, 6), X(3, 2, 3, 2, lo=-0.5, hi=0.5, batched=False)], conv(2, 0), big=64)
case("conv2d_4x4_s2_p2", [X(3, 2, 5, 5), X(2, 2, 4, 4, lo=-0.5, hi=0.5, batched=False), X(2, batched=False)], conv(2, 2), big=64)
case("batchnorm2d_train", [X(3, 4, 3, 2, lo=-2, hi=2), X(4, lo=0.5, hi=1.5, batched=False), X(4, batched=False)], bn,
     training=True, big=512)
case("batchnorm1d_train", [X(6, 5, lo=-2, hi=2), X(5, lo=0.5, hi=1.5, batched=False), X(5, batched=False)], bn,
     training=True, big=4096)
case("batchnorm2d_eval", [X(2, 4, 3, 3, lo=-2, hi=2), X(4, lo=0.5, hi=1.5, batched=False), X(4, batched=False),
                          X(4, grad=False, batched=False), X(4, lo=0.5, hi=1.5, grad=False, batched=False)],
     lambda x, gm, bt, rm, rv: F.batch_norm(x, rm, rv, gm, bt, training=False, eps=1e-5), big=512)
case("batchnorm_relu_train", [X(2, 4, 3, 2, lo=-2, hi=2), X(4, lo=0.5, hi=1.5, batched=False), X(4, batched=False)],
     lambda x, gm, bt: torch.relu(bn(x, gm, bt)), training=True, big=512, kink=bn, fd=(1e-3, 2e-3, 2e-2))
pool = lambda f, *a: (lambda x: f(x, *a))
case("maxpool2d_k2_s2", [SPACED(2, 2, 5, 4)], pool(F.max_pool2d, 2, 2, 0), big=512)
case("maxpool2d_k3_s2_p1", [SPACED(2, 2, 5, 6)], pool(F.max_pool2d, 3, 2, 1), big=512)
case("avgpool2d_k3_s2_p1_cip", [X(2, 2, 5, 6)], lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True), big=512)
case("avgpool2d_k3_s1_p1_nocip", [X(1, 2, 4, 5)], lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), big=1024)
case("global_avgpool", [X(2, 3, 3, 4)], lambda x: x.mean((2, 3)), big=1024)


# ------------------------------------------------------------------ writing

def main():
    out, meta = {}, {"generator": "tests/ref/ref_tape_ops.py", "torch": torch.__version__}
    for name, (inputs, fn, opt) in CASES.items():
        for attempt in range(2000):
            ins = [draw(s) for s in inputs]
            ins = [t.to(torch.float32).to(torch.float64).requires_grad_(s["grad"]) for t, s in zip(ins, inputs)]
            if fn is None: break
            y = fn(*ins)
            # a ReLU after batchnorm: redraw until no value before it is within 0.05 of its kink (50 finite-difference steps)
            if "kink" not in opt or opt["kink"](*ins).detach().abs().min() >= 0.05: break
        else:
            raise RuntimeError(name + ": no draw keeps away from the kink")
        for k, t in enumerate(ins): out["%s.in%d" % (name, k)] = t.detach()
        if fn is not None:
            R = torch.randn(y.shape, generator=g).to(torch.float32).to(torch.float64)
            (y * R).sum().backward()
            out[name + ".out"], out[name + ".r"] = y.detach(), R
            for k, t in enumerate(ins):
                if inputs[k]["grad"]: out["%s.grad%d" % (name, k)] = t.grad
        meta[name] = json.dumps({"inputs": [{k: v for k, v in s.items() if k not in ("shape", "fixed")} for s in inputs],
                                 "big": opt.get("big", 1), "training": int(opt.get("training", False)),
                                 "ref": int(opt.get("ref", True)), "tol": list(opt.get("tol", (2e-6, 2e-5))),
                                 "fd": list(opt.get("fd", (1e-2, 2e-3, 2e-2)))})
    hdr, off, blobs = {"__metadata__": meta}, 0, []
    for k in sorted(out):
        a = np.ascontiguousarray(out[k].numpy().astype(np.float32)); b = a.tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    path = os.path.join(ROOT, "tests/data/tape_ops/ref.safetensors")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
    os.replace(path + ".tmp", path)
    print("wrote %s: %d cases, %d bytes" % (path, len(CASES), off))


if __name__ == "__main__":
    main()
