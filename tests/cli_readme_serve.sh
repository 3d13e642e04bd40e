#!/usr/bin/env bash
# README.md's "Service" block runs as written: the ```sh block under "## Service"
# with only the model folder (a small test model instead of the demo's) and the
# port (a free one) replaced. Its replies must be what the comments say: OpenAI
# embeddings with usage, TEI's [[float]], an added item found by a filtered
# search, a delete, and the index file saved at SIGTERM.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
command -v curl >/dev/null 2>&1 || { echo "skipped: curl is missing (scripts/install-deps.sh test)"; exit 77; }
PY=/usr/bin/python3
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }

block=$(awk '/^## / { insec = ($0 == "## Service") } insec && /^```/ { fence = !fence; next } insec && fence' "$SRC/README.md")
check '[[ "$block" == *"mmfuse serve"* && "$block" == *"curl"* ]]' "README has a Service block with mmfuse serve and curl: $block"
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
script=${block//8080/$PORT}
script=${script//data\/demo\/encoders\/text/$SRC/tests/data/text/bert_st}
script=${script//build\/mmfuse/$CLI}
mkdir -p "$T/build" && cd "$T" || exit 1
timeout 120 bash -c "$script" >"$T/out" 2>"$T/err"
rc=$?
check '[ $rc -eq 0 ]' "the block exits 0 (rc $rc): $(tail -5 "$T/err")"
$PY - "$T/out" >"$T/why" 2>&1 <<'EOF'
import json, sys
# curl prints the replies back to back without newlines: decode them one by one
text, dec, replies, at = open(sys.argv[1]).read(), json.JSONDecoder(), [], 0
while at < len(text):
    while at < len(text) and text[at].isspace():
        at += 1
    if at < len(text):
        obj, at = dec.raw_decode(text, at)
        replies.append(obj)
assert len(replies) == 5, "expected 5 replies, got %d: %s" % (len(replies), text[:500])
emb, tei, added, search, deleted = replies
assert emb["object"] == "list" and len(emb["data"]) == 2 and emb["usage"]["prompt_tokens"] > 0, emb
assert isinstance(tei, list) and len(tei) == 1 and abs(sum(x * x for x in tei[0]) - 1) < 1e-4, "TEI: one unit vector"
assert added == {"added": 1}, added
assert [h["id"] for h in search["hits"]] == ["n1"] and search["hits"][0]["payload"] == {"group": "smileys"}, search
assert deleted == {"deleted": "n1"}, deleted
EOF
prc=$?
check '[ $prc -eq 0 ]' "the replies are what the README says: $(cat "$T/why")"
check '[ -s "$T/notes.mmfidx" ]' "the index file is saved at SIGTERM"
check 'grep -q "mmfuse serve: stopped" "$T/err"' "the server stopped cleanly: $(tail -3 "$T/err")"
[ $fail -eq 0 ] && echo "cli_readme_serve: ok"
exit $fail
