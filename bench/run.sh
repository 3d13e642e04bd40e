#!/usr/bin/env bash
# Runs every benchmark and rebuilds bench/RESULTS.md from the fragments.
#   bench/run.sh BUILD_DIR        (make bench builds the `benches` target, then calls this)
# Each benchmark writes its own fragment bench/results/<area>.md:
#   - BUILD_DIR/bench_* executables run with no arguments from the source root;
#   - bench/*.py run with Debian's /usr/bin/python3 and get BUILD_DIR as argument.
# A benchmark that fails is reported and skipped; its old fragment (if any) stays.
# Environment: MMFUSE_SRC, MMFUSE_BIN (= BUILD_DIR) are exported for the scripts;
# MMFUSE_BENCH_ONLY=fusion,text runs only the benchmarks whose name contains one
# of the words (bench_fusion + fusion_torch.py, bench_text + text_torch.py) and
# keeps the other fragments as they are.
set -uo pipefail
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: bench/run.sh BUILD_DIR   (the cmake build folder with the bench_* executables)" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p bench/results
export MMFUSE_SRC="$ROOT" MMFUSE_BIN="$BUILD"
PY=${PYTHON:-/usr/bin/python3}
failed=()
wanted() {   # MMFUSE_BENCH_ONLY filter on a benchmark's file name
  [ -z "${MMFUSE_BENCH_ONLY:-}" ] && return 0
  local w
  for w in ${MMFUSE_BENCH_ONLY//,/ }; do [[ "$(basename "$1")" == *"$w"* ]] && return 0; done
  return 1
}
for exe in "$BUILD"/bench_*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  wanted "$exe" || continue
  echo "bench: $(basename "$exe")" >&2
  "$exe" || failed+=("$(basename "$exe")")
done
for py in bench/*.py; do
  [ -e "$py" ] || continue
  wanted "$py" || continue
  echo "bench: $py" >&2
  "$PY" "$py" "$BUILD" || failed+=("$py")
done
out=bench/RESULTS.md
tmp=$(mktemp bench/.RESULTS.md.XXXXXX)
{
  echo "# mmfuse benchmark results"
  echo
  echo "Produced by \`make bench\` (\`bench/run.sh $1\`) on $(date -u '+%Y-%m-%d %H:%M UTC'): it runs every"
  echo "\`bench_*\` executable and \`bench/*.py\` script, each of which writes its fragment"
  echo "\`bench/results/<area>.md\`, then concatenates the fragments below in name order."
  echo "Do not edit by hand; rerun \`make bench\`."
  echo
  for f in bench/results/*.md; do
    [ -e "$f" ] || continue
    echo "<!-- from $f -->"
    cat "$f"
    echo
  done
} > "$tmp" && mv "$tmp" "$out"
echo "bench: wrote $out" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
