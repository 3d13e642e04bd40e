#!/usr/bin/python3
"""Vector index and k-means benchmark: mmfuse against hnswlib and FAISS.

    /usr/bin/python3 bench/index.py BUILD_DIR [--n 100000] [--threads 1] [--efc 100] [--rounds 1]
                                    [--data synthetic|emoji]...
                                    [--part ours|int8|hnswlib|faiss_hnsw|kmeans|report]...

Without --part it runs ours, hnswlib and int8 on each data set, faiss_hnsw on
the real one, kmeans on the synthetic one, and writes the report (about 12
minutes on a quiet 2-core machine). --full adds faiss_hnsw on the synthetic
set: Debian's FAISS builds that graph in ~11 minutes of CPU (its distance
kernel there is the scalar fallback), so it is not in the default run. Each part appends its
result to BUILD_DIR/bench_index_results_*.json, so a long comparison can be
run in pieces (a few minutes each) and reported once; the report takes the
best of the stored runs of each system.

Two data sets (--data picks; default both):
  synthetic  clustered synthetic vectors (deterministic: numpy PCG64 with a
             fixed seed; cached in BUILD_DIR);
  emoji      real embeddings: the 512-d CNN image tower trained from scratch
             (mmfuse train-encoder) on the emoji train split, run over 18
             deterministic augmentations of every emoji picture of the three
             vendors (5718 x 18 = 102924 vectors) and 1000 fresh augmentations
             as queries (bench_index embed-aug). Needs the emoji data set
             ($MMFUSE_EMOJI_DIR, else data/emoji, else it runs `mmfuse data
             emoji --out data/emoji`); the model and vectors are cached in
             $MMFUSE_BENCH_CACHE (default data/bench-index, never committed).
The exact top-10 comes from FAISS IndexFlatIP; then each system runs in its
own process (so memory is measured per system): our bench_index, hnswlib
(Debian python3-hnswlib) and FAISS (python3-faiss). Writes bench/results/index.md.
"""
import json, os, struct, subprocess, sys, time

N_DEFAULT, D, NQ, K = 100000, 512, 1000, 10
N_CENTRES, LOCAL_DIM = 1000, 32
EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256]
M, EFC, BUILD_THREADS, QUERY_THREADS = 16, 100, 1, 1   # efc 100 keeps a 100k run to minutes on 2 cores
KM_K, KM_ITERS = 100, 20
# real embeddings (emoji): the image tower and the augmentation set
EMOJI_DIM, EMOJI_SIDE, EMOJI_EPOCHS, EMOJI_VARIANTS, EMOJI_SEED = 512, 32, 5, 18, 20261128
EMOJI_SPLITS = ["train.jsonl", "val.jsonl", "test.jsonl", "openmoji.jsonl"]


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE") / 2**20


def write_st(path, tensors):
    """safetensors by hand: u64 header length, JSON header, raw little-endian data"""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        dt = {"float32": "F32", "int64": "I64"}[str(arr.dtype)]
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_st(path):
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, t in h.items():
            if name == "__metadata__":
                continue
            f.seek(base + t["data_offsets"][0])
            b = f.read(t["data_offsets"][1] - t["data_offsets"][0])
            out[name] = np.frombuffer(b, dtype={"F32": np.float32, "I64": np.int64}[t["dtype"]]).reshape(t["shape"])
    return out


def make_data(path, n):
    import numpy as np, faiss
    rng = np.random.default_rng(20261128)
    centres = rng.standard_normal((N_CENTRES, D), dtype=np.float32)
    basis = (rng.standard_normal((LOCAL_DIM, D), dtype=np.float32) * (0.5 / LOCAL_DIM ** 0.5)).astype(np.float32)
    def draw(m):
        c = centres[rng.integers(0, N_CENTRES, m)]
        z = rng.standard_normal((m, LOCAL_DIM), dtype=np.float32)
        return (c + z @ basis * LOCAL_DIM ** 0.5 + 0.1 * rng.standard_normal((m, D), dtype=np.float32)).astype(np.float32)
    train, queries = draw(n), draw(NQ)
    write_st(path, {"train": train, "queries": queries, "gt": exact_top(train, queries)})


def exact_top(train, queries):
    """exact cosine top-K ids (FAISS IndexFlatIP on L2-normalised copies)"""
    import numpy as np, faiss
    tn = np.ascontiguousarray(train / np.linalg.norm(train, axis=1, keepdims=True))
    qn = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True))
    flat = faiss.IndexFlatIP(train.shape[1])
    flat.add(tn)
    _, gt = flat.search(qn, K)
    return gt.astype(np.int64)


def emoji_dir(root, build):
    d = os.environ.get("MMFUSE_EMOJI_DIR") or os.path.join(root, "data", "emoji")
    if not os.path.exists(os.path.join(d, "train.jsonl")):
        print(f"index bench: no emoji data in {d}; building it (mmfuse data emoji, needs the npm registry)", file=sys.stderr)
        subprocess.run([os.path.join(build, "mmfuse"), "data", "emoji", "--out", d], check=True)
    return d


def make_emoji_data(path, root, build, threads):
    """Real 512-d embeddings: train the CNN tower, embed augmented pictures, exact top-K."""
    import numpy as np
    src = emoji_dir(root, build)
    cache = os.path.dirname(path)
    model = os.path.join(cache, f"emoji-cnn-d{EMOJI_DIM}-s{EMOJI_SIDE}-e{EMOJI_EPOCHS}")
    mmfuse = os.path.join(build, "mmfuse")
    if not os.path.exists(os.path.join(model, "model.safetensors")):
        t0 = time.perf_counter()
        r = subprocess.run([mmfuse, "train-encoder", "--modality", "image", "--records", os.path.join(src, "train.jsonl"),
                            "--val", os.path.join(src, "val.jsonl"), "--out", model, "--dim", str(EMOJI_DIM),
                            "--image-size", str(EMOJI_SIDE), "--epochs", str(EMOJI_EPOCHS), "--threads", str(threads),
                            "--seed", "1"], check=True, capture_output=True, text=True)
        accs = [float(l.rsplit("val acc", 1)[1]) for l in r.stderr.splitlines() if "val acc" in l]
        with open(os.path.join(model, "bench_index_train.json"), "w") as f:
            json.dump({"val_acc": max(accs) if accs else None, "train_s": round(time.perf_counter() - t0, 1)}, f)
        print(f"index bench: trained the emoji image tower in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    images = []
    for split in EMOJI_SPLITS:
        with open(os.path.join(src, split)) as f:
            for line in f:
                if line.strip():
                    images.append(os.path.join(src, json.loads(line)["image"]))
    lst = path + ".images.txt"
    with open(lst, "w") as f:
        f.write("\n".join(images) + "\n")
    raw = path + ".raw.safetensors"
    t0 = time.perf_counter()
    subprocess.run([os.path.join(build, "bench_index"), "embed-aug", model, lst, raw, "--variants", str(EMOJI_VARIANTS),
                    "--queries", str(NQ), "--seed", str(EMOJI_SEED), "--threads", str(threads)], check=True, stdout=subprocess.DEVNULL)
    t = read_st(raw)
    print(f"index bench: embedded {len(images)} x {EMOJI_VARIANTS} augmented pictures in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    train, queries, qimg = np.array(t["train"]), np.array(t["queries"]), np.array(t["query_image"])
    gt = exact_top(train, queries)
    write_st(path, {"train": train, "queries": queries, "gt": gt, "query_image": qimg})
    os.remove(raw)
    os.remove(lst)
    tr_path = os.path.join(model, "bench_index_train.json")
    meta = {"n": len(train), "images": len(images), "val_acc": json.load(open(tr_path)).get("val_acc") if os.path.exists(tr_path) else None,
            # share of the exact top-K that are augmentations of the query's own picture
            "own_share": round(float(np.mean(gt // EMOJI_VARIANTS == qimg[:, None])), 3)}
    with open(path + ".json", "w") as f:
        json.dump(meta, f)


# ---- workers: each runs in its own process and prints one JSON line ----
# Times: wall (perf_counter) and CPU (process_time, all threads). On a loaded
# shared machine the CPU time is the stable measure; with one thread it is
# what the wall time would be on an idle core.

def curve_of(search, q, gt, set_ef):
    import numpy as np
    curve = []
    for ef in EFS:
        set_ef(ef)
        best, best_cpu = 1e30, 1e30
        for _ in range(2):
            a, ac = time.perf_counter(), time.process_time()
            lab = search(q)
            best, best_cpu = min(best, time.perf_counter() - a), min(best_cpu, time.process_time() - ac)
        rec = np.mean([len(set(a) & set(b)) for a, b in zip(lab, gt)]) / K
        curve.append({"ef": ef, "recall": round(float(rec), 4), "qps": round(len(q) / best, 1),
                      "qps_cpu": round(len(q) / best_cpu, 1)})
    return curve


def worker_hnswlib(path, threads, efc):
    import numpy as np, hnswlib
    t = read_st(path)
    x, q, gt = t["train"], t["queries"], t["gt"]
    r0 = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    p = hnswlib.Index(space="cosine", dim=x.shape[1])
    p.init_index(max_elements=x.shape[0], M=M, ef_construction=efc, random_seed=42)
    p.set_num_threads(threads)
    p.add_items(x, np.arange(x.shape[0]))
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    r1 = rss_mb()
    curve = curve_of(lambda qq: p.knn_query(qq, k=K, num_threads=QUERY_THREADS)[0], q, gt, p.set_ef)
    print(json.dumps({"build_s": round(build, 3), "build_cpu_s": round(build_cpu, 3), "rss_delta_mb": round(r1 - r0, 1), "curve": curve}))


def worker_faiss_hnsw(path, threads, efc):
    import numpy as np, faiss
    faiss.omp_set_num_threads(threads)
    t = read_st(path)
    x, q, gt = t["train"], t["queries"], t["gt"]
    x = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True))
    q = np.ascontiguousarray(q / np.linalg.norm(q, axis=1, keepdims=True))
    r0 = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    idx = faiss.IndexHNSWFlat(x.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = efc
    idx.add(x)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    r1 = rss_mb()
    faiss.omp_set_num_threads(QUERY_THREADS)
    def set_ef(ef):
        idx.hnsw.efSearch = ef
    curve = curve_of(lambda qq: idx.search(qq, K)[1], q, gt, set_ef)
    print(json.dumps({"build_s": round(build, 3), "build_cpu_s": round(build_cpu, 3), "rss_delta_mb": round(r1 - r0, 1), "curve": curve}))


def worker_faiss_kmeans(path, threads, _efc):
    import numpy as np, faiss
    faiss.omp_set_num_threads(threads)
    x = np.ascontiguousarray(read_st(path)["train"])
    t0, c0 = time.perf_counter(), time.process_time()
    km = faiss.Kmeans(x.shape[1], KM_K, niter=KM_ITERS, seed=1234, verbose=False,
                      max_points_per_centroid=10**9, min_points_per_centroid=1)
    km.train(x)
    dist, _ = km.index.search(x, 1)   # the final assignment, as ours returns one
    t, tc = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"time_s": round(t, 3), "cpu_s": round(tc, 3), "inertia": float(dist.sum()), "iterations": KM_ITERS}))


def run(cmd):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")   # no spinning threads on a loaded machine (both sides)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout.strip().splitlines()[-1]
    return json.loads(out)


def qps_at(curve, key, target=0.95):
    """(first measured point with recall >= target, QPS interpolated log-linearly at target)"""
    import math
    pts = sorted(curve, key=lambda c: c["ef"])
    first = next((c for c in pts if c["recall"] >= target), None)
    interp = None
    for a, b in zip(pts, pts[1:]):
        if a["recall"] < target <= b["recall"]:
            f = (target - a["recall"]) / (b["recall"] - a["recall"])
            interp = math.exp(math.log(a[key]) + f * (math.log(b[key]) - math.log(a[key])))
    if interp is None and pts and pts[0]["recall"] >= target:
        interp = pts[0][key]
    return first, interp


def best_of(runs):
    """best build time / memory and best QPS per ef over repeated runs"""
    if not runs:
        return None
    out = {k: min(r[k] for r in runs) for k in ("build_s", "build_cpu_s", "rss_delta_mb")}
    out["runs"] = len(runs)
    out["curve"] = []
    for i, c in enumerate(runs[0]["curve"]):
        out["curve"].append({"ef": c["ef"], "recall": c["recall"], "qps": max(r["curve"][i]["qps"] for r in runs),
                             "qps_cpu": max(r["curve"][i]["qps_cpu"] for r in runs)})
    return out


def loads_of(res):
    """(min, max) of the 1-minute load averages sampled at the start and end of every stored run"""
    v = [x for runs in res.values() for r in runs for x in r.get("load", [])]
    return (min(v), max(v)) if v else None


def hnsw_section(res, title, data_text):
    o, h, i8, fh = (best_of(res.get(k, [])) for k in ("ours", "hnswlib", "int8", "faiss_hnsw"))
    L = [f"### {title}\n", data_text + "\n"]
    systems = [("mmfuse", o), ("mmfuse int8", i8), ("hnswlib", h), ("FAISS HNSWFlat", fh)]
    systems = [(nm, r) for nm, r in systems if r]
    if not systems:
        return L + ["(not run)\n"]
    hdr = "| ef | " + " | ".join(f"{nm} recall@10 | {nm} QPS (CPU) | {nm} QPS (wall)" for nm, _ in systems) + " |"
    L.append(hdr)
    L.append("|---:|" + "---:|---:|---:|" * len(systems))
    for i, ef in enumerate(EFS):
        row = [str(ef)]
        for _, r in systems:
            c = r["curve"][i]
            row += [f"{c['recall']:.4f}", f"{c['qps_cpu']:.0f}", f"{c['qps']:.0f}"]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("| system | runs | build CPU (s) | build wall (s) | memory (MiB) | first ef with recall >= 0.95 | QPS (CPU) there | "
             "QPS (CPU) at recall 0.95, interpolated | QPS (CPU) at recall 0.99, interpolated |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    at, at99 = {}, {}
    for nm, r in systems:
        first, interp = qps_at(r["curve"], "qps_cpu")
        at[nm] = interp
        at99[nm] = qps_at(r["curve"], "qps_cpu", 0.99)[1]
        L.append(f"| {nm} | {r['runs']} | {r['build_cpu_s']:.1f} | {r['build_s']:.1f} | {r['rss_delta_mb']:.0f} | "
                 f"{first['ef'] if first else '-'} | {first['qps_cpu'] if first else 0:.0f} | {interp or 0:.0f} | "
                 f"{f'{at99[nm]:.0f}' if at99[nm] else '-'} |")
    L.append("")
    for ref, rr in (("hnswlib", h), ("FAISS HNSWFlat", fh)):
        if not (o and rr and at.get("mmfuse") and at.get(ref)):
            continue
        s = f"**Ratios against {ref}**"
        if ref == "hnswlib":
            s += " (targets: >= 1.2x QPS at recall@10 >= 0.95, build time <= hnswlib's)"
        s += f": QPS at recall 0.95 = **{at['mmfuse'] / at[ref]:.2f}x**"
        if i8 and at.get("mmfuse int8"):
            s += f" (int8 walk + float re-rank: **{at['mmfuse int8'] / at[ref]:.2f}x**)"
        if at99.get("mmfuse") and at99.get(ref):
            s += f"; at recall 0.99: {at99['mmfuse'] / at99[ref]:.2f}x"
            if i8 and at99.get("mmfuse int8"):
                s += f" (int8: {at99['mmfuse int8'] / at99[ref]:.2f}x)"
        s += f"; build CPU time = **{o['build_cpu_s'] / rr['build_cpu_s']:.2f}x** {ref}'s"
        if i8:
            s += f" (int8 index: {i8['build_cpu_s'] / rr['build_cpu_s']:.2f}x)"
        L.append(s + ".\n")
    if not fh:
        L.append("FAISS IndexHNSWFlat was not run on this data: the default run leaves it out because Debian's FAISS takes "
                 "about 11 minutes of CPU to build this graph (680 s measured at load 14). `bench/index.py BUILD --full` "
                 "(or `--data synthetic --part faiss_hnsw --part report`) adds it.\n")
    return L


def report(stores, n, threads, efc, root):
    syn, emo = stores.get("synthetic", {}), stores.get("emoji", {})
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lo = [x for x in (loads_of(syn), loads_of(emo)) if x]
    load = (min(a for a, _ in lo), max(b for _, b in lo)) if lo else None
    L = ["## Vector index and k-means (issue 7)\n"]
    if load is None:
        ltxt = "load average not recorded"
    elif load[1] < 1.5:
        ltxt = f"a quiet machine: 1-minute load average {load[0]:.1f}-{load[1]:.1f} at the start and end of the runs"
    else:
        ltxt = (f"**shared**: the 1-minute load average was {load[0]:.1f}-{load[1]:.1f} at the start and end of the runs "
                f"(other work on the {os.cpu_count()} cores), so wall-clock times are inflated and noisy")
    L.append(f"Machine: {cpu}, {os.cpu_count()} cores; {ltxt}. Every run records process CPU time (all threads) as well as wall "
             f"time, and the comparisons use the CPU time: with {threads} thread(s) it is what the wall time would be on an idle "
             f"core. Each system ran in its own process (memory = RSS growth during the build), one after another in the order "
             f"mmfuse, hnswlib, mmfuse int8, FAISS; where a system ran more than once (rounds interleaved) the best run counts. "
             f"OMP_WAIT_POLICY=PASSIVE for all.\n")
    L.append(f"HNSW: M = {M}, ef_construction = {efc}, build threads = {threads}, query threads = {QUERY_THREADS} (a batch of {NQ} "
             f"queries per call, best of 2 passes), cosine similarity, recall@10 against the exact top-{K} from FAISS IndexFlatIP. "
             f"\"mmfuse int8\" walks the graph on int8 vectors and re-ranks the candidates with the float vectors. References: "
             f"Debian python3-hnswlib 0.6.2 and python3-faiss 1.7.3 (IndexHNSWFlat, inner product on L2-normalised vectors); "
             f"Debian builds them for baseline x86-64, so their distance kernels are SSE, while mmfuse builds with -march=native "
             f"(AVX-512 here) - that is part of what the ratio measures, as it is what a user of these packages gets. For FAISS it "
             f"is most of the story: `perf record` on its HNSW build puts 93% of the time in `faiss::fvec_inner_product_ref`, "
             f"the scalar fallback loop (the SIMD kernels need SSE3/AVX2, which the baseline build lacks), so the FAISS rows "
             f"show Debian's package, not FAISS at its best.\n")
    L += hnsw_section(syn, f"Clustered synthetic vectors ({n} x {D})",
                      f"Data: {n} x {D} float32 clustered synthetic vectors ({N_CENTRES} Gaussian centres + a shared {LOCAL_DIM}-dimensional "
                      f"local spread + isotropic noise; numpy PCG64 seed 20261128, made by bench/index.py), {NQ} held-out queries "
                      f"from the same distribution.")
    em = emo.get("meta", [{}])[-1] if emo.get("meta") else {}
    en = em.get("n", EMOJI_VARIANTS * 5718)
    acc = em.get("val_acc")
    L += hnsw_section(emo, f"Real embeddings: emoji image tower ({en} x {EMOJI_DIM})",
                      f"Data: {en} x {EMOJI_DIM} float32 image embeddings. The encoder is mmfuse's from-scratch CNN image tower "
                      f"(`mmfuse train-encoder --modality image --dim {EMOJI_DIM} --image-size {EMOJI_SIDE} --epochs {EMOJI_EPOCHS}`, "
                      f"conv stages 16-32-64-{EMOJI_DIM}, global average pool after ReLU, so every coordinate is >= 0) trained to "
                      f"classify the 98 emoji subgroups on the emoji train split (Google + Twitter art"
                      + (f"; held-out-concept validation accuracy {acc:.3f}" if acc is not None else "") +
                      f"). The vectors are that tower's embeddings of every emoji picture of the data set (Google, Twitter and "
                      f"OpenMoji art of all 1906 concepts = {em.get('images', 5718)} real pictures, 64x64, flattened onto white) under "
                      f"{EMOJI_VARIANTS} deterministic augmentations each (zoom in: crop 70-100% of the side and scale back up, or zoom "
                      f"out: scale to 55-100% and paste at a random place on white; mirror with p = 0.5; brightness and contrast "
                      f"x0.8-1.2; made in C by `bench_index embed-aug`, seed {EMOJI_SEED}). The {NQ} queries are fresh augmentations "
                      f"(variant numbers not in the base set) of pictures drawn at random"
                      + (f"; {100 * em['own_share']:.0f}% of the exact top-10 of a query are augmentations of its own picture, the "
                         f"rest are other pictures the tower finds similar, so this is not a near-duplicate search"
                         if em.get("own_share") is not None else "") + ".")
    km_o, km_f = syn.get("kmeans_ours", []), syn.get("kmeans_faiss", [])
    if km_o and km_f:
        ko, kf = min(km_o, key=lambda r: r["cpu_s"]), min(km_f, key=lambda r: r["cpu_s"])
        L.append("### k-means\n")
        L.append(f"On the synthetic vectors: n = {n}, d = {D}, k = {KM_K}, exactly {KM_ITERS} Lloyd iterations for both, {threads} thread(s), all points "
                 f"used by both (FAISS max_points_per_centroid raised), plus one final assignment pass for both. mmfuse seeds with "
                 f"greedy k-means++ (its default; included in its time), FAISS with random points.\n")
        L.append("| system | runs | CPU (s) | wall (s) | final inertia |")
        L.append("|---|---:|---:|---:|---:|")
        L.append(f"| mmfuse | {len(km_o)} | {ko['cpu_s']:.2f} | {ko['time_s']:.2f} | {ko['inertia']:.6g} |")
        L.append(f"| FAISS Kmeans | {len(km_f)} | {kf['cpu_s']:.2f} | {kf['time_s']:.2f} | {kf['inertia']:.6g} |")
        L.append(f"\nk-means CPU time mmfuse / FAISS = **{ko['cpu_s'] / kf['cpu_s']:.2f}** (target <= 1).\n")
    os.makedirs(os.path.join(root, "bench", "results"), exist_ok=True)
    out = os.path.join(root, "bench", "results", "index.md")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(L) + "\n")
    os.replace(out + ".tmp", out)
    print("\n".join(L))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        {"hnswlib": worker_hnswlib, "faiss_hnsw": worker_faiss_hnsw, "faiss_kmeans": worker_faiss_kmeans}[sys.argv[2]](
            sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    args = sys.argv[1:]
    def opt(name, default):
        return args[args.index(name) + 1] if name in args else default
    def multi(name):
        return [a for i, a in enumerate(args) if i > 0 and args[i - 1] == name]
    build = os.path.abspath(args[0] if args and not args[0].startswith("--") else "build")
    n, threads, efc = int(opt("--n", N_DEFAULT)), int(opt("--threads", BUILD_THREADS)), int(opt("--efc", EFC))
    rounds = int(opt("--rounds", 1))
    parts = multi("--part") or ["ours", "hnswlib", "int8", "faiss_hnsw", "kmeans", "report"]
    full = "--full" in args or bool(multi("--part"))   # explicit parts run as asked
    datasets = multi("--data") or ["synthetic", "emoji"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = os.path.join(build, "bench_index")
    if not os.path.exists(exe) or not os.path.exists(os.path.join(build, "mmfuse")):
        subprocess.run(["cmake", "--build", build, "--target", "bench_index", "mmfuse", "-j2"], check=True)
    cache = os.environ.get("MMFUSE_BENCH_CACHE") or os.path.join(root, "data", "bench-index")

    def store_path(ds):
        tag = f"{n}" if ds == "synthetic" else f"emoji_v{EMOJI_VARIANTS}"
        return os.path.join(build, f"bench_index_results_{tag}_t{threads}_efc{efc}.json")
    stores = {ds: (json.load(open(store_path(ds))) if os.path.exists(store_path(ds)) else {}) for ds in ("synthetic", "emoji")}
    failed = False
    for ds in datasets:
        res = stores[ds]
        try:
            if ds == "synthetic":
                data = os.path.join(build, f"bench_index_data_{n}.safetensors")
                if not os.path.exists(data):
                    t0 = time.perf_counter()
                    make_data(data, n)
                    print(f"index bench: generated {n} x {D} vectors + ground truth in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            else:
                os.makedirs(cache, exist_ok=True)
                data = os.path.join(cache, f"emoji_d{EMOJI_DIM}_s{EMOJI_SIDE}_e{EMOJI_EPOCHS}_v{EMOJI_VARIANTS}_q{NQ}.safetensors")
                if not os.path.exists(data) or not os.path.exists(data + ".json"):
                    make_emoji_data(data, root, build, threads)
                res["meta"] = [json.load(open(data + ".json"))]
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"index bench: cannot make the {ds} data ({e}); skipping it", file=sys.stderr)
            failed = True
            continue
        ours_cmd = [exe, "hnsw", data, "--M", str(M), "--efc", str(efc), "--threads", str(threads),
                    "--qthreads", str(QUERY_THREADS), "--efs", ",".join(map(str, EFS)), "--metric", "cosine"]
        me = [sys.executable, os.path.abspath(__file__), "--worker"]
        jobs = {
            "ours": lambda: run(ours_cmd),
            "int8": lambda: run(ours_cmd + ["--quant", "int8"]),
            "hnswlib": lambda: run(me + ["hnswlib", data, str(threads), str(efc)]),
            "faiss_hnsw": lambda: run(me + ["faiss_hnsw", data, str(threads), str(efc)]),
            "kmeans_ours": lambda: run([exe, "kmeans", data, "--k", str(KM_K), "--iters", str(KM_ITERS), "--threads", str(threads)]),
            "kmeans_faiss": lambda: run(me + ["faiss_kmeans", data, str(threads), str(efc)]),
        }
        todo = []
        for _ in range(rounds):   # rounds interleave the systems
            for part in parts:
                if part == "kmeans":
                    if ds == "synthetic":
                        todo += ["kmeans_ours", "kmeans_faiss", "kmeans_faiss", "kmeans_ours"]
                elif part == "faiss_hnsw" and ds == "synthetic" and not full:
                    print("index bench: synthetic faiss_hnsw skipped (about 11 min of CPU; --full runs it)", file=sys.stderr)
                elif part != "report":
                    todo.append(part)
        for j in todo:
            t0, l0 = time.perf_counter(), os.getloadavg()[0]
            r = jobs[j]()
            r["load"] = [round(l0, 2), round(os.getloadavg()[0], 2)]
            res.setdefault(j, []).append(r)
            print(f"index bench: {ds} {j}: {time.perf_counter() - t0:.0f} s wall, load {r['load'][0]:.1f}-{r['load'][1]:.1f}",
                  file=sys.stderr)
            with open(store_path(ds), "w") as f:
                json.dump(res, f)
        with open(store_path(ds), "w") as f:
            json.dump(res, f)
    if "report" in parts:
        report(stores, n, threads, efc, root)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
