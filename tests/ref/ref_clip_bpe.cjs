// Reference ids for the CLIP byte-level BPE tokenizer, from npm's
// @huggingface/tokenizers@0.2.0 on the real openai/clip-vit-base-patch32 files.
// Writes tests/data/image/clip_bpe_cases.jsonl: {"text": ..., "ids": [...]}.
//
// Usage (the package installed in a scratch folder, never committed):
//   mkdir -p /tmp/hftok && (cd /tmp/hftok && npm install @huggingface/tokenizers@0.2.0)
//   HFTOK=/tmp/hftok node tests/ref/ref_clip_bpe.cjs [SHARED_DIR]
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(process.env.HFTOK || '/tmp/hftok', 'node_modules/@huggingface/tokenizers'));

const shared = process.argv[2] || path.join(__dirname, '..', '..', '..', 'shared');
const dir = path.join(shared, 'tokenizers', 'clip-vit-base-patch32');
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'))),
                          JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'))));

// deterministic generator (xorshift)
let seed = 0x9e3779b9;
function rnd() { seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0; return seed / 4294967296; }
function pick(a) { return a[Math.floor(rnd() * a.length)]; }

const fixed = [
  'Hello, world!', 'a photo of a cat', 'A Photo Of A DOG', 'a photo of a {}.', '', ' ', '   leading and trailing   ',
  "don't", "DON'T", "it's", "IT'S", "we're", "they've", "i'm", "you'll", "he'd", "o'clock", "rock'n'roll", "''''s",
  'tab\tseparated\tvalues', 'new\nline\r\nwindows', 'non\u00a0breaking\u00a0space', 'ideographic\u3000space',
  'line\u2028separator', 'zero\u200bwidth', 'soft\u00adhyphen', 'bell\u0007char', 'esc\u001b[0m', 'del\u007f',
  'café', 'cafe\u0301', 'naïve résumé', 'Ångström', 'Ωmega', 'ΣΑΣ ΟΔΟΣ', 'ὈΔΥΣΣΕΎΣ', 'İstanbul', 'STRASSE straße',
  'ﬁne ﬂow', 'ＦＵＬＬＷＩＤＴＨ', '東京タワー', '北京欢迎你', '한국어 텍스트', '한국어', 'ไทย ภาษา', 'हिन्दी भाषा',
  'العربية', 'עברית', 'Русский ТЕКСТ', 'Ελληνικά', '日本語のテキストです。', '😀', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷🇩🇪',
  '❤️ love', '✨sparkles✨', '1234567890', '3.14159', '$100.00', '50%', '#hashtag @user', 'http://example.com/a?b=c&d=e',
  'email@example.com', 'C++ and C#', '...', '!!!???', '---', '(parenthesis) [brackets] {braces}', '<html></html>',
  '<|startoftext|>', '<|endoftext|>', 'a <|endoftext|> b', '!<|startoftext|>!', 'end<|endoftext|>x', '<|endoftext|><|startoftext|>', 'x<|startoftext|>y', '<|ENDOFTEXT|>', '<| endoftext |>',
  'supercalifragilisticexpialidocious', 'pneumonoultramicroscopicsilicovolcanoconiosis',
  'a'.repeat(100), 'ab'.repeat(80), 'word '.repeat(100), '1 '.repeat(90), '🙂'.repeat(40),
  'the quick brown fox jumps over the lazy dog', 'THE QUICK BROWN FOX', 'MiXeD CaSe WoRdS',
  'x\u0300\u0301\u0302', 'z\u0336a\u0336l\u0336g\u0336o\u0336', '\u0041\u030a', 'e\u0301\u0065\u0301',
  '½ ¼ ² ³', 'Ⅻ roman', '①②③', '٣٤٥', '१२३', '𝐁𝐨𝐥𝐝', '𝔉𝔯𝔞𝔨𝔱𝔲𝔯', 'ᚠᛇᚻ', '∑∫√∞≠≤', '→←↑↓', '™ © ®',
  'Ǆ ǅ ǆ', 'Ꭰ Cherokee', 'ꙮ', 'ß', 'ẞ', 'K', 'Å', 'µ', 'ŉ', 'ǰ', 'ΐ', 'İi̇', 'ﬀ ﬃ',
];
const words = ['a', 'photo', 'of', 'the', 'cat', 'dog', 'Dog', 'CAR', 'running', 'jumped', 'beautiful', 'sunset',
  'über', 'naïve', 'Zoë', 'emoji', '😀', '🐱', '東京', 'München', 'São', 'Paulo', "isn't", "can't", "WE'LL", '42', '7',
  '3.5', '!!!', '?', ',', '.', '-', '_', '/', '\\', '"quoted"', "'single'", '(x)', 'e-mail', 'co-operate', 'hello_world',
  'CamelCase', 'snake_case', 'UPPER', 'Ĳssel', 'ǅemal', 'ΣΟΦΙΑ', 'çà', 'ñ', 'ø', 'Þorn', 'ðe', 'œuvre', 'æther'];
const seps = [' ', ' ', ' ', '  ', '\t', '\n', ', ', '. ', '! ', '\u00a0', '\u3000', '', '-', '\r\n'];
const cases = [...fixed];
while (cases.length < 620) {
  const n = 1 + Math.floor(rnd() * 14);
  let s = '';
  for (let i = 0; i < n; i++) s += pick(words) + pick(seps);
  if (rnd() < 0.3) s = s.toUpperCase();
  if (rnd() < 0.2) s = ' ' + s;
  cases.push(s);
}
// random code points from assorted blocks
const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x6ff], [0x900, 0x97f],
  [0x3040, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00], [0x1f300, 0x1f64f], [0x2000, 0x206f], [0x300, 0x36f]];
for (let k = 0; k < 80; k++) {
  let s = '';
  const n = 1 + Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) { const b = pick(blocks); s += String.fromCodePoint(b[0] + Math.floor(rnd() * (b[1] - b[0]))); }
  cases.push(s);
}
const out = cases.map(t => JSON.stringify({ text: t, ids: tok.encode(t).ids })).join('\n') + '\n';
const dst = path.join(__dirname, '..', '..', 'tests', 'data', 'image', 'clip_bpe_cases.jsonl');
fs.writeFileSync(dst, out);
console.log(`wrote ${cases.length} cases to ${dst}`);
