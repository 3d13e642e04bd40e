#!/usr/bin/python3
"""Reference values for every fusion operator (tests/test_fusion_ref.c), from PyTorch.

Each operator is written here from its formula in docs/fusion.md and
docs/direct.md (and the papers they cite), in float64, not from the C code. For
every case this writes into tests/data/fusion_ref/:

  <case>.head.safetensors  a head mmfuse loads (mmf_head_load): the parameters,
                           drawn here (not by mmfuse's initialiser), under the
                           names and shapes of docs/fusion.md "Heads on disk"
  <case>.ref.safetensors   the batch (x.<modality> with absent rows zero, mask,
                           labels), the fused embedding and logits, the loss
                           (cross-entropy + the operator's auxiliary term), the
                           gradient of that loss for every parameter
                           (grad.<name>), and the loss before each of 5 SGD
                           steps (lr 0.1, momentum 0.9): loss.curve

The batch has 8 rows whose masks cover every pattern of 3 modalities, the
empty row included (2 modalities for xmodal). Run: /usr/bin/python3 tests/ref/ref_fusion.py
"""
import json, math, os, struct
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)   # one summation order, so the files are the same on every run
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests/data/fusion_ref")
B, H, C, HEADS, LAYERS, RANK, PROJ, SKETCH = 8, 6, 3, 2, 2, 3, 3, 16
MODS3 = [("text", 5), ("image", 4), ("audio", 3)]
MASK3 = [[1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]
MASK2 = [[1, 1], [1, 0], [0, 1], [1, 1], [0, 0], [1, 1], [1, 0], [0, 1]]
STEPS, LR, MOMENTUM = 5, 0.1, 0.9


def f32(t):
    """values as mmfuse will hold them: rounded to float32, computed on in float64"""
    return torch.as_tensor(t).to(torch.float32).to(torch.float64)


# ------------------------------------------------------------ building blocks

def lin(P, name, x):
    """nn.Linear: x W^T + b, W [out, in]; the bias only where the head has one"""
    y = x @ P[name + ".w"].T
    return y + P[name + ".b"] if name + ".b" in P else y


def masked_softmax(s, keep):
    """softmax over the kept entries of the last dim; a row with none kept gives zeros"""
    e = torch.exp(s - s.detach().max(dim=-1, keepdim=True).values) * keep
    tot = e.sum(-1, keepdim=True)
    return e / torch.where(tot > 0, tot, torch.ones_like(tot))


def layernorm(P, name, x, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * P[name + ".w"] + P[name + ".b"]


def gelu(x):  # the erf form (torch.nn.GELU())
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def mha(q, k, v, nh, key_keep):
    """multi-head scaled dot-product attention, heads side by side in the last dim;
    key_keep [B, Tk]: keys never attended to where 0; a query seeing no key gets 0"""
    Bq, Tq, E = q.shape
    Tk, D = k.shape[1], E // nh
    split = lambda t, T: t.reshape(Bq, T, nh, D).transpose(1, 2)
    s = split(q, Tq) @ split(k, Tk).transpose(-1, -2) / math.sqrt(D)
    a = masked_softmax(s, key_keep[:, None, None, :])
    return (a @ split(v, Tk)).transpose(1, 2).reshape(Bq, Tq, E)


def l2n(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-12)


def ssqrt(x, eps=1e-8):
    """signed square root, smoothed at 0 (docs/fusion.md): sign(x) (sqrt(|x| + eps) - sqrt(eps))"""
    return torch.sign(x) * (torch.sqrt(x.abs() + eps) - math.sqrt(eps))


class Batch:
    def __init__(self, mods, mask, xs, labels):
        self.mods, self.M = mods, len(mods)
        self.mask = torch.tensor(mask, dtype=torch.float64)
        self.xs, self.labels = xs, labels

    def present(self, m):  # [B, 1]
        return self.mask[:, m:m + 1]

    def fill(self, P, m):
        """x~_m: x_m where present, the learned absent embedding elsewhere"""
        return torch.where(self.present(m) > 0, self.xs[m], P["absent." + self.mods[m][0]])


# -------------------------------------------------------------- the operators
# Each: decl(mods) -> [(name, shape, kind)] of the operator's parameters, and
# fwd(P, batch, training) -> (embedding, own logits or None, auxiliary loss or None).

def absent_decl(mods):
    return [("absent." + n, [d], "emb") for n, d in mods]


def linear_decl(name, i, o, bias=True):
    return [(name + ".w", [o, i], "w")] + ([(name + ".b", [o], "b")] if bias else [])


def ln_decl(name):
    return [(name + ".w", [H], "lnw"), (name + ".b", [H], "lnb")]


OPS = {}


def op(name):
    def reg(f):
        OPS[name] = f
        return f
    return reg


@op("concat")
class Concat:
    decl = staticmethod(lambda mods: absent_decl(mods))
    def fwd(P, bt, training):  # z = [x~_1; ...; x~_M]
        return torch.cat([bt.fill(P, m) for m in range(bt.M)], 1), None, None


@op("mlp")
class Mlp:
    decl = staticmethod(lambda mods: absent_decl(mods) + linear_decl("f.fc1", sum(d for _, d in mods), H))
    def fwd(P, bt, training):  # z = ReLU(W [x~_1; ...; x~_M] + b)
        return torch.relu(lin(P, "f.fc1", torch.cat([bt.fill(P, m) for m in range(bt.M)], 1))), None, None


def proj_decl(mods):
    return sum((linear_decl("f.proj." + n, d, H) for n, d in mods), [])


@op("weighted_sum")
class WeightedSum:
    decl = staticmethod(lambda mods: proj_decl(mods) + [("f.weight", [len(mods)], "n")])
    def fwd(P, bt, training):  # p_m = W_m x_m + b_m, a = softmax_present(w), z = sum_m a_m p_m
        p = torch.stack([lin(P, "f.proj." + n, bt.xs[m]) for m, (n, _) in enumerate(bt.mods)], 1)
        a = masked_softmax(P["f.weight"].expand(B, -1), bt.mask)
        return (a[:, :, None] * p).sum(1), None, None


@op("attention_sum")
class AttentionSum:
    decl = staticmethod(lambda mods: proj_decl(mods) + linear_decl("f.score", H, 1, bias=False))
    def fwd(P, bt, training):  # p_m = tanh(W_m x_m + b_m), a = softmax_present(v . p_m), z = sum a_m p_m
        p = torch.stack([torch.tanh(lin(P, "f.proj." + n, bt.xs[m])) for m, (n, _) in enumerate(bt.mods)], 1)
        a = masked_softmax((p @ P["f.score.w"][0]), bt.mask)
        return (a[:, :, None] * p).sum(1), None, None


@op("late")
class Late:
    decl = staticmethod(lambda mods: sum((linear_decl("f.h." + n, d, H) + linear_decl("f.out." + n, H, C) for n, d in mods), []))
    def fwd(P, bt, training):
        # h_m = ReLU(W_m x_m + b_m), l_m = U_m h_m + c_m; logits and z: means over the present
        cnt = bt.mask.sum(1, keepdim=True)
        w = bt.mask / torch.where(cnt > 0, cnt, torch.ones_like(cnt))
        hs = [torch.relu(lin(P, "f.h." + n, bt.xs[m])) for m, (n, _) in enumerate(bt.mods)]
        ls = [lin(P, "f.out." + n, hs[m]) for m, (n, _) in enumerate(bt.mods)]
        z = sum(w[:, m:m + 1] * hs[m] for m in range(bt.M))
        return z, sum(w[:, m:m + 1] * ls[m] for m in range(bt.M)), None


@op("gmu")
class Gmu:
    decl = staticmethod(lambda mods: absent_decl(mods) + sum((linear_decl("f.h." + n, d, H, bias=False) for n, d in mods), [])
                        + linear_decl("f.z", sum(d for _, d in mods), len(mods) * H, bias=False))
    def fwd(P, bt, training):
        # h_m = tanh(W_m x_m), g_m = sigmoid(G_m [x~_1; ...; x~_M]) (G_m = rows m*H.. of f.z),
        # z = sum_m present_m g_m * h_m (Arevalo et al. 2017)
        g = torch.sigmoid(torch.cat([bt.fill(P, m) for m in range(bt.M)], 1) @ P["f.z.w"].T)
        z = 0
        for m, (n, _) in enumerate(bt.mods):
            z = z + bt.present(m) * g[:, m * H:(m + 1) * H] * torch.tanh(bt.xs[m] @ P["f.h." + n + ".w"].T)
        return z, None, None


@op("transformer")
class Transformer:
    def decl(mods):
        ps = sum((linear_decl("f.tok." + n, d, H) for n, d in mods), []) + [("f.cls", [H], "n")]
        for l in range(LAYERS):
            ps += ln_decl("f.l%d.ln1" % l) + linear_decl("f.l%d.qkv" % l, H, 3 * H) + linear_decl("f.l%d.o" % l, H, H)
            ps += ln_decl("f.l%d.ln2" % l) + linear_decl("f.l%d.ff1" % l, H, 2 * H) + linear_decl("f.l%d.ff2" % l, 2 * H, H)
        return ps + ln_decl("f.lnf")
    def fwd(P, bt, training):
        # tokens t_0 = CLS, t_m = W_m x_m + b_m; pre-LN layers X += W_o MHA(LN X), X += W_2 GELU(W_1 LN X);
        # absent tokens are never keys; z = LN(X_0)
        X = torch.stack([P["f.cls"].expand(B, -1)] + [lin(P, "f.tok." + n, bt.xs[m]) for m, (n, _) in enumerate(bt.mods)], 1)
        keep = torch.cat([torch.ones(B, 1), bt.mask], 1)
        for l in range(LAYERS):
            qkv = lin(P, "f.l%d.qkv" % l, layernorm(P, "f.l%d.ln1" % l, X))
            att = mha(qkv[..., :H], qkv[..., H:2 * H], qkv[..., 2 * H:], HEADS, keep)
            X = X + lin(P, "f.l%d.o" % l, att)
            X = X + lin(P, "f.l%d.ff2" % l, gelu(lin(P, "f.l%d.ff1" % l, layernorm(P, "f.l%d.ln2" % l, X))))
        return layernorm(P, "f.lnf", X[:, 0]), None, None


@op("attention_gru")
class AttentionGru:
    decl = staticmethod(lambda mods: sum((linear_decl("f.tok." + n, d, H) for n, d in mods), [])
                        + linear_decl("f.gru.ih", H, 3 * H) + linear_decl("f.gru.hh", H, 3 * H)
                        + linear_decl("f.att", H, H) + linear_decl("f.att.v", H, 1, bias=False))
    def fwd(P, bt, training):
        # p_m = tanh(W_m x_m + b_m), o_m = GRU(p_m, o_{m-1}) (torch's GRUCell; an absent step keeps
        # the state), a = softmax_present(v . tanh(U o_m + c)), z = sum a_m o_m
        h, os_ = torch.zeros(B, H), []
        for m, (n, _) in enumerate(bt.mods):
            p = torch.tanh(lin(P, "f.tok." + n, bt.xs[m]))
            hn = torch.gru_cell(p, h, P["f.gru.ih.w"], P["f.gru.hh.w"], P["f.gru.ih.b"], P["f.gru.hh.b"])
            h = torch.where(bt.present(m) > 0, hn, h)
            os_.append(h)
        O = torch.stack(os_, 1)
        a = masked_softmax(torch.tanh(lin(P, "f.att", O)) @ P["f.att.v.w"][0], bt.mask)
        return (a[:, :, None] * O).sum(1), None, None


def outer_all(vs):
    """vec(v_1 (x) v_2 (x) ...) per row, row-major (the last factor varies fastest)"""
    t = vs[0]
    for v in vs[1:]:
        t = (t[:, :, None] * v[:, None, :]).reshape(B, -1)
    return t


@op("bilinear")
class Bilinear:
    decl = staticmethod(lambda mods: absent_decl(mods) + linear_decl("f.bil", int(np.prod([d for _, d in mods])), H))
    def fwd(P, bt, training):  # z = W vec(x~_1 (x) x~_2 (x) x~_3) + b (nn.Bilinear generalised)
        return lin(P, "f.bil", outer_all([bt.fill(P, m) for m in range(bt.M)])), None, None


@op("compact_bilinear")
class CompactBilinear:
    decl = staticmethod(lambda mods: absent_decl(mods))
    def fwd(P, bt, training):
        # psi_m = count sketch (fixed hashes h_m, signs s_m), phi = IFFT(prod_m FFT(psi_m)),
        # z = l2n(ssqrt(phi)) (Gao et al. 2016, Fukui et al. 2016)
        F = 1
        for m in range(bt.M):
            S = torch.zeros(len(bt.sk_h[m]), SKETCH)
            S[torch.arange(len(bt.sk_h[m])), bt.sk_h[m]] = bt.sk_s[m]
            F = F * torch.fft.fft(bt.fill(P, m) @ S)
        phi = torch.fft.ifft(F).real
        # an entry of phi that is exactly 0 (sparse sketches) is float32 FFT noise in mmfuse, which
        # the signed square root magnifies 5000x: the case's dims keep every entry away from 0
        assert phi.abs().min() > 1e-3, "compact_bilinear: phi has an entry near 0; change the case"
        return l2n(ssqrt(phi)), None, None


def per_mod_decl(mods, pre, out):
    return absent_decl(mods) + sum((linear_decl(pre + "." + n, d, out) for n, d in mods), [])


@op("mlb")
class Mlb:
    decl = staticmethod(lambda mods: per_mod_decl(mods, "f.u", H))
    def fwd(P, bt, training):  # z = prod_m tanh(U_m x~_m + b_m) (Kim et al. 2017)
        z = 1
        for m, (n, _) in enumerate(bt.mods):
            z = z * torch.tanh(lin(P, "f.u." + n, bt.fill(P, m)))
        return z, None, None


@op("mfb")
class Mfb:
    decl = staticmethod(lambda mods: per_mod_decl(mods, "f.u", RANK * H))
    training = False   # its dropout 0.1 draws masks no reference can share: checked with dropout off
    def fwd(P, bt, training):
        # f = prod_m (U_m x~_m + b_m) in R^{kH}, s = sumpool_k(f) (k consecutive factors per output,
        # as Yu et al. 2017's code), z = l2n(ssqrt(s))
        f = 1
        for m, (n, _) in enumerate(bt.mods):
            f = f * lin(P, "f.u." + n, bt.fill(P, m))
        return l2n(ssqrt(f.reshape(B, H, RANK).sum(-1))), None, None


@op("tfn")
class Tfn:
    decl = staticmethod(lambda mods: absent_decl(mods) + sum((linear_decl("f.p." + n, d, PROJ) for n, d in mods), [])
                        + linear_decl("f.post", (PROJ + 1) ** len(mods), H))
    def fwd(P, bt, training):
        # h_m = ReLU(P_m x~_m + b_m), z = ReLU(W vec([h_1;1] (x) [h_2;1] (x) [h_3;1]) + b) (Zadeh et al. 2017)
        zs = [torch.cat([torch.relu(lin(P, "f.p." + n, bt.fill(P, m))), torch.ones(B, 1)], 1) for m, (n, _) in enumerate(bt.mods)]
        return torch.relu(lin(P, "f.post", outer_all(zs))), None, None


@op("lmf")
class Lmf:
    decl = staticmethod(lambda mods: per_mod_decl(mods, "f.f", RANK * H) + [("f.wr", [RANK], "n"), ("f.bias", [H], "b")])
    def fwd(P, bt, training):
        # z = sum_r w_r prod_m (W_m^r [x~_m; 1]) + b (Liu et al. 2018): the factor W_m^r [H, D_m + 1]
        # is rows r*H.. of the head's f.f.<m> weight with its bias as the last column
        prod = 1
        for m, (n, _) in enumerate(bt.mods):
            Wm = torch.cat([P["f.f.%s.w" % n], P["f.f.%s.b" % n][:, None]], 1).reshape(RANK, H, -1)
            xa = torch.cat([bt.fill(P, m), torch.ones(B, 1)], 1)
            prod = prod * torch.einsum("rhd,bd->brh", Wm, xa)
        return (P["f.wr"][None, :, None] * prod).sum(1) + P["f.bias"], None, None


@op("centralnet")
class CentralNet:
    def decl(mods):
        ps = []
        for n, d in mods:
            ps += linear_decl("f.u1." + n, d, H) + linear_decl("f.u2." + n, H, H) + linear_decl("f.uo." + n, H, C)
        return ps + linear_decl("f.c1", H, H) + linear_decl("f.c2", H, H) + [("f.alpha0", [len(mods)], "a"), ("f.alpha1", [len(mods) + 1], "a")]
    def fwd(P, bt, training):
        # h1_m = ReLU(A_m x_m + .), h2_m = ReLU(B_m h1_m + .); c_1 = ReLU(C_1 sum_m a0_m present_m h1_m + .),
        # z = ReLU(C_2 (a1_c c_1 + sum_m a1_m present_m h2_m) + .); the unimodal heads U_m h2_m add the
        # mean over modalities of their cross-entropy over the rows that have them (Vielzeuf et al. 2018)
        a0, a1 = P["f.alpha0"], P["f.alpha1"]
        h1 = [torch.relu(lin(P, "f.u1." + n, bt.xs[m])) for m, (n, _) in enumerate(bt.mods)]
        h2 = [torch.relu(lin(P, "f.u2." + n, h1[m])) for m, (n, _) in enumerate(bt.mods)]
        c1 = torch.relu(lin(P, "f.c1", sum(a0[m] * bt.present(m) * h1[m] for m in range(bt.M))))
        z = torch.relu(lin(P, "f.c2", a1[0] * c1 + sum(a1[m + 1] * bt.present(m) * h2[m] for m in range(bt.M))))
        aux = None
        if training:
            aux = 0
            for m, (n, _) in enumerate(bt.mods):
                w = bt.mask[:, m]
                if w.sum() == 0: continue
                ce = torch.nn.functional.cross_entropy(lin(P, "f.uo." + n, h2[m]), bt.labels, reduction="none")
                aux = aux + (w * ce).sum() / w.sum() / bt.M
        return z, None, aux


@op("bimodal-ae")
class BimodalAe:
    def decl(mods):
        ps = []
        for n, d in mods:
            ps += [("f.norm.%s.mean" % n, [d], "mean"), ("f.norm.%s.std" % n, [d], "std")] + linear_decl("f.enc." + n, d, H)
        ps += linear_decl("f.code", len(mods) * H, H)
        for n, d in mods:
            ps += linear_decl("f.dec." + n, H, H) + linear_decl("f.rec." + n, H, d)
        return ps
    constants = ("f.norm.",)   # fixed statistics, no gradient
    def fwd(P, bt, training):
        # z_m = (x_m - mean_m) / std_m (zero where absent), h_m = relu(W_enc z_m + b) present_m,
        # code = tanh(W_code [h_1 .. h_M] + b); training: + sum_m MSE(W_rec relu(W_dec code + b) + b, z_m)
        # over the rows that have m (Ngiam et al. 2011; docs/direct.md)
        zs, hs = [], []
        for m, (n, _) in enumerate(bt.mods):
            std = P["f.norm.%s.std" % n].clamp(min=1e-6)
            zs.append((bt.xs[m] - P["f.norm.%s.mean" % n]) / std * bt.present(m))
            hs.append(torch.relu(lin(P, "f.enc." + n, zs[m])) * bt.present(m))
        code = torch.tanh(lin(P, "f.code", torch.cat(hs, 1)))
        aux = None
        if training:
            aux = 0
            for m, (n, d) in enumerate(bt.mods):
                if bt.mask[:, m].sum() == 0: continue
                r = lin(P, "f.rec." + n, torch.relu(lin(P, "f.dec." + n, code)))
                aux = aux + (((r - zs[m]) * bt.present(m)) ** 2).sum() / (bt.mask[:, m].sum() * d)
        return code, None, aux


XM_T, XM_GRID = 16, 4


@op("xmodal")
class Xmodal:
    def decl(mods):
        dims = dict(mods)
        if Xmodal.raw(mods):
            side = Xmodal.side(dims["image"])
            pd = 3 * (side // XM_GRID) ** 2
            ps = linear_decl("f.patch", pd, H) + [("f.ppos", [XM_GRID * XM_GRID, H], "n"), ("f.word", [dims["text"], H], "n")]
        else:
            ps = sum((linear_decl("f.tok." + n, d, H) for n, d in mods), [])
        ps += [("f.logit_scale", [1], "scale")]
        for l in range(LAYERS):
            for part in ("t2i.q", "t2i.k", "t2i.v", "t2i.o", "i2t.q", "i2t.k", "i2t.v", "i2t.o"):
                ps += linear_decl("f.l%d.%s" % (l, part), H, H)
            for nm in ("ln_t", "ln_i", "ln_tk", "ln_ik", "ln_tf", "ln_if"):
                ps += ln_decl("f.l%d.%s" % (l, nm))
            ps += linear_decl("f.l%d.ff_t1" % l, H, 2 * H) + linear_decl("f.l%d.ff_t2" % l, 2 * H, H)
            ps += linear_decl("f.l%d.ff_i1" % l, H, 2 * H) + linear_decl("f.l%d.ff_i2" % l, 2 * H, H)
        return ps + linear_decl("f.pool", 2 * H, H)

    side = staticmethod(lambda d: int(round(math.sqrt(d / 3))))
    raw = staticmethod(lambda mods: dict(mods).get("image", 1) == 3 * Xmodal.side(dict(mods)["image"]) ** 2
                       and Xmodal.side(dict(mods)["image"]) % XM_GRID == 0 and "text" in dict(mods))

    def fwd(P, bt, training):
        # docs/direct.md: "image" pixels [3, S, S] -> a 4 x 4 grid of patch tokens (linear + learned
        # positions), the bag of words -> one token per word present (vocabulary order, at most 16);
        # otherwise one token per modality. Each layer: words attend to patches, patches to words
        # (absent tokens never keys), then a GELU feed-forward per stream. z = W [mean T, mean I] + b;
        # training with both modalities in every row: + 0.5 InfoNCE(mean T, mean I).
        names = [n for n, _ in bt.mods]
        mt, mi = (names.index("text"), names.index("image")) if Xmodal.raw(bt.mods) else (0, 1)
        if Xmodal.raw(bt.mods):
            S = Xmodal.side(bt.mods[mi][1]); Pp = S // XM_GRID
            img = bt.xs[mi].reshape(B, 3, XM_GRID, Pp, XM_GRID, Pp)
            patches = img.permute(0, 2, 4, 1, 3, 5).reshape(B, XM_GRID * XM_GRID, 3 * Pp * Pp)
            I = lin(P, "f.patch", patches) + P["f.ppos"]
            ikeep = bt.mask[:, mi:mi + 1].expand(B, XM_GRID * XM_GRID)
            ids, tkeep = torch.zeros(B, XM_T, dtype=torch.long), torch.zeros(B, XM_T)
            for b in range(B):
                if bt.mask[b, mt]:
                    words = torch.nonzero(bt.xs[mt][b] > 0).flatten()[:XM_T]
                    ids[b, :len(words)] = words
                    tkeep[b, :len(words)] = 1
            T = P["f.word"][ids]
        else:
            T = lin(P, "f.tok." + names[mt], bt.xs[mt])[:, None]
            I = lin(P, "f.tok." + names[mi], bt.xs[mi])[:, None]
            tkeep, ikeep = bt.mask[:, mt:mt + 1], bt.mask[:, mi:mi + 1]
        for l in range(LAYERS):
            L = lambda nm, x: layernorm(P, "f.l%d.%s" % (l, nm), x)
            A = lambda nm, x: lin(P, "f.l%d.%s" % (l, nm), x)
            ik, tk = L("ln_ik", I), L("ln_tk", T)
            t2i = A("t2i.o", mha(A("t2i.q", L("ln_t", T)), A("t2i.k", ik), A("t2i.v", ik), HEADS, ikeep))
            i2t = A("i2t.o", mha(A("i2t.q", L("ln_i", I)), A("i2t.k", tk), A("i2t.v", tk), HEADS, tkeep))
            T, I = T + t2i, I + i2t
            T = T + A("ff_t2", gelu(A("ff_t1", L("ln_tf", T))))
            I = I + A("ff_i2", gelu(A("ff_i1", L("ln_if", I))))
        def mean(x, keep):
            n = keep.sum(1, keepdim=True)
            return ((keep / torch.where(n > 0, n, torch.ones_like(n)))[:, :, None] * x).sum(1)
        pt, pi = mean(T, tkeep), mean(I, ikeep)
        aux = None
        if training and bool((bt.mask.sum(1) == 2).all()) and bool((tkeep[:, 0] > 0).all()):
            Sm = torch.exp(P["f.logit_scale"][0]) * l2n(pt) @ l2n(pi).T
            y = torch.arange(B)
            ce = torch.nn.functional.cross_entropy
            aux = 0.5 * (ce(Sm, y) + ce(Sm.T, y)) / 2
        return lin(P, "f.pool", torch.cat([pt, pi], 1)), None, aux


# ------------------------------------------------------------------- drawing

def draw_param(g, shape, kind):
    if kind in ("w", "b"):                      # nn.Linear's default range
        fan = shape[-1] if kind == "w" else H
        return (torch.rand(shape, generator=g) * 2 - 1) / math.sqrt(fan)
    if kind == "emb": return torch.randn(shape, generator=g) * 0.7
    if kind == "lnw": return 1 + 0.3 * torch.randn(shape, generator=g)
    if kind == "lnb": return 0.2 * torch.randn(shape, generator=g)
    if kind == "a": return 0.5 + torch.rand(shape, generator=g)
    if kind == "n": return 0.5 * torch.randn(shape, generator=g)
    if kind == "scale": return torch.full(shape, 1.5)
    if kind == "mean": return 0.3 * torch.randn(shape, generator=g)
    if kind == "std": return 0.5 + 1.5 * torch.rand(shape, generator=g)
    raise ValueError(kind)


def make_batch(g, mods, mask, raw):
    xs = []
    for m, (n, d) in enumerate(mods):
        if raw and n == "text":       # a bag of words: 0/1, one row past the 16-token cap
            x = (torch.rand(B, d, generator=g) < 0.3).double()
            x[0, :18] = 1
        elif raw and n == "image":
            x = torch.rand(B, d, generator=g)
        else:
            x = torch.randn(B, d, generator=g)
        x = f32(x) * torch.tensor(mask, dtype=torch.float64)[:, m:m + 1]   # absent rows are zero
        xs.append(x)
    labels = torch.randint(0, C, (B,), generator=g)
    return xs, labels


# ------------------------------------------------------------------- writing

def write_st(path, tensors, meta):
    hdr, off, blobs = {"__metadata__": meta}, 0, []
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k].detach().numpy().astype(np.float32))
        b = a.tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)
    os.replace(tmp, path)


def run_case(case, opname, mods, mask, seed, raw=False):
    impl = OPS[opname]
    g = torch.Generator().manual_seed(seed)
    decl = impl.decl(mods)
    P = {n: f32(draw_param(g, s, k)).requires_grad_(not any(n.startswith(c) for c in getattr(impl, "constants", ())))
         for n, s, k in decl}
    if opname not in ("late",):
        emb_dim = sum(d for _, d in mods) if opname == "concat" else SKETCH if opname == "compact_bilinear" else H
        P.update({n: f32(draw_param(g, s, k)).requires_grad_() for n, s, k in linear_decl("out", emb_dim, C)})
    xs, labels = make_batch(g, mods, mask, raw)
    bt = Batch(mods, mask, xs, labels)
    ref = {"x." + n: xs[m] for m, (n, _) in enumerate(mods)}
    if opname == "compact_bilinear":   # fixed hashes and signs, handed to the C head by the test
        bt.sk_h = [torch.randint(0, SKETCH, (d,), generator=g) for _, d in mods]
        bt.sk_s = [torch.randint(0, 2, (d,), generator=g).double() * 2 - 1 for _, d in mods]
        for m, (n, _) in enumerate(mods):
            ref["sketch.h." + n], ref["sketch.s." + n] = bt.sk_h[m].double(), bt.sk_s[m]
    training = getattr(impl, "training", True)

    def loss_of(P):
        emb, logits, aux = impl.fwd(P, bt, training)
        if logits is None: logits = lin(P, "out", emb)
        L = torch.nn.functional.cross_entropy(logits, labels)
        return emb, logits, (L + aux if aux is not None else L), aux

    emb, logits, L, aux = loss_of(P)
    L.backward()
    ref.update({"mask": bt.mask, "labels": labels.double(), "out.emb": emb, "out.logits": logits, "loss": L.reshape(1)})
    if aux is not None: ref["aux"] = aux.reshape(1)
    for n, p in P.items():
        ref["grad." + n] = p.grad if p.grad is not None else torch.zeros_like(p)
    # 5 SGD steps (momentum, no weight decay) from the same start: the loss before each
    Q = {n: p.detach().clone().requires_grad_(p.requires_grad) for n, p in P.items()}
    opt = torch.optim.SGD([p for p in Q.values() if p.requires_grad], lr=LR, momentum=MOMENTUM)
    curve = []
    for s in range(STEPS):
        opt.zero_grad()
        L = loss_of(Q)[2]
        L.backward()
        curve.append(L.item())
        opt.step()
    ref["loss.curve"] = torch.tensor(curve)
    cfg = {"format": "mmfuse.head/1", "fusion": opname, "task": "classify",
           "modalities": [{"name": n, "dim": d} for n, d in mods], "outputs": C, "hidden": H,
           "heads": HEADS, "layers": LAYERS, "rank": RANK, "proj": PROJ, "sketch": SKETCH,
           "budget": 1 << 24, "dropout": 0, "seed": "1"}
    write_st(os.path.join(OUT, case + ".head.safetensors"), {n: p for n, p in P.items()},
             {"mmfuse.head": json.dumps(cfg), "format": "pt"})
    meta = {"generator": "tests/ref/ref_fusion.py", "torch": torch.__version__, "case": case, "fusion": opname,
            "training": "1" if training else "0", "steps": str(STEPS), "lr": str(LR), "momentum": str(MOMENTUM)}
    write_st(os.path.join(OUT, case + ".ref.safetensors"), ref, meta)
    print("wrote %-22s loss %.6f%s  curve %s" % (case, ref["loss"].item(), "" if aux is None else " (aux %.6f)" % aux.item(),
                                                 " ".join("%.5f" % c for c in curve)))


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, name in enumerate(OPS):
        if name == "xmodal": continue
        # compact bilinear: inputs wider than the sketch (as in use), so no entry of phi is 0 by construction
        mods = [(n, 4 * d) for n, d in MODS3] if name == "compact_bilinear" else MODS3
        run_case(name, name, mods, MASK3, 100 + i)
    two = MODS3[:2]
    run_case("xmodal", "xmodal", two, MASK2, 200)                 # one token per modality
    raw = [("text", 20), ("image", 3 * 8 * 8)]                    # words and 2x2-pixel patches
    run_case("xmodal-raw", "xmodal", raw, MASK2, 201, raw=True)
    run_case("xmodal-raw-both", "xmodal", raw, [[1, 1]] * B, 202, raw=True)   # + the InfoNCE term
    run_case("gmu-2", "gmu", two, MASK2, 203)                     # two modalities, as most heads run
    run_case("transformer-2", "transformer", two, MASK2, 204)


if __name__ == "__main__":
    main()
