#!/usr/bin/env bash
# `mmfuse inspect`: lists a good file (written by tests/ref/make_bad_safetensors.py,
# an independent python writer), names file and fault for a bad one (exit 1),
# exit 2 on bad usage, --help exits 0.
set -u
CLI=${MMFUSE_CLI:?MMFUSE_CLI is the mmfuse binary}
SRC=${MMFUSE_SRC:-.}
GOOD=$SRC/tests/data/fuzz/fuzz_safetensors/good_all_dtypes.safetensors
BAD=$SRC/tests/data/safetensors_bad
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# -- a good file: one row per tensor (name dtype shape bytes), metadata, totals
"$CLI" inspect "$GOOD" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "good file: exit $rc: $(cat "$tmp/err")"
expect_row() {   # name dtype shape bytes
  grep -Eq "^$1 +$2 +$(printf '%s' "$3" | sed 's/\[/\\[/g; s/\]/\\]/g') +$4\$" "$tmp/out" || fail "no row '$*' in: $(cat "$tmp/out")"
}
expect_row a F64 "[2]" 16
expect_row b I64 "[1]" 8
expect_row c F32 "[2, 1]" 8
expect_row d I32 "[]" 4
expect_row e F16 "[2]" 4
expect_row f BF16 "[1, 1]" 2
expect_row g U8 "[3]" 3
expect_row h BOOL "[1]" 1
expect_row z F32 "[0, 3]" 0
grep -q "^9 tensors, 46 bytes of data$" "$tmp/out" || fail "totals line missing"
grep -q "^  format = pt$" "$tmp/out" || fail "metadata 'format' missing"
grep -q "^  note = café$" "$tmp/out" || fail "metadata 'note' missing"
[ -s "$tmp/err" ] && fail "good file wrote to stderr: $(cat "$tmp/err")"

# -- --json: one object per tensor
"$CLI" inspect --json "$GOOD" >"$tmp/json" || fail "--json exit $?"
[ "$(wc -l <"$tmp/json")" -eq 9 ] || fail "--json should print 9 lines"
grep -qx '{"name": "f", "dtype": "BF16", "shape": \[1, 1\], "bytes": 2}' "$tmp/json" || fail "--json row for f: $(cat "$tmp/json")"

# -- a sharded checkpoint through its index
cp "$GOOD" "$tmp/shard1.safetensors"
printf '{"weight_map": {"a": "shard1.safetensors", "z": "shard1.safetensors"}}' >"$tmp/model.safetensors.index.json"
"$CLI" inspect "$tmp/model.safetensors.index.json" >"$tmp/out" 2>"$tmp/err" || fail "index: exit $?: $(cat "$tmp/err")"
grep -q "^9 tensors, 46 bytes of data$" "$tmp/out" || fail "index: totals"

# -- bad files: exit 1, the file and the fault on stderr, nothing on stdout
check_bad() {   # file substring
  "$CLI" inspect "$1" >"$tmp/out" 2>"$tmp/err"; rc=$?
  [ $rc -eq 1 ] || fail "$1: exit $rc, expected 1"
  grep -qF -- "$1" "$tmp/err" || fail "$1: stderr does not name the file: $(cat "$tmp/err")"
  grep -qF -- "$2" "$tmp/err" || fail "$1: stderr does not name the fault '$2': $(cat "$tmp/err")"
  [ -s "$tmp/out" ] && fail "$1: wrote to stdout on failure"
}
n=0
while IFS=$'\t' read -r file want; do
  check_bad "$BAD/$file" "$want"
  n=$((n + 1))
done <"$BAD/EXPECTED.tsv"
[ $n -ge 25 ] || fail "only $n bad files"
check_bad "$tmp/absent.safetensors" "cannot open"
printf '{"weight_map": {"a": "gone.safetensors"}}' >"$tmp/gone.index.json"
check_bad "$tmp/gone.index.json" 'shard "gone.safetensors"'

# -- usage: exit 2 with a hint; --help exits 0 and teaches
"$CLI" inspect >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "no file: exit $rc, expected 2"
grep -q "missing FILE" "$tmp/err" || fail "no file: message"
"$CLI" inspect --frobnicate "$GOOD" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc, expected 2"
"$CLI" inspect "$GOOD" "$GOOD" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "two files: exit $rc, expected 2"
"$CLI" inspect --help >"$tmp/out" 2>&1; rc=$?
[ $rc -eq 0 ] || fail "--help: exit $rc"
grep -q "^Usage: mmfuse inspect" "$tmp/out" || fail "--help lacks Usage"
grep -q -- "--json" "$tmp/out" || fail "--help lacks the --json option"
grep -q "Example" "$tmp/out" || fail "--help lacks an example"

if [ $fails -ne 0 ]; then echo "cli_inspect: $fails failures" >&2; exit 1; fi
echo "cli_inspect: ok ($n bad files)"
