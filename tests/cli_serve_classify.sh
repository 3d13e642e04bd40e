#!/usr/bin/env bash
# POST /v1/classify of `mmfuse serve --head HEAD`: a GMU head trained here on
# `mmfuse embed --records` output (text: bert_st, image: resnet_basic) answers
# every record, with both modalities, text only and image only, with the class
# and top 5 that `mmfuse eval --predictions` writes for the same records (with
# --drop image / --drop text for the one-modality requests). Then the errors:
# no modality, wrong types, no head, a head that does not fit the models.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
command -v curl >/dev/null 2>&1 || { echo "skipped: curl is missing (scripts/install-deps.sh test)"; exit 77; }
PY=/usr/bin/python3
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
TXT=$SRC/tests/data/text/bert_st IMG=$SRC/tests/data/image
words=(red green blue cyan)
pngs=(rgb8.png rgba8.png grey8.png pal8_trns.png)
: >"$T/r.jsonl"
for i in $(seq 0 23); do
  c=$((i % 4)); png=${pngs[$(((i / 4 + c) % 4))]}
  printf '{"text":"a %s thing number %d","image":"%s/%s","label":%d}\n' "${words[$c]}" "$i" "$IMG" "$png" "$c" >>"$T/r.jsonl"
done
"$CLI" embed --records "$T/r.jsonl" --text-model "$TXT" --image-model "$IMG/resnet_basic" --out "$T/both.safetensors" 2>"$T/err" ||
  { echo "FAILED: embed: $(cat "$T/err")"; exit 1; }
"$CLI" train --train "$T/both.safetensors" --fusion gmu --epochs 20 --lr 0.01 --quiet --out "$T/g.head" >/dev/null 2>"$T/err" ||
  { echo "FAILED: train: $(cat "$T/err")"; exit 1; }
for d in none text image; do
  drop=(); [ $d != none ] && drop=(--drop $d)
  "$CLI" eval "$T/g.head" --data "$T/both.safetensors" "${drop[@]}" --no-table --predictions "$T/p_$d.json" >/dev/null 2>"$T/err" ||
    { echo "FAILED: eval --drop $d: $(cat "$T/err")"; exit 1; }
done

start() {
  rm -f "$T/port"
  "$CLI" serve --port 0 --port-file "$T/port" --threads 1 "$@" 2>>"$T/server.log" &
  PID=$!
  for _ in $(seq 300); do
    if [ -s "$T/port" ]; then
      URL=http://127.0.0.1:$(cat "$T/port")
      [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}
start --text-model "$TXT" --image-model "$IMG/resnet_basic" --head "$T/g.head" ||
  { echo "FAILED: the server did not become ready: $(tail -5 "$T/server.log")" >&2; exit 1; }

# every record three ways against eval's predictions
$PY - "$URL" "$T/r.jsonl" "$T" >"$T/why" 2>&1 <<'EOF'
import base64, json, sys, urllib.request, urllib.error
url, recs, T = sys.argv[1], [json.loads(l) for l in open(sys.argv[2])], sys.argv[3]
want = {d: json.load(open("%s/p_%s.json" % (T, d)))["rows"] for d in ("none", "text", "image")}
def classify(body):
    req = urllib.request.Request(url + "/v1/classify", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())
bad = []
for i, r in enumerate(recs):
    img = base64.b64encode(open(r["image"], "rb").read()).decode()
    for d, body in (("none", {"text": r["text"], "image": img}), ("image", {"text": r["text"]}),
                    ("text", {"image": "data:image/png;base64," + img})):
        got, w = classify(body), want[d][i]
        ids = [t["class"] for t in got["top"]]
        probs = [t["probability"] for t in got["top"]]
        if got["class"] != w["pred"] or ids != w["top5"] or probs != sorted(probs, reverse=True) or not 0 < sum(probs) <= 1 + 1e-6:
            bad.append((i, d, got, w))
        mods = sorted(got["modalities"])
        if mods != sorted({"none": ["text", "image"], "image": ["text"], "text": ["image"]}[d]):
            bad.append((i, d, "modalities", mods))
assert not bad, "%d mismatches, first: %s" % (len(bad), bad[0])
print("classify: %d records x 3 agree with eval --predictions" % len(recs))
EOF
prc=$?
cat "$T/why"
check '[ $prc -eq 0 ]' "classify = eval --predictions: $(tail -3 "$T/why")"

post() { curl -s -o "$T/r" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" "$URL/v1/classify"; }
is_error() { $PY -c "import json,sys; e=json.load(open(sys.argv[1]))['error']; assert e['message'] and e['type'] and 'param' in e" "$T/r" 2>/dev/null; }
for body in '{}' '{"text": 5}' '{"image": ["x"]}' '{"text": "a", "top": 0}' '{"image": "not base64!"}' '[1]'; do
  code=$(post "$body")
  check '[ "$code" = 400 ] && is_error' "$body -> 400 (got $code: $(cat "$T/r"))"
done
check '[ "$(post "{\"text\": \"a red thing\", \"top\": 2}")" = 200 ] && [ "$($PY -c "import json; print(len(json.load(open(\"$T/r\"))[\"top\"]))")" = 2 ]' "top 2: $(cat "$T/r")"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check '[ $rc -eq 0 ]' "SIGTERM exits 0 ($rc)"

# without --head: 404; a head that does not fit the models: refused at start, naming the problem
start --text-model "$TXT" || { echo "FAILED: no server without --head" >&2; exit 1; }
check '[ "$(post "{\"text\": \"a\"}")" = 404 ] && is_error' "no head -> 404 ($(cat "$T/r"))"
kill -TERM "$PID"; wait "$PID"; PID=
out=$("$CLI" serve --text-model "$TXT" --head "$T/g.head" --port 0 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"image"*"--image-model"* ]]' "a head over text and image without --image-model is refused: $out"
out=$("$CLI" serve --text-model "$TXT" --image-model "$IMG/resnet_bottleneck" --head "$T/g.head" --port 0 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"dimension"* ]]' "an image model of another dimension is refused: $out"
if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log"; then
  echo "FAILED: the server reported: $(grep -m1 -A8 "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log")" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "cli_serve_classify: ok"
exit $fail
