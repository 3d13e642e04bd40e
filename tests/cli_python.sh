#!/usr/bin/env bash
# The Python binding (python/, docs/python.md) as a user gets it: `pip install ./python`
# into a fresh virtual environment (offline: no index, Debian's setuptools), then its
# pytest suite against that installed copy. Skips (77), saying why, without numpy/pytest.
set -u
SRC=${MMFUSE_SRC:?} BIN=${MMFUSE_BIN:?}
PY=/usr/bin/python3
for mod in numpy pytest setuptools; do
  $PY -c "import $mod" 2>/dev/null || { echo "skipped: $PY has no $mod (scripts/install-deps.sh test installs python3-$mod)"; exit 77; }
done
# A sanitizer build (make test-asan): Python loads the ASan/UBSan libmmfuse.so with the
# runtimes preloaded (they must come first); leak checks are off, Python's own exit leaks.
PRELOAD=
if grep -q '^MMFUSE_SANITIZE:BOOL=ON' "$BIN/CMakeCache.txt" 2>/dev/null; then
  CC_USED=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BIN/CMakeCache.txt")
  for rt in libasan.so libubsan.so; do
    f=$("${CC_USED:-cc}" -print-file-name=$rt 2>/dev/null)
    [ -f "$f" ] || { echo "skipped: sanitizer build, and ${CC_USED:-cc} names no $rt to preload into Python"; exit 77; }
    PRELOAD="$PRELOAD $f"
  done
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cp -r "$SRC/python" "$T/src" && rm -rf "$T/src/build" "$T/src/"*.egg-info
if $PY -m venv --system-site-packages "$T/venv" 2>"$T/venv.err"; then
  VPY=$T/venv/bin/python
  MMFUSE_LIBRARY=$BIN/libmmfuse.so "$VPY" -m pip install --no-index --no-deps -q "$T/src" >"$T/pip.log" 2>&1 \
    || { echo "FAILED: pip install ./python:"; cat "$T/pip.log"; exit 1; }
else   # no python3-venv: a --target install is the same files
  echo "note: no venv ($(head -1 "$T/venv.err")); installing with pip --target"
  MMFUSE_LIBRARY=$BIN/libmmfuse.so $PY -m pip install --no-index --no-deps -q --target "$T/site" "$T/src" >"$T/pip.log" 2>&1 \
    || { echo "FAILED: pip install --target:"; cat "$T/pip.log"; exit 1; }
  VPY=$PY; export PYTHONPATH=$T/site
fi
cd "$T" || exit 1
[ -n "$PRELOAD" ] && export LD_PRELOAD="${PRELOAD# }" && echo "sanitizer build: preloading $LD_PRELOAD"
out=$("$VPY" -c "import mmfuse; print(mmfuse.__version__, mmfuse.library_path)") || { echo "FAILED: import mmfuse"; exit 1; }
echo "installed: $out"
case "$out" in *"$T/"*) ;; *) echo "FAILED: mmfuse did not load its bundled library: $out"; exit 1 ;; esac
# make install's copy: PREFIX/lib/python3.X/dist-packages/mmfuse finds PREFIX's library
if cmake --install "$BIN" --prefix "$T/prefix" >"$T/install.log" 2>&1; then
  site=$(ls -d "$T"/prefix/lib/python3*/dist-packages 2>/dev/null | head -1)
  got=$(PYTHONPATH=$site "$VPY" -c "import mmfuse; print(mmfuse.library_path)" 2>&1)
  case "$got" in "$T/prefix/"*libmmfuse.so*) echo "make install: $got" ;;
    *) echo "FAILED: the make-install copy of mmfuse did not load the installed library: $got"; exit 1 ;; esac
else
  echo "FAILED: cmake --install:"; cat "$T/install.log"; exit 1
fi
export MMFUSE_TEST_INSTALLED=1 PYTHONDONTWRITEBYTECODE=1
"$VPY" -m pytest -q -p no:cacheprovider -rs "$SRC/python/tests"
