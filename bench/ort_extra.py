#!/usr/bin/python3
"""The rest of bench/ort.py's fragment: what the encoders' speed rows do not say.

- FLOPs of each row's work, so a time becomes GFLOP/s against the fp32 FMA peak
  that `bench_gemm --peak` measures on this machine, this run;
- PyTorch fp32 (Debian's torch, one thread) beside ORT, the second peer;
- process start to first embedding and peak RSS (wait4) of `mmfuse embed` per
  precision, ORT (node + session + one run) and PyTorch (import, load, one
  forward), one 128-token input, one thread; weights' size for the RSS ratio.

  ort_extra.py torch-image MODEL B THREADS ITERS    PyTorch worker (image_torch's
                                                    model): one JSON line
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


def measure(cmd):
    """Run cmd; (last JSON line or None, wall seconds, peak RSS MiB, CPU seconds; both from wait4)."""
    import tempfile
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = status   # reaped here: keep Popen from waiting again
        if status != 0:
            err.seek(0)
            raise RuntimeError("failed (status %d): %s\n%s" % (status, " ".join(cmd), err.read().decode(errors="replace")[-2000:]))
    lines = [l for l in out.decode().splitlines() if l.startswith("{")]
    return (json.loads(lines[-1]) if lines else None), wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def transformer_flops(L, C, F, T):
    """one sequence: projections and FFN 2T(4C^2 + 2CF), attention 4T^2C, per layer"""
    return L * (2 * T * (4 * C * C + 2 * C * F) + 4 * T * T * C)


def resnet50_flops(S=224):
    """torchvision resnet50 (v1.5: stride on the 3x3), 2 x multiply-adds of every convolution"""
    macs, s = 0, S // 2
    macs += s * s * 64 * 3 * 49   # stem 7x7/2
    s //= 2                        # max pool
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            st = stride if b == 0 else 1
            so = s // st
            macs += s * s * width * cin              # 1x1 reduce
            macs += so * so * width * width * 9      # 3x3
            macs += so * so * 4 * width * width      # 1x1 expand
            if b == 0:
                macs += so * so * 4 * width * cin    # projection shortcut
            cin, s = 4 * width, so
    return 2 * macs


def vit_b16_flops(S=224):
    n = (S // 16) ** 2
    return 2 * n * 768 * 3 * 256 + transformer_flops(12, 768, 3072, n + 1)


def work_flops(kind, geo, folder, B):
    if kind == "text":
        cfg = json.load(open(os.path.join(folder, "config.json")))
        return B * transformer_flops(cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"], 128)
    return B * (resnet50_flops() if geo == "resnet" else vit_b16_flops())


def fma_peak(build):
    r, *_ = measure([os.path.join(build, "bench_gemm"), "--peak"])
    return r


def torch_row(kind, geo, folder, B, iters):
    """PyTorch fp32, one thread: (wall ms, CPU ms)"""
    if kind == "text":
        r, *_ = measure([PY, os.path.join(HERE, "text_torch.py"), "run", folder, str(B), "1", str(iters)])
        return r["ms_best"], r["cpu_ms_best"]
    r, *_ = measure([PY, os.path.abspath(__file__), "torch-image", geo, str(B), "1", str(iters)])
    return r["ms"], r["cpu_ms"]


def startup(build, ort_dir, work, folder, onnx, rounds=3):
    """{impl: (best wall seconds to the first embedding, peak RSS MiB, best CPU seconds)} for one text folder"""
    one = os.path.join(work, "one.txt")
    with open(one, "w") as f:
        f.write("hello " * 126 + "\n")
    cli = os.path.join(build, "mmfuse")
    spec = json.dumps([{"name": "ids", "type": "int64", "shape": [1, 128], "fill": "ids"},
                       {"name": "mask", "type": "int64", "shape": [1, 128], "fill": "ones"}])
    cmds = {p: [cli, "embed", "--model", folder, "--text-file", one, "--threads", "1", "--precision", p,
                "--out", os.path.join(work, "one-%s.safetensors" % p)] for p in ("fp32", "bf16", "int8")}
    cmds["ort"] = ["node", os.path.join(HERE, "ort_run.js"), ort_dir, onnx, "1", "0", spec]
    cmds["torch"] = [PY, os.path.join(HERE, "text_torch.py"), "first", folder]
    got = {k: (1e9, 0.0, 1e9) for k in cmds}
    for rnd in range(rounds):
        for k in (list(cmds) if rnd % 2 == 0 else list(cmds)[::-1]):
            _, wall, rss, cpu = measure(cmds[k])
            got[k] = (min(got[k][0], wall), max(got[k][1], rss), min(got[k][2], cpu))
    return got


def worker_image(model, B, nt, iters):
    sys.path.insert(0, HERE)
    import image_torch
    wall, cpu = image_torch.torch_model(model, B, nt, iters, "fp32")
    print(json.dumps({"impl": "torch", "model": model, "batch": B, "threads": nt, "ms": wall, "cpu_ms": cpu}))


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "torch-image":
        worker_image(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif len(sys.argv) != 2:   # bench/run.sh runs every bench/*.py with BUILD_DIR: a module of ort.py has nothing to do alone
        sys.exit(__doc__)
