#!/usr/bin/env bash
# The demo report (scripts/demo-report.js) from fixture outputs in
# tests/data/report/: the HTML is static and offline (no script, no remote
# URL), shows the stages that ran, marks the missing ones, copies the emoji
# images it shows; then headless Chromium renders it and the screenshot must
# exist and not be blank. Exits 77 (skipped) without node, or without chromium
# after the HTML checks.
set -u
SRC=${MMFUSE_SRC:?}
command -v node >/dev/null 2>&1 || { echo "skipped: node is not installed (scripts/install-deps.sh demo)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
F=$SRC/tests/data/report
cp -r "$F/demo" "$F/emoji" "$T/"
# as many operators as the real demo has (17): copies of concat's outputs, so
# the charts must stay readable with that many series
for i in $(seq 1 14); do
  for f in "$T"/demo/fusion/concat.*; do cp "$f" "${f/concat./concat_copy_$i.}"; done
  echo "concat_copy_$i" >>"$T/demo/fusion/operators.txt"
done
# images named in the fixture records, from the image test files
while read -r hex png; do
  for v in google twitter openmoji; do
    mkdir -p "$T/emoji/img/$v" && cp "$SRC/tests/data/image/$png" "$T/emoji/img/$v/$hex.png"
  done
done <"$F/emoji/images.txt"
# fused test embeddings for the 2-D map: 6 rows x 4 dims + subgroup labels
node -e '
  const fs = require("fs"), X = new Float32Array([1,0,0,0, 1.1,0.1,0,0, 0,1,0,0, 0,1.2,0.1,0, 0,0,1,0, 0.1,0,1.1,0]);
  const L = new BigInt64Array([0n,0n,1n,1n,2n,2n]);
  const xb = Buffer.from(X.buffer), lb = Buffer.from(L.buffer);
  let h = JSON.stringify({__metadata__: {modalities: "fused"}, fused: {dtype: "F32", shape: [6, 4], data_offsets: [0, xb.length]},
    labels: {dtype: "I64", shape: [6], data_offsets: [xb.length, xb.length + lb.length]}});
  h += " ".repeat((8 - h.length % 8) % 8);
  const n = Buffer.alloc(8); n.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(process.argv[1], Buffer.concat([n, Buffer.from(h), xb, lb]));' "$T/demo/cluster/test.fused.safetensors"

node "$SRC/scripts/demo-report.js" --demo "$T/demo" --data "$T/emoji" --out "$T/report" --total 123 >"$T/out.txt" 2>&1
rc=$?
check '[ $rc -eq 0 ]' "demo-report.js exits 0 (rc $rc): $(cat "$T/out.txt")"
H=$T/report/index.html
check '[ -s "$H" ]' "report/index.html written"
html=$(cat "$H" 2>/dev/null)
check '[[ "$html" != *"<script"* ]]' "no script in the report"
check '! grep -Eq "(src|href)=\"?(https?:)?//" "$H"' "no remote URL in the report (offline)"
check '[ $(grep -o "<svg" "$H" | wc -l) -ge 5 ]' "at least 5 inline SVG plots (curves, bars, confusion, map)"
check '[[ "$html" == *"Captioning BLEU with and without the accompanying text: <b>missing</b>"* ]]' "the unavailable caption stage is shown as missing"
check '[[ "$html" == *"VQA demonstration: <b>missing</b> — failed"* ]]' "the failed VQA stage is shown as missing"
check '[[ "$html" == *"training failed"*"over the budget"* ]]' "a fusion operator that failed to train is named with its error"
check '[[ "$html" == *"gmu ★"* && "$html" == *"66.7"* ]]' "best operator and its accuracy in the table"
check '[[ "$html" == *"<td>33.3</td><td>66.7</td><td>100.0</td>"* ]]' "retrieval R@1/5/10 of the text -> image direction"
check '[[ "$html" == *"Fixture CPU"* ]]' "the machine is named"
check '[ -f "$T/report/img/openmoji/1F600.png" ] && [ -f "$T/report/img/google/1F431.png" ]' "emoji images copied under report/img"
check 'grep -q "img/openmoji/1F426.png" "$H"' "retrieval examples show the gallery images"
check 'grep -q "\"r10\": 1" "$T/report/summary.json"' "summary.json holds the headline numbers"
check 'grep -q "caption *unavailable" "$T/out.txt"' "terminal summary lists the stages"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
  [ $fail -ne 0 ] && exit 1
  echo "skipped: chromium is not installed (scripts/install-deps.sh report); the HTML checks passed"
  exit 77
fi
timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --no-first-run --user-data-dir="$(mktemp -d -p "$T")" --window-size=1100,2600 --screenshot="$T/shot.png" \
  "file://$H" >"$T/chrome.log" 2>&1
check '[ -s "$T/shot.png" ]' "chromium wrote a screenshot: $(tail -n 3 "$T/chrome.log")"
if [ -s "$T/shot.png" ]; then
  # non-blank: enough non-white pixels and several colours (decoded with our own PNG reader)
  stats=$(node -e '
    const {decode} = require(process.argv[1]), im = decode(require("fs").readFileSync(process.argv[2]));
    const ch = im.channels || (im.rgba ? 4 : 3), px = im.pixels || im.data || im.rgba || im.rgb;
    let ink = 0; const cols = new Set(); const n = im.width * im.height;
    for (let i = 0; i < n; i++) {
      const r = px[i * ch], g = px[i * ch + 1], b = px[i * ch + 2];
      if (r < 235 || g < 235 || b < 235) ink++;
      if (i % 7 === 0) cols.add((r >> 4) << 8 | (g >> 4) << 4 | (b >> 4));
    }
    console.log(im.width, im.height, (ink / n).toFixed(4), cols.size);' "$SRC/scripts/png-flatten.js" "$T/shot.png" 2>&1)
  read -r w h ink ncol <<<"$stats"
  check '[ "${w:-0}" -ge 1000 ] && awk -v x="${ink:-0}" "BEGIN{exit !(x > 0.02)}" && [ "${ncol:-0}" -ge 20 ]' \
    "screenshot not blank (width height ink colours: $stats)"
  [ -n "${MMFUSE_REPORT_SHOT:-}" ] && cp "$T/shot.png" "$MMFUSE_REPORT_SHOT"
fi
# every chart as Chromium lays it out: no label may overlap another or leave
# its chart (scripts/report-check.sh measures the rendered text boxes)
res=$("$SRC/scripts/report-check.sh" "$T/report" 2>&1); rc=$?
check '[ $rc -eq 0 ]' "chart labels overlap or leave their chart: $res"
exit $fail
