#!/usr/bin/env bash
# `mmfuse index build --records`: search prints each hit's name (the record's
# id) and payload (chosen record fields), in text and --json; the index records
# the model that embedded it, and queries or additions from another model of the
# same dimension are refused with a message naming both models.
set -u
CLI=${MMFUSE_CLI:?} SRC=${MMFUSE_SRC:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
: >"$T/err"
check() { if ! eval "$1"; then echo "FAILED: $2" >&2; fail=1; fi; }
D=$SRC/tests/data/image
cp -r "$D/resnet_basic" "$T/m1"
cp -r "$D/resnet_basic" "$T/m2"
# m2: the same architecture with one weight changed (a retrained model, say)
/usr/bin/python3 - "$T/m2/model.safetensors" <<'EOF'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
h = struct.unpack("<Q", b[:8])[0]
b[8 + h + 1] ^= 0x01
open(p, "wb").write(bytes(b))
EOF
mkdir "$T/img"
i=0
for f in rgb8.png rgba8.png grey8.png pal4_trns.png photo400x300.jpg; do cp "$D/$f" "$T/img/$f"; done
cat >"$T/records.jsonl" <<'EOF'
{"id": "1F600", "text": "grinning face", "image": "img/rgb8.png", "group": "smileys"}
{"id": "1F63A", "text": "grinning cat", "image": "img/rgba8.png"}
{"id": "2764", "text": "red heart", "image": "img/grey8.png"}
{"id": "1F34E", "text": "red apple", "image": "img/pal4_trns.png"}
{"id": "1F4F7", "text": "camera", "image": "img/photo400x300.jpg"}
EOF
check '"$CLI" embed --records "$T/records.jsonl" --image-model "$T/m1" --id-field id --out "$T/g.safetensors" 2>"$T/err"' "embed: $(cat "$T/err")"
check '"$CLI" index build "$T/g.safetensors" --tensor image --type flat --records "$T/records.jsonl" --id-field id \
  --payload text,image --out "$T/g.mmfidx" 2>"$T/err"' "index build --records: $(cat "$T/err")"

# every image finds itself first, by name, with its payload
out=$("$CLI" search "$T/g.mmfidx" --vector-file "$T/g.safetensors" --tensor image -k 2 --json 2>&1)
check '[[ "$out" == *"\"results\": [{\"id\": "*", \"score\": 1, \"name\": \"1F63A\", \"payload\": {\"text\":\"grinning cat\",\"image\":\"img/rgba8.png\"}}"* ]]' \
  "json names and payloads: $out"
check '[ "$(grep -c "\"score\": 1, \"name\"" <<<"$out")" -eq 5 ]' "each image is its own best hit: $out"
check '! grep -q "\"group\"" <<<"$out"' "only the --payload fields are kept: $out"
# queries named from their records
out=$("$CLI" search "$T/g.mmfidx" --vector-file "$T/g.safetensors" --tensor image -k 1 --query-records "$T/records.jsonl" 2>&1)
check 'grep -q "^query 2764  {\"text\":\"red heart\"}:$" <<<"$out"' "text output names the query: $out"
out=$("$CLI" search "$T/g.mmfidx" --vector-file "$T/g.safetensors" --tensor image -k 1 --json --query-records "$T/records.jsonl" \
  --query-payload none 2>&1)
check '[[ "$out" == *"\"query_name\": \"1F4F7\", \"results\": [{"*"\"name\": \"1F4F7\""* ]] && ! grep -q query_payload <<<"$out"' \
  "json names the query: $out"
out=$("$CLI" search "$T/g.mmfidx" --image "$T/img/grey8.png" --model "$T/m1" -k 3 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "^    1  2764 .*score 1.000000 .*red heart" <<<"$out"' "text output names the hit: $out"
out=$("$CLI" index info "$T/g.mmfidx" --json 2>&1)
check '[[ "$out" == *"\"model\": \"resnet-"* && "$out" == *"\"tensor\": \"image\""* ]]' "index info names model and tensor: $out"

# another model with the same dimension: refused, naming both models
out=$("$CLI" search "$T/g.mmfidx" --image "$T/img/grey8.png" --model "$T/m2" -k 3 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"embedded by model resnet-"*"the index holds vectors of model resnet-"* ]]' \
  "a query from another model is refused (rc $rc): $out"
check '"$CLI" embed --records "$T/records.jsonl" --image-model "$T/m2" --id-field id --out "$T/q2.safetensors" 2>/dev/null' "embed with m2"
out=$("$CLI" search "$T/g.mmfidx" --vector-file "$T/q2.safetensors" -k 3 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"embedded by model"* ]]' "a query file from another model is refused (rc $rc): $out"
out=$("$CLI" index add "$T/g.mmfidx" "$T/q2.safetensors" --out "$T/mixed.mmfidx" 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"cannot join"* ]] && [ ! -e "$T/mixed.mmfidx" ]' "adding another model's vectors is refused (rc $rc): $out"
# a query of another dimension: refused
/usr/bin/python3 - "$T/q3.safetensors" <<EOF
import sys; sys.path.insert(0, "$SRC/tests/ref")
import numpy as np
from st_write import write_safetensors
write_safetensors(sys.argv[1], {"embeddings": np.ones((1, 5), np.float32)})
EOF
out=$("$CLI" search "$T/g.mmfidx" --vector-file "$T/q3.safetensors" -k 3 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"dimension"* ]]' "a query of another dimension is refused (rc $rc): $out"

# bad records: the file and line are named
printf '{"id": "1F600", "text": "x"}\nnot json\n' >"$T/bad.jsonl"
out=$("$CLI" index build "$T/g.safetensors" --records "$T/bad.jsonl" --id-field id --out "$T/bad.mmfidx" 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"bad.jsonl:2"* ]] && [ ! -e "$T/bad.mmfidx" ]' "bad record line named (rc $rc): $out"
# records that name only some vectors: a notice, the rest unnamed
head -n 2 "$T/records.jsonl" >"$T/some.jsonl"
out=$("$CLI" index build "$T/g.safetensors" --records "$T/some.jsonl" --id-field id --payload none --out "$T/some.mmfidx" 2>&1)
check '[[ "$out" == *"3 of 5 vectors have no record"* ]]' "partial records noticed: $out"
out=$("$CLI" search "$T/some.mmfidx" --vector-file "$T/g.safetensors" -k 1 --json 2>&1)
check '[ "$(grep -c "\"name\"" <<<"$out")" -eq 2 ] && ! grep -q payload <<<"$out"' "two named, no payloads: $out"
# fused vectors name the head that made them: an index over an align head's
# output refuses another head's output and raw encoder vectors of the same dimension
/usr/bin/python3 - "$T/pairs.safetensors" <<EOF
import sys; sys.path.insert(0, "$SRC/tests/ref")
import numpy as np
from st_write import write_safetensors
rng = np.random.default_rng(3)
z = rng.normal(size=(64, 8)).astype(np.float32)
noise = lambda: rng.normal(size=(64, 4)).astype(np.float32)
text = np.concatenate([z, noise()], 1) @ rng.normal(size=(12, 12)).astype(np.float32)
image = np.concatenate([z, noise()], 1) @ rng.normal(size=(12, 12)).astype(np.float32)
write_safetensors(sys.argv[1], {"text": text, "image": image, "mask": np.ones((64, 2), np.uint8),
                                "ids": np.arange(64, dtype=np.int64)},
                  metadata={"modalities": "text,image", "encoder.text": "$T/m1", "encoder.image": "$T/m1"})
EOF
check '"$CLI" train --task align --train "$T/pairs.safetensors" --hidden 12 --epochs 2 --seed 1 --out "$T/a.head.safetensors" >/dev/null 2>&1' "train align head A"
check '"$CLI" train --task align --train "$T/pairs.safetensors" --hidden 12 --epochs 2 --seed 2 --out "$T/b.head.safetensors" >/dev/null 2>&1' "train align head B"
check '"$CLI" fuse "$T/a.head.safetensors" --data "$T/pairs.safetensors" --out "$T/a.fused.safetensors" >/dev/null 2>&1' "fuse A"
check '"$CLI" fuse "$T/b.head.safetensors" --data "$T/pairs.safetensors" --out "$T/b.fused.safetensors" >/dev/null 2>&1' "fuse B"
check '"$CLI" index build "$T/a.fused.safetensors" --tensor fused --type flat --out "$T/a.mmfidx" 2>/dev/null' "index over A's output"
out=$("$CLI" search "$T/a.mmfidx" --vector-file "$T/a.fused.safetensors" --tensor fused -k 1 2>&1); rc=$?
check '[ $rc -eq 0 ]' "the same head's queries are accepted (rc $rc): $out"
out=$("$CLI" search "$T/a.mmfidx" --vector-file "$T/b.fused.safetensors" --tensor fused -k 1 2>&1); rc=$?
check '[ $rc -eq 1 ] && [[ "$out" == *"embedded by model safetensors-"* ]]' "another head's output is refused (rc $rc): $out"
d_fused=$("$CLI" index info "$T/a.mmfidx" --json | sed -n 's/.*"dim": \([0-9]*\).*/\1/p')
check '[ "$d_fused" = 12 ]' "--hidden 12 gives 12-d fused vectors (got $d_fused)"
if [ "$d_fused" = 12 ]; then   # raw 12-d vectors have the fused dimension: only the model tells them apart
  out=$("$CLI" search "$T/a.mmfidx" --vector-file "$T/pairs.safetensors" --tensor text -k 1 2>&1); rc=$?
  check '[ $rc -eq 1 ] && [[ "$out" == *"embedded by model resnet-"* ]]' "raw encoder vectors are refused (rc $rc): $out"
fi
[ $fail -eq 0 ] && echo "cli_index_names: ok"
exit $fail
