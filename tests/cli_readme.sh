#!/usr/bin/env bash
# Every command line of README.md's "Command line" section runs as written, from
# a folder laid out as `make demo` leaves the source folder (build/mmfuse,
# data/emoji/, data/demo/):
#  - on a small copy built here: a synthetic emoji-like data set (Pillow), then
#    the commands scripts/demo.sh's stages run, at a tiny size (seconds);
#  - also on the real demo outputs, when `make demo` has run in this checkout.
# A line that exits non-zero fails the test with its stderr.
. "${MMFUSE_SRC:?}/tests/lib_cli.sh"
$PY -c "import PIL" 2>/dev/null || { echo "skipped: $PY with Pillow is needed to draw the small data set (scripts/install-deps.sh test)"; exit 77; }

# ---- the README's command lines (continuations joined)
cmds=()
while IFS= read -r line; do cmds+=("$line"); done < <(awk '
  /^## / { insec = ($0 == "## Command line") }
  insec && /^```/ { fence = !fence; next }
  insec && fence {
    if (sub(/\\$/, "")) { cur = cur $0; next }
    print cur $0; cur = ""
  }' "$SRC/README.md")
check '[ ${#cmds[@]} -ge 10 ]' "README Command line section: found ${#cmds[@]} command lines, expected at least 10"
for c in "${cmds[@]}"; do
  check '[[ "$c" == "build/mmfuse "* ]]' "README command line does not start with build/mmfuse: $c"
done

run_readme() {   # ROOT LABEL: each command line from ROOT (a fresh scratch folder per run)
  local root=$1 label=$2 c n=0
  for c in "${cmds[@]}"; do
    n=$((n + 1))
    if ! (cd "$root" && bash -c "$c") >"$T/out.$n" 2>"$T/err.$n"; then
      echo "FAILED ($label): README line $n: $c" >&2
      tail -n 5 "$T/err.$n" >&2
      fail=1
    fi
  done
  echo "$label: ${#cmds[@]} README command lines run"
}

# ---- a small copy of what `make demo` leaves
S=$T/small
mkdir -p "$S/build" "$S/data/emoji" "$S/data/demo"
ln -s "$CLI" "$S/build/mmfuse"
$PY - "$S/data/emoji" <<'PY'
import json, os, random, sys
from PIL import Image, ImageDraw
out = sys.argv[1]; random.seed(11)
groups = {"smileys-emotion": ["face-smiling", "face-hand"], "animals-nature": ["animal-mammal", "plant-flower"],
          "objects": ["light-video", "tool"]}
subgroups = [s for g in groups.values() for s in g]
group_of = {s: g for g, ss in groups.items() for s in ss}
colours = {"yellow": (240, 200, 30), "red": (220, 30, 30), "green": (40, 170, 60), "blue": (40, 70, 210)}
words = {"face-smiling": "grin smile happy", "face-hand": "hand face hush", "animal-mammal": "cat dog fur",
         "plant-flower": "rose petal bloom", "light-video": "lamp film light", "tool": "hammer saw nail"}
os.makedirs(f"{out}/img/google", exist_ok=True); os.makedirs(f"{out}/img/twitter", exist_ok=True)
os.makedirs(f"{out}/img/openmoji", exist_ok=True)
concepts = [(f"1F{0x600 + i:03X}", subgroups[i % 6], list(colours)[i % 4]) for i in range(72)]
def draw(path, sub, col, vendor):
    im = Image.new("RGB", (32, 32), "white"); d = ImageDraw.Draw(im)
    k = subgroups.index(sub); box = [5 + vendor, 5, 26, 26 - vendor]
    [d.ellipse, d.rectangle, d.polygon][k % 3](box if k % 3 < 2 else [(16, 4), (28, 28), (4, 28)], fill=colours[col])
    if k >= 3: d.line([4, 4, 28, 28], fill=(0, 0, 0), width=2)
    im.save(path)
recs = {"train": [], "val": [], "test": []}
for i, (hx, sub, col) in enumerate(concepts):
    split = "test" if i % 3 == 0 else ("val" if i % 6 == 1 else "train")
    name = f"{words[sub].split()[0]} {col} {i}"
    for v, vendor in enumerate(["google", "twitter"]):
        img = f"img/{vendor}/{hx}.png"; draw(f"{out}/{img}", sub, col, v)
        recs[split].append({"id": f"{vendor}/{hx}", "hexcode": hx, "image": img, "text": name, "tags": words[sub].split() + [col],
                            "group": group_of[sub], "subgroup": sub, "label": sub, "vendor": vendor, "colour": col})
    if split == "test":
        draw(f"{out}/img/openmoji/{hx}.png", sub, col, 2)
for split, rs in recs.items():
    with open(f"{out}/{split}.jsonl", "w") as f: f.writelines(json.dumps(r) + "\n" for r in rs)
    with open(f"{out}/vqa_{split}.jsonl", "w") as f:
        for r in rs:
            for q, a in (("what is the main colour of this emoji?", r["colour"]), ("which group does this emoji belong to?", r["group"])):
                f.write(json.dumps({"id": r["id"] + "#" + q[:5], "hexcode": r["hexcode"], "image": r["image"], "question": q,
                                    "answer": a, "text": q, "label": a}) + "\n")
with open(f"{out}/openmoji.jsonl", "w") as f:
    for r in recs["test"][::2]:
        f.write(json.dumps({"id": "openmoji/" + r["hexcode"], "hexcode": r["hexcode"], "image": f"img/openmoji/{r['hexcode']}.png",
                            "text": r["text"], "label": r["label"]}) + "\n")
with open(f"{out}/classes.json", "w") as f: json.dump({"groups": list(groups), "subgroups": subgroups}, f)
PY
check '[ -f "$S/data/emoji/img/google/1F600.png" ]' "small data set: no img/google/1F600.png"

# the commands of scripts/demo.sh's stages, at a tiny size (same output paths)
DATA=$S/data/emoji OUT=$S/data/demo MMF=$CLI
small_demo() {
  set -e
  mkdir -p "$OUT/records" "$OUT/encoders" "$OUT/embed" "$OUT/retrieval" "$OUT/caption" "$OUT/vqa"
  cd "$OUT/records"
  $PY -c '
import json, sys
seen, q = set(), []
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["hexcode"] not in seen: seen.add(r["hexcode"]); q.append({"id": r["hexcode"], "hexcode": r["hexcode"], "text": r["text"], "label": r["label"]})
open("queries.jsonl", "w").writelines(json.dumps(r) + "\n" for r in q)' "$DATA/test.jsonl"
  cd "$OUT/encoders"
  "$MMF" train-encoder --modality text --records "$DATA/train.jsonl" --val "$DATA/val.jsonl" --out text --epochs 2 --dim 32 --quiet
  "$MMF" train-encoder --modality image --records "$DATA/train.jsonl" --val "$DATA/val.jsonl" --out image --epochs 2 --dim 32 --image-size 16 --quiet
  TM=$OUT/encoders/text IM=$OUT/encoders/image
  cd "$OUT/embed"
  local common=(--id-field hexcode --classes "$DATA/classes.json" --classes-key subgroups)
  for s in train val test; do
    "$MMF" embed --records "$DATA/$s.jsonl" --text-model "$TM" --image-model "$IM" "${common[@]}" --out "$s.safetensors"
  done
  "$MMF" embed --records "$OUT/records/queries.jsonl" --text-model "$TM" "${common[@]}" --out queries.safetensors
  "$MMF" embed --records "$DATA/openmoji.jsonl" --image-model "$IM" "${common[@]}" --out gallery.safetensors
  cd "$OUT/retrieval"
  "$MMF" train --task align --train "$OUT/embed/train.safetensors" --val "$OUT/embed/val.safetensors" --epochs 3 --out align.head.safetensors
  "$MMF" fuse align.head.safetensors --data "$OUT/embed/queries.safetensors" --out queries.fused.safetensors
  "$MMF" fuse align.head.safetensors --data "$OUT/embed/gallery.safetensors" --out gallery.fused.safetensors
  mkdir -p "$OUT/contrastive" && cd "$OUT/contrastive"
  "$MMF" train-direct --model clip --records "$DATA/train.jsonl" --val "$DATA/val.jsonl" --out clip --epochs 2 \
    --dim 16 --text-dim 16 --image-dim 16 --image-size 16 --layers 1 --heads 2 --quiet
  "$MMF" embed --records "$DATA/openmoji.jsonl" --image-model "$OUT/contrastive/clip" --id-field hexcode --out gallery.safetensors
  "$MMF" index build gallery.safetensors --tensor image --type flat --records "$DATA/openmoji.jsonl" \
    --id-field hexcode --payload text,image,emoji --out gallery.mmfidx
  cd "$OUT/caption"
  for s in train val test; do
    "$MMF" embed --records "$DATA/$s.jsonl" --text-field tags --text-model "$TM" --image-model "$IM" --label-field none --out "$s.tags.safetensors"
  done
  "$MMF" caption train --train train.tags.safetensors --captions "$DATA/train.jsonl" --caption-field text \
    --val val.tags.safetensors --val-captions "$DATA/val.jsonl" --fusion concat --epochs 3 --out captioner.safetensors
  cd "$OUT/vqa"
  for s in train val test; do
    "$MMF" embed --records "$DATA/vqa_$s.jsonl" --text-field question --text-model "$TM" --image-model "$IM" --label-field none --out "vqa_$s.safetensors"
  done
  "$MMF" vqa train --train vqa_train.safetensors --answers "$DATA/vqa_train.jsonl" --val vqa_val.safetensors \
    --val-answers "$DATA/vqa_val.jsonl" --fusion mlb --top-k 200 --epochs 3 --encoder "text=$TM" --encoder "image=$IM" --out vqa.safetensors
}
if (small_demo) >"$T/small_demo.log" 2>&1; then
  run_readme "$S" "small copy"
else
  echo "FAILED: building the small copy of the demo outputs:" >&2; tail -n 8 "$T/small_demo.log" >&2; fail=1
fi

# ---- the real demo outputs, when this checkout has them (every stage ok)
if [ -d "$SRC/data/demo/status" ] && ! grep -L '"status": "ok"' "$SRC"/data/demo/status/*.json 2>/dev/null | grep -q .; then
  R=$T/real
  mkdir -p "$R/build" && ln -s "$CLI" "$R/build/mmfuse" && ln -s "$SRC/data" "$R/data"
  run_readme "$R" "make demo outputs"
else
  echo "note: no finished make demo in $SRC/data/demo: the README lines ran on the small copy only"
fi
exit $fail
