#!/usr/bin/env bash
# A data-parallel `mpirun -np 2 mmfuse train --checkpoint` whose rank 0 (the one
# that writes) dies by SIGKILL right after its second checkpoint, as a failed
# node would (MMFUSE_TEST_KILL_AFTER_CHECKPOINT: no timing), takes the job down;
# the same mpirun command with --resume then writes the head the uninterrupted
# 2-rank run writes, byte for byte. Dropout is on, so each rank's own dropout
# stream must come back too (rank 0 gathers them into the checkpoint). One
# process cannot resume a 2-rank checkpoint: the error says so. The same for
# `train-encoder` (the text tower): each rank's train-accuracy count over its
# slice is carried too, so the resumed epoch's line matches; and for
# `train-direct --model clip`, whose trainer keeps its own view generator,
# concept-aware epoch order and cursor, and trains three parameter sets.
. "$(dirname "$0")/lib_mpi.sh"
$PY - "$T" <<'PYEOF'
import sys
import numpy as np
from st_write import write_safetensors as write
rng = np.random.default_rng(11)
c1, c2 = rng.normal(size=(4, 16)), rng.normal(size=(4, 24))
def make(path, n):
    y = rng.integers(0, 4, n)
    t = (c1[y] + rng.normal(size=(n, 16))).astype(np.float32)
    i = (c2[y] + rng.normal(size=(n, 24))).astype(np.float32)
    write(path, {'text': t, 'image': i, 'mask': np.ones((n, 2), np.uint8), 'labels': y.astype(np.int64)}, {'modalities': 'text,image'})
make(sys.argv[1] + '/train.st', 301)
make(sys.argv[1] + '/val.st', 80)
import json
words = [w.split() for w in ("cat dog bird fish", "red blue green pink", "sun moon star sky")]
for name, n in (("rec.jsonl", 120), ("vrec.jsonl", 30)):
    with open(sys.argv[1] + '/' + name, 'w') as f:
        for k in range(n):
            y = int(rng.integers(0, 3))
            text = " ".join(words[y][int(j)] for j in rng.integers(0, 4, int(rng.integers(2, 6))))
            f.write(json.dumps({"id": str(k), "text": text, "label": "c%d" % y}) + "\n")
# pictures for clip: a bright square top-left or bottom-right on a dark ground (PNG by hand)
import struct, zlib
def png(path, px):
    raw = b''.join(b'\0' + b''.join(bytes(px(x, y)) for x in range(16)) for y in range(16))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16, 16, 8, 2, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
for split, n in (("ctrain", 24), ("cval", 8)):
    with open(sys.argv[1] + '/' + split + '.jsonl', 'w') as f:
        for k in range(n):
            o, bg = (9 if k % 2 else 2), tuple(int(v) for v in rng.integers(0, 60, 3))
            png("%s/%s_%d.png" % (sys.argv[1], split, k), lambda x, y: (250, 250, 250) if o <= x < o + 5 and o <= y < o + 5 else bg)
            f.write(json.dumps({"image": "%s_%d.png" % (split, k), "text": "beta" if k % 2 else "alpha", "hexcode": "h%d" % (k % 6)}) + "\n")
PYEOF
CK="$T/ck.st"
# kill_resume NAME CMD EVERY WHERE OUT ARGS...: mpirun -np 2 of ARGS uninterrupted
# (--out OUT.two, log NAME.two.log), then killed after rank 0's second checkpoint
# (one every EVERY steps) and resumed (--out OUT, log NAME.log), whose resume line
# must say "CMD: resumed from CK at WHERE"
kill_resume() {
  local name=$1 cmd=$2 every=$3 where=$4 out=$5
  shift 5
  rm -f "$CK"
  "${MPIRUN[@]}" -np 2 "$CLI" "$@" --out "$out.two" > "$T/$name.two.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$name: mpirun -np 2, uninterrupted: $(tail -2 "$T/$name.two.log")"
  MMFUSE_TEST_KILL_AFTER_CHECKPOINT=2 "${MPIRUN[@]}" -x MMFUSE_TEST_KILL_AFTER_CHECKPOINT -np 2 "$CLI" "$@" --out "$out" \
    --checkpoint "$CK" --checkpoint-every "$every" > "$T/kill.log" 2>&1
  rc=$?; check '[ $rc -ne 0 ] && [ -f "$CK" ]' "$name: rank 0 killed after its second checkpoint takes the job down (mpirun rc $rc)"
  [ "$name" = train ] && check '[ ! -e "$out" ]' "train: no head written by the killed job"
  "${MPIRUN[@]}" -np 2 "$CLI" "$@" --out "$out" --checkpoint "$CK" --checkpoint-every "$every" --resume > "$T/$name.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ] && grep -q "^$cmd: resumed from $CK at $where$" "$T/$name.log"' "$name resumed at $where: rc $rc, $(grep -m1 resumed "$T/$name.log")"
}

# 301 rows, batch 32: 10 steps per epoch (the last of 13 rows: 6 and 7 per rank)
A=(train --train "$T/train.st" --val "$T/val.st" --fusion gmu --hidden 16 --epochs 3 --batch 32 --dropout 0.2 --threads 1 --seed 4)
kill_resume train train 7 "epoch 2 step 4" "$T/k.head" "${A[@]}"
check '[ "$(grep -c resumed "$T/train.log")" -eq 1 ]' "rank 0 alone prints the resume line"
check 'cmp -s "$T/k.head.two" "$T/k.head"' "killed and resumed 2-rank run = uninterrupted 2-rank run, byte for byte"
# (the head is the best epoch's: the lines of the resumed epochs show the rest matched too)
check '[ "$(grep -c "^epoch *[23] " "$T/train.two.log")" -eq 2 ] && diff <(grep "^epoch *[23] " "$T/train.two.log") <(grep "^epoch *[23] " "$T/train.log")' "the same epoch lines (train loss, validation) for the resumed epochs"
"$CLI" "${A[@]}" --out "$T/one.head" --checkpoint "$CK" --checkpoint-every 7 --resume > "$T/err" 2>&1
rc=$?; check '[ $rc -eq 1 ] && grep -q "ranks is \"1\" here, \"2\" in the checkpoint" "$T/err" && [ ! -e "$T/one.head" ]' \
  "one process refuses a 2-rank checkpoint: $(tail -1 "$T/err")"

# train-encoder, text tower: 120 records, batch 16 (8 per rank): 8 steps per epoch
E=(train-encoder --modality text --records "$T/rec.jsonl" --val "$T/vrec.jsonl" --epochs 3 --batch 16 --dim 16 --layers 1 --heads 2
   --max-length 12 --threads 1)
kill_resume tt train-encoder 5 "epoch 2 step 2" "$T/tt" "${E[@]}"
check 'diff -r "$T/tt.two" "$T/tt" >/dev/null' "train-encoder: killed and resumed 2-rank run = uninterrupted, every file byte for byte"
check '[ "$(grep -c "epoch [23]/3" "$T/tt.two.log")" -eq 2 ] && diff <(grep "epoch [23]/3" "$T/tt.two.log") <(grep "epoch [23]/3" "$T/tt.log")' "train-encoder: the same lines for the resumed epochs (train accuracy summed over the ranks)"

# train-direct --model clip: 24 pairs, batch 8: 3 steps per epoch. No validation,
# so the last epoch's weights are written (with it, this tiny set keeps epoch 1's)
C=(train-direct --model clip --records "$T/ctrain.jsonl" --epochs 3 --batch 8 --dim 16 --text-dim 16
   --image-dim 16 --image-size 16 --layers 1 --heads 2 --threads 1)
kill_resume clip train-direct 2 "epoch 2 step 1" "$T/clip" "${C[@]}"
check 'diff -r "$T/clip.two" "$T/clip" >/dev/null' "clip: killed and resumed 2-rank run = uninterrupted, every file byte for byte"
check '[ "$(grep -c "epoch [23]/3" "$T/clip.two.log")" -eq 2 ] && diff <(grep "epoch [23]/3" "$T/clip.two.log") <(grep "epoch [23]/3" "$T/clip.log")' "clip: the same lines for the resumed epochs"
exit $fail
