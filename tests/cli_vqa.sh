#!/usr/bin/env bash
# CLI of `mmfuse vqa` on a synthetic (image, question) embedding file written here:
# the image embedding encodes colour, shape and count; the question embedding its
# type (colour / shape / count). The answer needs both. Target: held-out accuracy
# >= 0.9 (majority answer about 0.12); question removed: much lower. Bad input too.
. "${MMFUSE_SRC:?}/tests/lib_cli.sh"
need_numpy
$PY - "$T" <<'EOF'
import json, sys, numpy as np
from st_write import write_safetensors as write
out = sys.argv[1]
rng = np.random.default_rng(8)
Ri, Rq = rng.normal(size=(10, 16)), rng.normal(size=(3, 8))
names = [["red", "green", "blue", "yellow"], ["circle", "square", "triangle"], ["one", "two", "three"]]
for split, n in (("train", 1200), ("test", 300)):
    c, s, k, qt = rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(0, 3, n), rng.integers(0, 3, n)
    img = (Ri[c] + Ri[4 + s] + Ri[7 + k] + 0.2 * rng.normal(size=(n, 16))).astype(np.float32)
    q = (Rq[qt] + 0.2 * rng.normal(size=(n, 8))).astype(np.float32)
    write(f"{out}/{split}.safetensors", {"image": img, "question": q, "mask": np.ones((n, 2), np.uint8)},
          {"modalities": "image,question"})
    with open(f"{out}/{split}.jsonl", "w") as f:
        for i in range(n):
            a = names[qt[i]][(c, s, k)[qt[i]][i]]
            f.write(json.dumps({"question": ["what colour?", "what shape?", "how many?"][qt[i]], "answer": a.title() + "."}) + "\n")
    if split == "test":
        write(f"{out}/wide.safetensors", {"image": img[:4], "question": np.zeros((4, 9), np.float32), "mask": np.ones((4, 2), np.uint8)},
              {"modalities": "image,question"})
EOF
"$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --fusion mlb --hidden 64 --epochs 30 \
    --lr 0.005 --dropout 0 --seed 2 --out "$T/vqa.safetensors" > "$T/train.out" 2> "$T/train.err"
rc=$?; check '[ $rc -eq 0 ]' "vqa train: $(tail -3 "$T/train.err")"
check 'grep -q "\"answers\": 10" "$T/train.out"' "ten answers: $(cat "$T/train.out")"
acc() { sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' "$1"; }
"$CLI" vqa eval "$T/vqa.safetensors" --data "$T/test.safetensors" --answers "$T/test.jsonl" > "$T/eval.json"
rc=$?; check '[ $rc -eq 0 ]' "vqa eval"
a=$(acc "$T/eval.json")
"$CLI" vqa eval "$T/vqa.safetensors" --data "$T/test.safetensors" --answers "$T/test.jsonl" --drop question > "$T/eval_noq.json"
a_noq=$(acc "$T/eval_noq.json")
echo "cli vqa: accuracy $a, question removed $a_noq"
check 'awk -v a="$a" "BEGIN{exit !(a >= 0.9)}"' "held-out accuracy $a < 0.9"
check 'awk -v a="$a_noq" -v f="$a" "BEGIN{exit !(a < f - 0.3)}"' "question removed: $a_noq (full $a)"

out=$("$CLI" vqa eval "$T/vqa.safetensors" --data "$T/wide.safetensors" --answers "$T/test.jsonl" 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"question"*"9"*"8"* ]]' "dimension mismatch: $out"
out=$("$CLI" vqa run "$T/vqa.safetensors" --question "what colour?" 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"encoder"* ]]' "run without a recorded encoder: $out"
out=$("$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --top-k 1 --out "$T/x.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 2 ]' "--top-k 1: $out"
out=$("$CLI" vqa eval "$T/test.safetensors" --data "$T/test.safetensors" --answers "$T/test.jsonl" 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"not a VQA model"* ]]' "not a model: $out"
# the training options vqa shares with train (tools/cli_train_opts.c): per-modality
# dropout by name, --profile, and their refusals
"$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --epochs 2 --modality-dropout question=0.2 \
    --profile --out "$T/p.safetensors" > /dev/null 2> "$T/p.err"
rc=$?; check '[ $rc -eq 0 ] && grep -q "^profile: [0-9]* steps, ms per step" "$T/p.err"' "vqa train --profile: $(cat "$T/p.err")"
out=$("$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --modality-dropout audio=0.2 --out "$T/x.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 2 ] && [[ "$out" == *"no modality \"audio\""* ]]' "--modality-dropout audio=0.2: $out"
out=$("$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --precision fp64 --out "$T/x.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 2 ] && [[ "$out" == *"fp32 or bf16"* ]]' "--precision fp64: $out"
out=$("$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --seed -3 --out "$T/x.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 2 ] && [[ "$out" == *"non-negative integer"* ]]' "--seed -3: $out"
exit $fail
