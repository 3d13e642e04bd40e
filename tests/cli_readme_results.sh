#!/usr/bin/env bash
# The README's headline results are generated from docs/results/summary.json
# (a demo run's report/summary.json) by scripts/readme-results.js: the committed
# README must be exactly what the committed summary gives, and a changed number
# in either is caught.
set -u
SRC=${MMFUSE_SRC:?}
command -v node >/dev/null || { echo "SKIPPED: node is not installed (scripts/install-deps.sh build)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
G=$SRC/scripts/readme-results.js
out=$(node "$G" --check 2>&1); rc=$?
check '[ $rc -eq 0 ]' "the committed README disagrees with docs/results/summary.json: $out"
# a number edited by hand in the README is caught
cp "$SRC/README.md" "$T/README.md"
sed -i '/results:begin/,/results:end/ s/R@10 \([0-9]\)/R@10 9\1/' "$T/README.md"
check '! cmp -s "$SRC/README.md" "$T/README.md"' "the edit did not change the README copy"
out=$(node "$G" --check --readme "$T/README.md" 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"differs"* ]]' "an edited README passes the check (rc $rc): $out"
# a new summary is caught until the README is regenerated; regenerating fixes it
node -e 'const fs=require("fs");const s=JSON.parse(fs.readFileSync(process.argv[1]));s.retrieval.r10=0.4321;fs.writeFileSync(process.argv[2],JSON.stringify(s))' \
  "$SRC/docs/results/summary.json" "$T/new.json"
cp "$SRC/README.md" "$T/README2.md"
out=$(node "$G" --check --summary "$T/new.json" --readme "$T/README2.md" 2>&1); rc=$?
check '[ $rc -eq 1 ]' "a changed summary passes the check (rc $rc)"
# --write with an outside summary would also copy it to docs/results: run it on a copy of the tree
mkdir -p "$T/tree/scripts" "$T/tree/docs/results"
cp "$G" "$T/tree/scripts/" && cp "$SRC/README.md" "$T/tree/README.md" && cp "$SRC/docs/results/summary.json" "$T/tree/docs/results/"
check 'node "$T/tree/scripts/readme-results.js" --write --summary "$T/new.json" >/dev/null' "--write"
check 'grep -q "R@10 43.2%" "$T/tree/README.md"' "regenerated README shows the new R@10: $(grep -o 'R@10[^|]*' "$T/tree/README.md")"
check 'node "$T/tree/scripts/readme-results.js" --check >/dev/null' "the regenerated README and copied summary agree"
check 'cmp -s <(sed "/results:begin/,/results:end/d" "$SRC/README.md") <(sed "/results:begin/,/results:end/d" "$T/tree/README.md")' \
  "only the generated block changed"
[ $fail -eq 0 ] && echo "cli_readme_results: ok"
exit $fail
