#!/usr/bin/env bash
# train-encoder and train-direct end to end on a tiny synthetic record set
# (PNG images drawn with Pillow: a bright square top-left vs bottom-right;
# texts whose middle word gives the class): towers load in `mmfuse embed`,
# the bimodal autoencoder's head works in `mmfuse eval` and `mmfuse fuse`;
# usage errors exit 2, bad input exits 1 naming the file.
set -u
CLI=${MMFUSE_CLI:?MMFUSE_CLI is the mmfuse binary}
PY=/usr/bin/python3
if ! $PY -c "import PIL" 2>/dev/null; then echo "skip: $PY with Pillow is needed to draw the test images"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

$PY "${MMFUSE_SRC:-$(dirname "$0")/..}/tests/ref/gen_direct_records.py" "$tmp"

"$CLI" train-encoder --help >/dev/null 2>&1 || fail "train-encoder --help"
"$CLI" train-direct --help >/dev/null 2>&1 || fail "train-direct --help"
# every model the parser accepts (its usage error lists them) has a paragraph and an example in --help
"$CLI" train-direct --help >"$tmp/direct_help.txt" 2>&1
models=$("$CLI" train-direct --model no-such-model --train x --out y 2>&1 | sed -n 's/.*expected //p' | sed 's/,/ /g; s/ or / /g')
[ -n "$models" ] || fail "train-direct: no list of models in the usage error for an unknown --model"
for m in $models; do
  grep -Eq "^  $m +[a-zA-Z]" "$tmp/direct_help.txt" || fail "train-direct --help: no paragraph for --model $m"
  grep -q -- "--model $m " "$tmp/direct_help.txt" || fail "train-direct --help: no example with --model $m"
done
"$CLI" train-encoder --records "$tmp/train.jsonl" --out "$tmp/x" >/dev/null 2>&1; [ $? -eq 2 ] || fail "train-encoder without --modality should exit 2"
"$CLI" train-direct --model xyz --train a.safetensors --out b >/dev/null 2>&1; [ $? -eq 2 ] || fail "train-direct --model xyz should exit 2"
"$CLI" train-encoder --modality image --records "$tmp/nope.jsonl" --out "$tmp/x" 2>"$tmp/err" >/dev/null; rc=$?
[ $rc -eq 1 ] && grep -q "nope.jsonl" "$tmp/err" || fail "missing records: exit $rc, $(cat "$tmp/err")"

# image tower -> embed --image-list
"$CLI" train-encoder --modality image --records "$tmp/train.jsonl" --val "$tmp/val.jsonl" --out "$tmp/cnn" \
    --image-size 16 --dim 16 --epochs 4 --batch 8 --quiet || fail "train-encoder image"
grep -Eq '"model_type":[[:space:]]*"mmfuse_cnn"' "$tmp/cnn/config.json" || fail "cnn config.json model_type"
"$CLI" embed --model "$tmp/cnn" --image-list "$tmp/val_images.txt" --out "$tmp/img.safetensors" 2>"$tmp/err" || fail "embed image: $(cat "$tmp/err")"
"$CLI" inspect "$tmp/img.safetensors" | grep -Eq '^embeddings +F32 +\[12, 16\]' || fail "image embeddings shape"
# bf16 and int8 run (their cosine to fp32 is held in tests/test_direct_towers.c);
# an engine without VNNI (ONEDNN_MAX_CPU_ISA=AVX2) refuses int8 naming it, and a
# CPU without AVX512-BF16 refuses bf16
isa=$("$CLI" info --json)
for prec in bf16 int8; do
  "$CLI" embed --model "$tmp/cnn" --image-list "$tmp/val_images.txt" --precision $prec --out "$tmp/img_$prec.safetensors" 2>"$tmp/err"; rc=$?
  case $prec in
    int8) need=VNNI; have=$(echo "$isa" | grep -Eq '"engine": "[^"]*ISA (avx512_core_(vnni|bf16|amx)|avx2_vnni)"' && echo 1) ;;
    bf16) need=AVX512-BF16; have=$(echo "$isa" | grep -q '"avx512_bf16": 1' && echo 1) ;;
  esac
  if [ -n "$have" ]; then
    [ $rc -eq 0 ] || fail "$prec on the CNN tower: exit $rc, $(cat "$tmp/err")"
    "$CLI" inspect "$tmp/img_$prec.safetensors" | grep -Eq '^embeddings +F32 +\[12, 16\]' || fail "$prec image embeddings shape"
  else
    [ $rc -eq 1 ] && grep -q "$need" "$tmp/err" && [ ! -e "$tmp/img_$prec.safetensors" ] || fail "$prec without $need: exit $rc, $(cat "$tmp/err")"
  fi
done

# text tower -> embed --text-file
"$CLI" train-encoder --modality text --records "$tmp/train.jsonl" --out "$tmp/txt" --dim 16 --heads 2 --layers 1 --epochs 3 --quiet \
    || fail "train-encoder text"
for f in config.json model.safetensors vocab.txt tokenizer_config.json; do [ -s "$tmp/txt/$f" ] || fail "text tower lacks $f"; done
printf 'small alpha old\nred beta shiny\n' >"$tmp/t.txt"
"$CLI" embed --model "$tmp/txt" --text-file "$tmp/t.txt" --out "$tmp/t.safetensors" 2>"$tmp/err" || fail "embed text: $(cat "$tmp/err")"
"$CLI" inspect "$tmp/t.safetensors" | grep -Eq '^embeddings +F32 +\[2, 16\]' || fail "text embeddings shape"

# bimodal autoencoder from raw features -> eval, fuse
"$CLI" train-direct --model bimodal-ae --records "$tmp/train.jsonl" --val "$tmp/val.jsonl" --out "$tmp/ae" \
    --hidden 16 --epochs 10 --probe-epochs 30 --quiet || fail "train-direct --records"
for f in head.safetensors train.safetensors val.safetensors vocab.txt classes.txt; do [ -s "$tmp/ae/$f" ] || fail "train-direct lacks $f"; done
"$CLI" eval "$tmp/ae/head.safetensors" --data "$tmp/ae/val.safetensors" >"$tmp/eval" 2>&1 || fail "eval: $(cat "$tmp/eval")"
grep -q '"fusion": "bimodal-ae"' "$tmp/eval" || fail "eval does not name the bimodal-ae head: $(cat "$tmp/eval")"
"$CLI" fuse "$tmp/ae/head.safetensors" --data "$tmp/ae/val.safetensors" --out "$tmp/fused.safetensors" >/dev/null 2>&1 || fail "fuse"
"$CLI" inspect "$tmp/fused.safetensors" | grep -Eq '^fused +F32 +\[12, 16\]' || fail "fused shape: $("$CLI" inspect "$tmp/fused.safetensors")"
# embedding-file mode on the features just written
"$CLI" train-direct --train "$tmp/ae/train.safetensors" --out "$tmp/ae2.safetensors" --hidden 8 --epochs 2 --quiet || fail "train-direct --train"

# cross-modal transformer on the same features (classification + alignment), then eval
"$CLI" train-direct --model xmodal --records "$tmp/train.jsonl" --val "$tmp/val.jsonl" --out "$tmp/xm" \
    --hidden 16 --epochs 3 --quiet || fail "train-direct --model xmodal"
"$CLI" eval "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" >"$tmp/eval" 2>&1 || fail "eval xmodal: $(cat "$tmp/eval")"
grep -q '"fusion": "xmodal"' "$tmp/eval" || fail "eval does not name the xmodal head"
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --out "$tmp/attn.safetensors" >/dev/null 2>&1 || fail "attention"
"$CLI" inspect "$tmp/attn.safetensors" | grep -Eq '^attention +F32 +\[12, 16, 16\]' || fail "attention maps shape"
# a word is a token where its bag-of-words entry is >= 0.5: noise below that
# (here +0.3 on every entry, as eval's noise rows add) picks the same words
/usr/bin/python3 - "$tmp/xm/val.safetensors" "$tmp/xm/val_noisy.safetensors" <<'PY' || fail "writing the noisy copy"
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); body = bytearray(b[8 + n:])
a, z = h["text"]["data_offsets"]
v = struct.unpack("<%df" % ((z - a) // 4), body[a:z])
body[a:z] = struct.pack("<%df" % len(v), *[x + 0.3 for x in v])
open(sys.argv[2], "wb").write(b[:8 + n] + bytes(body))
PY
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val_noisy.safetensors" --out "$tmp/attn_noisy.safetensors" >/dev/null 2>&1 || fail "attention on noisy words"
/usr/bin/python3 - "$tmp/attn.safetensors" "$tmp/attn_noisy.safetensors" <<'PY' || fail "noise below 0.5 changed the word tokens"
import json, struct, sys
def words(f):
    b = open(f, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); a, z = h["words"]["data_offsets"]
    return b[8 + n + a:8 + n + z]
w0, w1 = words(sys.argv[1]), words(sys.argv[2])
sys.exit(0 if w0 == w1 and any(w0[i:i + 4] != b"\xff\xff\xff\xff" for i in range(0, len(w0), 4)) else 1)
PY
"$CLI" attention "$tmp/ae/head.safetensors" --data "$tmp/ae/val.safetensors" --out "$tmp/a2.safetensors" 2>"$tmp/err" >/dev/null
[ $? -eq 1 ] && grep -q "not an xmodal head" "$tmp/err" || fail "attention on a bimodal-ae head should fail clearly: $(cat "$tmp/err")"

[ $fails -eq 0 ] && echo "cli_direct: ok" || exit 1
