#!/usr/bin/python3
"""Reference outputs for every forward kernel in src/core/ops.h (and the F16/BF16
conversions in src/core/tensor.h), computed with Debian's PyTorch.

    /usr/bin/python3 tests/ref/ref_kernels.py [OUT]   (default tests/data/kernels/kernels_ref.safetensors)

Inputs are float32 from a seeded generator; the expected outputs are computed in
float64 from those float32 inputs (then rounded to float32), so the C test measures
how far our float32 kernels are from the exact answer rather than from PyTorch's own
float32 rounding. Each case `K.NAME` stores its inputs, its expected output and a
small I32 `K.NAME.cfg` tensor with the sizes, so tests/test_kernels.c loops over
cases without repeating them.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402

torch.manual_seed(1234)
T = {}


def f32(t):
    return t.detach().to(torch.float32).contiguous()


def put(name, t):
    T[name] = t if isinstance(t, np.ndarray) else t.detach().contiguous()


def cfg(name, *vals):
    T[name + ".cfg"] = np.array(vals, dtype=np.int32)


def randn(*shape, scale=1.0, shift=0.0):
    return f32(torch.randn(*shape) * scale + shift)


# ---- linear: out (N,OC) = x (N,IC) W^T + b ----
for name, N, IC, OC, bias in [("bias", 7, 37, 23, 1), ("nobias", 5, 64, 17, 0), ("wide", 9, 768, 40, 1)]:
    x = randn(N, IC)
    w = randn(OC, IC, scale=1.0 / math.sqrt(IC))
    b = randn(OC) if bias else None
    y = F.linear(x.double(), w.double(), b.double() if bias else None)
    p = "linear." + name
    put(p + ".x", x); put(p + ".w", w); put(p + ".y", f32(y))
    if bias:
        put(p + ".b", b)
    cfg(p, N, IC, OC, bias)

# ---- layernorm (biased variance), with and without affine ----
for name, N, C, eps, affine, scale, shift in [("bert", 5, 768, 1e-12, 1, 3.0, 5.0),
                                              ("odd", 7, 33, 1e-5, 1, 1.0, 0.0),
                                              ("noaffine", 4, 50, 1e-6, 0, 0.01, 100.0)]:
    x = randn(N, C, scale=scale, shift=shift)
    w = randn(C, shift=1.0) if affine else None
    b = randn(C) if affine else None
    y = F.layer_norm(x.double(), (C,), w.double() if affine else None, b.double() if affine else None, eps)
    p = "layernorm." + name
    put(p + ".x", x); put(p + ".y", f32(y)); put(p + ".eps", torch.tensor([eps], dtype=torch.float32))
    if affine:
        put(p + ".w", w); put(p + ".b", b)
    cfg(p, N, C, affine)

# ---- elementwise activations over one shared input ----
special = torch.tensor([0.0, -0.0, 1e-4, -1e-4, 1e-30, -1e-30, 0.5, -0.5, 3.0, -3.0, 6.0, -6.0, 9.0, -9.0,
                        15.0, -15.0, 20.0, -20.0, 50.0, -50.0, 87.0, -87.0, 88.5, -88.5, 100.0, -100.0,
                        1e4, -1e4])
act_x = f32(torch.cat([special, torch.linspace(-10, 10, 1001), torch.randn(1024) * 3]))
xd = act_x.double()
put("act.x", act_x)
put("act.gelu_erf", f32(F.gelu(xd)))
put("act.gelu_tanh", f32(F.gelu(xd, approximate="tanh")))
put("act.quick_gelu", f32(xd * torch.sigmoid(1.702 * xd)))
put("act.relu", f32(torch.relu(xd)))
put("act.tanh", f32(torch.tanh(xd)))
put("act.sigmoid", f32(torch.sigmoid(xd)))

# ---- residual add and bias add ----
a, b = randn(1000), randn(1000, scale=10.0)
put("add.a", a); put("add.b", b); put("add.y", f32(a.double() + b.double()))
x, bias = randn(6, 13), randn(13)
put("add_bias.x", x); put("add_bias.bias", bias); put("add_bias.y", f32(x.double() + bias.double()))
cfg("add_bias", 6, 13)


# ---- masked softmax over rows; keep is per column, shared by every row ----
def masked_softmax(s, keep_bool):
    """float64 softmax over the last dim where keep_bool is True; rows with nothing kept -> 0."""
    s = s.masked_fill(~keep_bool, float("-inf"))
    return torch.nan_to_num(torch.softmax(s, dim=-1), nan=0.0)


for name, rows, cols, has_keep, kind in [("plain", 6, 37, 0, "plain"), ("masked", 5, 19, 1, "random"),
                                         ("allmasked", 3, 8, 1, "none")]:
    x = randn(rows, cols, scale=5.0)
    if name == "plain":
        x[2] += 1000.0    # stability: a naive exp would overflow
        x[3] -= 1000.0
    if kind == "random":
        keep = (torch.rand(cols) < 0.7).to(torch.uint8)
        keep[0] = 1
    elif kind == "none":
        keep = torch.zeros(cols, dtype=torch.uint8)
    else:
        keep = torch.ones(cols, dtype=torch.uint8)
    y = masked_softmax(x.double(), keep.bool().expand(rows, cols))
    p = "softmax." + name
    put(p + ".x", x); put(p + ".y", f32(y))
    if has_keep:
        put(p + ".keep", keep.numpy())
    cfg(p, rows, cols, has_keep)


# ---- scaled dot-product attention, Hugging Face interleaved heads ----
def attention_ref(q, k, v, B, H, Tq, Tk, D, keep, causal, scale):
    """q (B,Tq,H*D), k/v (B,Tk,H*D) float64 -> (B,Tq,H*D)."""
    qh = q.view(B, Tq, H, D).transpose(1, 2)
    kh = k.view(B, Tk, H, D).transpose(1, 2)
    vh = v.view(B, Tk, H, D).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) * scale                          # (B,H,Tq,Tk)
    allow = torch.ones(B, 1, Tq, Tk, dtype=torch.bool)
    if keep is not None:
        allow = allow & keep.bool().view(B, 1, 1, Tk)
    if causal:
        t = torch.arange(Tq).view(Tq, 1)
        j = torch.arange(Tk).view(1, Tk)
        allow = allow & (j <= t + (Tk - Tq)).view(1, 1, Tq, Tk)
    p_ = masked_softmax(s, allow.expand(B, H, Tq, Tk))
    return (p_ @ vh).transpose(1, 2).reshape(B, Tq, H * D)


def padding_keep(B, Tk, lengths):
    keep = torch.zeros(B, Tk, dtype=torch.uint8)
    for i, n in enumerate(lengths):
        keep[i, :n] = 1
    return keep


att_cases = [
    # name, B, H, Tq, Tk, D, causal, lengths (None = no mask), fused
    ("pad", 2, 3, 7, 7, 8, 0, [7, 4], 0),
    ("causal", 2, 2, 6, 6, 4, 1, None, 0),
    ("cross", 2, 3, 4, 9, 5, 0, [9, 6], 0),
    ("cross_causal", 1, 2, 4, 9, 8, 1, [8], 0),
    ("short_k_causal", 1, 2, 5, 3, 4, 1, None, 0),   # first two queries see no key -> zeros
    ("all_pad", 2, 2, 4, 4, 4, 0, [4, 0], 0),         # batch 1 fully padded -> zeros
    ("fused", 2, 4, 10, 10, 16, 0, [10, 7], 1),       # q, k, v in one (B,T,3*H*D) buffer
    ("fused_causal", 1, 2, 5, 5, 8, 1, [5], 1),
]
for name, B, H, Tq, Tk, D, causal, lengths, fused in att_cases:
    HD = H * D
    scale = 1.0 / math.sqrt(D)
    keep = padding_keep(B, Tk, lengths) if lengths is not None else None
    p = "attn." + name
    if fused:
        qkv = randn(B, Tq, 3 * HD, scale=2.0)
        q, k, v = qkv[..., :HD], qkv[..., HD:2 * HD], qkv[..., 2 * HD:]
        put(p + ".qkv", qkv)
    else:
        q, k, v = randn(B, Tq, HD, scale=2.0), randn(B, Tk, HD, scale=2.0), randn(B, Tk, HD)
        put(p + ".q", q); put(p + ".k", k); put(p + ".v", v)
    y = attention_ref(q.double().contiguous(), k.double().contiguous(), v.double().contiguous(),
                      B, H, Tq, Tk, D, keep, causal, scale)
    put(p + ".y", f32(y))
    put(p + ".scale", torch.tensor([scale], dtype=torch.float32))
    if keep is not None:
        put(p + ".keep", keep.numpy())
    cfg(p, B, H, Tq, Tk, D, causal, 1 if keep is not None else 0, fused)

# ---- GEMM, batched, with transposes and leading dimensions ----
gemm_cases = [
    # name, transA, transB, batch, M, N, K, pad_a, pad_b, pad_c, alpha, beta
    ("nn", 0, 0, 3, 5, 7, 6, 0, 0, 0, 1.0, 0.0),
    ("nt", 0, 1, 3, 5, 7, 6, 0, 0, 0, 1.0, 0.0),
    ("tn", 1, 0, 2, 4, 9, 7, 0, 0, 0, 0.25, 1.0),
    ("tt", 1, 1, 3, 5, 3, 8, 0, 0, 0, 0.5, 2.0),
    ("ld", 0, 0, 2, 9, 11, 13, 3, 2, 1, 1.5, -0.5),     # lda/ldb/ldc wider than the rows
    ("ld_t", 1, 1, 2, 6, 5, 4, 1, 3, 2, 1.0, 1.0),
    ("qk", 0, 1, 4, 32, 32, 64, 0, 0, 0, 0.125, 0.0),   # attention-like Q K^T
]
for name, ta, tb, batch, M, N, K, pa, pb, pc, alpha, beta in gemm_cases:
    ra, ca = (K, M) if ta else (M, K)
    rb, cb = (N, K) if tb else (K, N)
    lda, ldb, ldc = ca + pa, cb + pb, N + pc
    A = randn(batch, ra, lda)
    Bm = randn(batch, rb, ldb)
    C0 = randn(batch, M, ldc)
    a_ = A[:, :, :ca].double()
    b_ = Bm[:, :, :cb].double()
    if ta:
        a_ = a_.transpose(1, 2)
    if tb:
        b_ = b_.transpose(1, 2)
    C = C0.double().clone()
    C[:, :, :N] = alpha * (a_ @ b_) + beta * C0[:, :, :N].double()
    p = "gemm." + name
    put(p + ".a", A); put(p + ".b", Bm); put(p + ".c0", C0); put(p + ".c", f32(C))
    put(p + ".alpha_beta", torch.tensor([alpha, beta], dtype=torch.float32))
    cfg(p, ta, tb, batch, M, N, K, lda, ldb, ldc)

# ---- embedding lookup ----
table = randn(11, 6)
ids = torch.tensor([3, 0, 10, 3, 7, 1, 1, 9, 2], dtype=torch.int32)
put("embedding.table", table); put("embedding.ids", ids.numpy())
put("embedding.y", f32(F.embedding(ids.long(), table)))


# ---- conv2d (+ batchnorm and its folding) ----
def conv_case(prefix, N, C, H, W, OC, KH, KW, stride, pad, bias):
    x = randn(N, C, H, W)
    w = randn(OC, C, KH, KW, scale=1.0 / math.sqrt(C * KH * KW))
    b = randn(OC) if bias else None
    y = F.conv2d(x.double(), w.double(), b.double() if bias else None, stride=stride, padding=pad)
    put(prefix + ".x", x); put(prefix + ".w", w)
    if bias:
        put(prefix + ".b", b)
    cfg(prefix, N, C, H, W, OC, KH, KW, stride, pad, bias)
    return y


conv_cases = [
    # name, N, C, H, W, OC, KH, KW, stride, pad, bias
    ("k3s1p1", 2, 3, 8, 8, 4, 3, 3, 1, 1, 1),
    ("k7s2p3", 1, 3, 20, 20, 5, 7, 7, 2, 3, 0),        # ResNet stem
    ("k1", 2, 6, 5, 5, 4, 1, 1, 1, 0, 0),             # pointwise: no im2col
    ("k1s2", 1, 6, 7, 7, 4, 1, 1, 2, 0, 1),           # ResNet downsample shortcut
    ("nonsquare", 2, 2, 6, 9, 3, 3, 3, 2, 1, 1),
    ("k3x1", 1, 2, 7, 5, 3, 3, 1, 1, 1, 1),
    ("k16s16", 1, 3, 32, 32, 8, 16, 16, 16, 0, 1),    # ViT patch embedding
]
for c in conv_cases:
    put("conv." + c[0] + ".y", f32(conv_case("conv." + c[0], *c[1:])))


def bn_params(C, affine):
    mean, var = randn(C, scale=0.5), f32(torch.rand(C) + 0.5)
    gamma = randn(C, scale=0.5, shift=1.0) if affine else None
    beta = randn(C) if affine else None
    return mean, var, gamma, beta


def put_bn(p, mean, var, gamma, beta, eps):
    put(p + ".mean", mean); put(p + ".var", var); put(p + ".eps", torch.tensor([eps], dtype=torch.float32))
    if gamma is not None:
        put(p + ".gamma", gamma); put(p + ".beta", beta)


def bn_ref(x, mean, var, gamma, beta, eps):
    return F.batch_norm(x, mean.double(), var.double(), gamma.double() if gamma is not None else None,
                        beta.double() if beta is not None else None, training=False, eps=eps)


for name, N, C, H, W, affine, eps in [("affine", 2, 4, 5, 5, 1, 1e-5), ("plain", 1, 3, 1, 7, 0, 1e-3)]:
    x = randn(N, C, H, W, scale=2.0)
    mean, var, gamma, beta = bn_params(C, affine)
    p = "bn." + name
    put(p + ".x", x); put_bn(p, mean, var, gamma, beta, eps)
    put(p + ".y", f32(bn_ref(x.double(), mean, var, gamma, beta, eps)))
    cfg(p, N, C, H * W, affine)

# folded: expected = bn(conv(x)); the test folds bn into the conv weights and runs one conv
for name, c in [("bias", ("k3", 2, 3, 6, 6, 4, 3, 3, 1, 1, 1)), ("nobias", ("k1", 1, 5, 4, 4, 6, 1, 1, 1, 0, 0))]:
    p = "bnfold." + name
    y = conv_case(p, *c[1:])
    mean, var, gamma, beta = bn_params(c[5], 1)
    put_bn(p, mean, var, gamma, beta, 1e-5)
    put(p + ".y", f32(bn_ref(y, mean, var, gamma, beta, 1e-5)))

# ---- pooling ----
pool_cases = [
    # name, N, C, H, W, k, stride, pad, mode (0 max, 1 avg count_include_pad, 2 avg exclude pad)
    ("max_k3s2p1", 2, 3, 9, 9, 3, 2, 1, 0),
    ("max_k3s2p1_rect", 1, 2, 8, 11, 3, 2, 1, 0),
    ("max_k2s2", 1, 2, 6, 7, 2, 2, 0, 0),
    ("avg_k3s2p1_incl", 2, 2, 7, 10, 3, 2, 1, 1),
    ("avg_k3s2p1_excl", 2, 2, 7, 10, 3, 2, 1, 2),
    ("avg_k3s1p1_excl", 1, 2, 5, 5, 3, 1, 1, 2),
    ("avg_k2s2", 1, 3, 6, 6, 2, 2, 0, 1),
]
for name, N, C, H, W, k, s, pad, mode in pool_cases:
    x = randn(N, C, H, W)
    if mode == 0:
        y = F.max_pool2d(x.double(), k, s, pad)
    else:
        y = F.avg_pool2d(x.double(), k, s, pad, count_include_pad=(mode == 1))
    p = "pool." + name
    put(p + ".x", x); put(p + ".y", f32(y))
    cfg(p, N, C, H, W, k, s, pad, mode)
x = randn(2, 5, 7, 7, shift=0.5)
put("gap.x", x); put("gap.y", f32(F.adaptive_avg_pool2d(x.double(), 1).view(2, 5)))
cfg("gap", 2, 5, 49)

# ---- F16 / BF16 storage -> float32, and float32 -> F16 / BF16 rounding ----
half_special = torch.tensor([0.0, -0.0, 1.0, -2.0, 65504.0, -65504.0, 6.1035156e-05, 5.9604645e-08,
                             3.0e-06, -1.5e-07, float("inf"), float("-inf"), 0.1, 1e-4])
hsrc = torch.cat([half_special, torch.randn(200) * 100, torch.randn(100) * 1e-5]).to(torch.float16)
put("half.f16", hsrc); put("half.f16_as_f32", hsrc.float())
bsrc = torch.cat([half_special, torch.tensor([3.0e38, -1e-38, 1e-40]), torch.randn(200) * 1e4]).to(torch.bfloat16)
put("half.bf16", bsrc); put("half.bf16_as_f32", bsrc.float())
# values whose rounding is interesting: random mantissas, exact ties, half subnormals, overflow
ties = torch.tensor([1.0 + 2 ** -11, 1.0 + 3 * 2 ** -11, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8,
                     65519.0, 65520.0, 2 ** -25, 2 ** -24 * 1.5, 2 ** -24 * 2.5, 1e-9, 70000.0], dtype=torch.float32)
rsrc = f32(torch.cat([ties, -ties, torch.randn(300) * 1000, torch.randn(100) * 1e-6]))
put("round.f32", rsrc); put("round.f16", rsrc.to(torch.float16)); put("round.bf16", rsrc.to(torch.bfloat16))

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                          "tests", "data", "kernels", "kernels_ref.safetensors")
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
write_safetensors(out, T, metadata={"producer": "tests/ref/ref_kernels.py", "torch": torch.__version__, "seed": "1234"})
print(f"wrote {out}: {len(T)} tensors, {os.path.getsize(out)} bytes")
