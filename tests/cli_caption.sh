#!/usr/bin/env bash
# CLI of `mmfuse caption` and `mmfuse vqa`:
#  1. quality through the CLI on a synthetic embedding file written here (numpy):
#     image embedding = colour + shape, text embedding = place; caption "a red circle
#     in the park". Target: BLEU-4 >= 0.9 with both, lower but >= 0.55 with --drop text.
#  2. the whole path from records: PNGs drawn here (Pillow) + texts -> `mmfuse embed`
#     with the tiny random-weight test encoders -> caption train (encoders recorded)
#     -> caption run --image --text (the encoders are re-run) -> a caption; and
#     without --encoder at training, the folders the embedding file names.
#  3. bad input: dimension mismatch, missing captions, unknown prefix words.
. "${MMFUSE_SRC:?}/tests/lib_cli.sh"
need_numpy

$PY - "$T" <<'EOF'
import json, sys, numpy as np
from st_write import write_safetensors as write
out = sys.argv[1]
rng = np.random.default_rng(5)
Ri, Rt = rng.normal(size=(7, 16)), rng.normal(size=(4, 12))
colours, shapes, places = ["red", "green", "blue", "yellow"], ["circle", "square", "triangle"], ["park", "city", "sea", "desert"]
for split, n, first_id in (("train", 600, 1000), ("test", 200, 5000)):
    c, s, p = rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(0, 4, n)
    img = (Ri[c] + Ri[4 + s] + 0.2 * rng.normal(size=(n, 16))).astype(np.float32)
    txt = (Rt[p] + 0.2 * rng.normal(size=(n, 12))).astype(np.float32)
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    write(f"{out}/{split}.safetensors", {"image": img, "text": txt, "mask": np.ones((n, 2), np.uint8), "ids": ids},
          {"modalities": "image,text"})
    # captions in shuffled order, joined by id; one extra reference per sample for the test split
    with open(f"{out}/{split}.jsonl", "w") as f:
        for i in rng.permutation(n):
            f.write(json.dumps({"id": int(ids[i]), "caption": f"A {colours[c[i]]} {shapes[s[i]]} in the {places[p[i]]}."}) + "\n")
            if split == "test":
                f.write(json.dumps({"id": int(ids[i]), "caption": f"a {shapes[s[i]]} that is {colours[c[i]]}"}) + "\n")
    if split == "test":  # a wider image embedding for the dimension check
        write(f"{out}/wide.safetensors", {"image": np.zeros((3, 20), np.float32), "text": txt[:3], "mask": np.ones((3, 2), np.uint8)},
              {"modalities": "image,text"})
EOF

"$CLI" caption train --train "$T/train.safetensors" --captions "$T/train.jsonl" --id-field id \
    --fusion-hidden 32 --hidden 64 --embed 32 --epochs 25 --batch 32 --lr 0.005 --dropout 0 \
    --modality-dropout text=0.3 --seed 7 --out "$T/cap.safetensors" > "$T/train.out" 2> "$T/train.err"
rc=$?; check '[ $rc -eq 0 ]' "caption train: $(tail -3 "$T/train.err")"
check 'grep -q "\"cell\": \"gru\"" "$T/train.out"' "train prints the description: $(cat "$T/train.out")"
check 'grep -q "epoch 25/25" "$T/train.err"' "train reports epochs"

bleu4() { sed -n 's/.*"bleu4": \([0-9.]*\).*/\1/p' "$1"; }
"$CLI" caption eval "$T/cap.safetensors" --data "$T/test.safetensors" --captions "$T/test.jsonl" --id-field id \
    --out "$T/pred.jsonl" > "$T/eval.json"
rc=$?; check '[ $rc -eq 0 ]' "caption eval"
b_full=$(bleu4 "$T/eval.json")
"$CLI" caption eval "$T/cap.safetensors" --data "$T/test.safetensors" --captions "$T/test.jsonl" --id-field id \
    --drop text --beam 3 --length-penalty 0.6 > "$T/eval_notext.json"
b_notext=$(bleu4 "$T/eval_notext.json")
echo "cli: BLEU-4 with text $b_full, without $b_notext"
check 'awk -v b="$b_full" "BEGIN{exit !(b >= 0.9)}"' "BLEU-4 with both modalities $b_full < 0.9 ($(cat "$T/eval.json"))"
check 'awk -v b="$b_notext" -v f="$b_full" "BEGIN{exit !(b >= 0.55 && b < f)}"' "BLEU-4 without text $b_notext (full $b_full)"
check '[ $(wc -l < "$T/pred.jsonl") -eq 200 ]' "--out writes one line per row"
check 'head -1 "$T/pred.jsonl" | grep -q "^{\"row\": 0, \"id\": 5000, \"caption\": \"a [a-z]* [a-z]* in the [a-z]*\"}$"' "prediction line: $(head -1 "$T/pred.jsonl")"

# bad input
out=$("$CLI" caption eval "$T/cap.safetensors" --data "$T/wide.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"image"*"20"*"16"* ]]' "dimension mismatch: $out"
out=$("$CLI" caption eval "$T/cap.safetensors" --data "$T/test.safetensors" --drop audio 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"audio"* ]]' "--drop of an unknown modality: $out"
out=$("$CLI" caption eval "$T/cap.safetensors" --data "$T/test.safetensors" --prefix "a zebra" --max-len 3 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"vocabulary"*"zebra"* ]]' "unknown prefix word error: $out"
out=$("$CLI" caption train --train "$T/train.safetensors" --captions "$T/test.jsonl" --id-field id --out "$T/x.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"no record"* ]]' "captions that join no row: $out"
out=$("$CLI" caption run "$T/cap.safetensors" --image /nonexistent.png 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"encoder"* ]]' "run without a recorded encoder: $out"
out=$("$CLI" caption frobnicate 2>&1)
rc=$?; check '[ $rc -eq 2 ]' "unknown action: $out"
printf 'garbage' > "$T/bad.safetensors"
out=$("$CLI" caption eval "$T/bad.safetensors" --data "$T/test.safetensors" 2>&1)
rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"bad.safetensors"* ]]' "corrupt captioner file: $out"

# the whole path from records through the (tiny, random-weight) test encoders
TXT=$SRC/tests/data/text/bert_a IMG=$SRC/tests/data/image/resnet_basic
if [ -f "$TXT/config.json" ] && [ -f "$IMG/config.json" ] && $PY -c "import PIL" 2>/dev/null; then
  mkdir -p "$T/rec/img"
  $PY - "$T/rec" <<'EOF'
import json, sys, random
from PIL import Image, ImageDraw
d = sys.argv[1]; random.seed(3)
cols = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (40, 60, 220)}
with open(f"{d}/records.jsonl", "w") as f:
    for i in range(24):
        c = random.choice(list(cols)); s = random.choice(["circle", "square"])
        im = Image.new("RGB", (32, 32), "white"); dr = ImageDraw.Draw(im)
        (dr.ellipse if s == "circle" else dr.rectangle)([6, 6, 25, 25], fill=cols[c])
        im.save(f"{d}/img/{i}.png")
        f.write(json.dumps({"image": f"img/{i}.png", "text": f"hello {c} world", "caption": f"a {c} {s}"}) + "\n")
EOF
  "$CLI" embed --records "$T/rec/records.jsonl" --text-model "$TXT" --image-model "$IMG" --out "$T/rec/emb.safetensors" 2> "$T/embed.err"
  rc=$?; check '[ $rc -eq 0 ]' "embed --records: $(tail -2 "$T/embed.err")"
  "$CLI" caption train --train "$T/rec/emb.safetensors" --captions "$T/rec/records.jsonl" --epochs 40 --lr 0.01 --hidden 16 --embed 8 \
      --fusion gmu --fusion-hidden 8 --encoder text="$TXT" --encoder image="$IMG" --out "$T/rec/cap.safetensors" > /dev/null 2> "$T/rtrain.err"
  rc=$?; check '[ $rc -eq 0 ]' "caption train on embedded records: $(tail -2 "$T/rtrain.err")"
  out=$("$CLI" caption run "$T/rec/cap.safetensors" --image "$T/rec/img/0.png" --text "hello red world" --beam 2 2>&1)
  rc=$?; check '[ $rc -eq 0 ] && [[ "$out" =~ ^[a-z\ ]+$ ]]' "caption run through the encoders: \"$out\""
  out=$("$CLI" caption run "$T/rec/cap.safetensors" --image "$T/rec/img/0.png" 2>&1)
  rc=$?; check '[ $rc -eq 0 ] && [[ "$out" =~ ^[a-z\ ]*$ ]]' "caption run, image only: \"$out\""
  # no --encoder at training: the folders the embedding file names are recorded
  # (embedded here with paths relative to the source root, run from elsewhere)
  (cd "$SRC" && "$CLI" embed --records "$T/rec/records.jsonl" --text-model tests/data/text/bert_a \
      --image-model tests/data/image/resnet_basic --out "$T/rec/emb_rel.safetensors" 2>/dev/null)
  rc=$?; check '[ $rc -eq 0 ]' "embed --records with relative model folders"
  "$CLI" caption train --train "$T/rec/emb_rel.safetensors" --captions "$T/rec/records.jsonl" --epochs 40 --lr 0.01 --hidden 16 --embed 8 \
      --fusion gmu --fusion-hidden 8 --out "$T/rec/cap_auto.safetensors" > /dev/null 2> "$T/rtrain.err"
  rc=$?; check '[ $rc -eq 0 ]' "caption train without --encoder: $(tail -2 "$T/rtrain.err")"
  want=$("$CLI" caption run "$T/rec/cap.safetensors" --image "$T/rec/img/0.png" --text "hello red world" --beam 2 2>&1)
  out=$(cd / && "$CLI" caption run "$T/rec/cap_auto.safetensors" --image "$T/rec/img/0.png" --text "hello red world" --beam 2 2>&1)
  rc=$?; check '[ $rc -eq 0 ] && [ "$out" = "$want" ]' "caption run with the encoders the training file recorded: \"$out\", want \"$want\""
  out=$(cd / && "$CLI" caption run "$T/rec/cap_auto.safetensors" --image "$T/rec/img/0.png" --text "hello red world" --beam 2 --precision fp32 2>&1)
  rc=$?; check '[ $rc -eq 0 ] && [ "$out" = "$want" ]' "caption run --precision fp32 is the default path: \"$out\""
  out=$("$CLI" caption run "$T/rec/cap_auto.safetensors" --image "$T/rec/img/0.png" --precision fp64 2>&1)
  rc=$?; check '[ $rc -eq 2 ] && [[ "$out" == *"fp32, bf16, int8 or auto"* ]]' "caption run --precision fp64: $out"
  out=$("$CLI" caption run "$T/rec/caption_missing.safetensors" --image "$T/rec/img/0.png" 2>&1)
  rc=$?; check '[ $rc -eq 1 ] && [[ "$out" == *"caption_missing.safetensors"* ]]' "caption run on a missing model names it: $out"
  out=$("$CLI" caption run "$T/rec/cap.safetensors" --image "$T/rec/img/0.png" --encoder text="$SRC/tests/data/text/bert_st" --text "x" 2>&1)
  rc=$?; check '[ $rc -eq 1 ] || [[ "$out" =~ ^[a-z\ ]*$ ]]' "caption run with another text encoder: \"$out\""
else
  echo "note: test encoders or Pillow missing; records path not exercised"
fi
exit $fail
