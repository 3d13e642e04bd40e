#!/usr/bin/env bash
# POST /v1/caption and /v1/vqa of `mmfuse serve --captioner CAP --vqa VQA`: on
# records drawn here (Pillow: coloured circles and squares, a text and a
# question each), embedded with the tiny test encoders, a captioner and a VQA
# model are trained; then for every record the server's caption (image + text,
# image only, beam 1 and 2; the first 12 records) equals what `mmfuse caption run` prints, and its
# answer and probability equal what `mmfuse vqa run` prints (image + question,
# question only). Then the errors: no input, wrong types, no model, a model of
# another dimension refused at start.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
PY=/usr/bin/python3
command -v curl >/dev/null 2>&1 || { echo "skipped: curl is missing (scripts/install-deps.sh test)"; exit 77; }
$PY -c "import PIL" 2>/dev/null || { echo "skipped: $PY with Pillow is needed to draw the records (scripts/install-deps.sh test)"; exit 77; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
TXT=$SRC/tests/data/text/bert_a IMG=$SRC/tests/data/image/resnet_basic
mkdir -p "$T/img"
$PY - "$T" <<'EOF'
import json, sys, random
from PIL import Image, ImageDraw
d = sys.argv[1]; random.seed(7)
cols = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220)}
with open(f"{d}/records.jsonl", "w") as f:
    for i in range(24):
        c = random.choice(list(cols)); s = random.choice(["circle", "square"]); q = random.choice(["what colour", "what shape"])
        im = Image.new("RGB", (32, 32), "white"); dr = ImageDraw.Draw(im)
        (dr.ellipse if s == "circle" else dr.rectangle)([6, 6, 25, 25], fill=cols[c])
        im.save(f"{d}/img/{i}.png")
        f.write(json.dumps({"image": f"img/{i}.png", "text": f"hello {c} world", "question": q, "caption": f"a {c} {s}",
                            "answer": c if q == "what colour" else s}) + "\n")
EOF
"$CLI" embed --records "$T/records.jsonl" --text-model "$TXT" --image-model "$IMG" --out "$T/emb.safetensors" 2>"$T/err" ||
  { echo "FAILED: embed: $(cat "$T/err")"; exit 1; }
"$CLI" embed --records "$T/records.jsonl" --text-field question --label-field none --text-model "$TXT" --image-model "$IMG" \
  --out "$T/q.safetensors" 2>"$T/err" || { echo "FAILED: embed questions: $(cat "$T/err")"; exit 1; }
"$CLI" caption train --train "$T/emb.safetensors" --captions "$T/records.jsonl" --epochs 120 --lr 0.03 --hidden 16 --embed 8 \
  --fusion gmu --fusion-hidden 8 --encoder text="$TXT" --encoder image="$IMG" --out "$T/cap.safetensors" >/dev/null 2>"$T/err" ||
  { echo "FAILED: caption train: $(cat "$T/err")"; exit 1; }
"$CLI" vqa train --train "$T/q.safetensors" --answers "$T/records.jsonl" --fusion mlb --hidden 16 --epochs 20 --lr 0.01 \
  --encoder text="$TXT" --encoder image="$IMG" --out "$T/vqa.safetensors" >/dev/null 2>"$T/err" ||
  { echo "FAILED: vqa train: $(cat "$T/err")"; exit 1; }

# the CLI's answers, one process per sample
$PY - "$T" "$CLI" >"$T/want.jsonl" 2>"$T/err" <<'EOF'
import json, subprocess, sys
T, cli = sys.argv[1], sys.argv[2]
for i, r in enumerate(json.loads(l) for l in open(T + "/records.jsonl")):
    if i == 12:   # the first 12 records (each call loads the models)
        break
    img = T + "/" + r["image"]
    run = lambda *a: subprocess.run([cli, *a], capture_output=True, text=True, check=True).stdout.strip()
    print(json.dumps({
        "both": run("caption", "run", T + "/cap.safetensors", "--image", img, "--text", r["text"]),
        "image": run("caption", "run", T + "/cap.safetensors", "--image", img),
        "beam2": run("caption", "run", T + "/cap.safetensors", "--image", img, "--text", r["text"], "--beam", "2"),
        "vqa": json.loads(run("vqa", "run", T + "/vqa.safetensors", "--image", img, "--question", r["question"])),
        "vqa_q": json.loads(run("vqa", "run", T + "/vqa.safetensors", "--question", r["question"]))}))
EOF
rc=$?; check '[ $rc -eq 0 ]' "caption run / vqa run: $(tail -3 "$T/err")"

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
start --text-model "$TXT" --image-model "$IMG" --captioner "$T/cap.safetensors" --vqa "$T/vqa.safetensors" ||
  { echo "FAILED: the server did not become ready: $(tail -5 "$T/server.log")" >&2; exit 1; }
$PY - "$URL" "$T" >"$T/why" 2>&1 <<'EOF'
import base64, json, sys, urllib.request
url, T = sys.argv[1], sys.argv[2]
def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())
bad = []
recs = [json.loads(l) for l in open(T + "/records.jsonl")]
for r, w in zip(recs, (json.loads(l) for l in open(T + "/want.jsonl"))):
    img = "data:image/png;base64," + base64.b64encode(open(T + "/" + r["image"], "rb").read()).decode()
    got = {"both": post("/v1/caption", {"image": img, "text": r["text"]})["caption"],
           "image": post("/v1/caption", {"image": img})["caption"],
           "beam2": post("/v1/caption", {"image": img, "text": r["text"], "beam": 2})["caption"]}
    for k in got:
        if got[k] != w[k]:
            bad.append((r["image"], k, got[k], w[k]))
    for k, body in (("vqa", {"image": img, "question": r["question"]}), ("vqa_q", {"question": r["question"]})):
        a = post("/v1/vqa", body)
        # vqa run prints the probability with 4 decimals
        if a["answer"] != w[k]["answer"] or abs(a["probability"] - w[k]["probability"]) > 5.1e-5:
            bad.append((r["image"], k, a, w[k]))
assert not bad, "%d mismatches, first: %s" % (len(bad), bad[0])
want = [json.loads(l) for l in open(T + "/want.jsonl")]
caps, answers = {w["both"] for w in want}, {w["vqa"]["answer"] for w in want}
assert len(caps) >= 2 and len(answers) >= 2, "the models say one thing only: %s %s" % (caps, answers)
print("caption and vqa: %d records x 5 agree with caption run / vqa run (%d captions, %d answers)" % (
    len(want), len(caps), len(answers)))
EOF
prc=$?
cat "$T/why"
check '[ $prc -eq 0 ]' "the server = caption run / vqa run: $(tail -3 "$T/why")"

post() { curl -s -o "$T/r" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$2" "$URL$1"; }
is_error() { $PY -c "import json,sys; e=json.load(open(sys.argv[1]))['error']; assert e['message'] and e['type'] and 'param' in e" "$T/r" 2>/dev/null; }
for case in '/v1/caption {}' '/v1/caption {"image":5}' '/v1/caption {"text":"a","beam":0}' '/v1/caption {"image":"%%%"}' \
            '/v1/vqa {}' '/v1/vqa {"question":["x"]}' '/v1/vqa [1]'; do
  read -r path body <<<"$case"
  code=$(post "$path" "$body")
  check '[ "$code" = 400 ] && is_error' "$path $body -> 400 (got $code: $(cat "$T/r"))"
done
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check '[ $rc -eq 0 ]' "SIGTERM exits 0 ($rc)"
start --text-model "$TXT" || { echo "FAILED: no server" >&2; exit 1; }
check '[ "$(post /v1/caption "{\"text\": \"a\"}")" = 404 ] && is_error' "no captioner -> 404 ($(cat "$T/r"))"
check '[ "$(post /v1/vqa "{\"question\": \"a\"}")" = 404 ] && is_error' "no VQA model -> 404 ($(cat "$T/r"))"
kill -TERM "$PID"; wait "$PID"; PID=
out=$("$CLI" serve --text-model "$SRC/tests/data/text/bert_st" --image-model "$IMG" --captioner "$T/cap.safetensors" --port 0 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"dimension"* ]]' "a captioner over another text dimension is refused: $out"
if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log"; then
  echo "FAILED: the server reported: $(grep -m1 -A8 "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log")" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "cli_serve_caption_vqa: ok"
exit $fail
