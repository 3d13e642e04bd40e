#!/usr/bin/env node
// The JSON side of scripts/build-emoji-data.sh: joins emojibase metadata with
// the vendor art on the hexcode and writes the records. Two phases, so that
// the shell can run rsvg-convert in parallel between them:
//   node emoji-join.js plan  SRC OUT   -> links vendor PNGs into OUT/img-alpha/,
//                                         prints "SVG\0PNG\0" pairs still to rasterise
//   node emoji-join.js write SRC OUT   -> checks every image, flattens it onto
//                                         white into OUT/img/ (png-flatten.js),
//                                         writes the JSONL, classes.json,
//                                         LICENSES.md, STATS.md
// SRC holds the unpacked packages (SRC/<npm name>/ = the tarball's package/).
// Plain CommonJS, no dependencies: runs on Debian 12's node 18.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const png = require('./png-flatten.js');
const vqaGen = require('./emoji-vqa.js');

const VENDORS = ['google', 'twitter'];          // train/val/test art (never Apple)
const PKG = {
  google: 'emoji-datasource-google',
  twitter: 'emoji-datasource-twitter',
  emojibase: 'emojibase-data',
  openmoji: 'openmoji',
};
const SPLITS = ['train', 'val', 'test'];
const HOLDOUT = 0.1;        // fraction of each subgroup's concepts for val and for test
const MIN_HOLDOUT_N = 5;    // subgroups smaller than this stay wholly in train

function die(msg) {
  process.stderr.write(`build-emoji-data: error: ${msg}\n`);
  process.exit(1);
}
function log(msg) { process.stderr.write(`build-emoji-data: ${msg}\n`); }

function readJSON(file, what) {
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    die(`${file}: cannot read ${what} (${e.code || e.message})`);
  }
  try { return JSON.parse(text); } catch (e) {
    die(`${file}: ${what} is not valid JSON (${e.message})`);
  }
}

// Join key: upper case, FE0F (emoji presentation selector) parts dropped,
// because vendors and emojibase disagree on where they write it.
function normHex(h) {
  return h.toUpperCase().split('-').filter((p) => p !== 'FE0F').join('-');
}

// FNV-1a, 32 bit, over the ASCII of the normalised hexcode: stable across
// runs, machines and languages (docs/data-emoji.md gives it for reimplementers).
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

// Writes through a temp file + rename so a reader never sees half a file.
function writeAtomic(file, data) {
  const tmp = `${file}.tmp.${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try { fs.writeSync(fd, data); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  fs.renameSync(tmp, file);
}

// Vendor PNGs from emoji-datasource's emoji.json: base images only (skin-tone
// variants are skipped on purpose, see docs/data-emoji.md).
function vendorImages(src, vendor) {
  const dir = path.join(src, PKG[vendor]);
  const list = readJSON(path.join(dir, 'emoji.json'), `${PKG[vendor]} emoji list`);
  if (!Array.isArray(list)) die(`${path.join(dir, 'emoji.json')}: expected an array of emoji`);
  const out = new Map();
  for (const [i, e] of list.entries()) {
    if (typeof e.unified !== 'string' || typeof e.image !== 'string')
      die(`${path.join(dir, 'emoji.json')}: entry ${i}: fields "unified" and "image" must be strings`);
    if (!e[`has_img_${vendor}`]) continue;
    const file = path.join(dir, 'img', vendor, '64', e.image);
    if (fs.existsSync(file)) out.set(normHex(e.unified), file);
  }
  return out;
}

function openmojiSvgs(src) {
  const dir = path.join(src, PKG.openmoji, 'color', 'svg');
  let names;
  try { names = fs.readdirSync(dir); } catch (e) { die(`${dir}: cannot list OpenMoji SVGs (${e.code})`); }
  const out = new Map();
  for (const n of names) if (n.endsWith('.svg')) out.set(normHex(n.slice(0, -4)), path.join(dir, n));
  return out;
}

// The concepts: emojibase entries with a group (regional indicators have
// none), outside the "component" group (skin-tone swatches, hair pieces), with
// art from every vendor: Google, Twitter and OpenMoji.
function concepts(src) {
  const ebDir = path.join(src, PKG.emojibase);
  const dataFile = path.join(ebDir, 'en', 'data.json');
  const groupsFile = path.join(ebDir, 'meta', 'groups.json');
  const data = readJSON(dataFile, 'emojibase English data');
  const meta = readJSON(groupsFile, 'emojibase group names');
  if (!Array.isArray(data)) die(`${dataFile}: expected an array of emoji`);
  if (!meta || typeof meta.groups !== 'object' || typeof meta.subgroups !== 'object')
    die(`${groupsFile}: expected objects "groups" and "subgroups"`);
  const art = { openmoji: openmojiSvgs(src) };
  for (const v of VENDORS) art[v] = vendorImages(src, v);

  const kept = [], dropped = [], seen = new Set();
  let skins = 0;
  for (const [i, e] of data.entries()) {
    if (typeof e.hexcode !== 'string' || typeof e.label !== 'string')
      die(`${dataFile}: entry ${i}: fields "hexcode" and "label" must be strings`);
    if (e.group === undefined) continue;
    const group = meta.groups[String(e.group)], subgroup = meta.subgroups[String(e.subgroup)];
    if (typeof group !== 'string') die(`${groupsFile}: no name for group ${e.group} (used by ${e.hexcode} in ${dataFile})`);
    if (typeof subgroup !== 'string') die(`${groupsFile}: no name for subgroup ${e.subgroup} (used by ${e.hexcode} in ${dataFile})`);
    if (group === 'component') continue;
    if (Array.isArray(e.skins)) skins += e.skins.length;
    const hex = normHex(e.hexcode);
    if (seen.has(hex)) die(`${dataFile}: hexcode ${e.hexcode} appears twice (after dropping FE0F)`);
    seen.add(hex);
    const missing = ['google', 'twitter', 'openmoji'].filter((v) => !art[v].has(hex));
    if (missing.length) { dropped.push({ hex, label: e.label, missing }); continue; }
    const tags = Array.isArray(e.tags) ? e.tags.filter((t) => typeof t === 'string') : [];
    kept.push({
      hex, emoji: typeof e.emoji === 'string' ? e.emoji : '', label: e.label, tags, group, subgroup,
      groupId: e.group, subgroupId: e.subgroup, order: typeof e.order === 'number' ? e.order : i,
      art: { google: art.google.get(hex), twitter: art.twitter.get(hex), openmoji: art.openmoji.get(hex) },
    });
  }
  if (!kept.length) die(`no concept has Google, Twitter and OpenMoji art: check ${src}`);
  kept.sort((a, b) => a.order - b.order || (a.hex < b.hex ? -1 : 1));
  assignSplits(kept);
  return { kept, dropped, skins, meta };
}

// Held-out concepts, stratified by subgroup so that every held-out concept's
// subgroup is also seen in training: inside each subgroup, concepts sorted by
// FNV-1a(hexcode); the first round(n/10) go to test, the next round(n/10) to
// val, the rest to train. Subgroups with fewer than 5 concepts stay in train.
function assignSplits(kept) {
  const bySub = new Map();
  for (const c of kept) {
    c.hash = fnv1a(c.hex);
    if (!bySub.has(c.subgroup)) bySub.set(c.subgroup, []);
    bySub.get(c.subgroup).push(c);
  }
  for (const list of bySub.values()) {
    list.sort((a, b) => a.hash - b.hash || (a.hex < b.hex ? -1 : 1));
    const k = list.length >= MIN_HOLDOUT_N ? Math.round(list.length * HOLDOUT) : 0;
    list.forEach((c, i) => { c.split = i < k ? 'test' : i < 2 * k ? 'val' : 'train'; });
  }
}

// img-alpha/: the art as drawn (transparent background); img/: the same
// flattened onto white, 8-bit RGB, what models read (see png-flatten.js).
const alphaRel = (vendor, hex) => `img-alpha/${vendor}/${hex}.png`;
const imgRel = (vendor, hex) => `img/${vendor}/${hex}.png`;

// Hard link (same file system) or copy; skipped when already there.
function placeVendorImage(srcFile, dst, force) {
  if (!force && fs.existsSync(dst) && fs.statSync(dst).size === fs.statSync(srcFile).size) return 0;
  const tmp = `${dst}.tmp.${process.pid}`;
  try { fs.unlinkSync(tmp); } catch (e) { /* absent */ }
  try { fs.linkSync(srcFile, tmp); } catch (e) { fs.copyFileSync(srcFile, tmp); }
  fs.renameSync(tmp, dst);
  return 1;
}

function plan(src, out, force) {
  const { kept } = concepts(src);
  for (const v of [...VENDORS, 'openmoji']) fs.mkdirSync(path.join(out, 'img-alpha', v), { recursive: true });
  let placed = 0;
  for (const c of kept) for (const v of VENDORS) placed += placeVendorImage(c.art[v], path.join(out, alphaRel(v, c.hex)), force);
  log(`vendor art: ${placed} PNG placed, ${kept.length * VENDORS.length - placed} already there`);
  const jobs = [];
  for (const c of kept) {
    const dst = path.join(out, alphaRel('openmoji', c.hex));
    if (force || !fs.existsSync(dst) || fs.statSync(dst).mtimeMs < fs.statSync(c.art.openmoji).mtimeMs)
      jobs.push(c.art.openmoji, dst);
  }
  log(`OpenMoji: ${jobs.length / 2} of ${kept.length} SVG to rasterise`);
  if (jobs.length) process.stdout.write(jobs.join('\0') + '\0');
}

// PNG header facts for STATS.md: size, bit depth, colour type, interlace, tRNS.
const COLOR_TYPES = { 0: 'grey', 2: 'RGB', 3: 'palette', 4: 'grey+alpha', 6: 'RGBA' };
function pngInfo(file, headOnly) {
  let b;
  if (headOnly) {   // the first 33 bytes hold the signature and IHDR
    b = Buffer.alloc(33);
    const fd = fs.openSync(file, 'r');
    try { b = b.subarray(0, fs.readSync(fd, b, 0, 33, 0)); } finally { fs.closeSync(fd); }
  } else b = fs.readFileSync(file);
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length < 33 || sig.some((x, i) => b[i] !== x) || b.toString('latin1', 12, 16) !== 'IHDR')
    return { bad: 'not a PNG (signature or IHDR missing)' };
  const info = {
    w: b.readUInt32BE(16), h: b.readUInt32BE(20), depth: b[24], color: b[25], interlace: b[28], trns: false,
  };
  for (let p = 8; p + 8 <= b.length;) {
    const len = b.readUInt32BE(p), type = b.toString('latin1', p + 4, p + 8);
    if (type === 'tRNS') info.trns = true;
    if (type === 'IDAT' || type === 'IEND') break;
    p += 12 + len;
  }
  return info;
}
function pngKind(i) {
  return `${i.depth}-bit ${COLOR_TYPES[i.color] || `colour type ${i.color}`}${i.trns ? ' + tRNS' : ''}${i.interlace ? ' interlaced' : ''}`;
}

function record(c, vendor, split) {
  return {
    id: `${vendor}/${c.hex}`, hexcode: c.hex, emoji: c.emoji, image: imgRel(vendor, c.hex), image_alpha: alphaRel(vendor, c.hex),
    text: c.label, tags: c.tags, group: c.group, subgroup: c.subgroup, label: c.subgroup,
    vendor, split, concept_split: c.split,
  };
}

function table(head, rows) {
  const line = (r) => `| ${r.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n') + '\n';
}

// Flattened copy up to date? Newer than its source and already 8-bit RGB
// (an older build kept the art itself under img/).
function flatFresh(src, dst) {
  if (!fs.existsSync(dst) || fs.statSync(dst).mtimeMs < fs.statSync(src).mtimeMs) return false;
  const i = pngInfo(dst, true);
  return !i.bad && i.color === 2 && i.depth === 8;
}

function write(src, out, versions, force) {
  const { kept, dropped, skins, meta } = concepts(src);
  // every image must be there and be a 64x64 PNG
  const census = {}, bad = [];
  for (const c of kept) for (const v of [...VENDORS, 'openmoji']) {
    const file = path.join(out, alphaRel(v, c.hex));
    if (!fs.existsSync(file)) { bad.push(`${file}: missing`); continue; }
    const i = pngInfo(file);
    if (i.bad) { bad.push(`${file}: ${i.bad}`); continue; }
    if (i.w !== 64 || i.h !== 64) { bad.push(`${file}: ${i.w}x${i.h}, expected 64x64`); continue; }
    const k = pngKind(i);
    census[v] = census[v] || {};
    census[v][k] = (census[v][k] || 0) + 1;
  }
  if (bad.length) die(`${bad.length} image(s) unusable, first: ${bad.slice(0, 5).join('; ')}`);

  // flatten onto white what is new or changed
  const todo = [];
  for (const c of kept) for (const v of [...VENDORS, 'openmoji']) {
    const from = path.join(out, alphaRel(v, c.hex)), to = path.join(out, imgRel(v, c.hex));
    if (force || !flatFresh(from, to)) todo.push([from, to]);
  }
  for (const v of [...VENDORS, 'openmoji']) fs.mkdirSync(path.join(out, 'img', v), { recursive: true });
  log(`flattening onto white: ${todo.length} of ${kept.length * 3} images`);
  const step = Math.max(500, Math.ceil(todo.length / 10));
  todo.forEach(([from, to], i) => {
    try { png.flattenFile(from, to); } catch (e) { die(e instanceof png.PngError ? e.message : `${from}: ${e.message}`); }
    if ((i + 1) % step === 0 && i + 1 < todo.length) log(`flattening onto white: ${i + 1}/${todo.length}`);
  });

  const files = { train: [], val: [], test: [], openmoji: [] };
  for (const c of kept) {
    for (const v of VENDORS) files[c.split].push(record(c, v, c.split));
    files.openmoji.push(record(c, 'openmoji', 'openmoji'));
  }
  for (const [name, recs] of Object.entries(files))
    writeAtomic(path.join(out, `${name}.jsonl`), recs.map((r) => JSON.stringify(r)).join('\n') + (recs.length ? '\n' : ''));

  // class lists in emojibase order, only those with concepts
  const groups = [], subgroups = [];
  const order = (obj) => Object.keys(obj).map(Number).sort((a, b) => a - b);
  const usedG = new Set(kept.map((c) => c.group)), usedS = new Set(kept.map((c) => c.subgroup));
  for (const g of order(meta.groups)) if (usedG.has(meta.groups[g])) groups.push(meta.groups[g]);
  for (const s of order(meta.subgroups)) if (usedS.has(meta.subgroups[s])) subgroups.push(meta.subgroups[s]);
  const parent = {};
  for (const c of kept) parent[c.subgroup] = c.group;
  // VQA: four questions per image (scripts/emoji-vqa.js)
  const { vqa, computed } = vqaGen.build(out, files);
  if (computed) log(`VQA: main colour computed for ${computed} images`);
  for (const [name, recs] of Object.entries(vqa))
    writeAtomic(path.join(out, `vqa_${name}.jsonl`), recs.map((r) => JSON.stringify(r)).join('\n') + (recs.length ? '\n' : ''));
  // VQA answer classes: every answer of the training questions, sorted
  const answers = [...new Set(vqa.train.map((r) => r.answer))].sort();
  writeAtomic(path.join(out, 'classes.json'),
    JSON.stringify({ groups, subgroups, subgroup_group: parent, vqa_answers: answers }, null, 1) + '\n');
  writeLists(out, files, vqa, groups, subgroups, answers);

  writeAtomic(path.join(out, 'LICENSES.md'), licenses(versions));
  writeAtomic(path.join(out, 'STATS.md'), stats(kept, dropped, skins, files, census, groups, subgroups, parent, versions) +
    duplicateStats(out, kept) + vqaStats(vqa));
  const n = (s) => kept.filter((c) => c.split === s).length;
  log(`wrote ${out}: ${kept.length} concepts (train ${n('train')}, val ${n('val')}, test ${n('test')}); ` +
    `records train ${files.train.length}, val ${files.val.length}, test ${files.test.length}, openmoji ${files.openmoji.length}`);
}

function licenses(versions) {
  const v = (k) => versions[k] || '?';
  return `# Licences of the emoji data set

Built by \`scripts/build-emoji-data.sh\` from npm packages; nothing here is
committed to mmfuse. Redistributing this folder means honouring each licence:

| source | npm package | what we use | licence |
|---|---|---|---|
| Noto Emoji (Google) | \`emoji-datasource-google@${v('google')}\` | \`img-alpha/google/\` PNG 64x64 as shipped, \`img/google/\` flattened onto white | art: Apache License 2.0 (https://github.com/googlefonts/noto-emoji/blob/main/LICENSE); package code and emoji.json: MIT (Cal Henderson, iamcal/emoji-data) |
| Twemoji (Twitter, jdecked fork) | \`emoji-datasource-twitter@${v('twitter')}\` | \`img-alpha/twitter/\` PNG 64x64 as shipped, \`img/twitter/\` flattened onto white | art: Creative Commons Attribution 4.0 (CC BY 4.0, https://github.com/jdecked/twemoji/blob/main/LICENSE-GRAPHICS), attribution: "Twemoji by Twitter, Inc. and other contributors"; package code: MIT |
| OpenMoji | \`openmoji@${v('openmoji')}\` | \`img-alpha/openmoji/\` rasterised from \`color/svg\` to 64x64 PNG with rsvg-convert, \`img/openmoji/\` flattened onto white (adaptations) | art: Creative Commons Attribution-ShareAlike 4.0 (CC BY-SA 4.0), attribution: "OpenMoji, the open-source emoji and icon project, https://openmoji.org"; derived images must stay CC BY-SA 4.0 |
| emojibase | \`emojibase-data@${v('emojibase')}\` | labels (CLDR short names), tags, group and subgroup names (\`text\`, \`tags\`, \`group\`, \`subgroup\`) | MIT (Miles Johnson); the CLDR annotations it carries are under the Unicode License v3 |

Apple art (\`emoji-datasource-apple\`) is never used: it is not licensed for
this. \`img/\` holds every image flattened onto a white background (an
adaptation; the licence of its source applies). The full licence texts that
ship in the packages are in \`licenses/\`.
`;
}

// lists/: the same records as plain line files, line i = record i of the
// JSONL, for tools that take one input per line (mmfuse embed --image-list,
// --text-file). Image paths are relative to OUT, like the records' "image":
// run such tools from inside OUT. Class ids index classes.json's lists.
function writeLists(out, files, vqa, groups, subgroups, answers) {
  const dir = path.join(out, 'lists');
  fs.mkdirSync(dir, { recursive: true });
  const put = (name, lines) => writeAtomic(path.join(dir, name), lines.map((l) => `${l}\n`).join(''));
  const idOf = (list) => { const m = new Map(list.map((x, i) => [x, i])); return (x) => (m.has(x) ? m.get(x) : -1); };
  const gId = idOf(groups), sId = idOf(subgroups), aId = idOf(answers);
  for (const [split, recs] of Object.entries(files)) {
    put(`${split}.images.txt`, recs.map((r) => r.image));
    put(`${split}.texts.txt`, recs.map((r) => r.text));
    put(`${split}.tags.txt`, recs.map((r) => r.tags.join(' ')));
    put(`${split}.group_ids.txt`, recs.map((r) => gId(r.group)));
    put(`${split}.subgroup_ids.txt`, recs.map((r) => sId(r.subgroup)));
    put(`${split}.hexcodes.txt`, recs.map((r) => r.hexcode));
    const q = vqa[split];
    put(`vqa_${split}.images.txt`, q.map((r) => r.image));
    put(`vqa_${split}.questions.txt`, q.map((r) => r.question));
    put(`vqa_${split}.answer_ids.txt`, q.map((r) => aId(r.answer)));   // -1: answer unseen in training
  }
}

// Different concepts drawn identically (same flattened pixels: our encoder is
// deterministic, so same file bytes): e.g. the flags of France, Clipperton and
// Saint Martin. They cap retrieval R@1 and blur classification; listed here.
function duplicateStats(out, kept) {
  let s = '\n## Identical images of different concepts\n\n';
  const rows = [];
  for (const v of [...VENDORS, 'openmoji']) {
    const byHash = new Map();
    for (const c of kept) {
      const h = crypto.createHash('sha1').update(fs.readFileSync(path.join(out, imgRel(v, c.hex)))).digest('hex');
      if (!byHash.has(h)) byHash.set(h, []);
      byHash.get(h).push(c);
    }
    const sets = [...byHash.values()].filter((l) => l.length > 1);
    rows.push([v, sets.reduce((a, l) => a + l.length, 0), sets.length,
      sets.map((l) => l.map((c) => `${c.hex} (${c.label})`).join(' = ')).join('; ')]);
  }
  s += table(['vendor', 'concepts sharing an image', 'sets', 'which'], rows);
  return s;
}

function vqaStats(vqa) {
  let s = '\n## VQA (vqa_<split>.jsonl)\n\n';
  const types = ['group', 'subgroup', 'yesno', 'colour'];
  s += table(['file', 'questions', ...types.map((t) => `${t}: distinct answers`)], Object.entries(vqa).map(([k, recs]) =>
    [`vqa_${k}.jsonl`, recs.length, ...types.map((t) => new Set(recs.filter((r) => r.qtype === t).map((r) => r.answer)).size)]));
  const dist = (t) => {
    const c = {};
    for (const r of vqa.train.filter((x) => x.qtype === t)) c[r.answer] = (c[r.answer] || 0) + 1;
    return Object.entries(c).sort((a, b) => b[1] - a[1]).map(([a, n]) => `${a} ${n}`).join(', ');
  };
  s += `\nTrain answers, yes/no: ${dist('yesno')}.\nTrain answers, colour: ${dist('colour')}.\n`;
  return s;
}

function stats(kept, dropped, skins, files, census, groups, subgroups, parent, versions) {
  const count = (f) => kept.filter(f).length;
  let s = `# Emoji data set: statistics

Packages: ${Object.entries(versions).map(([k, v]) => `${PKG[k]}@${v}`).join(', ')}.

## Splits

| file | records | concepts | vendors |
|---|---|---|---|
`;
  for (const sp of SPLITS)
    s += `| ${sp}.jsonl | ${files[sp].length} | ${count((c) => c.split === sp)} | ${VENDORS.join(', ')} |\n`;
  s += `| openmoji.jsonl | ${files.openmoji.length} | ${kept.length} (test ${count((c) => c.split === 'test')}, val ${count((c) => c.split === 'val')}, train ${count((c) => c.split === 'train')}) | openmoji |\n`;
  s += `\n${kept.length} concepts, ${groups.length} groups, ${subgroups.length} subgroups. ` +
    `${skins} skin-tone variants of these concepts are left out (base concepts only). ` +
    `${dropped.length} emojibase concepts lack art from some vendor and are left out:\n\n`;
  s += dropped.length ? table(['hexcode', 'label', 'missing'], dropped.map((d) => [d.hex, d.label, d.missing.join(', ')])) : '(none)\n';
  s += '\n## Groups (concepts)\n\n';
  s += table(['group', 'subgroups', 'train', 'val', 'test', 'all'], groups.map((g) => [g,
    subgroups.filter((x) => parent[x] === g).length,
    ...SPLITS.map((sp) => count((c) => c.group === g && c.split === sp)), count((c) => c.group === g)]));
  s += '\n## Subgroups (concepts)\n\n';
  s += table(['subgroup', 'group', 'train', 'val', 'test', 'all'], subgroups.map((x) => [x, parent[x],
    ...SPLITS.map((sp) => count((c) => c.subgroup === x && c.split === sp)), count((c) => c.subgroup === x)]));
  const small = subgroups.filter((x) => count((c) => c.subgroup === x) < 5);
  s += `\n${small.length} subgroups have fewer than 5 concepts (all in train): ${small.join(', ') || 'none'}.\n`;
  s += '\n## Images: PNG header census\n\nAll images are 64x64, the art as drawn in `img-alpha/` ' +
    '(transparent background), counted below; `img/` holds the same images flattened onto white ' +
    '(8-bit RGB, opaque), which is what the records\' `image` field names.\n\n';
  const rows = [];
  for (const [v, kinds] of Object.entries(census))
    for (const [k, n] of Object.entries(kinds).sort((a, b) => b[1] - a[1])) rows.push([v, k, n]);
  s += table(['vendor', 'kind', 'images'], rows);
  const words = kept.map((c) => c.label.split(/\s+/).length), ntags = kept.map((c) => c.tags.length);
  const mean = (a) => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(2);
  s += `\n## Text\n\nLabel words: mean ${mean(words)}, max ${Math.max(...words)}. ` +
    `Tags per concept: mean ${mean(ntags)}, min ${Math.min(...ntags)}, max ${Math.max(...ntags)}.\n`;
  return s;
}

// The version each package says it is (package.json), for LICENSES.md and STATS.md.
function packageVersions(src) {
  const v = {};
  for (const [k, name] of Object.entries(PKG)) {
    try { v[k] = JSON.parse(fs.readFileSync(path.join(src, name, 'package.json'), 'utf8')).version || '?'; } catch (e) { v[k] = '?'; }
  }
  return v;
}

function main() {
  const [cmd, src, out, ...rest] = process.argv.slice(2);
  if (!cmd || !src || !out) die('usage: emoji-join.js plan|write SRC OUT [--force]');
  const force = rest.includes('--force');
  if (cmd === 'plan') plan(src, out, force);
  else if (cmd === 'write') write(src, out, packageVersions(src), force);
  else die(`unknown phase "${cmd}" (plan|write)`);
}
main();
