#!/usr/bin/env bash
# The page `mmfuse serve` serves at / in a real browser: headless Debian chromium
# driven by npm's playwright-core (tests/serve_browser.js). Types a query, checks
# the hits shown against the API's answer, adds an item from the page, uploads
# and drops images (CLIP, with the shared CLIP tokenizer), checks that errors are
# shown, takes a screenshot, which must not be blank and is kept as
# BUILD/artifacts/serve_page.png. playwright-core is installed by
# scripts/install-deps.sh test into $MMFUSE_NPM_DIR (default ~/.cache/mmfuse/npm).
# Exits 77 (skipped) without node, chromium or playwright-core.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
NPM_DIR=${MMFUSE_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmfuse/npm}
command -v node >/dev/null 2>&1 || { echo "skipped: node is not installed (scripts/install-deps.sh test)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "skipped: curl is not installed (scripts/install-deps.sh test)"; exit 77; }
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { echo "skipped: chromium is not installed (scripts/install-deps.sh test)"; exit 77; }
[ -f "$NPM_DIR/node_modules/playwright-core/package.json" ] ||
  { echo "skipped: playwright-core is not in $NPM_DIR (scripts/install-deps.sh test installs it)"; exit 77; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
IMG=$SRC/tests/data/image

# CLIP (text and images in one space) when the shared CLIP tokenizer is there,
# else the small BERT text model and no image steps
TOK=${MMFUSE_SHARED:-/nonexistent}/tokenizers/clip-vit-base-patch32
if [ -f "$TOK/tokenizer.json" ]; then
  mkdir "$T/clip" && cp "$IMG/clip_zs/"*.json "$IMG/clip_zs/model.safetensors" "$TOK/"* "$T/clip/"
  cp "$IMG/clip_zs/config.json" "$T/clip/config.json"
  MODEL=$T/clip IMAGES=("$IMG/rgb8.png" "$IMG/grey8.png")
else
  echo "note: no CLIP tokenizer under \$MMFUSE_SHARED: text steps only (bert_st)"
  MODEL=$SRC/tests/data/text/bert_st IMAGES=()
fi

"$CLI" serve --text-model "$MODEL" --index "$T/live.mmfidx" --port 0 --port-file "$T/port" --threads 1 2>"$T/server.log" &
PID=$!
for _ in $(seq 300); do
  [ -s "$T/port" ] && URL=http://127.0.0.1:$(cat "$T/port") &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "${URL:-http://127.0.0.1:1}/readyz")" = 200 ] ||
  { echo "FAILED: the server did not become ready: $(tail -5 "$T/server.log")" >&2; exit 1; }
cat > "$T/items.json" <<'EOF'
{"items": [{"id": "cat", "text": "a photo of a cat", "payload": {"caption": "a cat on a mat"}},
           {"id": "dog", "text": "a photo of a dog", "payload": {"caption": "a dog in a park"}},
           {"id": "car", "text": "a red car on the road", "payload": {"caption": "a car"}},
           {"id": "tree", "text": "a green tree", "payload": {"caption": "a tree"}}]}
EOF
code=$(curl -s -o "$T/r" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$T/items.json" "$URL/v1/index/items")
check '[ "$code" = 200 ]' "seed items: $code $(cat "$T/r")"

mkdir -p "${MMFUSE_BIN:-$T}/artifacts"
SHOT=${MMFUSE_BIN:-$T}/artifacts/serve_page.png
rm -f "$SHOT"
timeout 300 node "$SRC/tests/serve_browser.js" "$NPM_DIR" "$CHROME" "$URL" "$SHOT" "${IMAGES[@]}" >"$T/browser.log" 2>&1
rc=$?
cat "$T/browser.log"
check '[ $rc -eq 0 ]' "the browser steps (rc $rc)"
check '[ -s "$SHOT" ]' "a screenshot was written"
if [ -s "$SHOT" ]; then
  # not blank: enough non-white pixels, several colours (our own PNG reader decodes it)
  stats=$(node -e '
    const {decode} = require(process.argv[1]), im = decode(require("fs").readFileSync(process.argv[2]));
    const ch = im.channels || (im.rgba ? 4 : 3), px = im.pixels || im.data || im.rgba || im.rgb;
    let ink = 0; const cols = new Set(); const n = im.width * im.height;
    for (let i = 0; i < n; i++) {
      const r = px[i * ch], g = px[i * ch + 1], b = px[i * ch + 2];
      if (r < 235 || g < 235 || b < 235) ink++;
      if (i % 7 === 0) cols.add((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4));
    }
    console.log(im.width, im.height, (ink / n).toFixed(4), cols.size);' "$SRC/scripts/png-flatten.js" "$SHOT" 2>&1)
  read -r w h ink ncol <<<"$stats"
  check '[ "${w:-0}" -ge 900 ] && awk -v x="${ink:-0}" "BEGIN{exit !(x > 0.01)}" && [ "${ncol:-0}" -ge 8 ]' \
    "screenshot not blank (width height ink colours: $stats)"
  echo "screenshot: $SHOT ($stats)"
fi
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=
check '[ $rc -eq 0 ]' "the server exits 0 on SIGTERM ($rc)"
if grep -q "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log"; then
  echo "FAILED: the server reported: $(grep -m1 -A8 "runtime error\|AddressSanitizer\|LeakSanitizer" "$T/server.log")" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "cli_serve_browser: ok"
exit $fail
