#!/usr/bin/env bash
# report-check.sh REPORT_DIR: lays out REPORT_DIR/index.html in headless
# Chromium and lists chart labels that overlap another label or leave their
# chart (scripts/report-overlaps.js, run on a copy of the page: the report
# itself has no script). Prints "CHARTS n OVERLAPS m" and the offenders;
# exits 0 when m = 0, 1 otherwise, 77 without chromium.
set -u
R=${1:?usage: report-check.sh REPORT_DIR}
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { echo "report-check: chromium is not installed (scripts/install-deps.sh report)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp "$(dirname "$0")/report-overlaps.js" "$R/.overlaps.js"
sed 's|</body>|<script src=".overlaps.js"></script></body>|' "$R/index.html" >"$R/.check.html"
timeout 120 "$CHROME" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --no-first-run --user-data-dir="$T/profile" --window-size=1100,2600 --dump-dom "file://$(cd "$R" && pwd)/.check.html" \
  >"$T/dom.html" 2>"$T/chrome.log"
rm -f "$R/.overlaps.js" "$R/.check.html"
res=$(sed -n '/<pre id="overlaps">/,/<\/pre>/p' "$T/dom.html" | sed 's/<[^>]*>//g; s/&quot;/"/g; s/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g')
[ -n "$res" ] || { echo "report-check: no result from chromium: $(grep -v dbus "$T/chrome.log" | tail -n 3)"; exit 1; }
echo "$res"
[[ "$res" == *"OVERLAPS 0"* ]] && ! [[ "$res" == "CHARTS 0 "* ]]
