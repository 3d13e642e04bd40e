#!/usr/bin/env bash
# The shared library is sealed: every symbol it exports is an mmf_ function that
# include/mmfuse.h declares (CMake's version script comes from the header), so
# internal helpers (src/) cannot leak into the API; and the public functions the
# Python binding and the docs name are there.
set -u
BIN=${MMFUSE_BIN:?} SRC=${MMFUSE_SRC:?}
LIB=$BIN/libmmfuse.so
[ -f "$LIB" ] || { echo "skipped: no $LIB in this build"; exit 77; }
command -v nm >/dev/null || { echo "skipped: no nm (binutils)"; exit 77; }
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
exports=$(nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -o 'mmf_[a-z0-9_]*[[:space:]]*(' "$SRC/include/mmfuse.h" | sed 's/[[:space:](]//g' | sort -u)
n=$(echo "$exports" | grep -c .)
[ "$n" -ge 100 ] || fail "only $n exported symbols: the version script lost the API"
stray=$(comm -23 <(echo "$exports") <(echo "$declared"))
[ -z "$stray" ] || fail "exported but not declared in include/mmfuse.h: $(echo $stray | head -c 400)"
for fn in mmf_encoder_load mmf_encoder_embed_text mmf_embfile_open mmf_head_train mmf_index_open mmf_machine_info_get; do
  echo "$exports" | grep -qx "$fn" || fail "$fn is not exported"
done
for internal in mmf_sgemm mmf_int8_linear mmf_tf_pack mmf_bf16_linear; do
  echo "$exports" | grep -qx "$internal" && fail "internal $internal is exported"
done
echo "libmmfuse.so exports $n symbols, all declared in include/mmfuse.h"
exit $((fails > 0))
