#!/usr/bin/env node
// Reference token ids for the tokenizer parity test, from npm's
// @huggingface/tokenizers@0.2.0 (pure JS). Install it outside the repo:
//   mkdir -p /tmp/hftok && cd /tmp/hftok && npm install @huggingface/tokenizers@0.2.0
// Run:
//   node tests/ref/ref_tokenizer_bert.mjs ../shared/tokenizers/bert-base-uncased \
//        tests/data/text/strings.json tests/data/text/bert_ids.json
// (HFTOK=/path/to/dist/tokenizers.mjs overrides the module location.)
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [dir, stringsPath, outPath] = process.argv.slice(2);
if (!dir || !stringsPath || !outPath) {
  console.error("usage: node ref_tokenizer_bert.mjs TOKENIZER_DIR strings.json out.json");
  process.exit(2);
}
const mod = process.env.HFTOK ?? "/tmp/hftok/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs";
const { Tokenizer } = await import(pathToFileURL(mod).href);
const tj = JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8"));
const tc = JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8"));
const tok = new Tokenizer(tj, tc);
const input = JSON.parse(readFileSync(stringsPath, "utf8"));
const singles = input.strings.map((text) => ({ text, ids: tok.encode(text).ids }));
const pairs = input.pairs.map(([a, b]) => {
  const e = tok.encode(a, { text_pair: b, return_token_type_ids: true });
  return { text: a, pair: b, ids: e.ids, type_ids: e.token_type_ids };
});
writeFileSync(outPath, JSON.stringify({
  reference: "@huggingface/tokenizers@0.2.0",
  tokenizer: dir.split("/").filter(Boolean).pop(),
  singles, pairs,
}) + "\n");
console.error(`wrote ${singles.length} singles and ${pairs.length} pairs to ${outPath}`);
