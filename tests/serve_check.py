"""Checks for tests/cli_serve.sh: compares `mmfuse serve` replies with what the
CLI wrote separately (safetensors read here with the standard library only).
Not a test itself. Usage:
  serve_check.py openai REPLY.json EXPECT.safetensors [b64]   OpenAI reply vs embed output
  serve_check.py tei REPLY.json EXPECT.safetensors            TEI reply vs embed output, L2-normalised
  serve_check.py metrics FILE                                 Prometheus text format, line by line
  serve_check.py writer URL ACKED PREFIX                      4 threads add items until the server dies;
                                                              each acknowledged id is appended to ACKED
  serve_check.py found URL ACKED                              every id in ACKED is in the index, once
Exit 0 when within 1e-4, else 1 with the reason."""
import base64, json, math, re, struct, sys

TOL = 1e-4

def read_st(path, name="embeddings"):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    t = hdr[name]
    assert t["dtype"] == "F32", t
    a, b = t["data_offsets"]
    vals = struct.unpack("<%df" % ((b - a) // 4), data[a:b])
    rows, dim = t["shape"]
    return [list(vals[i * dim:(i + 1) * dim]) for i in range(rows)]

def l2(v):
    s = math.sqrt(sum(x * x for x in v))
    return [x / s for x in v] if s > 0 else v

def compare(got, want, what):
    if len(got) != len(want):
        sys.exit("%s: %d rows, expected %d" % (what, len(got), len(want)))
    worst = 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            sys.exit("%s: row %d has %d values, expected %d" % (what, i, len(g), len(w)))
        worst = max([worst] + [abs(a - b) for a, b in zip(g, w)])
    if worst > TOL:
        sys.exit("%s: max |difference| %.3g > %g" % (what, worst, TOL))
    print("%s: %d rows agree, max |difference| %.2g" % (what, len(got), worst))

def post(url, body):
    import urllib.request
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    # generous: a sanitizer build on a loaded machine is slow; a killed server
    # refuses or resets at once, it never waits out this timeout
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, json.loads(r.read())

def writer(url, acked, prefix):
    import threading
    lock = threading.Lock()
    out = open(acked, "a", buffering=1)
    def loop(t):
        i = 0
        while True:
            ident = "%s-%d-%d" % (prefix, t, i)
            try:
                st, _ = post(url + "/v1/index/items", {"items": [{"id": ident, "text": "item %d of writer %d" % (i, t), "payload": {"w": 1}}]})
            except Exception:
                return   # the server is gone: this write was not acknowledged
            if st == 200:
                with lock:
                    out.write(ident + "\n")
            i += 1
    ts = [threading.Thread(target=loop, args=(t,)) for t in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()

def found(url, acked):
    want = [l.strip() for l in open(acked) if l.strip()]
    st, r = post(url + "/v1/search", {"text": "item", "k": 10000, "filter": {"w": 1}})
    ids = [h["id"] for h in r["hits"]]
    if len(ids) != len(set(ids)):
        sys.exit("duplicate ids in the index")
    missing = sorted(set(want) - set(ids))
    if missing:
        sys.exit("%d of %d acknowledged ids are missing, e.g. %s" % (len(missing), len(want), missing[:3]))
    print("found: all %d acknowledged ids present (%d items)" % (len(want), len(ids)))

def main():
    kind = sys.argv[1]
    if kind == "metrics":
        ok = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? -?[0-9.e+Inf-]+$')
        lines = open(sys.argv[2]).read().splitlines()
        for ln in lines:
            if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
                continue
            if not ok.match(ln):
                sys.exit("not Prometheus text: %r" % ln)
        print("metrics: %d lines well formed" % len(lines))
        return
    if kind == "writer":
        writer(*sys.argv[2:5])
        return
    if kind == "found":
        found(*sys.argv[2:4])
        return
    reply = json.load(open(sys.argv[2]))
    want = read_st(sys.argv[3])
    if kind == "openai":
        if reply.get("object") != "list":
            sys.exit("no \"object\": \"list\" in %r" % reply)
        data = sorted(reply["data"], key=lambda d: d["index"])
        if len(sys.argv) > 4:   # base64: little-endian float32
            got = [list(struct.unpack("<%df" % (len(base64.b64decode(d["embedding"])) // 4), base64.b64decode(d["embedding"]))) for d in data]
        else:
            got = [d["embedding"] for d in data]
        compare(got, want, "openai")
    elif kind == "tei":
        compare(reply, [l2(w) for w in want], "tei")
    else:
        sys.exit("unknown check " + kind)

main()
