#!/usr/bin/env bash
# `mmfuse data emoji --from-dir` on a tiny handmade package tree (no network):
# the join on the hexcode (FE0F dropped), what is left out (component group,
# missing art, skin tones, no group), the split rule (recomputed here with an
# independent FNV-1a in bash), relative image paths, idempotence, bad input.
set -euo pipefail
CLI=${MMFUSE_CLI:-build/mmfuse}
for t in node rsvg-convert; do
  command -v "$t" >/dev/null 2>&1 || { echo "skip: $t not installed (scripts/install-deps.sh demo)"; exit 77; }
done
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
F=$W/pkgs
G=$F/emoji-datasource-google T=$F/emoji-datasource-twitter E=$F/emojibase-data O=$F/openmoji
mkdir -p "$G/img/google/64" "$T/img/twitter/64" "$E/en" "$E/meta" "$O/color/svg"

# ---- handmade art: two PNGs (rendered from SVG), reused under many names ----
svg() { printf '<svg xmlns="http://www.w3.org/2000/svg" width="72" height="72" viewBox="0 0 72 72"><%s/></svg>\n' "$1"; }
svg 'circle cx="36" cy="36" r="30" fill="#f00"' >"$W/red.svg"
svg 'rect x="6" y="6" width="60" height="60" fill="#00f"' >"$W/blue.svg"
rsvg-convert -w 64 -h 64 -f png -o "$W/red.png" "$W/red.svg"
rsvg-convert -w 64 -h 64 -f png -o "$W/blue.png" "$W/blue.svg"

# concepts: ten in subgroup "face-smiling" (1F600..1F609), two in "flag" (one written with
# FE0F by emojibase and the vendors, without it by OpenMoji), plus four that
# must be left out: a component, one without Twitter art, a regional indicator
# (no group) and a skin-tone variant.
SA=(1F600 1F601 1F602 1F603 1F604 1F605 1F606 1F607 1F608 1F609)
eb='[{"label":"regional indicator A","hexcode":"1F1E6","emoji":"x","type":1}'
ds='['
for i in "${!SA[@]}"; do
  h=${SA[$i]}; lo=$(echo "$h" | tr A-F a-f)
  eb+=",{\"label\":\"face $i\",\"hexcode\":\"$h\",\"tags\":[\"t$i\",\"face\"],\"emoji\":\"e$i\",\"order\":$((i + 1)),\"group\":0,\"subgroup\":0}"
  ds+="{\"unified\":\"$h\",\"image\":\"$lo.png\",\"has_img_google\":true,\"has_img_twitter\":true},"
  cp "$W/red.png" "$G/img/google/64/$lo.png"; cp "$W/blue.png" "$T/img/twitter/64/$lo.png"
  svg 'circle cx="36" cy="36" r="20" fill="#0f0"' >"$O/color/svg/$h.svg"
done
eb+=',{"label":"red heart","hexcode":"2764-FE0F","tags":["heart","love"],"emoji":"h","order":20,"group":1,"subgroup":1,
       "skins":[{"label":"red heart: dark skin tone","hexcode":"2764-FE0F-1F3FF","group":1,"subgroup":1}]}'
eb+=',{"label":"star","hexcode":"2B50","tags":["star"],"emoji":"s","order":21,"group":1,"subgroup":1}'
eb+=',{"label":"light skin tone","hexcode":"1F3FB","tags":["skin"],"order":30,"group":2,"subgroup":2}'
eb+=',{"label":"no twitter","hexcode":"1F680","tags":["x"],"order":31,"group":1,"subgroup":1}]'
ds+='{"unified":"2764-FE0F","image":"2764-fe0f.png","has_img_google":true,"has_img_twitter":true,
      "skin_variations":{"1F3FF":{"unified":"2764-FE0F-1F3FF","image":"2764-fe0f-1f3ff.png","has_img_google":true,"has_img_twitter":true}}},
     {"unified":"2B50","image":"2b50.png","has_img_google":true,"has_img_twitter":true},
     {"unified":"1F3FB","image":"1f3fb.png","has_img_google":true,"has_img_twitter":true},
     {"unified":"1F680","image":"1f680.png","has_img_google":true,"has_img_twitter":false}]'
for h in 2764-fe0f 2764-fe0f-1f3ff 2b50 1f3fb 1f680; do cp "$W/red.png" "$G/img/google/64/$h.png"; cp "$W/blue.png" "$T/img/twitter/64/$h.png"; done
for h in 2764 2764-1F3FF 2B50 1F3FB 1F680; do svg 'rect x="20" y="20" width="30" height="30" fill="#0f0"' >"$O/color/svg/$h.svg"; done
echo "$eb" >"$E/en/data.json"
echo "$ds" >"$G/emoji.json"; echo "$ds" >"$T/emoji.json"
echo '{"groups":{"0":"smileys-emotion","1":"flags","2":"component"},"subgroups":{"0":"face-smiling","1":"flag","2":"skin-tone"},"hierarchy":{}}' >"$E/meta/groups.json"
for p in "$G" "$T" "$E" "$O"; do echo "{\"name\":\"$(basename "$p")\",\"version\":\"0.0.1\"}" >"$p/package.json"; done
echo "fixture licence" >"$O/LICENSE.txt"

# ---- build ----
OUT=$W/out
"$CLI" data emoji --from-dir "$F" --out "$OUT" 2>"$W/log1" || { cat "$W/log1"; fail "build failed"; }
grep -q "12 of 12 SVG to rasterise" "$W/log1" || { cat "$W/log1"; fail "expected 12 SVGs to rasterise on the first run"; }
for f in train val test openmoji; do [ -f "$OUT/$f.jsonl" ] || fail "$f.jsonl missing"; done
[ "$(wc -l <"$OUT/train.jsonl")" -eq 20 ] || fail "train: expected 20 records (8 + 2 concepts x google, twitter), got $(wc -l <"$OUT/train.jsonl")"
[ "$(wc -l <"$OUT/val.jsonl")" -eq 2 ] || fail "val: expected 2 records"
[ "$(wc -l <"$OUT/test.jsonl")" -eq 2 ] || fail "test: expected 2 records"
[ "$(wc -l <"$OUT/openmoji.jsonl")" -eq 12 ] || fail "openmoji: expected 12 records"

# the split rule, recomputed: FNV-1a 32 of the hexcode; in a subgroup of 10 the
# lowest hash goes to test, the next to val; a subgroup of 2 stays in train
fnv() { local s=$1 h=2166136261 i c; for ((i = 0; i < ${#s}; i++)); do printf -v c '%d' "'${s:i:1}"; h=$(( ((h ^ c) * 16777619) & 0xFFFFFFFF )); done; echo "$h"; }
mapfile -t ranked < <(for h in "${SA[@]}"; do echo "$(fnv "$h") $h"; done | sort -n | awk '{print $2}')
[ "$(fnv a)" = 3826002220 ] || fail "fnv self-check"   # published FNV-1a 32 test vector for "a": 0xe40c292c

# field-level checks with node (parsing only; the expectations are written here)
node - "$OUT" "${ranked[0]}" "${ranked[1]}" <<'EOF' || fail "record checks (see above)"
const fs = require('fs'), path = require('path');
const [out, testHex, valHex] = process.argv.slice(2);
const bad = (m) => { console.error('FAIL: ' + m); process.exit(1); };
const read = (f) => fs.readFileSync(path.join(out, f + '.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const want = ['id', 'hexcode', 'emoji', 'image', 'image_alpha', 'text', 'tags', 'group', 'subgroup', 'label', 'vendor', 'split', 'concept_split'];
const all = {};
for (const f of ['train', 'val', 'test', 'openmoji']) {
  all[f] = read(f);
  for (const r of all[f]) {
    for (const k of want) if (!(k in r)) bad(`${f}: ${r.id}: field ${k} missing`);
    if (r.split !== f) bad(`${f}: ${r.id}: split is ${r.split}`);
    if (f !== 'openmoji' && r.concept_split !== f) bad(`${f}: ${r.id}: concept_split ${r.concept_split}`);
    if (r.image !== `img/${r.vendor}/${r.hexcode}.png`) bad(`${f}: ${r.id}: image path ${r.image}`);
    if (r.image_alpha !== `img-alpha/${r.vendor}/${r.hexcode}.png`) bad(`${f}: ${r.id}: image_alpha path ${r.image_alpha}`);
    for (const k of ['image', 'image_alpha'])
      if (path.isAbsolute(r[k]) || !fs.existsSync(path.join(out, r[k]))) bad(`${f}: ${r.id}: ${k} not found relative to the JSONL file`);
    if (r.id !== `${r.vendor}/${r.hexcode}`) bad(`${f}: id ${r.id}`);
    if (!Array.isArray(r.tags)) bad(`${f}: ${r.id}: tags not an array`);
    if (r.label !== r.subgroup) bad(`${f}: ${r.id}: label should be the subgroup`);
    if (f === 'openmoji' ? r.vendor !== 'openmoji' : !['google', 'twitter'].includes(r.vendor)) bad(`${f}: ${r.id}: vendor ${r.vendor}`);
  }
}
const hexes = (f) => [...new Set(all[f].map((r) => r.hexcode))].sort().join(',');
if (hexes('test') !== testHex) bad(`test concepts ${hexes('test')}, expected ${testHex}`);
if (hexes('val') !== valHex) bad(`val concepts ${hexes('val')}, expected ${valHex}`);
const heart = all.train.find((r) => r.hexcode === '2764' && r.vendor === 'twitter');
if (!heart) bad('red heart (2764-FE0F joined with OpenMoji 2764) missing from train');
if (heart.text !== 'red heart' || heart.group !== 'flags' || heart.subgroup !== 'flag' || heart.tags.join() !== 'heart,love' || heart.emoji !== 'h')
  bad('red heart fields: ' + JSON.stringify(heart));
const om = all.openmoji.find((r) => r.hexcode === testHex);
if (!om || om.concept_split !== 'test') bad('openmoji record of the test concept should carry concept_split "test"');
const everything = Object.values(all).flat().map((r) => r.hexcode);
for (const h of ['1F1E6', '1F3FB', '1F680', '2764-1F3FF']) if (everything.includes(h)) bad(`${h} should be left out`);
const cls = JSON.parse(fs.readFileSync(path.join(out, 'classes.json'), 'utf8'));
if (cls.groups.join() !== 'smileys-emotion,flags' || cls.subgroups.join() !== 'face-smiling,flag') bad('classes.json: ' + JSON.stringify(cls));
// VQA answer classes: the training answers, sorted (colours: red google, blue twitter art)
if (cls.vqa_answers.join() !== [...cls.vqa_answers].sort().join()
    || !['blue', 'red', 'flag', 'flags', 'face-smiling', 'smileys-emotion', 'no'].every((x) => cls.vqa_answers.includes(x))) bad('classes.json vqa_answers: ' + cls.vqa_answers);
// lists/: line i = record i
const lines = (n) => fs.readFileSync(path.join(out, 'lists', n), 'utf8').split('\n').slice(0, -1);
for (const f of ['train', 'val', 'test', 'openmoji']) {
  const im = lines(`${f}.images.txt`), tx = lines(`${f}.texts.txt`), tg = lines(`${f}.tags.txt`), sg = lines(`${f}.subgroup_ids.txt`), gr = lines(`${f}.group_ids.txt`);
  if (im.length !== all[f].length) bad(`lists/${f}.images.txt: ${im.length} lines for ${all[f].length} records`);
  all[f].forEach((r, i) => {
    if (im[i] !== r.image || tx[i] !== r.text || tg[i] !== r.tags.join(' ') || cls.subgroups[+sg[i]] !== r.subgroup || cls.groups[+gr[i]] !== r.group)
      bad(`lists/${f}.*: line ${i + 1} does not match record ${r.id}`);
  });
}
// VQA: four questions per image, answers from the fixture's construction
const yesIf = { 'is this a flag?': (r) => r.group === 'flags', 'is this a face?': (r) => r.subgroup === 'face-smiling',
  'is this a smiley or an emotion?': (r) => r.group === 'smileys-emotion' };
const colourOf = { google: 'red', twitter: 'blue', openmoji: 'green' };   // red circle, blue square, green shapes
for (const f of ['train', 'val', 'test', 'openmoji']) {
  const v = fs.readFileSync(path.join(out, `vqa_${f}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  if (v.length !== 4 * all[f].length) bad(`vqa_${f}: ${v.length} questions for ${all[f].length} images`);
  let yes = 0, no = 0;
  for (const q of v) {
    const r = all[f].find((x) => `${x.id}#${q.qtype}` === q.id);
    if (!r) bad(`vqa_${f}: ${q.id} has no image record`);
    if (q.image !== r.image || q.split !== f || q.text !== q.question || q.label !== q.answer) bad(`vqa_${f}: ${q.id} fields: ${JSON.stringify(q)}`);
    const want = q.qtype === 'group' ? r.group : q.qtype === 'subgroup' ? r.subgroup : q.qtype === 'colour' ? colourOf[r.vendor]
      : (yesIf[q.question] || (() => false))(r) ? 'yes' : 'no';
    if (q.answer !== want) bad(`vqa_${f}: ${q.id}: "${q.question}" answered ${q.answer}, expected ${want}`);
    if (q.qtype === 'yesno') q.answer === 'yes' ? yes++ : no++;
  }
  const qi = lines(`vqa_${f}.questions.txt`), ai = lines(`vqa_${f}.answer_ids.txt`);
  v.forEach((q, i) => {
    if (qi[i] !== q.question || (cls.vqa_answers[+ai[i]] ?? null) !== (cls.vqa_answers.includes(q.answer) ? q.answer : null))
      bad(`lists/vqa_${f}.*: line ${i + 1} does not match ${q.id}`);
  });
  if (f === 'train' && (yes < 4 || no < 4)) bad(`vqa_train: yes/no unbalanced (${yes} yes, ${no} no)`);
}
EOF

# img-alpha/ holds the packages' bytes and the rasterised SVGs (64x64 RGBA);
# img/ the same flattened: 64x64 8-bit RGB, no alpha (pixels: test_png_flatten)
cmp -s "$OUT/img-alpha/google/2764.png" "$W/red.png" || fail "google image of 2764 is not the package's 2764-fe0f.png"
cmp -s "$OUT/img-alpha/twitter/1F600.png" "$W/blue.png" || fail "twitter image of 1F600 differs from the package's"
ihdr() { od -An -tx1 -j12 -N14 "$1" | tr -d ' \n'; }
[ "$(ihdr "$OUT/img-alpha/openmoji/2764.png")" = "4948445200000040000000400806" ] || fail "openmoji PNG header $(ihdr "$OUT/img-alpha/openmoji/2764.png"), expected IHDR 64x64 8-bit RGBA"
for v in google twitter openmoji; do
  [ "$(ihdr "$OUT/img/$v/1F605.png")" = "4948445200000040000000400802" ] || fail "flattened $v PNG header $(ihdr "$OUT/img/$v/1F605.png"), expected IHDR 64x64 8-bit RGB"
done
grep -q "CC BY-SA 4.0" "$OUT/LICENSES.md" || fail "LICENSES.md lacks the OpenMoji licence"
grep -q "Apple art" "$OUT/LICENSES.md" || fail "LICENSES.md should say Apple art is not used"
[ -f "$OUT/licenses/openmoji.txt" ] || fail "licence text not copied"
grep -q "| train.jsonl | 20 | 10 |" "$OUT/STATS.md" || fail "STATS.md train row"
grep -q "1 skin-tone variants" "$OUT/STATS.md" || fail "STATS.md skin-tone count"
[ -z "$(find "$OUT" -name '*.tmp.*')" ] || fail "temp files left behind"

# ---- re-run: nothing rasterised again, same records ----
cp "$OUT/train.jsonl" "$W/train.first"
m1=$(stat -c %y "$OUT/img-alpha/openmoji/1F600.png" "$OUT/img/google/1F600.png")
"$CLI" data emoji --from-dir "$F" --out "$OUT" 2>"$W/log2" || { cat "$W/log2"; fail "second build failed"; }
grep -q "0 of 12 SVG to rasterise" "$W/log2" || { cat "$W/log2"; fail "second run re-rasterised"; }
grep -q "0 PNG placed" "$W/log2" || { cat "$W/log2"; fail "second run re-copied vendor art"; }
grep -q "flattening onto white: 0 of 36" "$W/log2" || { cat "$W/log2"; fail "second run re-flattened"; }
m2=$(stat -c %y "$OUT/img-alpha/openmoji/1F600.png" "$OUT/img/google/1F600.png")
[ "$m1" = "$m2" ] || fail "images rewritten on the second run"
cmp -s "$OUT/train.jsonl" "$W/train.first" || fail "second run changed train.jsonl"

# ---- bad input: clear errors, named files, no half-written records ----
rm -rf "$W/bad"; cp -r "$F" "$W/bad"; rm -rf "$W/bad/openmoji"
set +e
"$CLI" data emoji --from-dir "$W/bad" --out "$W/out2" 2>"$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "bad/openmoji: missing" "$W/err" || { cat "$W/err"; fail "missing package: rc $rc"; }
cp -r "$F/openmoji" "$W/bad/"; echo '[{"label":' >"$W/bad/emojibase-data/en/data.json"
"$CLI" data emoji --from-dir "$W/bad" --out "$OUT" 2>"$W/err"; rc=$?
[ $rc -eq 1 ] && grep -q "emojibase-data/en/data.json: emojibase English data is not valid JSON" "$W/err" || { cat "$W/err"; fail "corrupt data.json: rc $rc"; }
cmp -s "$OUT/train.jsonl" "$W/train.first" || fail "a failed run touched the previous train.jsonl"
"$CLI" data emoji --jobs 0 --out "$W/out3" 2>"$W/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--jobs" "$W/err" || fail "--jobs 0: rc $rc"
"$CLI" data emoji --bogus 2>"$W/err"; rc=$?
[ $rc -eq 2 ] || fail "unknown option: rc $rc"
"$CLI" data pictures 2>"$W/err"; rc=$?
[ $rc -eq 2 ] && grep -q "unknown data set" "$W/err" || fail "unknown data set: rc $rc"
set -e
"$CLI" data --help | grep -q -- "--from-dir DIR" || fail "--help does not teach --from-dir"
echo "ok: emoji data set builder on a handmade fixture"
