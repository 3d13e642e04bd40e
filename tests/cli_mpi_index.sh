#!/usr/bin/env bash
# Sharded index: `mpirun -np 2 mmfuse index build` writes a shard per rank and a
# manifest; `mmfuse search MANIFEST` (in one process, and one rank per shard under
# mpirun) merges the shards' top k. Exact search returns what one index returns;
# HNSW recall@10 (against numpy's brute force) is within 0.01 of one index at the
# same ef. Item names and payloads come back from whichever shard holds the item.
. "$(dirname "$0")/lib_mpi.sh"
$PY - "$T" <<'PYEOF'
import json, sys
import numpy as np
from st_write import write_safetensors
rng = np.random.default_rng(11)
c = rng.normal(size=(40, 32))
x = (c[rng.integers(0, 40, 6001)] + 0.7 * rng.normal(size=(6001, 32))).astype(np.float32)
q = (c[rng.integers(0, 40, 200)] + 0.7 * rng.normal(size=(200, 32))).astype(np.float32)
ids = np.arange(6001, dtype=np.int64) * 7 + 5
write_safetensors(sys.argv[1] + '/x.st', {'embeddings': x, 'ids': ids})
write_safetensors(sys.argv[1] + '/q.st', {'embeddings': q})
xn = x / np.linalg.norm(x, axis=1, keepdims=True)
qn = q / np.linalg.norm(q, axis=1, keepdims=True)
truth = ids[np.argsort(-(qn @ xn.T), axis=1, kind='stable')[:, :10]]
json.dump(truth.tolist(), open(sys.argv[1] + '/truth.json', 'w'))
with open(sys.argv[1] + '/rec.jsonl', 'w') as f:
    for i in range(6001):
        f.write(json.dumps({'id': int(ids[i]), 'text': 'item %d' % i}) + '\n')
PYEOF
# compare A.jsonl B.jsonl MODE: "exact" (same ids, scores within 1e-5) or "recall" (B's recall >= A's - 0.01)
compare() {
  $PY - "$T/truth.json" "$@" <<'PYEOF'
import json, sys
truth = json.load(open(sys.argv[1]))
load = lambda p: [json.loads(l) for l in open(p)]
a, b, mode = load(sys.argv[2]), load(sys.argv[3]), sys.argv[4]
if len(a) != len(b) or len(a) != len(truth): sys.exit('%d vs %d queries' % (len(a), len(b)))
if mode == 'exact':
    for qa, qb in zip(a, b):
        ia, ib = [r['id'] for r in qa['results']], [r['id'] for r in qb['results']]
        if ia != ib: sys.exit('query %s: %s vs %s' % (qa['query'], ia, ib))
        if max(abs(r['score'] - s['score']) for r, s in zip(qa['results'], qb['results'])) > 1e-5: sys.exit('scores differ')
    sys.exit(0)
rec = lambda res: sum(len({r['id'] for r in q['results']} & set(t)) for q, t in zip(res, truth)) / (10.0 * len(truth))
ra, rb = rec(a), rec(b)
print('recall@10: one index %.4f, sharded %.4f' % (ra, rb))
if rb < ra - 0.01: sys.exit('sharded recall %.4f < one index %.4f - 0.01' % (rb, ra))
PYEOF
}
for kind in flat hnsw; do
  "$CLI" index build "$T/x.st" --type $kind --M 8 --ef-construction 40 --threads 1 --out "$T/one.$kind" 2>/dev/null
  "${MPIRUN[@]}" -np 2 "$CLI" index build "$T/x.st" --type $kind --M 8 --ef-construction 40 --threads 1 \
      --records "$T/rec.jsonl" --payload text --out "$T/sh.$kind" 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ] && [ -f "$T/sh.$kind.shard-00000-of-00002" ] && [ -f "$T/sh.$kind.shard-00001-of-00002" ]' "mpirun index build $kind: $(tail -2 "$T/err")"
  check 'grep -Eq "\"format\":[[:space:]]*\"mmfuse-index-shards\"" "$T/sh.$kind"' "$kind: manifest written"
  ex=""; [ $kind = flat ] && ex=--exact
  "$CLI" search "$T/one.$kind" --vector-file "$T/q.st" -k 10 --ef 12 $ex --threads 1 --json > "$T/one.$kind.jsonl" 2>/dev/null
  "$CLI" search "$T/sh.$kind" --vector-file "$T/q.st" -k 10 --ef 12 $ex --threads 1 --json > "$T/sh1.$kind.jsonl" 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ]' "search over the manifest in one process ($kind): $(tail -2 "$T/err")"
  "${MPIRUN[@]}" -np 2 "$CLI" search "$T/sh.$kind" --vector-file "$T/q.st" -k 10 --ef 12 $ex --threads 1 --json > "$T/sh2.$kind.jsonl" 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ]' "search with one rank per shard ($kind): $(tail -2 "$T/err")"
  mode=recall; [ $kind = flat ] && mode=exact
  check 'compare "$T/one.$kind.jsonl" "$T/sh1.$kind.jsonl" $mode' "$kind: sharded search in one process vs one index ($mode)"
  check 'compare "$T/one.$kind.jsonl" "$T/sh2.$kind.jsonl" $mode' "$kind: sharded search under mpirun vs one index ($mode)"
  check 'cmp -s <(sed "s/, \"name\"[^}]*//g" "$T/sh1.$kind.jsonl") <(sed "s/, \"name\"[^}]*//g" "$T/sh2.$kind.jsonl")' "$kind: both ways of searching the shards agree"
done
# HNSW at ef 12 must miss some neighbours, or the recall comparison proves nothing
check '! compare "$T/one.flat.jsonl" "$T/one.hnsw.jsonl" exact 2>/dev/null' "HNSW at ef 12 is approximate"
# names and payloads come back from both shards (rows 0..2999 in shard 0, 3000..6000 in shard 1)
check 'grep -q "\"name\": \"[0-9]*\", \"payload\": {\"text\":\"item [0-9]\{1,3\}\"}" "$T/sh2.flat.jsonl"' "an item of shard 0 with its name and payload"
check 'grep -q "\"name\": \"[0-9]*\", \"payload\": {\"text\":\"item [3-6][0-9][0-9][0-9]\"}" "$T/sh2.flat.jsonl"' "an item of shard 1 with its name and payload"
# more ranks than rows: an empty shard gives no results, not an error
$PY -c "
import sys; sys.path.insert(0, '$SRC/tools')
import numpy as np
from st_write import write_safetensors
write_safetensors('$T/one_row.st', {'embeddings': np.ones((1, 32), np.float32)})"
"${MPIRUN[@]}" -np 2 "$CLI" index build "$T/one_row.st" --type flat --threads 1 --out "$T/tiny" 2>/dev/null
out1=$("$CLI" search "$T/tiny" --vector-file "$T/q.st" -k 3 2>/dev/null | head -3)
"${MPIRUN[@]}" -np 2 "$CLI" search "$T/tiny" --vector-file "$T/q.st" -k 3 > "$T/tiny.out" 2>/dev/null
out2=$(head -3 "$T/tiny.out")
check '[[ "$out1" == *"1  id 0 "* && "$out1" == "$out2" ]]' "a 1-row index over 2 shards: $out1 / $out2"
# index info sums the shards; add and delete refuse a manifest (they change one file)
out=$("$CLI" index info "$T/sh.flat" --json)
check '[[ "$out" == *"\"count\": 6001"*"\"shards\": 2}"* ]]' "index info over the manifest: $out"
"$CLI" index delete "$T/sh.flat" --id 5 2>"$T/err"
rc=$?; check '[ $rc -eq 1 ] && grep -q "is a shard manifest" "$T/err"' "delete on a manifest refused (rc $rc)"
# one rank per shard: a plain index under 2 ranks is refused
"${MPIRUN[@]}" -np 2 "$CLI" search "$T/one.flat" --vector-file "$T/q.st" -k 3 > /dev/null 2>"$T/err"
rc=$?
check '[ $rc -eq 2 ] && grep -q "one rank per shard" "$T/err"' "2 ranks over a 1-shard index refused (rc $rc): $(grep error "$T/err")"
exit $fail
