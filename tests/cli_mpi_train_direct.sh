#!/usr/bin/env bash
# Data-parallel `mpirun -np 2 mmfuse train-encoder` and `train-direct`: each rank
# takes its slice of every batch, batchnorm normalises with the whole batch's
# statistics (all-reduced), the random choices (shifts, views, dropout masks, at the
# default dropout) are drawn for the whole batch as one process draws them, and the
# gradients are all-reduced; so the model equals the one
# a single process trains, within float rounding; contrastive losses all-gather the
# batch's embeddings. Batch 7 on 40 records: uneven
# slices (3 + 4) and a short last batch (5 = 2 + 3).
. "$(dirname "$0")/lib_mpi.sh"
$PY -c "import PIL" 2>/dev/null || { echo "skipped: $PY with Pillow is needed to draw the test images"; exit 77; }
$PY "$SRC/tests/ref/gen_direct_records.py" "$T" --hexcode
# run NAME OUTFILE ARGS...: the command as one process (one.NAME) and as 2 ranks (two.NAME)
run() {
  local name=$1 out=$2; shift 2
  "$CLI" "$@" --out "$T/one.$name" > "$T/one.$name.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$name: one process: $(tail -2 "$T/one.$name.log")"
  "${MPIRUN[@]}" -np 2 "$CLI" "$@" --out "$T/two.$name" > "$T/two.$name.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$name: mpirun -np 2: $(tail -2 "$T/two.$name.log")"
}
# the progress lines agree to their printed digits but the last (a sum in another order
# may round the other way); the paths written differ by name
same_progress() {
  diff <(grep "$2" "$T/one.$1.log" | sed "s/[0-9]\( \|$\)/\1/g") <(grep "$2" "$T/two.$1.log" | sed "s/[0-9]\( \|$\)/\1/g")
}
# Tolerances: the two runs differ by the order of float sums (batchnorm statistics
# and gradients over 3 + 4 samples against 7, GEMMs of other shapes); measured at
# most 1.5e-6 (CNN), 1e-7 (text, dropout 0.1), 5e-8 (autoencoder). AdamW moves a weight by
# about lr = 2e-3 per step, so a wrong share, per-slice batchnorm statistics or
# per-rank draws move weights by 1e-3 or more: the check below shows that one
# process on half the batch lands that far away.
args=(train-encoder --modality image --records "$T/train.jsonl" --val "$T/val.jsonl" --image-size 16 --dim 16 --epochs 3 --batch 7 --threads 1)
run cnn model.safetensors "${args[@]}"
check 'st_compare "$T/one.cnn/model.safetensors" "$T/two.cnn/model.safetensors" 2e-5' "image tower: 2 ranks = 1 process (weights and running statistics within 2e-5)"
check 'same_progress cnn "epoch"' "image tower: the same progress lines"
"$CLI" "${args[@]}" --batch 4 --out "$T/half.cnn" > /dev/null 2>&1
check '! st_compare "$T/one.cnn/model.safetensors" "$T/half.cnn/model.safetensors" 1e-3 2>/dev/null' "image tower: half the batch should differ by more than 1e-3"

run txt model.safetensors train-encoder --modality text --records "$T/train.jsonl" --val "$T/val.jsonl" --dim 16 --heads 2 --layers 1 \
    --epochs 3 --batch 7 --threads 1
check 'st_compare "$T/one.txt/model.safetensors" "$T/two.txt/model.safetensors" 2e-5' "text tower: 2 ranks = 1 process (within 2e-5)"
check 'same_progress txt "epoch"' "text tower: the same progress lines"
check 'cmp -s "$T/one.txt/vocab.txt" "$T/two.txt/vocab.txt"' "text tower: the same vocabulary"

run ae head.safetensors train-direct --model bimodal-ae --records "$T/train.jsonl" --val "$T/val.jsonl" --hidden 16 --epochs 5 \
    --probe-epochs 10 --batch 7 --threads 1
check 'st_compare "$T/one.ae/head.safetensors" "$T/two.ae/head.safetensors" 2e-5' "bimodal-ae: 2 ranks = 1 process (within 2e-5)"
check 'same_progress ae "epoch"' "bimodal-ae: the same progress lines"
check '[ "$(grep -c "features of" "$T/two.ae.log")" -eq 2 ]' "train-direct --records: rank 0 alone featurises (2 lines): $(grep -c "features of" "$T/two.ae.log")"

# contrastive: each rank embeds its slice, the embeddings are all-gathered and each rank's
# loss is its own rows' InfoNCE against the whole batch (batchnorm synchronised too); the
# views (crops, jitter, tag subsets) and dropout masks are drawn for the whole batch.
# Measured: 1e-6.
run clip model.safetensors train-direct --model clip --records "$T/train.jsonl" --val "$T/val.jsonl" --dim 8 --text-dim 16 \
    --image-dim 8 --heads 2 --layers 1 --image-size 16 --epochs 3 --batch 7 --threads 1
for f in model text/model vision/model; do
  check 'st_compare "$T/one.clip/$f.safetensors" "$T/two.clip/$f.safetensors" 2e-5' "clip: 2 ranks = 1 process ($f within 2e-5)"
done
check 'same_progress clip "epoch"' "clip: the same progress lines"

# xmodal: classification plus its InfoNCE alignment term (over the gathered rows when the
# whole batch has both streams). Its attention key biases get no gradient in exact
# arithmetic (softmax ignores a shift shared by all keys), so AdamW turns rounding noise
# into steps there (measured 1.8e-4); they are left out, the rest is within 4.7e-6.
run xm head.safetensors train-direct --model xmodal --records "$T/train.jsonl" --val "$T/val.jsonl" --hidden 16 --epochs 3 \
    --batch 7 --threads 1
check 'st_compare "$T/one.xm/head.safetensors" "$T/two.xm/head.safetensors" 5e-5 "\\.k\\.b$"' "xmodal: 2 ranks = 1 process (within 5e-5 but the key biases)"
check 'same_progress xm "epoch"' "xmodal: the same progress lines"

# failures are everyone's: a missing records file ends both ranks with exit 1
"${MPIRUN[@]}" -np 2 "$CLI" train-encoder --modality image --records "$T/nope.jsonl" --out "$T/x" > "$T/err" 2>&1
rc=$?; check '[ $rc -eq 1 ] && grep -q "nope.jsonl" "$T/err" && [ ! -e "$T/x/model.safetensors" ]' "missing records under 2 ranks: exit $rc, $(head -2 "$T/err")"
exit $fail
