#!/usr/bin/python3
"""Fusion-head training throughput: mmfuse (bench_fusion) against the same heads in PyTorch.

  fusion_torch.py BUILD_DIR                                  the whole comparison (bench/run.sh calls it):
                                                             writes bench/results/fusion.md
  fusion_torch.py run OP THREADS BATCH HIDDEN N EPOCHS [fp32|bf16]
                                                             PyTorch worker: one JSON line, like
                                                             `bench_fusion run ...`; bf16 = the forward
                                                             under torch.autocast('cpu', torch.bfloat16)

Both sides train the same head on the same kind of data: N rows of a 384-d "text"
and a 512-d "image" embedding (all present), 10 classes; AdamW (lr 1e-3, weight
decay 0.01 on matrices), cosine schedule with 5% warm-up, gradient clipping at 1,
dropout 0.1 on the fused embedding, cross-entropy; a fresh random permutation per
epoch; the learned absent-embedding fill is computed on both sides. Every
measurement is its own process; the sides alternate and the best of the rounds
counts (the machine is shared). samples/s = N * EPOCHS / wall time of training.
"""
import json
import math
import os
import platform
import subprocess
import sys
import time

if len(sys.argv) > 2:
    import torch
    from torch_threads import set_threads
    import torch.nn as nn
    import torch.nn.functional as F

    class Head(nn.Module):
        def __init__(self, op, dims, H, C, k=4, proj=16, sketch=1024, heads=4):
            super().__init__()
            self.op, self.dims, self.H, self.C, self.k = op, dims, H, C, k
            M, S = len(dims), sum(dims)
            self.absent = nn.ParameterList([nn.Parameter(torch.zeros(d)) for d in dims])
            L = lambda i, o, b=True: nn.Linear(i, o, bias=b)
            E = H
            self.own_logits = False
            if op == "concat":
                E = S
            elif op == "mlp":
                self.fc1 = L(S, H)
            elif op in ("weighted_sum", "attention_sum"):
                self.proj = nn.ModuleList([L(d, H) for d in dims])
                self.w = nn.Parameter(torch.zeros(M))
                self.score = L(H, 1, False)
            elif op == "late":
                self.h = nn.ModuleList([L(d, H) for d in dims])
                self.o = nn.ModuleList([L(H, C) for d in dims])
                self.own_logits = True
            elif op == "gmu":
                self.hm = nn.ModuleList([L(d, H, False) for d in dims])
                self.zm = L(S, M * H, False)  # all gates in one matrix, as mmfuse
            elif op == "transformer":
                self.tok = nn.ModuleList([L(d, H) for d in dims])
                self.cls = nn.Parameter(torch.randn(H) * 0.02)
                self.enc = nn.TransformerEncoderLayer(H, heads, 2 * H, dropout=0.0, activation="gelu",
                                                      batch_first=True, norm_first=True)
                self.lnf = nn.LayerNorm(H)
            elif op == "attention_gru":
                self.tok = nn.ModuleList([L(d, H) for d in dims])
                self.gru = nn.GRUCell(H, H)
                self.att = L(H, H)
                self.v = L(H, 1, False)
            elif op == "bilinear":
                self.bil = L(math.prod(dims), H)
            elif op == "compact_bilinear":
                g = torch.Generator().manual_seed(7)
                self.d = sketch
                for m, dm in enumerate(dims):
                    h = torch.randint(0, sketch, (dm,), generator=g)
                    s = torch.randint(0, 2, (dm,), generator=g).float() * 2 - 1
                    # count sketch as a (sparse) [D, d] matrix, as PyTorch MCB implementations do
                    self.register_buffer("cs%d" % m, torch.zeros(dm, sketch).index_put_((torch.arange(dm), h), s))
                E = sketch
            elif op in ("mlb", "mfb", "lmf"):
                out = H if op == "mlb" else H * k
                self.u = nn.ModuleList([L(d, out) for d in dims])
                if op == "lmf":
                    self.wr = nn.Parameter(torch.full((k,), 1.0 / k))
                    self.lbias = nn.Parameter(torch.zeros(H))
            elif op == "tfn":
                self.p = nn.ModuleList([L(d, proj) for d in dims])
                self.post = L((proj + 1) ** M, H)
            elif op == "centralnet":
                self.u1 = nn.ModuleList([L(d, H) for d in dims])
                self.u2 = nn.ModuleList([L(H, H) for d in dims])
                self.uo = nn.ModuleList([L(H, C) for d in dims])
                self.c1, self.c2 = L(H, H), L(H, H)
                self.a0 = nn.Parameter(torch.ones(M))
                self.a1 = nn.Parameter(torch.ones(M + 1))
            else:
                raise SystemExit("unknown op " + op)
            self.drop = nn.Dropout(0.1)
            if not self.own_logits:
                self.out = L(E, C)

        def fill(self, xs, mask, m):
            # as mmfuse: a batch with the modality present everywhere skips the arithmetic
            if bool(mask[:, m].all()):
                return xs[m]
            return xs[m] + (1 - mask[:, m:m + 1]) * self.absent[m]

        def forward(self, xs, mask, y):
            op, M = self.op, len(xs)
            B = xs[0].shape[0]
            aux = None
            logits = None
            if op == "concat":
                z = torch.cat([self.fill(xs, mask, m) for m in range(M)], 1)
            elif op == "mlp":
                z = F.relu(self.fc1(torch.cat([self.fill(xs, mask, m) for m in range(M)], 1)))
            elif op == "weighted_sum":
                p = torch.stack([self.proj[m](xs[m]) for m in range(M)], 1)
                a = torch.softmax(self.w.expand(B, M).masked_fill(mask == 0, -math.inf), 1)
                z = (p * a.unsqueeze(-1)).sum(1)
            elif op == "attention_sum":
                p = torch.stack([torch.tanh(self.proj[m](xs[m])) for m in range(M)], 1)
                a = torch.softmax(self.score(p).squeeze(-1).masked_fill(mask == 0, -math.inf), 1)
                z = (p * a.unsqueeze(-1)).sum(1)
            elif op == "late":
                w = mask / mask.sum(1, keepdim=True)
                hs = [F.relu(self.h[m](xs[m])) for m in range(M)]
                z = sum(hs[m] * w[:, m:m + 1] for m in range(M))
                logits = sum(self.o[m](hs[m]) * w[:, m:m + 1] for m in range(M))
            elif op == "gmu":
                xc = torch.cat([self.fill(xs, mask, m) for m in range(M)], 1)
                g = torch.sigmoid(self.zm(xc)).split(self.H, 1)
                z = sum(g[m] * torch.tanh(self.hm[m](xs[m])) * mask[:, m:m + 1] for m in range(M))
            elif op == "transformer":
                t = torch.stack([self.cls.expand(B, -1)] + [self.tok[m](xs[m]) for m in range(M)], 1)
                pad = torch.cat([torch.zeros(B, 1, dtype=torch.bool), mask == 0], 1)
                z = self.lnf(self.enc(t, src_key_padding_mask=pad)[:, 0])
            elif op == "attention_gru":
                h = torch.zeros(B, self.H)
                os_ = []
                for m in range(M):
                    hn = self.gru(torch.tanh(self.tok[m](xs[m])), h)
                    h = h + mask[:, m:m + 1] * (hn - h)
                    os_.append(h)
                O = torch.stack(os_, 1)
                a = torch.softmax(self.v(torch.tanh(self.att(O))).squeeze(-1).masked_fill(mask == 0, -math.inf), 1)
                z = (O * a.unsqueeze(-1)).sum(1)
            elif op == "bilinear":
                t = self.fill(xs, mask, 0)
                for m in range(1, M):
                    t = torch.einsum("bi,bj->bij", t, self.fill(xs, mask, m)).reshape(B, -1)
                z = self.bil(t)
            elif op == "compact_bilinear":
                f = None
                for m in range(M):
                    s = torch.fft.rfft(self.fill(xs, mask, m) @ getattr(self, "cs%d" % m))
                    f = s if f is None else f * s
                p = torch.fft.irfft(f, n=self.d)
                z = F.normalize(torch.sign(p) * (torch.sqrt(p.abs() + 1e-8) - 1e-4), dim=1)
            elif op in ("mlb", "mfb", "lmf"):
                f = None
                for m in range(M):
                    u = self.u[m](self.fill(xs, mask, m))
                    if op == "mlb":
                        u = torch.tanh(u)
                    f = u if f is None else f * u
                if op == "mlb":
                    z = f
                elif op == "mfb":
                    s = F.dropout(f, 0.1, self.training).view(B, self.H, self.k).sum(2)
                    z = F.normalize(torch.sign(s) * (torch.sqrt(s.abs() + 1e-8) - 1e-4), dim=1)
                else:
                    z = (f.view(B, self.k, self.H) * self.wr.view(self.k, 1)).sum(1) + self.lbias
            elif op == "tfn":
                one = torch.ones(B, 1)
                t = None
                for m in range(M):
                    hm = torch.cat([F.relu(self.p[m](self.fill(xs, mask, m))), one], 1)
                    t = hm if t is None else torch.einsum("bi,bj->bij", t, hm).reshape(B, -1)
                z = F.relu(self.post(t))
            elif op == "centralnet":
                c0 = 0
                c1in = 0
                aux = 0
                for m in range(M):
                    h1 = F.relu(self.u1[m](xs[m]))
                    h2 = F.relu(self.u2[m](h1))
                    c0 = c0 + h1 * mask[:, m:m + 1] * self.a0[m]
                    c1in = c1in + h2 * mask[:, m:m + 1] * self.a1[m + 1]
                    aux = aux + (F.cross_entropy(self.uo[m](h2), y, reduction="none") * mask[:, m]).sum() / mask[:, m].sum() / M
                c1 = F.relu(self.c1(c0))
                z = F.relu(self.c2(c1in + c1 * self.a1[0]))
            if logits is None:
                logits = self.out(self.drop(z))
            loss = F.cross_entropy(logits, y)
            return loss + aux if aux is not None else loss

    def worker(op, threads, batch, hidden, N, epochs, prec="fp32"):
        set_threads(threads)
        torch.manual_seed(0)
        dims = [384, 512]
        X = [torch.rand(N, d) * 2 - 1 for d in dims]
        Y = torch.arange(N) % 10
        mask_all = torch.ones(N, 2)
        model = Head(op, dims, hidden, 10)
        decay = [p for p in model.parameters() if p.dim() > 1]
        nodecay = [p for p in model.parameters() if p.dim() <= 1]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}], lr=1e-3)
        per_epoch = (N + batch - 1) // batch
        total = per_epoch * epochs
        warm = total // 20
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm)))))
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        for ep in range(epochs):
            perm = torch.randperm(N)
            for b in range(per_epoch):
                idx = perm[b * batch:(b + 1) * batch]
                if prec == "bf16":
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        loss = model([x[idx] for x in X], mask_all[idx], Y[idx])
                else:
                    loss = model([x[idx] for x in X], mask_all[idx], Y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"op": op, "precision": prec, "samples_per_s": round(N * epochs / dt, 1), "samples_per_cpu_s": round(N * epochs / dc, 1),
                          "seconds": round(dt, 3),
                          "params": sum(p.numel() for p in model.parameters())}))


# (op, hidden, N, epochs): sized so that an mmfuse run trains for about a second
# (PyTorch's for 1-4 s): runs of a tenth of a second were dominated by the first
# steps' page faults and by the shared machine's jitter
CASES = [
    ("concat", 256, 4096, 60), ("mlp", 256, 4096, 24), ("gmu", 256, 2048, 16), ("weighted_sum", 256, 4096, 12),
    ("attention_sum", 256, 4096, 12), ("late", 256, 4096, 12), ("transformer", 256, 2048, 3),
    ("attention_gru", 256, 2048, 4), ("bilinear", 16, 1024, 2), ("compact_bilinear", 256, 2048, 16),
    ("mlb", 256, 4096, 12), ("mfb", 256, 2048, 6), ("tfn", 256, 2048, 50), ("lmf", 256, 2048, 6),
    ("centralnet", 256, 2048, 10),
]
TWO_THREADS = {"concat", "mlp", "gmu", "transformer"}
# heads also measured with mmfuse's --precision bf16 (1 and 2 threads), against PyTorch fp32
# (the reference) and PyTorch CPU autocast bf16 (an extra row)
BF16 = {"concat", "mlp", "gmu", "transformer"}
TARGET = {"concat": 3.0, "mlp": 3.0, "gmu": 3.0, "transformer": 1.0}


def run(cmd):
    # Debian's torch calls the system BLAS (OpenBLAS), whose own thread pool
    # ignores torch.set_num_threads: pin it so "threads" means the same on both sides.
    env = dict(os.environ)
    threads = cmd[cmd.index("run") + 2]
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    # the mmfuse CLI runs with libgomp's short barrier spin (tools/mmfuse.c); give both sides
    # (Debian's torch uses libgomp too) the same, so 2-thread rows measure what a user gets
    if "OMP_WAIT_POLICY" not in env:
        env.setdefault("GOMP_SPINCOUNT", "1000")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if out.returncode:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), out.stderr.strip()[-500:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(build):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = os.path.join(build, "bench_fusion")
    if not os.access(exe, os.X_OK):
        raise SystemExit("fusion_torch.py: %s missing (cmake --build BUILD --target benches)" % exe)
    # MMFUSE_BENCH_ROUNDS (default 3), MMFUSE_BENCH_TWO_THREADS=0 skips the 2-thread rows,
    # MMFUSE_BENCH_OPS=mlp,gmu measures only those heads (the fragment then lists only them)
    batch, rounds = 64, int(os.environ.get("MMFUSE_BENCH_ROUNDS", "3"))
    rows = []
    two = os.environ.get("MMFUSE_BENCH_TWO_THREADS", "1") != "0"
    only = set(filter(None, os.environ.get("MMFUSE_BENCH_OPS", "").split(",")))
    phases = {}
    for op, hidden, N, epochs in CASES:
        if only and op not in only:
            continue
        for threads in ([1, 2] if two and op in TWO_THREADS else [1]):
            args = [op, str(threads), str(batch), str(hidden), str(N), str(epochs)]
            # sides: (key, command); every side runs once per round, the order alternating
            sides = [("c32", [exe, "run"] + args + ["fp32"]),
                     ("t32", [sys.executable, os.path.abspath(__file__), "run"] + args + ["fp32"])]
            if op in BF16:
                sides += [("c16", [exe, "run"] + args + ["bf16"]),
                          ("t16", [sys.executable, os.path.abspath(__file__), "run"] + args + ["bf16"])]
            best = {k: (0.0, 0.0) for k, _ in sides}
            info = {}
            for r in range(rounds):
                order = sides if r % 2 == 0 else list(reversed(sides))
                for key, cmd in order:
                    try:
                        res = run(cmd)
                    except RuntimeError as e:   # bf16 sides: no AVX512-BF16 here, or autocast unsupported
                        if key in ("c32", "t32"):
                            raise
                        print("fusion bench: %s skipped: %s" % (key, str(e)[-200:]), file=sys.stderr)
                        continue
                    if key[0] == "c" and threads == 1 and "ms_per_step" in res and res["samples_per_cpu_s"] > best[key][1]:
                        phases[(op, key)] = res["ms_per_step"]   # the split of the best 1-thread run
                    best[key] = (max(best[key][0], res["samples_per_s"]), max(best[key][1], res["samples_per_cpu_s"]))
                    if key[0] == "c":
                        info = res
            fl = info.get("flops_per_sample")
            for prec in (["fp32", "bf16"] if "c16" in best else ["fp32"]):
                k = "c32" if prec == "fp32" else "c16"
                ours, ours_c = best[k]
                ref, ref_c = best["t32"]
                ac = best["t16"][1] if prec == "bf16" else None
                if not ours or not ref:
                    continue
                rows.append((op, hidden, threads, prec, info.get("params"), fl, ours, ref, ours_c, ref_c, ac))
                print("fusion bench: %-17s H=%-4d threads=%d %s  wall: mmfuse %9.1f torch %9.1f ratio %.2f | cpu: mmfuse %9.1f "
                      "torch %9.1f ratio %.2f%s" % (op, hidden, threads, prec, ours, ref, ours / ref, ours_c, ref_c, ours_c / ref_c,
                                                   (" | torch autocast bf16 %.1f" % ac) if ac else ""), file=sys.stderr)
    import torch as _t
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    lines = [
        "## Fusion heads: training samples/s, mmfuse vs PyTorch",
        "",
        "- Machine: %s, %d logical CPUs visible; measured %s UTC by `bench/fusion_torch.py`." %
        (cpu, os.cpu_count(), time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
        "- Load average at the end of the run: %.2f (1 min), %.2f (5 min); the two sides alternate, each run in "
        "its own process, best of %d rounds." % (os.getloadavg()[0], os.getloadavg()[1], rounds),
        "- Reference: PyTorch %s (Debian), the same heads written with torch.nn (TransformerEncoderLayer for "
        "transformer fusion, GRUCell, torch.fft for compact bilinear), AdamW + cosine/warm-up + clip_grad_norm_ + "
        "dropout 0.1, `torch.set_num_threads(threads)` and OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = threads." % _t.__version__,
        "- Data: 384-d text + 512-d image embeddings (MiniLM / CLIP sizes), all present, 10 classes; batch %d; "
        "samples/s = rows x epochs / training wall time (data shuffling and batching included)." % batch,
        "- Precision: the reference is always PyTorch **fp32**. mmfuse rows say theirs: fp32, or `--precision bf16` "
        "(the linear layers' forward, weight-gradient and input-gradient GEMMs take bf16 operands with fp32 sums on "
        "AVX512-BF16; weights, AdamW state, loss and everything else fp32). On bf16 rows the extra column gives "
        "PyTorch's own mixed precision, the forward under `torch.autocast('cpu', dtype=torch.bfloat16)`, per CPU second.",
        "- GFLOP/s (mmfuse, per CPU second) = samples/CPU-s x 2 x the head's forward FLOPs per sample (`mmf_head_flops`: "
        "forward + weight gradient of every layer; input gradients of inner layers and elementwise work not counted, so a "
        "lower bound). One core's fp32 FMA peak here is about 116 GFLOP/s (bench/results/gemm.md); bf16 dot products "
        "(vdpbf16ps) double it.",
        "- OpenMP: both sides run with %s (the mmfuse CLI's default is GOMP_SPINCOUNT=1000, see docs/autograd.md: "
        "libgomp's default spin makes 2-thread runs on a busy machine many times slower)." %
        ("OMP_WAIT_POLICY=" + os.environ["OMP_WAIT_POLICY"] if "OMP_WAIT_POLICY" in os.environ else
         "GOMP_SPINCOUNT=" + os.environ.get("GOMP_SPINCOUNT", "1000")),
        "- Two throughputs: per wall-clock second, and per CPU second of the process (user + system, all "
        "threads). On a shared machine a process gets a varying share of a core, so with 1 thread "
        "the CPU-time figure measures the work itself and its ratio is the one to read; with 2 threads "
        "CPU time also counts spinning, so read the wall-clock ratio (and expect noise).",
        *([] if two else
          ["- 2-thread rows skipped (MMFUSE_BENCH_TWO_THREADS=0): with the machine's load average around 20 on 2 "
           "cores, both sides' OpenMP threads mostly wait for a core and the 2-thread timings say nothing."]),
        *([] if os.getloadavg()[1] < (os.cpu_count() or 1) else
          ["- **Measured under load** (5-min load average %.1f on %d CPUs): CPU-time figures also move under "
           "load (shared caches and memory bandwidth), not always equally for both sides; rerun on a quiet machine "
           "before judging the targets." % (os.getloadavg()[1], os.cpu_count() or 1)]),
        "- Target (issue 5): >= 3x for concat/MLP/GMU-sized heads, >= 1x for transformer fusion "
        "(judged on the 1-thread CPU-time ratio against PyTorch fp32, per row: the fastest mmfuse configuration "
        "is `--precision bf16` on AVX512-BF16 CPUs; fp32 rows are marked too, and there the GEMMs of both sides "
        "run near the same fp32 FMA peak).",
        "",
        "| fusion | H | threads | mmfuse precision | params | mmfuse GFLOP/s (CPU) | mmfuse samples/s (wall) | "
        "PyTorch fp32 samples/s (wall) | ratio (wall) | mmfuse samples/CPU-s | PyTorch fp32 samples/CPU-s | "
        "ratio (CPU) | PyTorch autocast bf16 samples/CPU-s | target |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for op, hidden, threads, prec, params, fl, ours, ref, ours_c, ref_c, ac in rows:
        t = TARGET.get(op) if threads == 1 else None
        lines.append("| %s | %d | %d | %s | %s | %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f | %s | %s |" %
                     (op, hidden, threads, prec, "{:,}".format(params) if params else "?",
                      "%.1f" % (ours_c * 2 * fl / 1e9) if fl else "?", ours, ref, ours / ref,
                      ours_c, ref_c, ours_c / ref_c, "%.0f" % ac if ac else "",
                      (">= %.0fx %s" % (t, "met" if ours_c / ref_c >= t else "**not met**")) if t else ""))
    if phases:
        lines += ["", "Where an mmfuse training step's time goes (1 thread, the best round; `mmfuse train --profile` "
                  "prints the same split), milliseconds per step of %d samples; on bf16 rows the weights' AdamW updates run "
                  "inside the next forward (deferred, fused with its GEMMs), so the optimiser column is nearly empty:" % batch, "",
                  "| fusion | precision | gather batch | forward | backward | optimiser (AdamW + clipping) | total |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for (op, key), ph in phases.items():
            tot = ph["gather"] + ph["forward"] + ph["backward"] + ph["optimiser"]
            lines.append("| %s | %s | %.3f | %.3f | %.3f | %.3f | %.3f |" % (op, "bf16" if key == "c16" else "fp32", ph["gather"],
                                                                          ph["forward"], ph["backward"], ph["optimiser"], tot))
    lines.append("")
    out = os.path.join(root, "bench", "results", "fusion.md")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(out + ".tmp", out)
    print("wrote", out, file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) in (8, 9) and sys.argv[1] == "run":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]),
               sys.argv[8] if len(sys.argv) == 9 else "fp32")
    elif len(sys.argv) == 2:
        main(os.path.abspath(sys.argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
