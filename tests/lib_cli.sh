# Sourced by CLI tests (tests/cli_caption.sh, tests/cli_vqa.sh); not a test itself:
# its name keeps it out of CMake's tests/cli_*.sh glob.
# Gives: $CLI (the mmfuse binary), $SRC (the source root), $PY, a scratch folder $T
# removed on exit, check() and need_numpy; tests/ref/ on PYTHONPATH so that synthetic
# embedding files are written with `from st_write import write_safetensors`.
set -u
CLI=${MMFUSE_CLI:?MMFUSE_CLI is the mmfuse binary} SRC=${MMFUSE_SRC:?MMFUSE_SRC is the source root}
PY=/usr/bin/python3
export PYTHONPATH="$SRC/tests/ref${PYTHONPATH:+:$PYTHONPATH}"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
# check 'CONDITION' 'message': a false CONDITION prints the message and fails the test (exit $fail at the end).
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
# The synthetic data needs numpy: skip (77) without it.
need_numpy() { $PY -c "import numpy" 2>/dev/null || { echo "skipped: no numpy for the synthetic data"; exit 77; }; }
