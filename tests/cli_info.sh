#!/usr/bin/env bash
# `mmfuse info`: the machine lines CI prints first. Checked against Linux's own
# view of the machine (/proc/cpuinfo flags, which the kernel clears when it does
# not save a feature's registers; nproc for the affinity mask), not against the
# CPUID code under test. The engine's ISA is whatever oneDNN picked: only its
# presence is checked, and that ONEDNN_MAX_CPU_ISA caps it.
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
field engine | grep -Eq '^oneDNN [0-9]+\.[0-9]+\.[0-9]+, ISA [a-z0-9_]+$' || fail "engine line '$(field engine)' names no version and ISA"
# every variable that changes the kernel choice is shown, set or not
grep -q "^env *ONEDNN_MAX_CPU_ISA=" "$tmp/out" || fail "no env line for ONEDNN_MAX_CPU_ISA"
# the cap is obeyed: at most AVX2 kernels under ONEDNN_MAX_CPU_ISA=AVX2
if [[ "${flags:-}" == *" avx2 "* ]]; then
  capped=$(ONEDNN_MAX_CPU_ISA=AVX2 "$CLI" info | sed -n 's/^engine .*ISA //p')
  [ "$capped" = avx2 ] || fail "under ONEDNN_MAX_CPU_ISA=AVX2 the engine ISA is '$capped', want avx2"
fi

# --json: one object with the same facts
"$CLI" info --json >"$tmp/json" || fail "info --json: exit $?"
if command -v /usr/bin/python3 >/dev/null; then
  /usr/bin/python3 - "$tmp/json" "$(field cpus)" <<'PY' || fail "info --json is not the same machine as the text lines"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["cpus"] == int(sys.argv[2]), j
assert j["engine"].startswith("oneDNN "), j
assert all(j[k] in (0, 1) for k in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx")), j
PY
fi

# bad usage: exit 2 with the reason
"$CLI" info --bogus >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] || fail "info --bogus: exit $rc, want 2"
grep -q -- "--bogus" "$tmp/err" || fail "usage error does not name --bogus: $(cat "$tmp/err")"
exit $((fails > 0))
