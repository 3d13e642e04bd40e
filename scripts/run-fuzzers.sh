#!/usr/bin/env bash
# Runs every libFuzzer harness in BUILD_DIR (fuzz_*) for SECONDS each.
#   scripts/run-fuzzers.sh BUILD_DIR SECONDS
# Seeds: tests/data/fuzz/<name>/ (+ tests/data/safetensors_bad for the
# safetensors harness, + tests/data/fuzz_regress/<name>/ when present). New
# corpus entries go to a scratch folder (FUZZ_CORPUS_DIR, default a temp dir),
# never into the repository; crash artifacts go to fuzz-out/<name>/. A crash,
# leak or timeout makes the script exit non-zero; add the input to
# tests/data/fuzz_regress/ once fixed (tests/test_fuzz_regress.c replays it).
set -uo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 BUILD_DIR SECONDS" >&2; exit 2; fi
BUILD=$1
SECONDS_EACH=$2
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/fuzz-out
SCRATCH=${FUZZ_CORPUS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/mmfuse-fuzz.XXXXXX")}
JOBS=${FUZZ_JOBS:-1}
mkdir -p "$OUT"
shopt -s nullglob
fuzzers=("$BUILD"/fuzz_*)
if [ ${#fuzzers[@]} -eq 0 ]; then echo "run-fuzzers: no fuzz_* binaries in $BUILD" >&2; exit 1; fi
status=0
for bin in "${fuzzers[@]}"; do
  [ -x "$bin" ] && [ -f "$bin" ] || continue
  name=$(basename "$bin")
  case "$name" in
    fuzz_safetensors) max_len=65536; extra=("$ROOT/tests/data/safetensors_bad") ;;
    fuzz_config)      max_len=32768; extra=() ;;   # config.json files are small
    fuzz_index)       max_len=4096; extra=("$ROOT/tests/data/fuzz/fuzz_config") ;;
    fuzz_index_file)  max_len=8192; extra=() ;;   # vector index files; the seeds are 0.7-1.6 KB
    fuzz_image)       max_len=131072; extra=("$ROOT/tests/data/image") ;;   # the committed test images as seeds
    fuzz_serve_api)   max_len=65536; extra=() ;;   # request bodies of mmfuse serve (a route byte first)
    fuzz_tokenize)    max_len=8192; extra=() ;;    # a tokenizer byte, a mode byte, the text
    *)                max_len=65536; extra=() ;;
  esac
  seeds=()
  for d in "$ROOT/tests/data/fuzz/$name" "${extra[@]}" "$ROOT/tests/data/fuzz_regress"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  mkdir -p "$SCRATCH/$name" "$OUT/$name"
  par=()
  [ "$JOBS" -gt 1 ] && par=(-fork="$JOBS" -ignore_crashes=0)
  dict=()
  [ -f "$ROOT/fuzz/$name.dict" ] && dict=(-dict="$ROOT/fuzz/$name.dict")
  echo "== $name: ${SECONDS_EACH}s, max_len $max_len, corpus $SCRATCH/$name" >&2
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" "$SCRATCH/$name" "${seeds[@]}" "${dict[@]}" \
      -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      "${par[@]}" -print_final_stats=1 \
      -artifact_prefix="$OUT/$name/" >"$OUT/$name.log" 2>&1
  rc=$?
  tail -n 12 "$OUT/$name.log" | grep -E "stat::|Done|ERROR|SUMMARY|artifact" >&2
  if [ $rc -ne 0 ]; then
    echo "run-fuzzers: $name FAILED (exit $rc); log $OUT/$name.log, artifacts in $OUT/$name/" >&2
    status=1
  fi
done
[ -z "${FUZZ_CORPUS_DIR:-}" ] && rm -rf "$SCRATCH"
exit $status
