#!/usr/bin/env bash
# Installs the Debian packages mmfuse needs. Idempotent and quiet when everything
# is already present. Usage: scripts/install-deps.sh [build|test|fuzz|refs|bench|demo|report]...
# The test group also puts npm's playwright-core (tests/cli_serve_browser.sh drives
# chromium with it) into $MMFUSE_NPM_DIR (default ~/.cache/mmfuse/npm).
set -euo pipefail
want=(cmake make gcc pkg-config libdnnl-dev libcjson-dev libutf8proc-dev libpng-dev libjpeg-dev zlib1g-dev libmicrohttpd-dev)   # libmicrohttpd: mmfuse serve
for group in "$@"; do
  case "$group" in
    build) ;;
    test)  want+=(python3-numpy python3-pil nodejs python3-pytest python3-setuptools python3-pip python3-venv curl openmpi-bin libopenmpi-dev chromium npm) ;;   # openmpi: the mpi-labelled tests run mpirun -np 2 on loopback; curl: tests/cli_serve.sh drives mmfuse serve; chromium + npm: the page in a browser (tests/cli_serve_browser.sh); numpy/Pillow: synthetic test data; node: the demo scripts' tests; pytest, setuptools, pip, venv: the Python binding (tests/cli_python.sh; each skips without)
    fuzz)  want+=(clang libclang-rt-dev libomp-dev) ;;   # libomp: OpenMP for clang
    refs) want+=(python3-torch python3-torchvision python3-pil python3-numpy nodejs npm sentencepiece python3-sentencepiece) ;;   # sentencepiece: spm_train (tests/ref/gen_spm_models.py) and the ids of tests/ref/ref_spm.py
    bench) want+=(wrk libopenblas-openmp-dev python3-onnx python3-torch python3-torchvision python3-pil python3-numpy python3-hnswlib python3-faiss) ;;
    demo)  want+=(librsvg2-bin npm nodejs) ;;
    report) want+=(chromium) ;;
    *) echo "install-deps: unknown group '$group' (build|test|fuzz|refs|bench|demo|report)" >&2; exit 2 ;;
  esac
done
PLAYWRIGHT=playwright-core@1.65.2
npm_deps() {   # after apt: npm's packages for the test group; a failure leaves the browser test skipping
  local d=${MMFUSE_NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmfuse/npm}
  [[ " $* " == *" test "* ]] || return 0
  [ -f "$d/node_modules/playwright-core/package.json" ] && return 0
  command -v npm >/dev/null 2>&1 || return 0
  echo "install-deps: npm install $PLAYWRIGHT into $d" >&2
  mkdir -p "$d" && npm install --prefix "$d" --no-save --no-audit --no-fund --ignore-scripts "$PLAYWRIGHT" >/dev/null 2>&1 ||
    echo "install-deps: warning: npm install $PLAYWRIGHT failed; tests/cli_serve_browser.sh will be skipped" >&2
}
missing=()
for p in "${want[@]}"; do
  # NodeSource's nodejs ships npm itself and conflicts with Debian's npm package
  [ "$p" = npm ] && command -v npm >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then npm_deps "$@"; exit 0; fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (a parallel make, an unattended upgrade) instead of failing.
lock=(-o DPkg::Lock::Timeout=900)
$SUDO apt-get "${lock[@]}" update -qq >/dev/null
$SUDO apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
npm_deps "$@"
