// VQA records for the emoji data set, generated from the metadata and the
// pixels (used by scripts/emoji-join.js). Four questions per image:
//   group     "which group does this emoji belong to?"      -> group name (9)
//   subgroup  "what kind of emoji is this?"                  -> subgroup name (98)
//   yesno     "is this a flag?", "is this a face?", ...       -> yes / no, balanced
//             overall and per question
//   colour    "what is the main colour of this emoji?"       -> a colour word, from
//             this image's own pixels, so Google and Twitter art of one concept
//             may differ (they agree on 59% of concepts): a question only the
//             image answers.
// Every choice is deterministic (a hash of the record id, then a greedy
// balance), so rebuilding gives the same set.
'use strict';
const fs = require('fs');
const path = require('path');
const png = require('./png-flatten.js');

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}

// Yes/no templates: the question and which concepts answer "yes".
const YESNO = [
  ['is this a flag?', (g, s) => g === 'flags'],
  ['is this a face?', (g, s) => s.startsWith('face-') || s === 'cat-face' || s === 'monkey-face'],
  ['is this an animal?', (g, s) => s.startsWith('animal-') || s === 'cat-face' || s === 'monkey-face'],
  ['is this a person?', (g, s) => s.startsWith('person') || s === 'family'],
  ['is this a hand?', (g, s) => s.startsWith('hand')],
  ['is this food or drink?', (g, s) => g === 'food-drink'],
  ['is this a plant?', (g, s) => s.startsWith('plant-')],
  ['is this a vehicle?', (g, s) => s === 'transport-ground' || s === 'transport-water' || s === 'transport-air'],
  ['is this a place or a building?', (g, s) => s.startsWith('place-')],
  ['is this a heart?', (g, s) => s === 'heart'],
  ['is this clothing?', (g, s) => s === 'clothing'],
  ['is this a symbol?', (g, s) => g === 'symbols'],
  // group-wide ones, so that every concept has a question answered "yes"
  ['is this a smiley or an emotion?', (g, s) => g === 'smileys-emotion'],
  ['is this about people or the body?', (g, s) => g === 'people-body'],
  ['is this an animal or nature?', (g, s) => g === 'animals-nature'],
  ['is this about travel or places?', (g, s) => g === 'travel-places'],
  ['is this an activity?', (g, s) => g === 'activities'],
  ['is this an object?', (g, s) => g === 'objects'],
];

// A pixel's colour word from HSV (opaque pixels only). Thresholds chosen by
// eye on the art; "brown" is a dark red/orange.
function colourName(r, g, b) {
  const mx = Math.max(r, g, b), mn = Math.min(r, g, b), v = mx / 255, s = mx ? (mx - mn) / mx : 0;
  if (v < 0.25) return 'black';
  if (s < 0.2) return v > 0.85 ? 'white' : 'grey';
  const d = mx - mn;
  let h = mx === r ? ((g - b) / d + 6) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4;
  h *= 60;
  if (h < 15 || h >= 345) return v < 0.6 ? 'brown' : 'red';
  if (h < 40) return v < 0.7 ? 'brown' : 'orange';
  if (h < 70) return 'yellow';
  if (h < 170) return 'green';
  if (h < 260) return 'blue';
  if (h < 300) return 'purple';
  return 'pink';
}

// Main colour of a PNG with alpha: over pixels with alpha >= 128, the most
// frequent chromatic colour if it covers >= 15% of them (outlines and
// highlights are black, grey and white), else the most frequent of all.
function mainColour(file) {
  const img = png.decode(fs.readFileSync(file), file);
  const count = {};
  let n = 0;
  for (let i = 0; i < img.width * img.height; i++) {
    if (img.rgba[4 * i + 3] < 128) continue;
    n++;
    const c = colourName(img.rgba[4 * i], img.rgba[4 * i + 1], img.rgba[4 * i + 2]);
    count[c] = (count[c] || 0) + 1;
  }
  const byCount = Object.entries(count).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const chroma = byCount.filter(([c]) => c !== 'black' && c !== 'white' && c !== 'grey');
  if (chroma.length && chroma[0][1] >= 0.15 * n) return chroma[0][0];
  return byCount.length ? byCount[0][0] : 'white';
}

// Colours are cached in OUT/img-alpha/colours.json, keyed by image and
// invalidated by its size and mtime, so warm rebuilds decode nothing.
function colours(out, recs) {
  const cacheFile = path.join(out, 'img-alpha', 'colours.json');
  let cache = {};
  try { cache = JSON.parse(fs.readFileSync(cacheFile, 'utf8')); } catch (e) { cache = {}; }
  const next = {}, result = new Map();
  let computed = 0;
  for (const r of recs) {
    if (result.has(r.image_alpha)) continue;
    const file = path.join(out, r.image_alpha), st = fs.statSync(file), key = `${st.size}:${st.mtimeMs}`;
    let c = cache[r.image_alpha];
    if (!c || c[0] !== key) { c = [key, mainColour(file)]; computed++; }
    next[r.image_alpha] = c;
    result.set(r.image_alpha, c[1]);
  }
  if (computed) {
    const tmp = `${cacheFile}.tmp.${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(next));
    fs.renameSync(tmp, cacheFile);
  }
  return { result, computed };
}

// The yes/no question of each record of one split. Half the images (by hash)
// get a question answered "yes", chosen among those true of their concept;
// the others get a "no" question, chosen greedily so that each question ends
// up with about as many "no" as "yes" answers: the question alone then says
// little about the answer (a question-only model stays near 50%).
function pickYesNo(recs) {
  const yes = new Map(), no = new Map(), pick = new Map();
  const truth = (t, r) => YESNO[t][1](r.group, r.subgroup);
  const noRecs = [];
  for (const r of recs) {
    const h = fnv1a(r.id);
    const pool = YESNO.map((_, t) => t).filter((t) => truth(t, r));
    if ((h & 1) === 1 && pool.length) {
      const t = pool[(h >>> 1) % pool.length];
      pick.set(r.id, t);
      yes.set(t, (yes.get(t) || 0) + 1);
    } else noRecs.push([h, r]);
  }
  noRecs.sort((a, b) => a[0] - b[0] || (a[1].id < b[1].id ? -1 : 1));
  for (const [h, r] of noRecs) {
    let best = -1, bestDeficit = -Infinity;
    for (let k = 0; k < YESNO.length; k++) {
      const t = (k + h) % YESNO.length;   // rotate the tie-break by the hash
      if (truth(t, r)) continue;
      const deficit = (yes.get(t) || 0) - (no.get(t) || 0);
      if (deficit > bestDeficit) { bestDeficit = deficit; best = t; }
    }
    pick.set(r.id, best);
    no.set(best, (no.get(best) || 0) + 1);
  }
  return pick;
}

// The questions for one image record.
function questions(r, colour, t) {
  const base = { hexcode: r.hexcode, image: r.image, image_alpha: r.image_alpha, vendor: r.vendor, split: r.split, concept_split: r.concept_split };
  const q = (qtype, question, answer) => ({ id: `${r.id}#${qtype}`, ...base, qtype, question, answer, text: question, label: answer });
  const [yq, yf] = YESNO[t];
  return [
    q('group', 'which group does this emoji belong to?', r.group),
    q('subgroup', 'what kind of emoji is this?', r.subgroup),
    q('yesno', yq, yf(r.group, r.subgroup) ? 'yes' : 'no'),
    q('colour', 'what is the main colour of this emoji?', colour),
  ];
}

// files: { split: [image records] } -> { split: [VQA records] }
function build(out, files) {
  const all = Object.values(files).flat();
  const { result, computed } = colours(out, all);
  const vqa = {};
  for (const [split, recs] of Object.entries(files)) {
    const pick = pickYesNo(recs);
    vqa[split] = recs.flatMap((r) => questions(r, result.get(r.image_alpha), pick.get(r.id)));
  }
  return { vqa, computed };
}

module.exports = { build, colourName, mainColour, YESNO };
