#!/usr/bin/env bash
# The CLI's default precision: auto (what `--precision auto` runs, byte for
# byte), MMFUSE_PRECISION as the deployment's override, an explicit flag over
# both, and a value that is no precision warned about and ignored. ctest pins
# MMFUSE_PRECISION=fp32 for the parity tests; this one unsets it itself.
set -u
BIN=${MMFUSE_BIN:?} SRC=${MMFUSE_SRC:?}
CLI=$BIN/mmfuse M=$SRC/tests/data/text/bert_a
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
printf 'hello world\na red heart on a white ground\nx\n' > "$T/in.txt"
# emb OUT ENV_SETTING [FLAGS...]: the env setting is -u MMFUSE_PRECISION or MMFUSE_PRECISION=...
emb() {
  local out=$1 set=$2; shift 2
  if [ "$set" = unset ]; then set=(-u MMFUSE_PRECISION); else set=("$set"); fi
  env "${set[@]}" "$CLI" embed --model "$M" --text-file "$T/in.txt" --threads 1 --out "$T/$out.st" "$@" 2>"$T/$out.err" ||
    fail "$out: $(cat "$T/$out.err")"
}
emb default unset
emb auto unset --precision auto
emb fp32 unset --precision fp32
emb pinned MMFUSE_PRECISION=fp32
emb junk MMFUSE_PRECISION=double
cmp -s "$T/default.st" "$T/auto.st" || fail "the default is not --precision auto"
cmp -s "$T/pinned.st" "$T/fp32.st" || fail "MMFUSE_PRECISION=fp32 is not --precision fp32"
cmp -s "$T/junk.st" "$T/auto.st" || fail "an unknown MMFUSE_PRECISION did not fall back to auto"
grep -q "MMFUSE_PRECISION=double is not fp32, bf16, int8 or auto" "$T/junk.err" || fail "no warning for MMFUSE_PRECISION=double: $(cat "$T/junk.err")"
auto_runs=$("$CLI" info --json | sed -n 's/.*"auto_precision": "\([a-z0-9]*\)".*/\1/p')
if [ "$auto_runs" = bf16 ]; then
  emb bf16 unset --precision bf16
  emb flag MMFUSE_PRECISION=fp32 --precision bf16
  cmp -s "$T/default.st" "$T/bf16.st" || fail "auto runs bf16 here (mmfuse info) but the default is not the bf16 path"
  cmp -s "$T/flag.st" "$T/bf16.st" || fail "--precision bf16 did not win over MMFUSE_PRECISION=fp32"
elif [ "$auto_runs" = fp32 ]; then
  cmp -s "$T/default.st" "$T/fp32.st" || fail "auto runs fp32 here (mmfuse info) but the default is not the fp32 path"
else
  fail "mmfuse info --json names no auto_precision"
fi
"$CLI" embed --help | grep -q "default auto, or MMFUSE_PRECISION" || fail "embed --help does not say the default"
[ $fails -eq 0 ] && echo "default precision: auto (runs $auto_runs here); MMFUSE_PRECISION and --precision override it"
exit $((fails > 0))
