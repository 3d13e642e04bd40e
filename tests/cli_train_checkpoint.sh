#!/usr/bin/env bash
# Checkpoints and restart (--checkpoint, --checkpoint-every, --resume). A run
# killed with SIGKILL right after a checkpoint write (MMFUSE_TEST_KILL_AFTER_CHECKPOINT=N:
# the process kills itself after its N-th write, so no timing is involved) and
# then resumed writes the very bytes an uninterrupted run without checkpoints
# writes: for `train` (a fusion head with dropout and modality dropout drawing
# from the generators, validation, patience; killed mid-epoch and at an epoch's
# end) and `train-encoder` (the text tower, whose train-accuracy counter is
# carried too: the resumed epoch's line matches). Damaged and foreign
# checkpoints are refused naming the file and what differs, and nothing is written.
. "$(dirname "$0")/lib_cli.sh"
need_numpy
$PY - "$T" <<'PYEOF'
import json, sys
import numpy as np
from st_write import write_safetensors as write
d = sys.argv[1]
rng = np.random.default_rng(7)
c1, c2 = rng.normal(size=(4, 16)), rng.normal(size=(4, 24))
def make(path, n):
    y = rng.integers(0, 4, n)
    t = (c1[y] + rng.normal(size=(n, 16))).astype(np.float32)
    i = (c2[y] + rng.normal(size=(n, 24))).astype(np.float32)
    mask = np.ones((n, 2), np.uint8)
    mask[rng.random(n) < 0.1, 0] = 0
    t[mask[:, 0] == 0] = 0
    write(path, {'text': t, 'image': i, 'mask': mask, 'labels': y.astype(np.int64)}, {'modalities': 'text,image'})
make(d + '/train.st', 300)
make(d + '/val.st', 80)
words = [w.split() for w in ("cat dog bird fish", "red blue green pink", "sun moon star sky")]
for name, n in (("rec.jsonl", 120), ("vrec.jsonl", 30)):
    with open(d + '/' + name, 'w') as f:
        for k in range(n):
            y = int(rng.integers(0, 3))
            text = " ".join(words[y][int(j)] for j in rng.integers(0, 4, int(rng.integers(2, 6))))
            f.write(json.dumps({"id": str(k), "text": text, "label": "c%d" % y}) + "\n")
PYEOF
CK="$T/ck.st"
# (the killed runs sit in { ...; } 2>/dev/null: bash's own "Killed" notice is not ours)
# 300 rows, batch 32: 10 steps per epoch
O=(--fusion gmu --hidden 16 --epochs 4 --batch 32 --threads 1 --seed 3 --modality-dropout 0.2 --patience 2 --quiet)
A=(train --train "$T/train.st" --val "$T/val.st" "${O[@]}")
"$CLI" "${A[@]}" --out "$T/ref.head" 2>"$T/err"
rc=$?; check '[ $rc -eq 0 ]' "train, uninterrupted: $(tail -2 "$T/err")"
# kill after the K-th write with --checkpoint-every E: where the resume starts
for case in "2 3 epoch_1_step_6" "2 7 epoch_2_step_4" "2 0 epoch_3_step_0"; do
  set -- $case
  k=$1 every=$2 at=${3//_/ }
  rm -f "$CK" "$T/k.head"
  { MMFUSE_TEST_KILL_AFTER_CHECKPOINT=$k "$CLI" "${A[@]}" --out "$T/k.head" --checkpoint "$CK" --checkpoint-every $every 2>"$T/err"; } 2>/dev/null
  rc=$?; check '[ $rc -eq 137 ] && [ -f "$CK" ] && [ ! -e "$T/k.head" ]' "train killed after checkpoint $k (every $every): rc $rc"
  "$CLI" "${A[@]}" --out "$T/k.head" --checkpoint "$CK" --checkpoint-every $every --resume 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ] && grep -q "^train: resumed from $CK at $at\$" "$T/err"' "train resumed at $at: rc $rc, $(tail -2 "$T/err")"
  check 'cmp -s "$T/ref.head" "$T/k.head"' "train killed after checkpoint $k (every $every) and resumed = uninterrupted, byte for byte"
done
# bf16 (AVX512-BF16 CPUs): on one thread AdamW's updates wait inside the next
# forward; a checkpoint applies them first, and the resumed run matches anyway
if "$CLI" info | grep -q "avx512_bf16=yes"; then
  F=(train --train "$T/train.st" --val "$T/val.st" --fusion mlp --hidden 32 --epochs 3 --batch 32 --threads 1 --precision bf16 --quiet)
  "$CLI" "${F[@]}" --out "$T/bf_ref.head" 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ]' "bf16 train: $(tail -1 "$T/err")"
  rm -f "$T/bf.st"
  { MMFUSE_TEST_KILL_AFTER_CHECKPOINT=2 "$CLI" "${F[@]}" --out "$T/bf.head" --checkpoint "$T/bf.st" --checkpoint-every 4 2>"$T/err"; } 2>/dev/null
  "$CLI" "${F[@]}" --out "$T/bf.head" --checkpoint "$T/bf.st" --checkpoint-every 4 --resume 2>"$T/err"
  check 'cmp -s "$T/bf_ref.head" "$T/bf.head"' "bf16 train killed after checkpoint 2 and resumed = uninterrupted: $(tail -1 "$T/err")"
else
  echo "note: no AVX512-BF16 here, the bf16 case is left out"
fi
# resuming a finished run writes the same head again without training
"$CLI" "${A[@]}" --out "$T/k2.head" --checkpoint "$CK" --checkpoint-every 7 --resume 2>"$T/err"
rc=$?; check '[ $rc -eq 0 ] && grep -q "resumed from $CK: training had finished" "$T/err" && cmp -s "$T/ref.head" "$T/k2.head"' \
  "resume of a finished run: rc $rc, $(tail -1 "$T/err")"
# the inputs may move, --threads and --out may change
cp "$T/train.st" "$T/moved.st"
"$CLI" train --train "$T/moved.st" --val "$T/val.st" "${O[@]}" --threads 2 --out "$T/k3.head" --checkpoint "$CK" --checkpoint-every 7 --resume 2>"$T/err"
rc=$?; check '[ $rc -eq 0 ]' "resume with a moved training file and --threads 2: $(tail -1 "$T/err")"

# refused: each names the file and the reason, exits 1, writes no head
refused() {   # refused NAME PATTERN ARGS...: the run fails with PATTERN in its message
  local name=$1 pat=$2; shift 2
  rm -f "$T/bad.head"
  "$CLI" "$@" 2>"$T/err"
  local rc=$?
  check '[ $rc -eq 1 ] && grep -q -- "$pat" "$T/err" && [ ! -e "$T/bad.head" ]' "$name refused (rc $rc): $(tail -1 "$T/err")"
}
B=("${A[@]}" --out "$T/bad.head")
refused "an existing checkpoint without --resume" "checkpoint $CK exists: resume from it, or remove it" "${B[@]}" --checkpoint "$CK"
refused "other options" "checkpoint $CK comes from another training setup: option --lr is \"0.002\" here, not set in the checkpoint" \
  "${B[@]}" --lr 0.002 --checkpoint "$CK" --resume
# (B has --hidden 16 already: a repeated option counts with all its values)
refused "another value" "option --hidden is \"16 | 24\" here, \"16\" in the checkpoint" "${B[@]}" --hidden 24 --checkpoint "$CK" --resume
refused "other data" "checkpoint $CK comes from another training setup: file --val is \"" \
  train --train "$T/train.st" --val "$T/train.st" "${O[@]}" --out "$T/bad.head" --checkpoint "$CK" --resume
$PY - "$CK" "$T/trunc.st" "$T/flip.st" <<'PYEOF'
import sys
b = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(b[:len(b) * 2 // 3])
f = bytearray(b)
f[-100] ^= 0x40   # a byte of tensor data: safetensors' own checks pass
open(sys.argv[3], 'wb').write(bytes(f))
PYEOF
refused "a truncated checkpoint" "checkpoint $T/trunc.st is damaged or not a checkpoint" "${B[@]}" --checkpoint "$T/trunc.st" --resume
refused "a flipped byte" "checkpoint $T/flip.st is damaged: its checksum does not match" "${B[@]}" --checkpoint "$T/flip.st" --resume
refused "a missing checkpoint" "checkpoint $T/none.st does not exist: nothing to resume" "${B[@]}" --checkpoint "$T/none.st" --resume
cp "$T/val.st" "$T/other.st"
refused "a file that is no checkpoint" "$T/other.st is not an mmfuse training checkpoint" "${B[@]}" --checkpoint "$T/other.st" --resume
: > "$T/empty.st"
refused "an empty file" "checkpoint $T/empty.st is damaged or not a checkpoint" "${B[@]}" --checkpoint "$T/empty.st" --resume
"$CLI" "${B[@]}" --resume 2>"$T/err"
rc=$?; check '[ $rc -eq 2 ] && grep -q "resume needs --checkpoint FILE" "$T/err"' "--resume without --checkpoint: usage (rc $rc)"
"$CLI" "${A[@]}" --out "$T/same.st" --checkpoint "$T/same.st" 2>"$T/err"
rc=$?; check '[ $rc -eq 2 ] && grep -q "checkpoint $T/same.st is also --out" "$T/err"' "--checkpoint = --out: usage (rc $rc)"

# train-encoder (text tower): 120 records, batch 16: 8 steps per epoch
E=(train-encoder --modality text --records "$T/rec.jsonl" --val "$T/vrec.jsonl" --epochs 3 --batch 16 --dim 16 --layers 1
   --heads 2 --max-length 12 --threads 1)
"$CLI" "${E[@]}" --out "$T/tt_ref" 2>"$T/tt_ref.log"
rc=$?; check '[ $rc -eq 0 ]' "train-encoder, uninterrupted: $(tail -1 "$T/tt_ref.log")"
rm -f "$CK"
{ MMFUSE_TEST_KILL_AFTER_CHECKPOINT=1 "$CLI" "${E[@]}" --out "$T/tt" --checkpoint "$CK" --checkpoint-every 5 2>"$T/err"; } 2>/dev/null
rc=$?; check '[ $rc -eq 137 ] && [ -f "$CK" ]' "train-encoder killed after its first checkpoint: rc $rc"
"$CLI" "${E[@]}" --out "$T/tt" --checkpoint "$CK" --checkpoint-every 5 --resume 2>"$T/tt.log"
rc=$?; check '[ $rc -eq 0 ] && grep -q "^train-encoder: resumed from $CK at epoch 1 step 5$" "$T/tt.log"' "train-encoder resumed: rc $rc, $(head -1 "$T/tt.log")"
for f in config.json model.safetensors vocab.txt tokenizer_config.json; do
  check 'cmp -s "$T/tt_ref/$f" "$T/tt/$f"' "train-encoder killed and resumed = uninterrupted: $f"
done
check '[ "$(grep -c "epoch" "$T/tt_ref.log")" -eq 3 ] && diff <(grep "epoch" "$T/tt_ref.log") <(grep "epoch" "$T/tt.log" | grep -v resumed)' "train-encoder: the same epoch lines (loss, train accuracy, val accuracy)"
refused "another trainer's checkpoint" "checkpoint $CK was written by another trainer (text tower)" "${B[@]}" --checkpoint "$CK" --resume
exit $fail
