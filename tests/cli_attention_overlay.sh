#!/usr/bin/env bash
# mmfuse attention --overlay end to end: a tiny xmodal head trained on a
# synthetic record set (16x16 PNGs drawn with Pillow: a bright square top-left
# for class A, bottom-right for B; the middle word names the class), then
# overlays of the first rows. Checks: the head learned (accuracy with both
# modalities and with each alone, from `mmfuse eval`); one PNG per row named by
# id, its size from the documented layout and the number of words in the maps
# file; every heat panel differs from the plain picture, and a patch changes
# more under the word that attends to it more (same picture, same patch, two
# words); bad input exits 1 (unknown id, missing image: the file and the id
# named, no PNG written) or 2 (usage).
set -u
CLI=${MMFUSE_CLI:?MMFUSE_CLI is the mmfuse binary}
PY=/usr/bin/python3
if ! $PY -c "import PIL" 2>/dev/null; then echo "skip: $PY with Pillow is needed to draw and read the test images"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

$PY - "$tmp" <<'PYEOF'
import json, random, sys
from PIL import Image
d = sys.argv[1]
random.seed(5)
for split, n in (("train", 240), ("val", 40)):
    with open(f"{d}/{split}.jsonl", "w") as f:
        for i in range(n):
            c = i % 2
            im = Image.new("RGB", (16, 16), (80 + random.randrange(60), 80 + random.randrange(60), 80 + random.randrange(60)))
            o = 9 if c else 2
            for y in range(o, o + 5):
                for x in range(o, o + 5):
                    im.putpixel((x, y), (210, 210, 210))
            im.save(f"{d}/{split}_{i}.png")
            words = random.choice(["small", "red", "round"]), "beta" if c else "alpha", random.choice(["shiny", "old"])
            f.write(json.dumps({"id": f"{split}{i}", "image": f"{split}_{i}.png", "text": " ".join(words), "label": "B" if c else "A"}) + "\n")
PYEOF

"$CLI" train-direct --model xmodal --records "$tmp/train.jsonl" --featurize "$tmp/val.jsonl" --out "$tmp/xm" \
    --hidden 16 --epochs 20 --batch 32 --quiet || fail "train-direct --model xmodal"
# the head learned (maps of a head that learned nothing would say nothing): both
# streams carry the class on their own (chance 0.5)
"$CLI" eval "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --json >"$tmp/eval.json" 2>&1 || fail "eval: $(cat "$tmp/eval.json")"
$PY - "$tmp/eval.json" <<'PYEOF' || fail "xmodal accuracy: $(cat "$tmp/eval.json")"
import json, sys
ev = {e["setting"]: e["accuracy"] for e in map(json.loads, open(sys.argv[1]))}
print(f"xmodal val accuracy: both {ev['as given']:.3f}, pixels only {ev['without text']:.3f}, words only {ev['without image']:.3f} (chance 0.5)")
sys.exit(0 if ev["as given"] >= 0.9 and ev["without text"] >= 0.8 and ev["without image"] >= 0.8 else 1)
PYEOF
"$CLI" attention --help 2>&1 | grep -q -- "--overlay DIR" || fail "attention --help does not teach --overlay"

# the overlay of the first 4 rows at 64 px
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --out "$tmp/maps.safetensors" \
    --overlay "$tmp/ov" --records "$tmp/val.jsonl" --rows 4 --size 64 2>"$tmp/err" || fail "attention --overlay: $(cat "$tmp/err")"
for i in 0 1 2 3; do [ -s "$tmp/ov/$i.png" ] || fail "no overlay $i.png"; done
[ -e "$tmp/ov/4.png" ] && fail "--rows 4 wrote a fifth overlay"

$PY - "$tmp" <<'PYEOF' || fail "overlay pixels (see above)"
import json, struct, sys
from PIL import Image
d = sys.argv[1]
raw = open(f"{d}/maps.safetensors", "rb").read()
hl = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + hl])
def tensor(name, fmt):
    t = hdr[name]
    a, b = t["data_offsets"]
    return struct.unpack(f"<{(b - a) // struct.calcsize(fmt)}{fmt}", raw[8 + hl + a:8 + hl + b])
att, words = tensor("attention", "f"), tensor("words", "i")
S, gap, cap = 64, 2, 12   # --size 64: gap max(2, 64/32), caption row 12 * 1
pairs = agree = 0
bad = 0
for r in range(4):
    slots = [k for k in range(16) if words[r * 16 + k] >= 0]
    im = Image.open(f"{d}/ov/{r}.png").convert("RGB")
    want = ((len(slots) + 1) * S + len(slots) * gap, S + cap)
    if im.size != want:
        print(f"{r}.png is {im.size}, expected {want} for {len(slots)} words"); bad += 1; continue
    px = im.load()
    change = {}   # (panel, patch) -> mean |panel - picture| over the patch interior
    for j, k in enumerate(slots):
        x0 = (j + 1) * (S + gap)
        for q in range(16):
            gy, gx = divmod(q, 4)
            diff = n = 0
            for y in range(gy * 16 + 2, gy * 16 + 15):       # off the grid lines
                for x in range(gx * 16 + 2, gx * 16 + 15):
                    a, b = px[x, y], px[x0 + x, y]
                    diff += sum(abs(a[c] - b[c]) for c in range(3)); n += 3
            change[j, q] = diff / n
        mean = sum(change[j, q] for q in range(16)) / 16
        if mean < 2.0:
            print(f"row {r} word slot {k}: the heat panel hardly differs from the picture ({mean:.2f})"); bad += 1
    # the same patch of the same picture under two words: the word that attends
    # to it more (relative to its own peak) must change it more
    def scaled(k, q):   # the documented colour scale: (a - min) / (max - min) over the word's patches
        m = [att[(r * 16 + k) * 16 + p] for p in range(16)]
        return (m[q] - min(m)) / (max(m) - min(m))
    rel = {(j, q): scaled(k, q) for j, k in enumerate(slots) for q in range(16)}
    for q in range(16):
        for j1 in range(len(slots)):
            for j2 in range(len(slots)):
                if rel[j1, q] > rel[j2, q] + 0.05:
                    pairs += 1
                    agree += change[j1, q] > change[j2, q]
print(f"{pairs} (patch, word pair)s whose attention differs: the larger attention changed the picture more in {agree}")
if pairs < 20 or agree < 0.95 * pairs:
    print("the overlay does not follow the attention"); bad += 1
sys.exit(1 if bad else 0)
PYEOF

# usage errors exit 2
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --out "$tmp/m2.safetensors" --overlay "$tmp/o2" \
    >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--records" "$tmp/err" || fail "--overlay without --records: exit $rc, $(cat "$tmp/err")"
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --out "$tmp/m2.safetensors" --overlay "$tmp/o2" \
    --records "$tmp/val.jsonl" --size 8 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "--size 8 should exit 2, got $rc"

# unknown id: records with fewer lines than the data's ids -> exit 1 naming the file and the id, no PNG
head -n 2 "$tmp/val.jsonl" >"$tmp/short.jsonl"
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --out "$tmp/m3.safetensors" --overlay "$tmp/o3" \
    --records "$tmp/short.jsonl" --rows 4 >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "short.jsonl" "$tmp/err" && grep -q "id 2" "$tmp/err" || fail "unknown id: exit $rc, $(cat "$tmp/err")"
ls "$tmp/o3"/*.png >/dev/null 2>&1 && fail "unknown id: PNGs were written"

# missing image file: exit 1 naming the records file, the record's id and the image
mv "$tmp/val_1.png" "$tmp/val_1.gone"
"$CLI" attention "$tmp/xm/head.safetensors" --data "$tmp/xm/val.safetensors" --out "$tmp/m4.safetensors" --overlay "$tmp/o4" \
    --records "$tmp/val.jsonl" --rows 4 >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "val.jsonl" "$tmp/err" && grep -q '"val1"' "$tmp/err" && grep -q "val_1.png" "$tmp/err" \
    || fail "missing image: exit $rc, $(cat "$tmp/err")"
ls "$tmp/o4"/*.png >/dev/null 2>&1 && fail "missing image: PNGs were written"

[ $fails -eq 0 ] && echo "cli_attention_overlay: ok" || exit 1
