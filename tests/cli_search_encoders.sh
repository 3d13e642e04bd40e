#!/usr/bin/env bash
# `mmfuse search --text/--image --model`: the query embedded in-process must
# give the same results as embedding it first with `mmfuse embed` and passing
# --vector-file; an image finds itself first. Needs the real CLIP tokenizer.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
TOK=${MMFUSE_SHARED:-/nonexistent}/tokenizers/clip-vit-base-patch32
if [ ! -f "$TOK/tokenizer.json" ]; then echo "SKIPPED: $TOK is missing: put Hugging Face's openai/clip-vit-base-patch32 tokenizer files (vocab.json, merges.txt, tokenizer.json) there, or point cmake -DMMFUSE_SHARED_DIR=DIR at a folder holding tokenizers/ (README: Tests)"; exit 77; fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
D=$SRC/tests/data/image
mkdir "$T/clip" && cp "$D/clip_zs/"*.json "$D/clip_zs/model.safetensors" "$TOK/"* "$T/clip/" && cp "$D/clip_zs/config.json" "$T/clip/"
printf '%s\n' "$D/photo400x300.jpg" "$D/rgba8.png" "$D/pal4_trns.png" "$D/grey8.png" "$D/cmyk.jpg" > "$T/images.txt"
check '"$CLI" embed --model "$T/clip" --image-list "$T/images.txt" --out "$T/img.safetensors" 2>/dev/null' "embed images"
check '"$CLI" index build "$T/img.safetensors" --out "$T/img.idx" 2>/dev/null' "index build"

# image query: finds itself first (cosine ~1)
out=$("$CLI" search "$T/img.idx" --image "$D/pal4_trns.png" --model "$T/clip" -k 2 --exact --json 2>"$T/err"); rc=$?
check '[ $rc -eq 0 ] && [[ "$out" == *"\"results\": [{\"id\": 2, \"score\": 1"* || "$out" == *"\"results\": [{\"id\": 2, \"score\": 0.99999"* ]]' "image finds itself: $out $(cat "$T/err")"

# text query: same as embed --text-file + --vector-file
echo "a photo of a cat" > "$T/q.txt"
check '"$CLI" embed --model "$T/clip" --text-file "$T/q.txt" --out "$T/q.safetensors" 2>/dev/null' "embed text"
a=$("$CLI" search "$T/img.idx" --text "a photo of a cat" --model "$T/clip" -k 5 --exact --json 2>&1)
b=$("$CLI" search "$T/img.idx" --vector-file "$T/q.safetensors" -k 5 --exact --json 2>&1)
check '[ -n "$a" ] && [ "$a" = "$b" ]' "text query differs from the embedded file: [$a] vs [$b]"

# usage errors
"$CLI" search "$T/img.idx" --text "x" >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "--text without --model -> 2 (rc $rc)"
"$CLI" search "$T/img.idx" --text "x" --image "$D/rgba8.png" --model "$T/clip" >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "two queries -> 2 (rc $rc)"
out=$("$CLI" search "$T/img.idx" --image /nonexistent.png --model "$T/clip" 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"/nonexistent.png"* ]]' "missing image named: $out"
out=$("$CLI" search "$T/img.idx" --text "x" --model "$D/resnet_basic" 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"no text encoder"* ]]' "image-only model: $out"
[ $fail -eq 0 ] && echo "cli_search_encoders: ok"
exit $fail
