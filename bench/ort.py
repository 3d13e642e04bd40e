#!/usr/bin/python3
"""Encoders against ONNX Runtime, the engine a user would otherwise pick for CPU
inference: writes bench/results/ort-<cpu>.md, one fragment per CPU model (the
ratios differ by vendor: bf16 pays on AMD Zen 4/5 and not on Intel Xeons
without AMX), so a run on one machine keeps the other machines' tables.

  /usr/bin/python3 bench/ort.py BUILD_DIR      (bench/run.sh calls it; MMF_BENCH_QUICK=1: one small row)

ORT: npm's onnxruntime-node, installed once into BUILD_DIR/ort with
--ignore-scripts (ONNXRUNTIME_NODE_INSTALL_CUDA=skip), driven by bench/ort_run.js,
which times session.run only (graph optimisation "all", intra-op threads =
the row's threads, sequential execution). Models are exported by Debian's
PyTorch (torch.onnx.export, opset 14): the text encoders are text_torch.py's
BertModel computation over the very folder mmfuse loads (same weights, so the
embeddings are compared too); the image encoders are torchvision's vit_b_16 and
resnet50 with random weights against mmfuse's random folders of the same
geometry (speed only). mmfuse: bench_text / bench_image in their own processes,
timing the whole embed call (tokenizing included for text). The sides run
interleaved, alternating order, best of 2 rounds. 1 thread is compared by CPU
time, 2 threads by wall time.
"""
import json
import math
import warnings
import os
import subprocess
import sys
import time

import ort_extra

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
QUICK = os.environ.get("MMF_BENCH_QUICK") == "1"


def run_json(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = p.communicate()
    if p.returncode != 0:
        raise RuntimeError("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), err.decode()[-2000:]))
    lines = [l for l in out.decode().splitlines() if l.startswith("{")]
    return json.loads(lines[-1])


def ensure_ort(build):
    d = os.path.join(build, "ort")
    if not os.path.exists(os.path.join(d, "node_modules", "onnxruntime-node", "package.json")):
        os.makedirs(d, exist_ok=True)
        env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL_CUDA="skip")
        print("ort bench: npm install onnxruntime-node into %s" % d, file=sys.stderr)
        subprocess.check_call(["npm", "install", "--ignore-scripts", "--no-save", "--no-audit", "--no-fund",
                               "--prefix", d, "onnxruntime-node@1"], env=env, stdout=subprocess.DEVNULL)
    return d


def export_text(folder, onnx):
    if os.path.exists(onnx):
        return
    import torch
    sys.path.insert(0, HERE)
    sys.argv[1:] = ["run", folder]   # text_torch imports torch only as a worker
    import text_torch
    _, model = text_torch.load(folder)

    class M(torch.nn.Module):
        def forward(self, ids, mask):
            return model(ids, mask)
    ids = torch.tensor([[2] + [5] * 126 + [3]] * 2)
    torch.onnx.export(M(), (ids, torch.ones_like(ids)), onnx + ".tmp", input_names=["ids", "mask"],
                      output_names=["emb"], dynamic_axes={"ids": {0: "b"}, "mask": {0: "b"}, "emb": {0: "b"}},
                      opset_version=14)
    os.replace(onnx + ".tmp", onnx)


def export_image(which, onnx):
    if os.path.exists(onnx):
        return
    import torch
    import torchvision
    torch.manual_seed(0)
    net = torchvision.models.vit_b_16() if which == "vit" else torchvision.models.resnet50()
    if which == "vit":
        net.heads = torch.nn.Identity()
    else:
        net.fc = torch.nn.Identity()
    net.eval()
    x = torch.rand(2, 3, 224, 224)
    # with gradients on, nn.MultiheadAttention takes its exportable path (its
    # inference fast path, _native_multi_head_attention, has no ONNX symbolic)
    torch.onnx.export(net, (x,), onnx + ".tmp", input_names=["pixels"], output_names=["emb"],
                      dynamic_axes={"pixels": {0: "b"}, "emb": {0: "b"}}, opset_version=14)
    os.replace(onnx + ".tmp", onnx)


def cosine(a, b):
    d = sum(x * y for x, y in zip(a, b))
    return d / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def main():
    warnings.filterwarnings("ignore")   # torch.onnx's shape-inference notes on constants
    build = os.path.abspath(sys.argv[1])
    ort_dir = ensure_ort(build)
    work = os.environ.get("MMF_BENCH_DIR", "/tmp/mmf_bench_text")
    os.makedirs(work, exist_ok=True)
    bench_text, bench_image = os.path.join(build, "bench_text"), os.path.join(build, "bench_image")
    info = json.loads(subprocess.check_output([os.path.join(build, "mmfuse"), "info", "--json"]))
    # (label, kind, geometry, batch, iters)
    rows = [("MiniLM-L6 b32 x 128", "text", "minilm", 32, 3), ("BERT-base b1 x 128 (latency)", "text", "base", 1, 10),
            ("ResNet-50 b16", "image", "resnet", 16, 2), ("ViT-B/16 b16", "image", "vit", 16, 1)]
    if QUICK:
        rows = [("MiniLM-L6 b1 x 128", "text", "minilm", 1, 3)]
    load0, t_start = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = []
    for label, kind, geo, B, iters in rows:
        if kind == "text":
            folder = os.path.join(work, geo)
            if not os.path.exists(os.path.join(folder, "model.safetensors")):
                subprocess.check_call([bench_text, "make", folder, geo])
            onnx = os.path.join(work, geo + ".onnx")
            export_text(folder, onnx)
            spec = [{"name": "ids", "type": "int64", "shape": [B, 128], "fill": "ids"},
                    {"name": "mask", "type": "int64", "shape": [B, 128], "fill": "ones"}]
        else:
            onnx = os.path.join(work, geo + ".onnx")
            export_image(geo, onnx)
            spec = [{"name": "pixels", "type": "float32", "shape": [B, 3, 224, 224], "fill": "rand"}]
        onnx8 = onnx[:-5] + ".int8.onnx"
        if not os.path.exists(onnx8):
            sys.path.insert(0, HERE)
            import ort_quant
            ort_quant.quantise(onnx, onnx8)
        for nt in ((1,) if QUICK else (1, 2)):
            best = {}
            for rnd in range(1 if QUICK else 2):
                impls = ["ort", "ort-int8", "fp32", "bf16", "int8"]
                for impl in (impls if rnd % 2 == 0 else impls[::-1]):
                    if impl.startswith("ort"):
                        r = run_json(["node", os.path.join(HERE, "ort_run.js"), ort_dir, onnx8 if impl == "ort-int8" else onnx,
                                      str(nt), str(iters), json.dumps(spec)])
                        wall, cpu = r["ms_best"], r["cpu_ms_best"]
                    elif kind == "text":
                        r = run_json([bench_text, "run", folder, str(B), str(nt), str(iters), impl])
                        wall, cpu = r["ms_best"], r["cpu_ms_best"]
                    else:
                        r = run_json([bench_image, "model", geo, str(B), str(nt), str(iters), impl])
                        wall, cpu = r["best_ms"], r["cpu_ms"]
                    b = best.get(impl)
                    if b is None or wall < b["wall"]:
                        best[impl] = {"wall": wall, "cpu": min(cpu, b["cpu"]) if b else cpu, "r": r}
                    elif cpu < b["cpu"]:
                        b["cpu"] = cpu
            if nt == 1:   # PyTorch fp32, the second peer, and the work's FLOPs
                best["torch"] = {"cpu": min(ort_extra.torch_row(kind, geo, folder if kind == "text" else None, B, iters)[1]
                                            for _ in range(1 if QUICK else 2))}
            best["flops"] = ort_extra.work_flops(kind, geo, folder if kind == "text" else None, B)
            results.append((label, kind, B, nt, best))
            print("ort bench: %s threads %d: " % (label, nt) + ", ".join(
                "%s %.1f ms wall, %.1f ms CPU" % (k, v["wall"], v["cpu"]) for k, v in best.items() if k in impls) +
                (", torch %.1f ms CPU" % best["torch"]["cpu"] if "torch" in best else ""), file=sys.stderr)
    peak = ort_extra.fma_peak(build)
    starts = []
    for geo, label in (("minilm", "MiniLM-L6"),) + ((("base", "BERT-base"),) if not QUICK else ()):
        folder = os.path.join(work, geo)
        starts.append((label, os.path.getsize(os.path.join(folder, "model.safetensors")) / 2**20,
                       ort_extra.startup(build, ort_dir, work, folder, os.path.join(work, geo + ".onnx"), 1 if QUICK else 3)))
    write_fragment(results, info, load0, os.getloadavg(), t_start, peak, starts)


TARGETS = {"MiniLM-L6 b32 x 128": (1.1, 2.0, 2.8), "BERT-base b1 x 128 (latency)": (1.0, 1.6, 2.0),
           "ResNet-50 b16": (1.0, 1.7, 2.2), "ViT-B/16 b16": (1.1, 1.8, 2.5)}


def rate_table(results, peak):
    """GFLOP/s of each 1-thread row (FLOPs of the work / process CPU time) against the measured fp32 FMA peak"""
    p1 = peak["peak_gflops_1t"]
    L = ["Achieved rate, 1 thread, GFLOP/s per CPU second (the work's multiply-adds x 2: transformer 2T(4C^2 + 2CF) + "
         "4T^2C per layer, convolutions 2 x their MACs; ResNet-50 %.2f, ViT-B/16 %.2f GFLOP per image), and its share of "
         "this core's fp32 FMA peak, measured in the same run by `bench_gemm --peak` (%.1f GFLOP/s; bf16 and int8 "
         "multiply-adds run at up to 2x and 4x that rate, so their share can pass 100%%):" % (
             ort_extra.resnet50_flops() / 1e9, ort_extra.vit_b16_flops() / 1e9, p1), ""]
    L.append("| work | ORT fp32 | ORT int8 | PyTorch fp32 | mmfuse fp32 | mmfuse bf16 | mmfuse int8 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for label, kind, B, nt, best in results:
        if nt != 1:
            continue
        cell = lambda k: "%.0f (%.0f%%)" % (best["flops"] / best[k]["cpu"] / 1e6, 100 * best["flops"] / best[k]["cpu"] / 1e6 / p1) \
            if k in best and best[k].get("cpu") else "-"
        L.append("| %s | %s |" % (label, " | ".join(cell(k) for k in ("ort", "ort-int8", "torch", "fp32", "bf16", "int8"))))
    L.append("")
    return L


def start_table(starts):
    """process start to first embedding and peak RSS, one 128-token input, 1 thread"""
    L = ["Process start to first embedding (one 128-token input, 1 thread, best of the rounds: wall seconds, and in "
         "brackets the process's CPU seconds, which other jobs on the machine disturb less) and peak RSS (wait4): mmfuse = `mmfuse embed --text-file` (load, pack the weights for the precision, tokenize, embed, "
         "write the file); ORT = node + `InferenceSession.create` + one `run`; PyTorch = `import torch` + load the "
         "safetensors + one forward. Targets: mmfuse MiniLM-L6 <= 0.15 s, peak RSS <= 1.3 x the weights.", ""]
    L.append("| model (weights MiB) | mmfuse fp32 s (CPU) / MiB | mmfuse bf16 s (CPU) / MiB | mmfuse int8 s (CPU) / MiB | ORT fp32 s (CPU) / MiB | PyTorch fp32 s (CPU) / MiB | mmfuse fp32 RSS / weights |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for label, mib, got in starts:
        cell = lambda k: "%.3f (%.3f) / %.0f" % (got[k][0], got[k][2], got[k][1])
        L.append("| %s (%.0f) | %s | %s | %s | %s | %s | %.2f |" % (label, mib, cell("fp32"), cell("bf16"), cell("int8"),
                                                                 cell("ort"), cell("torch"), got["fp32"][1] / mib))
    L.append("")
    return L


def cpu_slug(cpu):
    """'Intel(R) Xeon(R) Processor' -> 'intel-xeon-processor' (the fragment's name)"""
    import re
    s = re.sub(r"\((r|tm)\)", "", cpu.lower())
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "cpu"


def write_fragment(results, info, load0, load1, t_start, peak, starts):
    ver = next((b["ort"]["r"].get("version") for *_, b in results), "?")
    busy = max(load0[0], load1[0]) > (os.cpu_count() or 1) + 0.5
    L = ["## Encoders vs ONNX Runtime (CPU): %s" % info["cpu"], ""]
    L.append("- Machine: %s, %d cores for this process; avx2 %d, avx512f %d, avx512_bf16 %d, avx512_vnni %d, amx %d; "
             "mmfuse engine: %s; bf16 multiply-adds at %.2fx the fp32 FMA rate (`mmfuse info`), so `--precision auto` runs %s. "
             "Measured %s by `bench/ort.py`%s." % (
                 info["cpu"], info["cpus"], info["avx2"], info["avx512f"], info["avx512_bf16"], info["avx512_vnni"],
                 info["amx"], info["engine"], info.get("bf16_speedup", 0.0), info.get("auto_precision", "?"), t_start,
                 " (quick)" if QUICK else ""))
    L.append("- %s (load average %.1f at the start, %.1f at the end). Interleaved, alternating order, best of %d rounds." % (
        "**Shared machine, other jobs running**: ratios are the meaningful figures" if busy else "Quiet machine",
        load0[0], load1[0], 1 if QUICK else 2))
    L.append("- ORT %s (npm `onnxruntime-node`, `--ignore-scripts`), graph optimisation \"all\", fp32, timing "
             "`session.run` only; models exported by Debian's PyTorch (opset 14). mmfuse times the whole embed "
             "call. Text: seq 128, the same weights on both sides (embedding agreement below); images: 224 x 224, "
             "random weights of the same geometry on each side. 1 thread: process CPU time; 2 threads: wall." % ver)
    L.append("")
    L.append("| work | threads | ORT fp32 ms | ORT int8 ms | PyTorch fp32 ms | mmfuse fp32 ms | mmfuse bf16 ms | mmfuse int8 ms | fp32 / ORT | bf16 / ORT | int8 / ORT | int8 / ORT int8 | fp32 / PyTorch | targets fp32, bf16, int8 (vs ORT fp32) |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, kind, B, nt, best in results:
        key = "cpu" if nt == 1 else "wall"
        o = best["ort"][key]
        ms = {k: best[k][key] if k in best else None for k in ("fp32", "bf16", "int8")}
        cell = lambda k: "%.1f" % ms[k] if ms[k] else "-"
        ratio = lambda k: "%.2fx" % (o / ms[k]) if ms[k] else "-"
        tg = TARGETS.get(label)
        o8 = best["ort-int8"][key]
        t = best.get("torch", {}).get("cpu") if nt == 1 else None
        L.append("| %s | %d | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, nt, o, o8, "%.1f" % t if t else "-", cell("fp32"), cell("bf16"), cell("int8"), ratio("fp32"),
            ratio("bf16"), ratio("int8"), "%.2fx" % (o8 / ms["int8"]) if ms["int8"] else "-",
            "%.2fx" % (t / ms["fp32"]) if t and ms["fp32"] else "-", ">= %.1fx, %.1fx, %.1fx" % tg if tg else "-"))
    L.append("")
    L.extend(rate_table(results, peak))
    L.extend(start_table(starts))
    agree, q = [], []
    for label, kind, B, nt, best in results:
        e_o = best["ort"]["r"]["emb0"]
        if kind == "text":
            e_f = best["fp32"]["r"]["emb0"][:len(e_o)]
            agree.append("%s: max |ORT - mmfuse fp32| %.1e, cosine %.7f" % (
                label, max(abs(x - y) for x, y in zip(e_o, e_f)), cosine(e_o, e_f)))
        q.append("%s %.5f" % (label, cosine(best["ort-int8"]["r"]["emb0"], e_o)))
    if agree:
        L.append("Embedding agreement, first row, same weights: " + "; ".join(sorted(set(agree))) + ".")
        L.append("")
    L.append("ORT int8 against ORT fp32 (cosine, first row): " + ", ".join(sorted(set(q))) + ". mmfuse int8 against "
             "mmfuse fp32 is gated at >= 0.99 in tests/test_int8.c (0.9999 on the test models).")
    L.append("")
    L.append("Ratios above 1 mean mmfuse is faster; on a shared machine the 1-thread CPU-time rows are the "
             "ones to read (2-thread wall time waits for cores other jobs hold). mmfuse int8: per-channel int8 "
             "weights packed once into oneDNN's int8 matmul layout, activations quantised per tensor to u8 with a "
             "zero point (as ORT's DynamicQuantizeLinear), the scale-back, bias, residual add and GELU in the "
             "matmul's epilogue (VNNI) for the transformer projections and FFN; ResNet's ReLU outputs quantised per tensor to u8 for oneDNN int8 "
             "convolutions (the stem: an int8 GEMM); softmax, LayerNorm in fp32. ORT int8: the exported graph rewritten as ORT's dynamic quantisation writes it "
             "(bench/ort_quant.py: DynamicQuantizeLinear + MatMulInteger / ConvInteger, per-channel int8 weights); "
             "ORT's ConvInteger is a plain kernel (its fast int8 convolutions need static QLinearConv graphs), so "
             "its ResNet int8 row is slow.")
    path = os.path.join(ROOT, "bench", "results", "ort-%s.md" % cpu_slug(info["cpu"]))
    with open(path + ".tmp", "w") as fh:
        fh.write("\n".join(L) + "\n")
    os.replace(path + ".tmp", path)
    print("wrote " + path, file=sys.stderr)


if __name__ == "__main__":
    main()
