#!/usr/bin/env python3
"""The demo's downstream numbers with fp32, bf16 and int8 encoders (issue 16's
accuracy gate: int8 within 1 point of fp32 on classification, retrieval and
clustering, cosine >= 0.99 per embedding), beside the embedding speed.

    bench/precision.py BUILD_DIR       (bench/run.sh calls it; needs `make demo` first)

It takes the demo's trained encoders and data (data/demo/, data/emoji/, see
scripts/demo.sh) and, with the same commands as the demo's embed / fusion /
retrieval / cluster stages, for each precision:
  - embeds the splits, the retrieval queries and the OpenMoji gallery;
  - classification (held-out subgroups, test split) with the demo's chosen
    fusion operator two ways: the head trained on the fp32 embeddings applied
    to this precision's test embeddings (isolates the encoder) and a head
    trained on this precision's embeddings, both with the demo's settings and
    seed (trained here, not taken from data/demo/fusion: the demo embeds at the
    default precision, auto, so its heads need not be fp32's);
  - text -> image retrieval R@1 / R@10 through an align head trained here on
    the fp32 embeddings as the demo trains its own;
  - k-means NMI / ARI on the fused (demo head), text and image test embeddings;
  - cosine of every embedding to the fp32 one (min / mean, per modality);
  - the embed command's CPU time at 1 thread (images, texts of the train split),
    interleaved, best of ROUNDS.
Every number comes from the mmfuse CLI; numpy only reads the embedding files
for the cosines. Writes bench/results/precision.md. Without data/demo it says so
and exits 0, leaving the old fragment.
Environment: MMF_PRECISION_ROUNDS (default 3), MMF_PRECISION_DIR (default data/demo/precision)."""
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEMO = os.path.join(ROOT, "data", "demo")
DATA = os.path.join(ROOT, "data", "emoji")
PRECS = ("fp32", "bf16", "int8")
ROUNDS = int(os.environ.get("MMF_PRECISION_ROUNDS", "3"))
# the demo's head settings (scripts/demo.sh: HEAD_EPOCHS, HEAD_PATIENCE, MOD_DROPOUT, --seed 1)
HEAD = ["--epochs", "12", "--patience", "3", "--seed", "1", "--modality-dropout", "0.3"]
SEEDS = (42,) + tuple(range(1, 40))   # 40 k-means seeds (42: the demo's, the CLI's default)
HEAD_SEEDS = (1, 2, 3)        # fusion-head seeds for the fp32 noise floor (1: the demo's)


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-400:]))
    return p.stdout


def cpu_of(cmd):
    """(CPU seconds, wall seconds) of one command: the children's rusage delta"""
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    run(cmd)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, time.monotonic() - t0


def read_st(path):
    """safetensors -> {name: array} (F32, I64, U8 tensors)"""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        hdr = json.loads(f.read(n))
        blob = f.read()
    dt = {"F32": np.float32, "I64": np.int64, "U8": np.uint8}
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__" or v["dtype"] not in dt:
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(blob[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out


def cosines(a, b):
    """per-row cosine of two (N, D) arrays, rows where both are non-zero (a missing modality is zero)"""
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    keep = (na > 0) & (nb > 0)
    return (a[keep] * b[keep]).sum(1) / (na[keep] * nb[keep])


def first_json(text):
    return json.loads(text.strip().split("\n")[0])


def demo_inputs():
    need = [os.path.join(DEMO, "encoders", "text.path"), os.path.join(DEMO, "encoders", "image.path"),
            os.path.join(DEMO, "fusion", "best.txt"), os.path.join(DEMO, "machine.json")]
    if not all(os.path.exists(p) for p in need):
        return None
    machine = json.load(open(need[3]))
    return {"text": open(need[0]).read().strip(), "image": open(need[1]).read().strip(),
            "best": open(need[2]).read().strip(), "threads": str(machine.get("threads", os.cpu_count() or 1))}


def train_head(mmf, d, out, name, seed):
    """the demo's fusion-stage training of its chosen operator on one precision's embeddings"""
    h = os.path.join(out, name + ".head.safetensors")
    args = HEAD[:HEAD.index("--seed")] + ["--seed", str(seed)] + HEAD[HEAD.index("--seed") + 2:]
    run([mmf, "train", "--train", os.path.join(out, "train.safetensors"), "--val", os.path.join(out, "val.safetensors"),
         "--fusion", d["best"], "--out", h, "--threads", d["threads"]] + args)
    return h


def fp32_heads(mmf, d, out):
    """the fp32 heads every precision is read through: the fusion head and the align head (scripts/demo.sh's settings)"""
    d["head"] = train_head(mmf, d, out, "own", 1)
    d["align"] = os.path.join(out, "align.head.safetensors")
    run([mmf, "train", "--task", "align", "--train", os.path.join(out, "train.safetensors"), "--val",
         os.path.join(out, "val.safetensors"), "--epochs", "20", "--patience", "4", "--threads", d["threads"],
         "--out", d["align"]])


def embed_all(mmf, d, prec, out):
    """the demo's embed stage (the files the later stages read), at one precision"""
    common = ["--id-field", "hexcode", "--classes", os.path.join(DATA, "classes.json"), "--classes-key", "subgroups",
              "--threads", d["threads"], "--precision", prec]
    tm, im = ["--text-model", d["text"]], ["--image-model", d["image"]]
    for s in ("train", "val", "test"):
        run([mmf, "embed", "--records", os.path.join(DATA, s + ".jsonl")] + tm + im + common + ["--out", os.path.join(out, s + ".safetensors")])
    for q in ("queries", "queries_train"):   # held-out concepts' names (the demo's retrieval), training concepts' names
        run([mmf, "embed", "--records", os.path.join(DEMO, "records", q + ".jsonl")] + tm + common + ["--out", os.path.join(out, q + ".safetensors")])
    run([mmf, "embed", "--records", os.path.join(DATA, "openmoji.jsonl")] + im + common + ["--out", os.path.join(out, "gallery.safetensors")])


def downstream(mmf, d, out, k):
    """the demo's fusion / retrieval / cluster numbers on one precision's embeddings"""
    t = ["--threads", d["threads"]]
    r = {}
    test = os.path.join(out, "test.safetensors")
    r["acc_fp32_head"] = first_json(run([mmf, "eval", d["head"], "--data", test, "--json", "--no-table"] + t))["accuracy"]
    own = d["head"] if os.path.dirname(d["head"]) == out else train_head(mmf, d, out, "own", 1)
    r["acc_own_head"] = first_json(run([mmf, "eval", own, "--data", test, "--json", "--no-table"] + t))["accuracy"]
    for s in ("queries", "gallery"):
        run([mmf, "fuse", d["align"], "--data", os.path.join(out, s + ".safetensors"), "--out",
             os.path.join(out, s + ".fused.safetensors")] + t)
    ret = json.loads(run([mmf, "retrieval", os.path.join(out, "queries.fused.safetensors"), "--a", "fused", "--b", "fused",
                          "--b-file", os.path.join(out, "gallery.fused.safetensors"), "--json"] + t))
    q = next(v for kk, v in ret.items() if "->gallery" in kk)   # text -> image
    r["r1"], r["r10"] = q["r1"], q["r10"]
    run([mmf, "fuse", d["align"], "--data", os.path.join(out, "queries_train.safetensors"), "--out",
         os.path.join(out, "queries_train.fused.safetensors")] + t)
    ret = json.loads(run([mmf, "retrieval", os.path.join(out, "queries_train.fused.safetensors"), "--a", "fused", "--b", "fused",
                          "--b-file", os.path.join(out, "gallery.fused.safetensors"), "--json"] + t))
    q = next(v for kk, v in ret.items() if "->gallery" in kk)   # text -> image
    r["r1_train"], r["r10_train"] = q["r1"], q["r10"]
    fused = os.path.join(out, "test.fused.safetensors")
    run([mmf, "fuse", d["head"], "--data", test, "--out", fused] + t)
    # k-means with 89 clusters over 394 points moves by whole points between
    # seeds on the same embeddings: the mean over SEEDS is what is compared
    for name, f, tensor in (("fused", fused, "fused"), ("text", test, "text"), ("image", test, "image")):
        cj = os.path.join(out, "cluster_%s.json" % name)
        for metric in ("nmi", "ari"):
            r["%s_%s_seeds" % (metric, name)] = []
        for seed in SEEDS:
            run([mmf, "cluster", f, "--tensor", tensor, "--labels", "labels", "-k", str(k), "--seed", str(seed), "--out", cj] + t)
            sc = json.load(open(cj))["scores"]
            for metric in ("nmi", "ari"):
                r["%s_%s_seeds" % (metric, name)].append(sc[metric])
        for metric in ("nmi", "ari"):
            r["%s_%s" % (metric, name)] = float(np.mean(r["%s_%s_seeds" % (metric, name)]))
    return r


def head_seed_spread(mmf, d, out):
    """the fp32 head retrained with other seeds: how far its test accuracy moves without any encoder change"""
    t = ["--threads", d["threads"]]
    accs = []
    for seed in HEAD_SEEDS:
        h = train_head(mmf, d, out, "seed%d" % seed, seed)
        accs.append(first_json(run([mmf, "eval", h, "--data", os.path.join(out, "test.safetensors"), "--json", "--no-table"] + t))["accuracy"])
    return accs


def speed(mmf, d, ok):
    """best CPU seconds of `mmfuse embed --threads 1` over the train split, images and texts, interleaved"""
    recs = os.path.join(DATA, "train.jsonl")
    best = {}
    tmp = os.path.join(os.environ.get("TMPDIR", "/tmp"), "mmf_precision_speed.safetensors")
    for rnd in range(ROUNDS):
        order = [p for p in PRECS if p in ok]
        for p in (order if rnd % 2 == 0 else order[::-1]):
            for mod, flag in (("image", "--image-model"), ("text", "--text-model")):
                cpu, wall = cpu_of([mmf, "embed", "--records", recs, flag, d[mod], "--id-field", "hexcode", "--threads", "1",
                                    "--precision", p, "--out", tmp])
                key = (p, mod)
                if key not in best or cpu < best[key]:
                    best[key] = cpu
    if os.path.exists(tmp):
        os.remove(tmp)
    return best, sum(1 for _ in open(recs))


def main():
    build = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    mmf = os.path.join(build, "mmfuse")
    info = json.loads(run([mmf, "info", "--json"]))
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), info["cpu"])
    fam = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("cpu family")), "?")
    mdl = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model\t")), "?")
    cpu_line = "%s (family %s model %s), %d cores; avx512_bf16 %d, avx512_vnni %d, amx %d; mmfuse engine %s" % (
        model, fam, mdl, info["cpus"], info["avx512_bf16"], info["avx512_vnni"], info["amx"], info["engine"])
    print("precision bench: " + cpu_line, file=sys.stderr)
    d = demo_inputs()
    if d is None:
        print("precision bench: no data/demo (run `make demo` first); bench/results/precision.md left as it is", file=sys.stderr)
        return 0
    work = os.environ.get("MMF_PRECISION_DIR", os.path.join(DEMO, "precision"))
    load0, t_start = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    k = len({json.loads(l)["subgroup"] for l in open(os.path.join(DATA, "test.jsonl"))})
    res, refused, emb = {}, {}, {}
    for p in PRECS:
        out = os.path.join(work, p)
        os.makedirs(out, exist_ok=True)
        try:
            embed_all(mmf, d, p, out)
        except RuntimeError as e:   # bf16 without AVX512-BF16, int8 without VNNI
            if p == "fp32":
                raise
            refused[p] = str(e).split(": exit 1: ")[-1]
            print("precision bench: %s refused: %s" % (p, refused[p]), file=sys.stderr)
            continue
        if p == "fp32":
            fp32_heads(mmf, d, out)
        res[p] = downstream(mmf, d, out, k)
        emb[p] = {s: read_st(os.path.join(out, s + ".safetensors")) for s in ("train", "val", "test", "queries", "queries_train", "gallery")}
        if p == "fp32":
            res[p]["acc_head_seeds"] = head_seed_spread(mmf, d, out)
        print("precision bench: %s: %s" % (p, json.dumps(res[p])), file=sys.stderr)
    cos = {}
    for p in res:
        for mod in ("text", "image"):
            c = np.concatenate([cosines(emb[p][s][mod], emb["fp32"][s][mod]) for s in emb[p] if mod in emb[p][s]])
            cos[(p, mod)] = (float(c.min()), float(c.mean()), len(c))
    sp, n_speed = speed(mmf, d, res)
    write_fragment(d, res, refused, cos, sp, n_speed, k, cpu_line, load0, os.getloadavg(), t_start)
    return 0


METRICS = [("acc_fp32_head", "classification, the fp32-trained head (encoder only)"),
           ("acc_own_head", "classification, a head trained on these embeddings"),
           ("r1", "text -> image R@1, held-out names (the demo's retrieval; fp32-trained align head)"),
           ("r10", "text -> image R@10, held-out names"),
           ("r1_train", "text -> image R@1, training concepts' names -> OpenMoji art"),
           ("r10_train", "text -> image R@10, training concepts' names"),
           ("nmi_fused", "k-means NMI, fused (mean of 40 seeds)"), ("ari_fused", "k-means ARI, fused (mean of 40 seeds)"),
           ("nmi_text", "k-means NMI, text"), ("ari_text", "k-means ARI, text"),
           ("nmi_image", "k-means NMI, image"), ("ari_image", "k-means ARI, image")]


def diff_se(res, key):
    """standard error in points of int8's seed mean minus fp32's (0 for a deterministic number)"""
    a, b = res["fp32"].get(key + "_seeds"), res["int8"].get(key + "_seeds")
    if not a or not b:
        return 0.0
    return 100 * float(np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b)))


def fp32_spread(res, key):
    """max - min in points of the fp32 number over seeds (no encoder change): the noise floor"""
    f = res["fp32"]
    v = f.get(key + "_seeds") or (f["acc_head_seeds"] if key == "acc_own_head" else None)
    return "%.2f" % (100 * (max(v) - min(v))) if v else "0 (deterministic)"


def write_fragment(d, res, refused, cos, sp, n_speed, k, cpu_line, load0, load1, t_start):
    busy = max(load0[0], load1[0]) > (os.cpu_count() or 1) + 0.5
    low = [p for p in PRECS if p in res and p != "fp32"]
    L = ["## Encoder precision on the demo's downstream tasks (fp32 vs bf16 vs int8)", ""]
    L.append("- Machine: %s. Measured %s by `bench/precision.py`; %s (load average %.1f at the start, %.1f at the end)." % (
        cpu_line, t_start, "**shared machine, other jobs running**" if busy else "quiet machine", load0[0], load1[0]))
    L.append("- Encoders: the demo's from-scratch towers (`make demo`: text `mmfuse_text`, image `mmfuse_cnn` 32 px), "
             "each run at the row's precision (`--precision`) for every embedding; everything downstream is the demo's "
             "commands and settings (scripts/demo.sh) at %s threads, the fp32 heads trained here on the fp32 embeddings. "
             "Test split: %d held-out concepts' records, %d subgroups; fusion operator `%s` (the demo's best on "
             "validation); 1 point = 0.01." % (
                 d["threads"], sum(1 for _ in open(os.path.join(DATA, "test.jsonl"))), k, d["best"]))
    for p, msg in refused.items():
        L.append("- %s: refused on this machine: %s" % (p, msg))
    L.append("")
    L.append("| metric | " + " | ".join(p for p in PRECS if p in res) + " | " +
             " | ".join("%s - fp32 (points)" % p for p in low) + " | fp32 seed spread (points) | int8 gate (within 1 point) |")
    L.append("|---|" + "---:|" * (len(res) + len(low) + 1) + "---|")
    gate_all, noisy = True, []
    for key, label in METRICS:
        row = [label] + ["%.4f" % res[p][key] for p in PRECS if p in res]
        for p in low:
            row.append("%+.2f" % (100 * (res[p][key] - res["fp32"][key])))
        row.append(fp32_spread(res, key))
        if "int8" in res:
            dlt = 100 * (res["int8"][key] - res["fp32"][key])
            se = diff_se(res, key)
            if abs(dlt) <= 1.0 + 1e-9:
                row.append("met")
            elif abs(dlt) - 2 * se <= 1.0:   # a mean over seeds whose noise covers the 1 point
                row.append("within noise (%+.2f, 2 s.e. %.2f)" % (dlt, 2 * se))
                noisy.append(label)
            else:
                gate_all = False
                row.append("**not met** (%+.2f)" % dlt)
        else:
            row.append("int8 not run")
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    if "int8" in res:
        L.append("int8 gate on these downstream numbers: **%s**%s. The seed spread (max - min) is how far the fp32 number "
                 "itself moves with the seed alone (k-means: %d seeds; the head: seeds %s), with no encoder change; "
                 "\"within noise\": a mean over the k-means seeds that differs by more than 1 point, but by less than "
                 "1 point plus two standard errors of the difference. bf16, whose embeddings are closer still to fp32, "
                 "is the control for how far any perturbation moves k-means." % (
                     "met" if gate_all and not noisy else "not met" if not gate_all else "met but for noise",
                     "" if not noisy else " (%s: within noise)" % "; ".join(noisy), len(SEEDS), ", ".join(map(str, HEAD_SEEDS))))
        L.append("")
    L.append("Cosine of each embedding to its fp32 embedding (train, val, test, both query sets, gallery; gate int8 >= 0.99, bf16 >= 0.999):")
    L.append("")
    L.append("| precision | modality | embeddings | min cosine | mean cosine | gate |")
    L.append("|---|---|---:|---:|---:|---|")
    for p in low:
        for mod in ("text", "image"):
            mn, me, n = cos[(p, mod)]
            g = 0.99 if p == "int8" else 0.999
            L.append("| %s | %s | %d | %.6f | %.6f | %s |" % (p, mod, n, mn, me, "met" if mn >= g else "**not met**"))
    L.append("")
    L.append("Embedding speed: `mmfuse embed --threads 1` over the %d train records, one modality per run, process CPU time "
             "(the whole command: model load, PNG decode and resize or tokenisation, the encoder, the file), "
             "interleaved, best of %d rounds:" % (n_speed, ROUNDS))
    L.append("")
    L.append("| precision | image CPU s | images/s | vs fp32 | text CPU s | texts/s | vs fp32 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for p in PRECS:
        if (p, "image") not in sp:
            continue
        ci, ct = sp[(p, "image")], sp[(p, "text")]
        L.append("| %s | %.2f | %.0f | %.2fx | %.2f | %.0f | %.2fx |" % (
            p, ci, n_speed / ci, sp[("fp32", "image")] / ci, ct, n_speed / ct, sp[("fp32", "text")] / ct))
    L.append("")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "precision.md")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(L))
    os.replace(path + ".tmp", path)
    print("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
