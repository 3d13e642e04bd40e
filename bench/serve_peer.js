// The peer of `mmfuse serve` in bench/serve_wrk.py: the embedding service a
// JavaScript user would write with what transformers.js is made of, npm's
// onnxruntime-node (ONNX Runtime's CPU engine) and @huggingface/tokenizers,
// behind node's own http server. Same routes and JSON shapes as mmfuse serve:
//   POST /v1/embeddings {"input": str | [str]}  -> OpenAI's list, with usage
//   POST /v1/search     {"text", "k"}           -> {"hits": [{"id", "score", "payload"}]}
// /v1/search ranks ITEMS (one {"id", "text"} per line, embedded at start) by
// exact cosine over a Float32Array, as a service without a vector index would.
// Requests run one inference each (no batching across requests), one at a time
// (a promise chain): with intra-op threads = THREADS, the engine never uses more
// threads than mmfuse serve's encoder.
//   node bench/serve_peer.js NODE_MODULES MODEL.onnx TOKENIZER_DIR ITEMS THREADS PORT_FILE
const fs = require("fs");
const http = require("http");
const path = require("path");
const [mods, model, tokDir, itemsPath, threads, portFile] = process.argv.slice(2);
const ort = require(path.join(mods, "onnxruntime-node"));

(async () => {
  const { Tokenizer } = await import(path.join(mods, "@huggingface/tokenizers/dist/tokenizers.mjs"));
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer.json"), "utf8")),
                            JSON.parse(fs.readFileSync(path.join(tokDir, "tokenizer_config.json"), "utf8")));
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: +threads, interOpNumThreads: 1, graphOptimizationLevel: "all", executionMode: "sequential"});
  let chain = Promise.resolve();
  const serial = fn => (chain = chain.then(fn, fn));

  // texts -> {vecs: Float32Array (n x dim, mean-pooled), dim, tokens}
  async function embed(texts) {
    const ids = texts.map(t => tok.encode(t).ids.slice(0, 512));
    const T = Math.max(...ids.map(a => a.length)), n = ids.length;
    const I = new BigInt64Array(n * T), M = new BigInt64Array(n * T);
    ids.forEach((a, r) => a.forEach((v, j) => { I[r * T + j] = BigInt(v); M[r * T + j] = 1n; }));
    const out = await serial(() => session.run({ids: new ort.Tensor("int64", I, [n, T]),
                                                mask: new ort.Tensor("int64", M, [n, T])}));
    const e = out.emb;
    return {vecs: e.data, dim: e.dims[1], tokens: ids.reduce((s, a) => s + a.length, 0)};
  }

  // the items, embedded 32 at a time, L2-normalised for cosine
  const items = fs.readFileSync(itemsPath, "utf8").split("\n").filter(Boolean).map(l => JSON.parse(l));
  let dim = 0, bank = null;
  for (let i = 0; i < items.length; i += 32) {
    const part = items.slice(i, i + 32), r = await embed(part.map(x => x.text));
    dim = r.dim;
    if (!bank) bank = new Float32Array(items.length * dim);
    for (let j = 0; j < part.length; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += r.vecs[j * dim + d] ** 2;
      s = Math.sqrt(s) || 1;
      for (let d = 0; d < dim; d++) bank[(i + j) * dim + d] = r.vecs[j * dim + d] / s;
    }
  }

  function send(res, status, obj) {
    const b = JSON.stringify(obj);
    res.writeHead(status, {"Content-Type": "application/json", "Content-Length": Buffer.byteLength(b)});
    res.end(b);
  }
  const fail = (res, status, msg) => send(res, status, {error: {message: msg, type: "invalid_request_error", param: null}});

  async function handle(req, body, res) {
    let j;
    try { j = JSON.parse(body); } catch (e) { return fail(res, 400, "the body is not JSON"); }
    if (req.url === "/v1/embeddings") {
      const input = typeof j.input === "string" ? [j.input] : j.input;
      if (!Array.isArray(input) || !input.length || !input.every(s => typeof s === "string"))
        return fail(res, 400, "input: a string or a list of strings");
      const r = await embed(input);
      const data = input.map((_, i) => ({object: "embedding", index: i,
                                         embedding: Array.from(r.vecs.subarray(i * r.dim, (i + 1) * r.dim))}));
      return send(res, 200, {object: "list", data, model: "peer", usage: {prompt_tokens: r.tokens, total_tokens: r.tokens}});
    }
    if (req.url === "/v1/search") {
      if (typeof j.text !== "string") return fail(res, 400, "text: a string");
      const k = Math.min(j.k || 10, items.length), r = await embed([j.text]);
      let s = 0;
      for (let d = 0; d < dim; d++) s += r.vecs[d] ** 2;
      s = Math.sqrt(s) || 1;
      const scores = new Float32Array(items.length);
      for (let i = 0; i < items.length; i++) {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += bank[i * dim + d] * r.vecs[d];
        scores[i] = dot / s;
      }
      const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]).slice(0, k);
      return send(res, 200, {hits: order.map(i => ({id: items[i].id, score: scores[i], payload: null}))});
    }
    return fail(res, 404, "no such endpoint");
  }

  const server = http.createServer((req, res) => {
    const parts = [];
    req.on("data", c => parts.push(c));
    req.on("end", () => handle(req, Buffer.concat(parts).toString("utf8"), res)
      .catch(e => send(res, 500, {error: {message: String(e), type: "server_error", param: null}})));
  });
  server.keepAliveTimeout = 60000;
  server.listen(0, "127.0.0.1", () => {
    fs.writeFileSync(portFile + ".tmp", String(server.address().port) + "\n");
    fs.renameSync(portFile + ".tmp", portFile);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
})().catch(e => { console.error(e); process.exit(1); });
