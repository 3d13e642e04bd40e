#!/usr/bin/env bash
# `mpirun -np 2 mmfuse cluster` (rows sharded, k-means++ seeding from all rows,
# centroid sums and counts all-reduced) gives one process's clustering from the
# same seed: the same assignments and iterations, inertia and centroids within
# float rounding. Lloyd with k-means++ and random seeding, empty clusters
# (duplicated points, random seeds), and mini-batch.
. "$(dirname "$0")/lib_mpi.sh"
$PY - "$T" <<'PYEOF'
import sys
import numpy as np
from st_write import write_safetensors
rng = np.random.default_rng(3)
c = rng.normal(size=(12, 24)) * 4
x = (c[rng.integers(0, 12, 5001)] + rng.normal(size=(5001, 24))).astype(np.float32)
write_safetensors(sys.argv[1] + '/blobs.safetensors', {'embeddings': x, 'ids': np.arange(5001, dtype=np.int64) * 3})
u = rng.normal(size=(50, 8)).astype(np.float32)
write_safetensors(sys.argv[1] + '/dups.safetensors', {'embeddings': np.repeat(u, 20, axis=0)})
PYEOF
same() {   # same A.json B.json CENT_A CENT_B
  $PY - "$@" <<'PYEOF'
import json, struct, sys
import numpy as np
def read_safetensors(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], np.float32).reshape(v['shape'])
            for k, v in h.items() if k != '__metadata__'}
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ('k', 'n', 'dim', 'mode', 'iterations'):
    if a[k] != b[k]: sys.exit('%s: %s vs %s' % (k, a[k], b[k]))
if a['assignments'] != b['assignments']:
    d = sum(x != y for x, y in zip(a['assignments'], b['assignments']))
    sys.exit('%d assignments differ' % d)
if abs(a['inertia'] - b['inertia']) > 1e-6 * abs(a['inertia']):
    sys.exit('inertia %r vs %r' % (a['inertia'], b['inertia']))
ca, cb = read_safetensors(sys.argv[3])['centroids'], read_safetensors(sys.argv[4])['centroids']
if np.abs(ca - cb).max() > 1e-5: sys.exit('centroids differ by %g' % np.abs(ca - cb).max())
PYEOF
}
run_both() {   # name file args...
  local name=$1 f=$2; shift 2
  "$CLI" cluster "$T/$f" --threads 1 --out "$T/$name.1.json" --centroids "$T/$name.1.st" "$@" 2>/dev/null
  "${MPIRUN[@]}" -np 2 "$CLI" cluster "$T/$f" --threads 1 --out "$T/$name.2.json" --centroids "$T/$name.2.st" "$@" 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ]' "$name: mpirun cluster: $(tail -3 "$T/err")"
  check 'same "$T/$name.1.json" "$T/$name.2.json" "$T/$name.1.st" "$T/$name.2.st"' "$name: 2 ranks = 1 process"
}
run_both lloyd blobs.safetensors -k 12 --seed 5
run_both many blobs.safetensors -k 100 --seed 1 --iters 8          # k*40 < N: a sampled seeding
run_both random blobs.safetensors -k 12 --init random --seed 9
run_both empty dups.safetensors -k 45 --init random --seed 2 --iters 20
run_both minibatch blobs.safetensors -k 12 --mini-batch 256 --iters 30
# random seeds among duplicated points leave clusters empty: the re-seed path ran
check '$PY -c "import json,sys; a=json.load(open(\"$T/empty.1.json\")); sys.exit(len({r[\"cluster\"] for r in a[\"assignments\"]}) > 45)"' "empty-cluster case"
exit $fail
