#!/usr/bin/env bash
# CLI contract of `mmfuse tokenize` and `mmfuse embed` (text): output format,
# hand-checked ids from the tiny reference vocab, shapes, and bad input.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
A=$SRC/tests/data/text/bert_a ST=$SRC/tests/data/text/bert_st

# tiny vocab (tests/ref/ref_bert.py VOCAB): [CLS]=2 [SEP]=3 hello=12 world=13 cat=7; "##s" is listed
# twice (lines 28 and 101) and, as in Python's load_vocab, the later id (100) wins
out=$("$CLI" tokenize --model "$A" --text "Hello WORLD" --text "cats")
check '[ "$out" = "{\"ids\": [2, 12, 13, 3], \"tokens\": [\"[CLS]\", \"hello\", \"world\", \"[SEP]\"]}
{\"ids\": [2, 7, 100, 3], \"tokens\": [\"[CLS]\", \"cat\", \"##s\", \"[SEP]\"]}" ]' "tokenize --text: $out"

printf 'hello\n\nworld\r\n' > "$T/in.txt"
out=$("$CLI" tokenize --model "$A" --text-file "$T/in.txt" | wc -l)
check '[ "$out" -eq 3 ]' "tokenize --text-file: one line per input incl. the empty one (got $out)"
out=$("$CLI" tokenize --model "$A" --text-file "$T/in.txt" | sed -n 2p)
check '[ "$out" = "{\"ids\": [2, 3], \"tokens\": [\"[CLS]\", \"[SEP]\"]}" ]' "empty line: $out"

# the shared bert-base-uncased tokenizer (DATA.md's example)
if [ -f "${MMFUSE_SHARED:-/nonexistent}/tokenizers/bert-base-uncased/vocab.txt" ]; then
  out=$("$CLI" tokenize --model "$MMFUSE_SHARED/tokenizers/bert-base-uncased" --text "Hello, world!")
  check '[[ "$out" == "{\"ids\": [101, 7592, 1010, 2088, 999, 102],"* ]]' "bert-base-uncased: $out"
fi

# embed: pooled [N, D], token states [N, T, D] + mask [N, T]
printf 'hello world\n\nthe cat sat on the mat.\n' > "$T/texts.txt"
check '"$CLI" embed --model "$ST" --text-file "$T/texts.txt" --out "$T/e.safetensors" 2>/dev/null' "embed runs"
out=$("$CLI" inspect --json "$T/e.safetensors")
check '[[ "$out" == *"\"embeddings\", \"dtype\": \"F32\", \"shape\": [3, 32]"* ]]' "embed shape: $out"
check '"$CLI" embed --model "$A" --text-file "$T/texts.txt" --out "$T/n.safetensors" --pooling none 2>/dev/null' "embed --pooling none"
out=$("$CLI" inspect --json "$T/n.safetensors")
check '[[ "$out" == *"[3, 9, 24]"* && "$out" == *"\"attention_mask\", \"dtype\": \"U8\", \"shape\": [3, 9]"* ]]' "pooling none shapes: $out"

# bad input: exit 2 for usage, 1 with the fault named for bad files
"$CLI" embed --model "$A" --text-file "$T/texts.txt" --out "$T/x.safetensors" --pooling avg 2>"$T/err"; rc=$?
check '[ $rc -eq 2 ] && grep -q "pooling" "$T/err"' "unknown pooling -> exit 2 (rc $rc)"
"$CLI" embed --model "$T/nope" --text-file "$T/texts.txt" --out "$T/x.safetensors" 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "no such model folder" "$T/err"' "missing model -> exit 1 (rc $rc)"
"$CLI" embed --model "$A" --text-file "$T/missing.txt" --out "$T/x.safetensors" 2>"$T/err"; rc=$?
check '[ $rc -eq 1 ] && grep -q "missing.txt" "$T/err"' "missing text file -> exit 1 (rc $rc)"
check '[ ! -e "$T/x.safetensors" ]' "no output written on failure"
"$CLI" tokenize --text hi 2>"$T/err"; rc=$?
check '[ $rc -eq 2 ]' "tokenize without --model -> exit 2"
"$CLI" embed --help | grep -q "Example" || { echo "FAILED: embed --help" >&2; fail=1; }
"$CLI" tokenize --help | grep -q "Example" || { echo "FAILED: tokenize --help" >&2; fail=1; }
[ $fail -eq 0 ] && echo "cli_text: all checks passed"
exit $fail
