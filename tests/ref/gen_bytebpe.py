#!/usr/bin/python3
"""Trains a small byte-level BPE (GPT-2 / RoBERTa style) over the multilingual
text of tests/ref/gen_spm_models.py, so the byte-level tokenizer can be tested
against npm's @huggingface/tokenizers (tests/ref/ref_bytebpe.mjs). Plain Python:
words split at spaces and punctuation (training only needs plausible merges;
the tokenizers under test apply the real GPT-2 pattern), bytes mapped through
GPT-2's bytes_to_unicode, the most frequent pair merged 1200 times.

Writes tests/data/text/bytebpe/: vocab.json + merges.txt (RoBERTa's layout:
<s> <pad> </s> <unk>, the 256 byte characters, the merges, <mask>),
tokenizer_config.json (RobertaTokenizer) and tokenizer.json (ByteLevel
pre-tokeniser, BPE, RobertaProcessing, the five special tokens)."""
import collections
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen_spm_models import corpus  # noqa: E402

OUT = os.path.join(HERE, "..", "..", "tests", "data", "text", "bytebpe")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    os.makedirs(OUT, exist_ok=True)
    b2u = bytes_to_unicode()
    words = collections.Counter()
    for line in corpus(random.Random(2027), 6000):
        for w in re.findall(r" ?\w+| ?[^\w\s]+|\s+", line):
            words[tuple(b2u[b] for b in w.encode())] += 1
    vocab = ["<s>", "<pad>", "</s>", "<unk>"] + [b2u[b] for b in sorted(b2u)]
    merges = []
    for _ in range(1200):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[a, b] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append((a, b))
        vocab.append(a + b)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    vocab.append("<mask>")
    ids = {}
    for t in vocab:
        ids.setdefault(t, len(ids))
    with open(os.path.join(OUT, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(ids, f, ensure_ascii=False)
    with open(os.path.join(OUT, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "RobertaTokenizer", "add_prefix_space": False, "model_max_length": 512,
                   "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}, f, indent=1)

    def added(tok, lstrip=False):
        return {"id": ids[tok], "content": tok, "single_word": False, "lstrip": lstrip, "rstrip": False,
                "normalized": False, "special": True}
    tj = {"version": "1.0", "truncation": None, "padding": None,
          "added_tokens": [added("<s>"), added("<pad>"), added("</s>"), added("<unk>"), added("<mask>", True)],
          "normalizer": None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
          "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", ids["</s>"]], "cls": ["<s>", ids["<s>"]],
                             "trim_offsets": True, "add_prefix_space": False},
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                    "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": ids,
                    "merges": ["%s %s" % m for m in merges]}}
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    print("wrote %s: %d tokens, %d merges" % (OUT, len(ids), len(merges)))


if __name__ == "__main__":
    main()
