#!/usr/bin/env bash
# What the demo driver relies on beyond each command's own tests: embedding
# files from `embed --records` with one modality train the unimodal baseline
# heads (concat/mlp take one modality; the other operators refuse it, naming
# their range), and `eval --predictions` writes one row per sample with the
# true label, the argmax and the top 5 (checked against the eval accuracy).
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
command -v node >/dev/null 2>&1 || { echo "skipped: node is not installed (scripts/install-deps.sh demo)"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
TXT=$SRC/tests/data/text/bert_st IMG=$SRC/tests/data/image
words=(red green blue cyan)
: >"$T/r.jsonl"
for i in $(seq 0 39); do
  c=$((i % 4)); png=$([ $((i % 2)) = 0 ] && echo rgb8.png || echo rgba8.png)
  printf '{"text":"a %s thing number %d","image":"%s/%s","label":%d}\n' "${words[$c]}" "$i" "$IMG" "$png" "$c" >>"$T/r.jsonl"
done
check '"$CLI" embed --records "$T/r.jsonl" --text-model "$TXT" --out "$T/text.safetensors" 2>/dev/null' "embed text only"
check '"$CLI" embed --records "$T/r.jsonl" --text-model "$TXT" --image-model "$IMG/resnet_basic" --out "$T/both.safetensors" 2>/dev/null' "embed both"
check '"$CLI" train --train "$T/text.safetensors" --fusion mlp --epochs 30 --lr 0.01 --quiet --out "$T/t.head" >/dev/null 2>&1' "mlp trains on one modality"
check '"$CLI" train --train "$T/text.safetensors" --fusion concat --epochs 2 --quiet --out "$T/c.head" >/dev/null 2>&1' "concat trains on one modality"
"$CLI" train --train "$T/text.safetensors" --fusion gmu --epochs 2 --quiet --out "$T/g.head" >/dev/null 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "gmu takes 2..8 modalities" "$T/err" && [ ! -e "$T/g.head" ]' "gmu refuses one modality (rc $rc): $(cat "$T/err")"
"$CLI" train --train "$T/text.safetensors" --task align --epochs 2 --quiet --out "$T/a.head" >/dev/null 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ] && [ ! -e "$T/a.head" ]' "align refuses one modality (rc $rc)"
# the unimodal head evaluates on a file that also holds the other modality
out=$("$CLI" eval "$T/t.head" --data "$T/both.safetensors" --json --no-table --predictions "$T/p.json" 2>/dev/null)
check '[ -s "$T/p.json" ]' "predictions written"
check 'node -e "
  const p = JSON.parse(require(\"fs\").readFileSync(process.argv[1], \"utf8\")), r = JSON.parse(process.argv[2]);
  if (p.n !== 40 || p.rows.length !== 40 || p.classes !== 4) throw new Error(\"shape\");
  let hit = 0;
  p.rows.forEach((x, i) => { if (x.label !== i % 4 || x.top5[0] !== x.pred || x.top5.length !== 4 || new Set(x.top5).size !== 4) throw new Error(\"row \" + i); hit += x.pred === x.label; });
  if (Math.abs(hit / 40 - r.accuracy) > 1e-6) throw new Error(\"accuracy \" + hit / 40 + \" vs \" + r.accuracy);
" "$T/p.json" "$out"' "predictions agree with the labels, top-5 and the reported accuracy ($out)"
"$CLI" eval "$T/t.head" --data "$T/both.safetensors" --predictions "$T/nope/p.json" --no-table >/dev/null 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ]' "unwritable --predictions path fails (rc $rc)"
exit $fail
