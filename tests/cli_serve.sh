#!/usr/bin/env bash
# `mmfuse serve` on a free loopback port, driven with curl: the OpenAI and TEI
# embeddings equal what `mmfuse embed` writes (1e-4, tests/serve_check.py), usage
# counts equal `mmfuse tokenize`, search ranks as `mmfuse index build` + `search`
# do, filters and deletes work, acknowledged writes survive kill -9 and a torn
# log tail, hostile bodies get JSON 4xx and the server stays up, auth, metrics,
# the page, images through an image model, and SIGTERM exits 0.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
command -v curl >/dev/null || { echo "skipped: curl is missing (scripts/install-deps.sh test)"; exit 77; }
PY=/usr/bin/python3
CHECK="$PY $SRC/tests/serve_check.py"
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
ST=$SRC/tests/data/text/bert_st IMG=$SRC/tests/data/image

# start ARGS...: a server on a free port; sets PID and URL, waits for /readyz
start() {
  rm -f "$T/port"
  "$CLI" serve --port 0 --port-file "$T/port" --threads 1 --http-threads 4 "$@" 2>>"$T/server.log" &
  PID=$!
  for _ in $(seq 300); do
    if [ -s "$T/port" ]; then
      URL=http://127.0.0.1:$(cat "$T/port")
      [ "$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/readyz")" = 200 ] && return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "FAILED: the server did not become ready: $(tail -5 "$T/server.log")" >&2
  exit 1
}
AUTH=()
Q="'"
# post PATH BODY_FILE OUT -> prints the status
post() { curl -s -o "$3" -w '%{http_code}' "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$2" "$URL$1"; }
is_error() { $PY -c "import json,sys; e=json.load(open(sys.argv[1]))['error']; assert e['message'] and e['type'] and 'param' in e" "$1" 2>/dev/null; }

# ---- the CLI's own answers, computed first
printf '%s\n' "hello world" "the cat sat on the mat." "cats" "a dog" > "$T/texts.txt"
"$CLI" embed --model "$ST" --text-file "$T/texts.txt" --out "$T/expect.safetensors" 2>/dev/null || { echo "FAILED: embed"; exit 1; }
tokens=$("$CLI" tokenize --model "$ST" --text-file "$T/texts.txt" | $PY -c "import json,sys; print(sum(len(json.loads(l)['ids']) for l in sys.stdin))")
"$CLI" index build "$T/expect.safetensors" --out "$T/cli.idx" 2>/dev/null || { echo "FAILED: index build"; exit 1; }
"$CLI" search "$T/cli.idx" --text "a cat" --model "$ST" -k 4 --exact --json > "$T/cli_search.json" 2>/dev/null

start --text-model "$ST" --index "$T/live.mmfidx"
check '[ "$(curl -s "$URL/healthz")" = "{\"status\": \"ok\"}" ]' "healthz"

# ---- OpenAI embeddings = mmfuse embed, usage = mmfuse tokenize
echo '{"input": ["hello world", "the cat sat on the mat.", "cats", "a dog"], "model": "bert_st"}' > "$T/b"
check '[ "$(post /v1/embeddings "$T/b" "$T/r")" = 200 ] && $CHECK openai "$T/r" "$T/expect.safetensors" >/dev/null' "openai floats: $(head -c 300 "$T/r")"
check '[ "$($PY -c "import json; u=json.load(open(\"$T/r\"))[\"usage\"]; print(u[\"prompt_tokens\"], u[\"total_tokens\"])")" = "$tokens $tokens" ]' "usage = $tokens tokens: $(grep -o '"usage.*' "$T/r")"
echo '{"input": ["hello world", "the cat sat on the mat.", "cats", "a dog"], "encoding_format": "base64"}' > "$T/b"
check '[ "$(post /v1/embeddings "$T/b" "$T/r")" = 200 ] && $CHECK openai "$T/r" "$T/expect.safetensors" b64 >/dev/null' "openai base64"
echo '{"input": "hello world", "dimensions": 8}' > "$T/b"
check '[ "$(post /v1/embeddings "$T/b" "$T/r")" = 200 ] && [ "$($PY -c "import json; print(len(json.load(open(\"$T/r\"))[\"data\"][0][\"embedding\"]))")" = 8 ]' "dimensions 8"
# ---- TEI: normalised by default
echo '{"inputs": ["hello world", "the cat sat on the mat.", "cats", "a dog"]}' > "$T/b"
check '[ "$(post /embed "$T/b" "$T/r")" = 200 ] && $CHECK tei "$T/r" "$T/expect.safetensors" >/dev/null' "tei: $(head -c 200 "$T/r")"
long=$(printf 'hello world %.0s' $(seq 40))
echo "{\"inputs\": \"$long\"}" > "$T/b"
check '[ "$(post /embed "$T/b" "$T/r")" = 413 ] && is_error "$T/r"' "tei: too long without truncate -> 413: $(cat "$T/r")"
echo "{\"inputs\": \"$long\", \"truncate\": true}" > "$T/b"
check '[ "$(post /embed "$T/b" "$T/r")" = 200 ]' "tei: truncate true"

# ---- 16 concurrent clients: every answer right (they share encoder batches)
for i in $(seq 16); do
  echo '{"input": ["hello world", "the cat sat on the mat.", "cats", "a dog"]}' > "$T/c$i"
  curl -s -o "$T/cr$i" -H 'Content-Type: application/json' --data-binary @"$T/c$i" "$URL/v1/embeddings" &
done
wait $(jobs -p | grep -v "^$PID$") 2>/dev/null
bad=0; for i in $(seq 16); do $CHECK openai "$T/cr$i" "$T/expect.safetensors" >/dev/null || bad=$((bad + 1)); done
check '[ $bad -eq 0 ]' "$bad of 16 concurrent replies differ from mmfuse embed"

# ---- the index: add, search (= the CLI's ranking), filter, delete
cat > "$T/b" <<'EOF'
{"items": [{"id": "t0", "text": "hello world", "payload": {"group": "a"}},
           {"id": "t1", "text": "the cat sat on the mat.", "payload": {"group": "b"}},
           {"id": "t2", "text": "cats", "payload": {"group": "a"}},
           {"id": "t3", "text": "a dog"}]}
EOF
check '[ "$(post /v1/index/items "$T/b" "$T/r")" = 200 ]' "add items: $(cat "$T/r")"
echo '{"text": "a cat", "k": 4}' > "$T/b"
check '[ "$(post /v1/search "$T/b" "$T/r")" = 200 ]' "search: $(cat "$T/r")"
check '$PY - "$T/r" "$T/cli_search.json" <<'"'"'EOF'"'"'
import json, sys
hits = json.load(open(sys.argv[1]))["hits"]
cli = json.loads(open(sys.argv[2]).readline())["results"]
assert [h["id"] for h in hits] == ["t%d" % r["id"] for r in cli], (hits, cli)
assert all(abs(h["score"] - r["score"]) < 1e-4 for h, r in zip(hits, cli)), (hits, cli)
EOF' "search ranks as mmfuse search: $(cat "$T/r") vs $(cat "$T/cli_search.json")"
echo '{"text": "a cat", "k": 4, "filter": {"group": "a"}}' > "$T/b"
check '[ "$(post /v1/search "$T/b" "$T/r")" = 200 ]' "filtered search: $(cat "$T/r")"
Q="'"
check '[ "$($PY -c "import json; print(sorted(h[\"id\"] for h in json.load(open(\"$T/r\"))[\"hits\"]))")" = "[${Q}t0${Q}, ${Q}t2${Q}]" ]' "filter group a: $(cat "$T/r")"
check '[ "$(curl -s -o "$T/r" -w "%{http_code}" -X DELETE "$URL/v1/index/items/t1")" = 200 ]' "delete t1: $(cat "$T/r")"
check '[ "$(curl -s -o "$T/r" -w "%{http_code}" -X DELETE "$URL/v1/index/items/t1")" = 404 ] && is_error "$T/r"' "delete t1 again -> 404"
echo '{"text": "a cat", "k": 4}' > "$T/b"
post /v1/search "$T/b" "$T/r" >/dev/null
check '[ "$($PY -c "import json; print(sorted(h[\"id\"] for h in json.load(open(\"$T/r\"))[\"hits\"]))")" = "[${Q}t0${Q}, ${Q}t2${Q}, ${Q}t3${Q}]" ]' "t1 gone: $(cat "$T/r")"

# ---- hostile requests: JSON 4xx, and the server stays healthy
$PY -c "print('[' * 5000 + ']' * 5000)" > "$T/deep"
printf '{"input": "\xff\xfe bad"}' > "$T/utf8"
printf '' > "$T/empty"
echo '{"input": 42}' > "$T/type"
echo '{"input": []}' > "$T/none"
echo '{"input": [[1, 2, 3]]}' > "$T/ids"
echo '{"input": "x", "encoding_format": "hex"}' > "$T/fmt"
echo '{"input": [{"image": "not base64!"}]}' > "$T/b64"
echo '{"text": "x", "k": 0}' > "$T/k0"
echo '{"items": [{"text": "no id"}]}' > "$T/noid"
for case in "/v1/embeddings deep 400" "/v1/embeddings utf8 400" "/v1/embeddings empty 400" "/v1/embeddings type 400" \
            "/v1/embeddings none 400" "/v1/embeddings ids 400" "/v1/embeddings fmt 400" "/v1/embeddings b64 400" \
            "/v1/search k0 400" "/v1/index/items noid 400" "/embed type 400"; do
  read -r path body want <<< "$case"
  code=$(post "$path" "$T/$body" "$T/r")
  check '[ "$code" = "$want" ] && is_error "$T/r"' "$path $body: status $code (want $want): $(head -c 200 "$T/r")"
done
head -c $((64 << 20)) /dev/zero | tr '\0' 'a' > "$T/huge"
code=$(post /v1/embeddings "$T/huge" "$T/r")
check '[ "$code" = 413 ] && is_error "$T/r"' "64 MB body -> 413 (got $code: $(head -c 200 "$T/r"))"
code=$(curl -s -o "$T/r" -w '%{http_code}' "$URL/v1/nothing")
check '[ "$code" = 404 ] && is_error "$T/r"' "unknown path -> 404 ($code)"
code=$(curl -s -o "$T/r" -w '%{http_code}' "$URL/v1/embeddings")
check '[ "$code" = 405 ] && is_error "$T/r"' "GET /v1/embeddings -> 405 ($code)"
check '[ "$(curl -s -o /dev/null -w "%{http_code}" "$URL/healthz")" = 200 ]' "healthy after the hostile requests"

# ---- metrics and the page
curl -s "$URL/metrics" > "$T/metrics"
check '$CHECK metrics "$T/metrics" >/dev/null' "metrics format: $($CHECK metrics "$T/metrics" 2>&1 | tail -1)"
check 'grep -q "^mmfuse_requests_total{endpoint=\"/v1/embeddings\"} [1-9]" "$T/metrics" && grep -q "^mmfuse_request_errors_total{endpoint=\"/v1/embeddings\"} [1-9]" "$T/metrics" && grep -q "^mmfuse_index_items 3$" "$T/metrics"' "metrics counts"
check 'curl -s "$URL/" | grep -q "<title>mmfuse serve</title>"' "GET / serves the page"

# ---- kill -9 after acknowledged writes: the log is replayed
echo '{"items": [{"id": "k1", "text": "cats", "payload": {"after": "kill"}}]}' > "$T/b"
check '[ "$(post /v1/index/items "$T/b" "$T/r")" = 200 ]' "add k1"
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=
check '[ -s "$T/live.mmfidx.log" ]' "the write is in the log"
printf 'MMFL\x40\x00\x00\x00torn' >> "$T/live.mmfidx.log"   # a record cut short by the crash
start --text-model "$ST" --index "$T/live.mmfidx"
check 'grep -q "torn tail is dropped" "$T/server.log"' "torn tail reported: $(grep -i torn "$T/server.log")"
echo '{"text": "cats", "k": 10}' > "$T/b"
post /v1/search "$T/b" "$T/r" >/dev/null
check '[ "$($PY -c "import json; print(sorted(h[\"id\"] for h in json.load(open(\"$T/r\"))[\"hits\"]))")" = "[${Q}k1${Q}, ${Q}t0${Q}, ${Q}t2${Q}, ${Q}t3${Q}]" ]' "after kill -9: $(cat "$T/r")"

# ---- SIGTERM: exits 0, the log folded into the index file
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check '[ $rc -eq 0 ] && [ ! -s "$T/live.mmfidx.log" ]' "SIGTERM: rc $rc, log $(wc -c < "$T/live.mmfidx.log") bytes"
out=$("$CLI" search "$T/live.mmfidx" --text "cats" --model "$ST" -k 10 --json 2>&1)
check '[[ "$out" == *"\"name\": \"k1\""* && "$out" != *"\"name\": \"t1\""* ]]' "the saved index opens in mmfuse search: $out"

# ---- auth: every endpoint but /healthz needs the key
echo "s3cret-key-for-tests" > "$T/key"; chmod 600 "$T/key"
AUTH=(-H "Authorization: Bearer s3cret-key-for-tests")
start --text-model "$ST" --api-key-file "$T/key"
check '[ "$(curl -s -o "$T/r" -w "%{http_code}" "$URL/readyz")" = 401 ] && is_error "$T/r"' "no key -> 401"
check '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer s3cret-key-for-tesTs" "$URL/readyz")" = 401 ]' "wrong key -> 401"
check '[ "$(curl -s -o /dev/null -w "%{http_code}" "$URL/healthz")" = 200 ]' "healthz needs no key"
echo '{"input": "hello world"}' > "$T/b"
check '[ "$(post /v1/embeddings "$T/b" "$T/r")" = 200 ]' "with the key -> 200"
check '[ "$(post /v1/search "$T/b" "$T/r")" = 404 ] && is_error "$T/r"' "no --index: search -> 404"
kill -TERM "$PID"; wait "$PID"; PID=
AUTH=()

# ---- images through an image model = mmfuse embed --image-list
echo "$IMG/rgba8.png" > "$T/imgs.txt"
"$CLI" embed --model "$IMG/resnet_basic" --image-list "$T/imgs.txt" --out "$T/img.safetensors" 2>/dev/null
start --image-model "$IMG/resnet_basic"
echo "{\"input\": [{\"image\": \"data:image/png;base64,$(base64 -w0 "$IMG/rgba8.png")\"}]}" > "$T/b"
check '[ "$(post /v1/embeddings "$T/b" "$T/r")" = 200 ] && $CHECK openai "$T/r" "$T/img.safetensors" >/dev/null' "image embedding: $(head -c 300 "$T/r")"
echo '{"input": "a text"}' > "$T/b"
check '[ "$(post /v1/embeddings "$T/b" "$T/r")" = 400 ] && is_error "$T/r"' "text to an image-only server -> 400"
kill -TERM "$PID"; wait "$PID"; PID=

# ---- usage errors
"$CLI" serve >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "no model -> 2 ($rc)"
out=$("$CLI" serve --text-model "$ST" --host localhost --port 0 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"numeric"* ]]' "--host localhost -> explained: $out"
out=$("$CLI" serve --text-model /nonexistent --port 0 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"/nonexistent"* ]]' "missing model named: $out"
# a sanitizer build (make test-asan) reports into the server's stderr
if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log"; then
  echo "FAILED: the server reported: $(grep -m1 -A8 "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log")" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "cli_serve: ok"
exit $fail
