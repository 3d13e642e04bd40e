#!/usr/bin/env bash
# `mmfuse info`: the machine lines CI prints first. Checked against Linux's own
# view of the machine (/proc/cpuinfo flags, which the kernel clears when it does
# not save a feature's registers; nproc for the affinity mask), not against the
# CPUID code under test. The BLAS kernel name is whatever the library picked:
# only its presence is checked, never which one.
set -u
CLI=${MMFUSE_CLI:?MMFUSE_CLI is the mmfuse binary}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$CLI" info >"$tmp/out" 2>"$tmp/err" || fail "info: exit $?: $(cat "$tmp/err")"
cat "$tmp/out"
field() { sed -n "s/^$1  *//p" "$tmp/out"; }

if [ -r /proc/cpuinfo ]; then
  model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1 | sed 's/[[:space:]]*$//')
  [ -z "$model" ] || [ "$(field cpu)" = "$model" ] || fail "cpu '$(field cpu)' is not /proc/cpuinfo's '$model'"
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  simd=$(field simd)
  for pair in avx2:avx2 fma:fma avx512f:avx512f avx512_bf16:avx512_bf16 avx512_vnni:avx512_vnni amx:amx_tile; do
    name=${pair%%:*} flag=${pair#*:}
    case "$flags" in *" $flag "*) want=yes ;; *) want=no ;; esac
    case " $simd " in *" $name=$want "*) ;; *) fail "simd line '$simd' should say $name=$want (/proc/cpuinfo)" ;; esac
  done
fi
[ "$(field cpus)" = "$(nproc)" ] || fail "cpus '$(field cpus)' is not nproc's $(nproc)"
field blas | grep -Eq '^OpenBLAS [0-9][0-9.]*, kernel [A-Za-z0-9_]+$' || fail "blas line '$(field blas)' names no version and kernel"
# every variable that changes the kernel choice is shown, set or not
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
  grep -q "^env *$v=" "$tmp/out" || fail "no env line for $v"
done
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  grep -qx "env *OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE" "$tmp/out" || fail "env line does not show OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE"
fi

# --json: one object with the same facts
"$CLI" info --json >"$tmp/json" || fail "info --json: exit $?"
if command -v /usr/bin/python3 >/dev/null; then
  /usr/bin/python3 - "$tmp/json" "$(field cpus)" <<'PY' || fail "info --json is not the same machine as the text lines"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["cpus"] == int(sys.argv[2]), j
assert j["blas"].startswith("OpenBLAS "), j
assert all(j[k] in (0, 1) for k in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx")), j
PY
fi

# bad usage: exit 2 with the reason
"$CLI" info --bogus >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "info --bogus: exit $rc, want 2"
grep -q -- "--bogus" "$tmp/err" || fail "usage error does not name --bogus: $(cat "$tmp/err")"
exit $((fails > 0))
