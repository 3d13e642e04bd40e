#!/usr/bin/env bash
# Data-parallel `mpirun -np 2 mmfuse train`: each rank takes half of every batch
# and the gradients are all-reduced, so the head equals the one a single process
# trains on the same batches (weights within float rounding of the summed
# gradients; the same validation scores, so the same epoch is kept). Several
# operators, absent modalities, a last batch of another size, a validation set.
. "$(dirname "$0")/lib_mpi.sh"
$PY - "$T" <<'PYEOF'
import sys
import numpy as np
from st_write import write_safetensors as write
rng = np.random.default_rng(5)
def make(path, n):
    y = rng.integers(0, 4, n)
    c1, c2 = rng.normal(size=(4, 16)), rng.normal(size=(4, 24))
    t = (c1[y] + rng.normal(size=(n, 16))).astype(np.float32)
    i = (c2[y] + rng.normal(size=(n, 24))).astype(np.float32)
    mask = np.ones((n, 2), np.uint8)
    mask[rng.random(n) < 0.15, 0] = 0
    mask[rng.random(n) < 0.15, 1] = 0
    mask[mask.sum(1) == 0, 1] = 1
    t[mask[:, 0] == 0] = 0
    i[mask[:, 1] == 0] = 0
    write(path, {'text': t, 'image': i, 'mask': mask, 'labels': y.astype(np.int64)}, {'modalities': 'text,image'})
make(sys.argv[1] + '/train.st', 601)
make(sys.argv[1] + '/val.st', 150)
PYEOF
# tolerance: AdamW moves a weight by about lr x sign(gradient) early on, so a weight
# whose gradient is near zero can move differently when the summation order of its
# gradient changes; the attention operator has such weights (measured: 1.2e-4 after
# 40 steps at lr 1e-3, against 2e-6 for concat and gmu). A wrong share or a lost
# rank moves the weights by O(lr x steps) = 4e-2 and changes the validation lines.
for ft in concat:2e-5 gmu:2e-5 transformer:5e-4; do
  fusion=${ft%%:*} tol=${ft#*:}
  args=(--train "$T/train.st" --val "$T/val.st" --fusion $fusion --hidden 32 --epochs 4 --batch 64 --dropout 0 --threads 1 --seed 3)
  "$CLI" train "${args[@]}" --out "$T/one.$fusion" > "$T/one.$fusion.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$fusion: one process: $(tail -2 "$T/one.$fusion.log")"
  "${MPIRUN[@]}" -np 2 "$CLI" train "${args[@]}" --out "$T/two.$fusion" > "$T/two.$fusion.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$fusion: mpirun -np 2 train: $(tail -2 "$T/two.$fusion.log")"
  check 'st_compare "$T/one.$fusion" "$T/two.$fusion" $tol' "$fusion: 2 ranks = 1 process (head weights within $tol)"
  # the epoch lines (train loss, val loss, accuracy, F1) agree to their printed digits but the last
  check 'diff <(grep "^epoch" "$T/one.$fusion.log" | sed "s/[0-9] / /g") <(grep "^epoch" "$T/two.$fusion.log" | sed "s/[0-9] / /g")' "$fusion: same progress lines"
done
# align's contrastive loss couples the batch: the embeddings are all-gathered, each rank's
# loss is its rows' InfoNCE against the whole batch. --modality-dropout: the drops are
# drawn for the whole batch on every rank, so they are one process's. xmodal: its InfoNCE
# alignment term is over the gathered batch (rows where both modalities are present, as
# align's). Dropout (0.1, the default) draws the whole batch's masks on every rank.
# Measured: align 3e-8, modality dropout 4e-6; xmodal's attention key biases
# get no gradient in exact arithmetic (softmax ignores a shift shared by all keys), so
# AdamW steps on rounding noise there (3.5e-4): left out, the rest within 1.2e-7.
$PY - "$T" <<'PYEOF'
import sys
import numpy as np
from st_write import write_safetensors as write
rng = np.random.default_rng(7)
def make(path, n):
    y = rng.integers(0, 4, n)
    c1, c2 = rng.normal(size=(4, 16)), rng.normal(size=(4, 24))
    t = (c1[y] + rng.normal(size=(n, 16))).astype(np.float32)
    i = (c2[y] + rng.normal(size=(n, 24))).astype(np.float32)
    write(path, {'text': t, 'image': i, 'mask': np.ones((n, 2), np.uint8), 'labels': y.astype(np.int64)}, {'modalities': 'text,image'})
make(sys.argv[1] + '/both.st', 203)
make(sys.argv[1] + '/bothval.st', 60)
PYEOF
for case in "align:--task align:2e-5:" "drop:--modality-dropout 0.3:2e-5:" "xmodal:--fusion xmodal --hidden 16 --heads 2:5e-5:\\.k\\.b$"; do
  IFS=: read -r name opts tol skip <<< "$case"
  args=(--train "$T/both.st" --val "$T/bothval.st" $opts --epochs 3 --batch 32 --threads 1 --seed 3)
  "$CLI" train "${args[@]}" --out "$T/one.$name" > "$T/one.$name.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$name: one process: $(tail -2 "$T/one.$name.log")"
  "${MPIRUN[@]}" -np 2 "$CLI" train "${args[@]}" --out "$T/two.$name" > "$T/two.$name.log" 2>&1
  rc=$?; check '[ $rc -eq 0 ]' "$name: mpirun -np 2 train: $(tail -2 "$T/two.$name.log")"
  check 'st_compare "$T/one.$name" "$T/two.$name" $tol "$skip"' "$name: 2 ranks = 1 process (within $tol${skip:+, but $skip})"
  check 'diff <(grep "^epoch" "$T/one.$name.log" | sed "s/[0-9] / /g") <(grep "^epoch" "$T/two.$name.log" | sed "s/[0-9] / /g")' "$name: same progress lines"
done
# a contrastive step needs every rank in it: a batch of 1 over 2 ranks is refused on both, no head
"${MPIRUN[@]}" -np 2 "$CLI" train --train "$T/both.st" --task align --batch 1 --epochs 1 --threads 1 --out "$T/a1.head" > "$T/err" 2>&1
rc=$?; check '[ $rc -eq 1 ] && [ "$(grep -c "fewer samples than the 2 ranks" "$T/err")" -eq 2 ] && [ ! -e "$T/a1.head" ]' "align, batch 1, 2 ranks: refused: $(head -1 "$T/err")"
exit $fail
