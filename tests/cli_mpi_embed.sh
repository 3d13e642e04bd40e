#!/usr/bin/env bash
# `mpirun -np 2 mmfuse embed` (text, tokens, images, records) writes the file one
# process writes (same header, rows within 1e-5), and a run whose rank 1 is killed
# with SIGKILL mid-embed resumes (--resume) from the rows its shards had finished.
. "$(dirname "$0")/lib_mpi.sh"
A=$SRC/tests/data/text/bert_st D=$SRC/tests/data/image
$PY - "$T" <<'PYEOF'
import random, sys
random.seed(7)
w = 'the a cat dog runs over lazy quick brown fox jumps hello world emoji face smiling'.split()
line = lambda: ' '.join(random.choice(w) for _ in range(random.randint(1, 9)))
open(sys.argv[1] + '/t.txt', 'w').write('\n'.join(line() for _ in range(151)) + '\n')
open(sys.argv[1] + '/big.txt', 'w').write('\n'.join(line() for _ in range(1200)) + '\n')
PYEOF

# text, pooled and token level: one process vs two ranks (odd N: unequal shards)
for pool in default none; do
  "$CLI" embed --model "$A" --text-file "$T/t.txt" --pooling $pool --out "$T/one.st" --threads 1 2>/dev/null
  "${MPIRUN[@]}" -np 2 "$CLI" embed --model "$A" --text-file "$T/t.txt" --pooling $pool --out "$T/two.st" --threads 1 --chunk 50 2>"$T/err"
  rc=$?; check '[ $rc -eq 0 ]' "mpirun embed --pooling $pool: $(tail -3 "$T/err")"
  check 'st_compare "$T/one.st" "$T/two.st" 1e-5' "text --pooling $pool: 2 ranks = 1 process"
  check '[ ! -e "$T/two.st.parts" ]' "the shard files are removed after the write"
done

# images, one of them unreadable (--skip-bad: "failed", failures in the metadata with global indices)
printf '%s\n' "$D/photo400x300.jpg" "$D/rgba8.png" "" "$D/pal4_trns.png" "$D/grey8.png" "$T/missing.png" "$D/exif6.jpg" > "$T/img.txt"
"$CLI" embed --model "$D/resnet_basic" --image-list "$T/img.txt" --skip-bad --out "$T/i1.st" --threads 1 2>/dev/null
"${MPIRUN[@]}" -np 2 "$CLI" embed --model "$D/resnet_basic" --image-list "$T/img.txt" --skip-bad --out "$T/i2.st" --threads 1 --chunk 2 2>"$T/err"
rc=$?; check '[ $rc -eq 0 ]' "mpirun embed images: $(tail -3 "$T/err")"
check 'st_compare "$T/i1.st" "$T/i2.st" 1e-5' "images with --skip-bad: 2 ranks = 1 process"
# without --skip-bad the bad image (in rank 1's shard) fails the whole job, and no output appears
"${MPIRUN[@]}" -np 2 "$CLI" embed --model "$D/resnet_basic" --image-list "$T/img.txt" --out "$T/bad.st" --threads 1 2>"$T/err"
rc=$?
check '[ $rc -eq 1 ] && [ ! -e "$T/bad.st" ] && grep -q "missing.png" "$T/err" && grep -q -- "--resume" "$T/err"' "a failing rank fails the job without output (rc $rc): $(tail -3 "$T/err")"

# records: text and image modalities, mask, labels, ids
cp "$D/photo400x300.jpg" "$D/rgba8.png" "$D/grey8.png" "$D/pal4_trns.png" "$T/"
{
  echo '{"id": "a", "text": "a cat", "image": "photo400x300.jpg", "label": 0}'
  echo '{"id": "b", "text": "a dog", "label": 1}'
  echo '{"id": "c", "image": "rgba8.png", "label": 1}'
  echo '{"id": "d", "text": "hello world", "image": "grey8.png", "label": 0}'
  echo '{"id": "e", "text": "quick brown fox", "image": "pal4_trns.png", "label": 2}'
} > "$T/rec.jsonl"
"$CLI" embed --records "$T/rec.jsonl" --text-model "$A" --image-model "$D/resnet_basic" --id-field id --out "$T/r1.st" --threads 1 2>/dev/null
"${MPIRUN[@]}" -np 2 "$CLI" embed --records "$T/rec.jsonl" --text-model "$A" --image-model "$D/resnet_basic" --id-field id --out "$T/r2.st" --threads 1 --chunk 1 2>"$T/err"
rc=$?; check '[ $rc -eq 0 ]' "mpirun embed --records: $(tail -3 "$T/err")"
check 'st_compare "$T/r1.st" "$T/r2.st" 1e-5' "records: 2 ranks = 1 process"

# kill rank 1 once its progress file shows two chunks, then resume
"$CLI" embed --model "$A" --text-file "$T/big.txt" --out "$T/b1.st" --threads 1 2>/dev/null
"${MPIRUN[@]}" -np 2 "$CLI" embed --model "$A" --text-file "$T/big.txt" --out "$T/b2.st" --threads 1 --chunk 4 2>"$T/err1" &
mp=$!
prog="$T/b2.st.parts/shard-00001-of-00002.json" killed=""
for _ in $(seq 1 400); do
  if [ -f "$prog" ] && $PY -c "import json,sys; sys.exit(json.load(open('$prog'))['done'] < 8)" 2>/dev/null; then
    for c in $(pgrep -P $mp); do
      if tr '\0' '\n' < /proc/$c/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then kill -9 $c && killed=$c; fi
    done
    break
  fi
  sleep 0.05
done
wait $mp; rc=$?
check '[ -n "$killed" ] && [ $rc -ne 0 ]' "rank 1 killed mid-embed (pid ${killed:-none}, mpirun rc $rc)"
check '[ ! -e "$T/b2.st" ]' "no output after the kill"
done1=$($PY -c "import json; print(json.load(open('$prog'))['done'])" 2>/dev/null || echo 0)
"${MPIRUN[@]}" -np 2 "$CLI" embed --model "$A" --text-file "$T/big.txt" --out "$T/b2.st" --threads 1 --chunk 4 --resume 2>"$T/err2"
rc=$?; check '[ $rc -eq 0 ]' "resumed run: $(tail -3 "$T/err2")"
check 'grep -q "rank 1: shard rows 600..1200: $done1 done by an earlier run, resuming" "$T/err2"' "rank 1 resumed after its $done1 rows: $(grep 'earlier run' "$T/err2")"
check 'st_compare "$T/b1.st" "$T/b2.st" 1e-5' "resumed output = 1 process"
# progress of another run is refused, not mixed in
mkdir -p "$T/x.st.parts" && echo '{"fingerprint": "0000000000000000", "ranks": 2, "lo": 0, "hi": 150, "done": 3}' > "$T/x.st.parts/shard-00000-of-00002.json"
"${MPIRUN[@]}" -np 2 "$CLI" embed --model "$A" --text-file "$T/t.txt" --out "$T/x.st" --threads 1 --resume 2>"$T/err"
rc=$?
check '[ $rc -eq 1 ] && grep -q "progress of another run" "$T/err" && [ ! -e "$T/x.st" ]' "foreign progress refused (rc $rc): $(tail -2 "$T/err")"
# a command that does not run distributed refuses instead of running twice
"${MPIRUN[@]}" -np 2 "$CLI" tokenize --model "$A" --text hi >/dev/null 2>"$T/err"
rc=$?; check '[ $rc -eq 2 ] && grep -q "does not run as 2 ranks" "$T/err"' "tokenize refuses 2 ranks"
echo "rank 1 killed after $done1 rows; $(grep "earlier run" "$T/err2" | tr "\n" " ")"
exit $fail
