#!/usr/bin/env bash
# Regenerates every committed reference file under tests/data/ (make refs).
# Uses Debian's python3 (and python3-torch for the tests/ref/ref_*.py scripts).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
# the malformed-safetensors corpus and the fuzzing seeds (plain python3)
"$PY" tests/ref/make_bad_safetensors.py
# kernel and model references (PyTorch)
for f in tests/ref/ref_*.py; do
  [ -e "$f" ] || continue
  echo "make-refs: $f" >&2
  "$PY" "$f"
done
# CLIP BPE ids from npm's @huggingface/tokenizers@0.2.0, when it is installed in $HFTOK
if [ -d "${HFTOK:-/tmp/hftok}/node_modules/@huggingface/tokenizers" ] && command -v node >/dev/null; then
  echo "make-refs: tests/ref/ref_clip_bpe.cjs" >&2
  HFTOK=${HFTOK:-/tmp/hftok} node tests/ref/ref_clip_bpe.cjs
  # byte-level BPE and Unigram tokenizer.json ids (after tests/ref/ref_spm.py wrote uni_nfkc/tokenizer.json)
  echo "make-refs: tests/ref/ref_hf_tokenizers.mjs" >&2
  HFTOK=${HFTOK:-/tmp/hftok}/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs node tests/ref/ref_hf_tokenizers.mjs
fi
