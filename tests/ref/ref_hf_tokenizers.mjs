#!/usr/bin/env node
// Reference ids for the byte-level BPE, Unigram and SentencePiece-BPE tokenizer.json files
// under tests/data/text, from npm's @huggingface/tokenizers@0.2.0 (pure JS),
// over tests/data/text/strings.json plus the extra strings of
// tests/data/text/strings_extra.json. Install it outside the repo:
//   mkdir -p /tmp/hftok && cd /tmp/hftok && npm install @huggingface/tokenizers@0.2.0
// Run (from the repository root): node tests/ref/ref_hf_tokenizers.mjs
// (HFTOK=/path/to/dist/tokenizers.mjs overrides the module location.)
//
// Where the JS port and Hugging Face's Rust tokenizer (which mmfuse follows)
// differ, this script either leaves the case out or adapts the JS output,
// and says so in the file it writes:
//  - regex \s: JS counts U+FEFF as a space and U+0085 not; Rust the other way
//    round: strings with either are left out;
//  - Unigram: JS does not fuse a run of unknown characters into one unknown
//    piece as Rust (and sentencepiece) do: the run's tokens, which JS leaves
//    as their raw text, are fused here.
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const mod = process.env.HFTOK ?? "/tmp/hftok/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs";
const { Tokenizer } = await import(pathToFileURL(mod).href);
const root = new URL("../..", import.meta.url).pathname;
const base = JSON.parse(readFileSync(`${root}/tests/data/text/strings.json`, "utf8"));
const extra = JSON.parse(readFileSync(`${root}/tests/data/text/strings_extra.json`, "utf8"));
const jobs = [
  ["tests/data/text/bytebpe", "tests/data/text/bytebpe/ids_js.json"],
  ["tests/data/text/uni_nfkc", "tests/data/text/uni_nfkc/ids_js.json"],
  ["tests/data/text/spm_bpe", "tests/data/text/spm_bpe/ids_js.json"],
];
const rustOnlySpace = (s) => /[\u0085\ufeff]/.test(s);

for (const [dir, out] of jobs) {
  const tj = JSON.parse(readFileSync(`${root}/${dir}/tokenizer.json`, "utf8"));
  const tok = new Tokenizer(tj, {});
  const unigram = tj.model.type === "Unigram";
  const inVocab = new Set([...(unigram ? tj.model.vocab.map((v) => v[0]) : Object.keys(tj.model.vocab)),
    ...tj.added_tokens.map((a) => a.content)]);
  const unk = unigram ? tj.model.unk_id : null;
  const encode = (a, b) => {
    const e = tok.encode(a, b === undefined ? {} : { text_pair: b });
    if (!unigram) return e.ids;
    const ids = [];
    let prevUnknown = false;
    e.tokens.forEach((t, i) => {
      const unknown = !inVocab.has(t);
      if (!(unknown && prevUnknown)) ids.push(unknown ? unk : e.ids[i]);
      prevUnknown = unknown;
    });
    return ids;
  };
  const strings = [...new Set([...base.strings, ...extra.strings])].filter((s) => !rustOnlySpace(s));
  const pairs = base.pairs.filter(([a, b]) => b && !rustOnlySpace(a) && !rustOnlySpace(b));
  const left = base.strings.length + extra.strings.length - strings.length;
  writeFileSync(`${root}/${out}`, JSON.stringify({
    reference: "@huggingface/tokenizers@0.2.0",
    notes: "strings with U+0085 or U+FEFF left out (regex \\s differs from Rust)" +
      (unigram ? "; runs of unknown characters fused into one unknown piece, as Rust does" : ""),
    singles: strings.map((text) => ({ text, ids: encode(text) })),
    pairs: pairs.map(([a, b]) => ({ text: a, pair: b, ids: encode(a, b) })),
  }) + "\n");
  console.error(`${out}: ${strings.length} strings, ${pairs.length} pairs (${left} left out or repeated)`);
}
