#!/usr/bin/python3
"""Reference values for the training engine (tests/test_train_ref.c), from PyTorch.

Writes tests/data/train/ref.safetensors: inputs and outputs of GRUCell, LSTMCell,
LayerNorm, cross-entropy with label smoothing, and five steps of SGD (momentum,
weight decay), Adam (L2) and AdamW on a fixed quadratic, with gradient clipping
and a cosine-with-warmup schedule. Run: /usr/bin/python3 tests/ref/ref_train.py
"""
import json, math, os, struct, sys
import numpy as np
import torch

torch.manual_seed(0)
out = {}

def put(name, t):
    out[name] = np.ascontiguousarray(t.detach().numpy().astype(np.float32))

# GRU / LSTM cells
B, I, H = 3, 4, 5
x, h, c = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
gru = torch.nn.GRUCell(I, H)
lstm = torch.nn.LSTMCell(I, H)
put("x", x); put("h", h); put("c", c)
for n, p in gru.named_parameters(): put("gru." + n, p)
for n, p in lstm.named_parameters(): put("lstm." + n, p)
put("gru.out", gru(x, h))
ho, co = lstm(x, (h, c))
put("lstm.h", ho); put("lstm.c", co)

# LayerNorm
ln = torch.nn.LayerNorm(H)
with torch.no_grad():
    ln.weight.copy_(torch.randn(H)); ln.bias.copy_(torch.randn(H))
put("ln.w", ln.weight); put("ln.b", ln.bias); put("ln.out", ln(h))

# cross-entropy with label smoothing, and its gradient
logits = torch.randn(4, 6, requires_grad=True)
labels = torch.tensor([0, 5, 2, 2])
loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.15)
loss.backward()
put("ce.logits", logits); put("ce.labels", labels.float()); put("ce.loss", loss.reshape(1)); put("ce.grad", logits.grad)

# optimisers on f(w) = 0.5 * sum(A * (w - t)^2): grad = A * (w - t)
w0, A, t = torch.randn(2, 3), torch.rand(2, 3) * 3, torch.randn(2, 3)
b0 = torch.randn(3)
put("opt.w0", w0); put("opt.A", A); put("opt.t", t); put("opt.b0", b0)
def run(make, steps=5, clip=None, sched=None):
    w = torch.nn.Parameter(w0.clone()); b = torch.nn.Parameter(b0.clone())
    opt = make([{"params": [w]}, {"params": [b], "weight_decay": 0.0}])
    lr0 = opt.param_groups[0]["lr"]
    for s in range(steps):
        if sched:
            for g in opt.param_groups: g["lr"] = sched(s, lr0)
        opt.zero_grad()
        f = 0.5 * (A * (w - t) ** 2).sum() + 0.5 * ((b - 1.0) ** 2).sum()
        f.backward()
        if clip: torch.nn.utils.clip_grad_norm_([w, b], clip)
        opt.step()
    return w, b
def cosine(s, lr0, warm=2, total=5):
    if s < warm: return lr0 * (s + 1) / warm
    return lr0 * 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm)))
for name, make, kw in [
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.05), {}),
        ("adam", lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.05), {}),
        ("adamw", lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1), {}),
        ("adamw_clip_cos", lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1), {"clip": 0.5, "sched": cosine})]:
    w, b = run(make, **kw)
    put("opt.%s.w" % name, w); put("opt.%s.b" % name, b)

# write safetensors by hand (no safetensors package here)
hdr, off, blobs = {"__metadata__": {"generator": "tests/ref/ref_train.py", "torch": torch.__version__}}, 0, []
for k in sorted(out):
    a = out[k]; b = a.tobytes()
    hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
path = os.path.join(root, "tests/data/train/ref.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for b in blobs: f.write(b)
print("wrote", path)
