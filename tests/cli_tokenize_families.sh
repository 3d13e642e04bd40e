#!/usr/bin/env bash
# mmfuse tokenize on the byte-level BPE (RoBERTa layout), Unigram (XLM-R
# tokenizer.json) and SentencePiece (spiece.model, SigLIP and T5 layouts)
# folders of tests/data/text: the ids it prints for every single-line
# reference string equal the reference ids (npm @huggingface/tokenizers,
# python3-sentencepiece; see docs/text.md).
set -euo pipefail
MMFUSE=${MMFUSE_CLI:?MMFUSE_CLI is the mmfuse binary}
cd "${MMFUSE_SRC:?MMFUSE_SRC is the source root}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
same_ids() {   # DIR REF_JSON LABEL
  /usr/bin/python3 - "$1" "$2" "$3" "$MMFUSE" "$tmp" <<'PY'
import json, subprocess, sys
d, ref, label, mmfuse, tmp = sys.argv[1:]
cases = [c for c in json.load(open(ref))["singles"] if "\n" not in c["text"] and "\r" not in c["text"]]
with open(tmp + "/in.txt", "w", encoding="utf-8") as f:
    f.write("".join(c["text"] + "\n" for c in cases))
out = subprocess.run([mmfuse, "tokenize", "--model", d, "--text-file", tmp + "/in.txt", "--max-length", "-1"],
                     capture_output=True, text=True, check=True).stdout.split("\n")[:-1]
got = [json.loads(l)["ids"] for l in out]
bad = [c["text"] for c, g in zip(cases, got) if g != c["ids"]]
print("%s: %d of %d lines identical" % (label, len(cases) - len(bad), len(cases)))
if len(got) != len(cases) or bad or len(cases) < 200:
    print("FAILED:", bad[:5])
    sys.exit(1)
PY
}
same_ids tests/data/text/bytebpe tests/data/text/bytebpe/ids_js.json "byte-level BPE (tokenizer.json)"
same_ids tests/data/text/uni_nfkc tests/data/text/uni_nfkc/ids_js.json "Unigram (tokenizer.json)"
mkdir -p "$tmp/t5" "$tmp/siglip"
cp tests/data/text/spm/uni.model "$tmp/t5/spiece.model"
cp tests/data/text/spm/uni.model "$tmp/siglip/spiece.model"
echo '{"tokenizer_class": "SiglipTokenizer", "model_max_length": 64}' > "$tmp/siglip/tokenizer_config.json"
same_ids "$tmp/t5" tests/data/text/spm/uni_ids.json "SentencePiece Unigram (spiece.model)"
same_ids "$tmp/siglip" tests/data/text/spm/uni_siglip_ids.json "SigLIP (spiece.model)"
echo "cli_tokenize_families: ok"
