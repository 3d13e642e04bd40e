#!/usr/bin/env bash
# CLI contract of `mmfuse preprocess`, `mmfuse embed --image-list` and
# `mmfuse zeroshot`: shapes, failure reporting (--skip-bad), and an end-to-end
# zero-shot run (decode, preprocess, CLIP both towers, the real CLIP tokenizer)
# against probabilities from tests/ref/ref_clip.py.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
D=$SRC/tests/data/image

printf '%s\n' "$D/photo400x300.jpg" "$D/rgba8.png" "" "$D/pal4_trns.png" > "$T/good.txt"
check '"$CLI" preprocess --model "$D/clip_legacy" --image-list "$T/good.txt" --out "$T/px.safetensors" --threads 2' "preprocess runs"
out=$("$CLI" inspect --json "$T/px.safetensors")
check '[[ "$out" == *"\"pixel_values\", \"dtype\": \"F32\", \"shape\": [3, 3, 32, 32]"* ]]' "preprocess shape: $out"

check '"$CLI" embed --model "$D/resnet_bottleneck" --image-list "$T/good.txt" --out "$T/r.safetensors" 2>/dev/null' "embed resnet"
out=$("$CLI" inspect --json "$T/r.safetensors")
check '[[ "$out" == *"\"embeddings\", \"dtype\": \"F32\", \"shape\": [3, 64]"* ]]' "resnet embed shape: $out"
check '"$CLI" embed --model "$D/vit_pooler" --image-list "$T/good.txt" --out "$T/v.safetensors" --pooling mean --normalize 2>/dev/null' "embed vit mean"
out=$("$CLI" inspect --json "$T/v.safetensors")
check '[[ "$out" == *"[3, 32]"* ]]' "vit embed shape: $out"
check '"$CLI" embed --model "$D/clip_legacy" --image-list "$T/good.txt" --out "$T/c.safetensors" --batch 2 2>/dev/null' "embed clip images"
out=$("$CLI" inspect --json "$T/c.safetensors")
check '[[ "$out" == *"[3, 20]"* ]]' "clip embed shape: $out"

# --precision bf16 on the image encoders (numbers checked in tests/test_image_bf16.c): runs where
# the CPU has AVX512-BF16 and gives a different file than fp32; refused with a clear error elsewhere.
# ResNet's bf16 runs on oneDNN's convolutions, so it also needs the engine's ISA to include them
# (not so under ONEDNN_MAX_CPU_ISA=AVX2); the transformers' bf16 GEMM is our own.
cpu_bf16=no; grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null && cpu_bf16=yes
engine_bf16=no; "$CLI" info | grep -Eq 'ISA avx512_core_(bf16|amx)' && engine_bf16=yes
for m in resnet_bottleneck vit_pooler clip_legacy; do
  "$CLI" embed --model "$D/$m" --image-list "$T/good.txt" --out "$T/b16.safetensors" --precision bf16 2>"$T/err"; rc=$?
  runs=$cpu_bf16; [ "$m" = resnet_bottleneck ] && [ $engine_bf16 = no ] && runs=no
  if [ $runs = yes ]; then
    check '[ $rc -eq 0 ]' "embed $m --precision bf16 (rc $rc): $(cat "$T/err")"
    "$CLI" embed --model "$D/$m" --image-list "$T/good.txt" --out "$T/f32.safetensors" 2>/dev/null
    check '! cmp -s "$T/b16.safetensors" "$T/f32.safetensors"' "$m: bf16 output differs from fp32"
  else
    check '[ $rc -ne 0 ] && grep -q "AVX512-BF16" "$T/err"' "bf16 refused on this CPU for $m (rc $rc): $(cat "$T/err")"
  fi
done

# bad images: without --skip-bad the run stops naming the file; with it, failures are recorded
head -c 300 "$D/baseline420.jpg" > "$T/truncated.jpg"
printf 'GIF89a' > "$T/anim.gif"
printf '%s\n' "$D/rgb8.png" "$T/truncated.jpg" "$T/missing.png" "$T/anim.gif" "$D/grey.jpg" > "$T/mixed.txt"
"$CLI" embed --model "$D/resnet_basic" --image-list "$T/mixed.txt" --out "$T/bad.safetensors" 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "truncated.jpg" "$T/err"' "bad image stops the run naming it (rc $rc): $(cat "$T/err")"
check '[ ! -e "$T/bad.safetensors" ]' "no output after a failed run"
"$CLI" embed --model "$D/resnet_basic" --image-list "$T/mixed.txt" --out "$T/skip.safetensors" --skip-bad 2>"$T/err"; rc=$?
check '[ $rc -eq 0 ]' "--skip-bad goes on (rc $rc)"
check 'grep -q "missing.png" "$T/err" && grep -q "anim.gif" "$T/err" && grep -q "3 of 5 images failed" "$T/err"' "--skip-bad reports each failure: $(cat "$T/err")"
out=$("$CLI" inspect "$T/skip.safetensors")
check '[[ "$out" == *"failed"*"U8"*"[5]"* && "$out" == *"failed_count = 3"* && "$out" == *"truncated"* ]]' "failures recorded: $out"
"$CLI" preprocess --model "$D/clip_legacy" --image-list "$T/mixed.txt" --out "$T/p2.safetensors" 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "truncated.jpg" "$T/err"' "preprocess stops at a bad image (rc $rc)"

# usage errors
"$CLI" embed --model "$D/resnet_basic" --image-list "$T/good.txt" --out "$T/x.safetensors" --pooling none 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "--pooling none with images -> exit 2 (rc $rc)"
"$CLI" embed --model "$D/vit_pooler" --text-file "$T/good.txt" --out "$T/x.safetensors" 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "text into an image-only model -> exit 2 (rc $rc)"
"$CLI" zeroshot --model "$D/resnet_basic" --image-list "$T/good.txt" --labels "a,b" 2>/dev/null; rc=$?
check '[ $rc -eq 2 ]' "zeroshot on a non-CLIP folder -> exit 2 (rc $rc)"
for c in preprocess zeroshot embed; do
  "$CLI" $c --help | grep -q "Example" || { echo "FAILED: $c --help" >&2; fail=1; }
done

# end to end: zero-shot probabilities vs tests/ref/ref_clip.py (needs the shared CLIP tokenizer)
TOK=${MMFUSE_SHARED:-/nonexistent}/tokenizers/clip-vit-base-patch32
if [ -f "$TOK/tokenizer.json" ]; then
  mkdir "$T/zs" && cp "$D/clip_zs/"*.json "$D/clip_zs/model.safetensors" "$T/zs/" && cp "$TOK/"* "$T/zs/"
  cp "$D/clip_zs/config.json" "$T/zs/config.json"
  : > "$T/zs.txt"
  for f in $(cut -f1 "$D/clip_zs/expected_probs.tsv"); do echo "$D/$f" >> "$T/zs.txt"; done
  "$CLI" zeroshot --model "$T/zs" --image-list "$T/zs.txt" --labels-file "$D/clip_zs/labels.txt" --threads 2 > "$T/zs.out" 2>"$T/err"; rc=$?
  check '[ $rc -eq 0 ]' "zeroshot runs (rc $rc): $(cat "$T/err")"
  worst=$(tail -n +2 "$T/zs.out" | cut -f3- | paste - <(cut -f2- "$D/clip_zs/expected_probs.tsv") | awk -F'\t' '
    { n = NF / 2; for (i = 1; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > w) w = d } } END { printf "%.3g", w + 0 }')
  echo "zeroshot: max |p - p_ref| = $worst"
  check 'awk "BEGIN { exit !($worst <= 1e-4) }"' "zeroshot probabilities within 1e-4 (worst $worst)"
  check '[ $(tail -n +2 "$T/zs.out" | wc -l) -eq 5 ]' "one line per image"
  # the text side of a CLIP folder: projected text features, and tokenize
  check '"$CLI" embed --model "$T/zs" --text-file "$D/clip_zs/labels.txt" --out "$T/t.safetensors" 2>/dev/null' "embed --text-file on CLIP"
  out=$("$CLI" inspect --json "$T/t.safetensors")
  check '[[ "$out" == *"\"embeddings\", \"dtype\": \"F32\", \"shape\": [4, 8]"* ]]' "CLIP text embed shape: $out"
  out=$("$CLI" tokenize --model "$T/zs" --text "Hello, world!")
  check '[[ "$out" == "{\"ids\": [49406, 3306, 267, 1002, 256, 49407],"* ]]' "tokenize on a CLIP folder: $out"
else
  echo "zeroshot end-to-end skipped: no CLIP tokenizer files in ${MMFUSE_SHARED:-(unset)}/tokenizers/clip-vit-base-patch32 (README: Tests)"
fi
[ $fail -eq 0 ] && echo "cli_image: all checks passed"
exit $fail
