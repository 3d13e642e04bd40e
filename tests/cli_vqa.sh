#!/usr/bin/env bash
# CLI of `mmfuse vqa` on a synthetic (image, question) embedding file written here:
# the image embedding encodes colour, shape and count; the question embedding its
# type (colour / shape / count). The answer needs both. Target: held-out accuracy
# >= 0.9 (majority answer about 0.12); question removed: much lower. Bad input too.
set -u
CLI=${MMFUSE_CLI:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
PY=/usr/bin/python3
$PY -c "import numpy" 2>/dev/null || { echo "skipped: no numpy for the synthetic data"; exit 77; }
$PY - "$T" <<'EOF'
import json, struct, sys, numpy as np
out = sys.argv[1]
def write(path, tensors, meta):
    hdr, off, blobs = {"__metadata__": meta}, 0, []
    dt = {np.float32: "F32", np.uint8: "U8", np.int64: "I64"}
    for k, a in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        hdr[k] = {"dtype": dt[a.dtype.type], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h); [f.write(b) for b in blobs]
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
check '[ $? -eq 0 ]' "vqa train: $(tail -3 "$T/train.err")"
check 'grep -q "\"answers\": 10" "$T/train.out"' "ten answers: $(cat "$T/train.out")"
acc() { sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' "$1"; }
"$CLI" vqa eval "$T/vqa.safetensors" --data "$T/test.safetensors" --answers "$T/test.jsonl" > "$T/eval.json"
check '[ $? -eq 0 ]' "vqa eval"
a=$(acc "$T/eval.json")
"$CLI" vqa eval "$T/vqa.safetensors" --data "$T/test.safetensors" --answers "$T/test.jsonl" --drop question > "$T/eval_noq.json"
a_noq=$(acc "$T/eval_noq.json")
echo "cli vqa: accuracy $a, question removed $a_noq"
check 'awk -v a="$a" "BEGIN{exit !(a >= 0.9)}"' "held-out accuracy $a < 0.9"
check 'awk -v a="$a_noq" -v f="$a" "BEGIN{exit !(a < f - 0.3)}"' "question removed: $a_noq (full $a)"

out=$("$CLI" vqa eval "$T/vqa.safetensors" --data "$T/wide.safetensors" --answers "$T/test.jsonl" 2>&1)
check '[ $? -eq 1 ] && [[ "$out" == *"question"*"9"*"8"* ]]' "dimension mismatch: $out"
out=$("$CLI" vqa run "$T/vqa.safetensors" --question "what colour?" 2>&1)
check '[ $? -eq 1 ] && [[ "$out" == *"encoder"* ]]' "run without a recorded encoder: $out"
out=$("$CLI" vqa train --train "$T/train.safetensors" --answers "$T/train.jsonl" --top-k 1 --out "$T/x.safetensors" 2>&1)
check '[ $? -eq 2 ]' "--top-k 1: $out"
out=$("$CLI" vqa eval "$T/test.safetensors" --data "$T/test.safetensors" --answers "$T/test.jsonl" 2>&1)
check '[ $? -eq 1 ] && [[ "$out" == *"not a VQA model"* ]]' "not a model: $out"
exit $fail
