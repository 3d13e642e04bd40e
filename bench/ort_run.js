// ONNX Runtime worker for bench/ort.py: one model, one configuration, one JSON line.
//   node bench/ort_run.js ORT_DIR MODEL.onnx THREADS ITERS INPUTS_JSON
// INPUTS_JSON: [{"name", "type": "int64"|"float32", "shape": [...], "fill": "ids"|"ones"|"rand"}]
// Times session.run only (best of ITERS after one warm-up), wall and process CPU.
const path = require("path");
const [ortDir, model, threads, iters, spec] = [process.argv[2], process.argv[3], +process.argv[4], +process.argv[5],
                                               JSON.parse(process.argv[6])];
const ort = require(path.join(ortDir, "node_modules", "onnxruntime-node"));

function fill(t) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.type === "int64") {
    const a = new BigInt64Array(n), T = t.shape[t.shape.length - 1];
    for (let i = 0; i < n; i++) {
      const p = i % T;
      a[i] = t.fill === "ones" ? 1n : p === 0 ? 2n : p === T - 1 ? 3n : 5n;   // [CLS] tok... [SEP], as bench_text
    }
    return new ort.Tensor("int64", a, t.shape);
  }
  const a = new Float32Array(n);
  let s = 88172645463325252n;
  for (let i = 0; i < n; i++) {   // xorshift, any values in [0, 1)
    s ^= (s << 13n) & 0xffffffffffffffffn; s ^= s >> 7n; s ^= (s << 17n) & 0xffffffffffffffffn;
    a[i] = Number(s & 0xffffffn) / 16777216;
  }
  return new ort.Tensor("float32", a, t.shape);
}

(async () => {
  const opts = {intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: "all", executionMode: "sequential"};
  const t0 = process.hrtime.bigint();
  const s = await ort.InferenceSession.create(model, opts);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const feeds = {};
  for (const t of spec) feeds[t.name] = fill(t);
  let out = await s.run(feeds);
  let best = Infinity, cpuBest = Infinity;
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage(), w0 = process.hrtime.bigint();
    out = await s.run(feeds);
    const ms = Number(process.hrtime.bigint() - w0) / 1e6, c = process.cpuUsage(c0);
    best = Math.min(best, ms);
    cpuBest = Math.min(cpuBest, (c.user + c.system) / 1e3);
  }
  const o = out[s.outputNames[0]], first = o.data.slice(0, Math.min(o.dims[o.dims.length - 1], 4096));   // the first row
  console.log(JSON.stringify({impl: "ort", version: require(path.join(ortDir, "node_modules", "onnxruntime-node", "package.json")).version,
                              threads, iters, ms_best: best, cpu_ms_best: cpuBest, load_s: loadS,
                              rss_mb: process.resourceUsage().maxRSS / 1024, emb0: Array.from(first)}));
})().catch(e => { console.error("ort_run: " + e.message); process.exit(1); });
