#!/usr/bin/env python3
"""Write the malformed-safetensors corpus and the fuzzing seeds.

    python3 tests/ref/make_bad_safetensors.py [REPO_ROOT]

tests/data/safetensors_bad/*.safetensors: one fault each, handcrafted byte by
byte (plain python3: no torch, no safetensors package). EXPECTED.tsv lists
`file<TAB>substring`: tests/test_safetensors.c requires each file to be
rejected with an error that contains the file's path and that substring (the
words that name the fault).

tests/data/fuzz/fuzz_safetensors/good_*.safetensors: small valid files, the
seeds (with the bad corpus) for fuzz/fuzz_safetensors.c.

The layout: u64 little-endian header length N, N bytes of UTF-8 JSON, data.
"""
import json
import os
import struct
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BAD = os.path.join(ROOT, "tests", "data", "safetensors_bad")
SEEDS = os.path.join(ROOT, "tests", "data", "fuzz", "fuzz_safetensors")


def raw(header: bytes, data: bytes = b"", hlen=None) -> bytes:
    """A file from header bytes (length prefix from the real length unless given)."""
    n = len(header) if hlen is None else hlen
    return struct.pack("<Q", n) + header + data


def hj(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def t(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}


F4 = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)   # 16 bytes: one F32 [4] or [2, 2]
ok_w = t("F32", [4], 0, 16)

CASES = []   # (file name, bytes, expected substring)


def case(name, content, expect):
    CASES.append((name + ".safetensors", content, expect))


# -- framing ----------------------------------------------------------------
case("empty", b"", "0 bytes is too short")
case("short_5_bytes", b"\x10\x00\x00\x00\x00", "5 bytes is too short")
case("absurd_header_len", struct.pack("<Q", 200_000_000) + b"{}", "exceeds the 100000000-byte limit")
case("absurd_header_len_u64max", struct.pack("<Q", 2**64 - 1) + b"{}", "exceeds the 100000000-byte limit")
case("header_len_zero", raw(b"", hlen=0), "too small for a JSON object")
case("header_len_past_eof", raw(hj({"w": ok_w}), hlen=4096), "truncated: header claims 4096 bytes")
case("truncated_data", raw(hj({"w": ok_w}), F4[:10]), "run past the end")

# -- the header as JSON -------------------------------------------------------
case("header_not_json", raw(b'{"w": nope}'), "invalid JSON")
case("header_json_array", raw(b"[1, 2, 3]"), "not a JSON object")
case("header_json_string", raw(b'"{}"'), "not a JSON object")
case("trailing_garbage_after_json", raw(hj({"w": ok_w}) + b"  xyz", F4), "trailing data after the JSON value")
case("invalid_utf8_in_header", raw(b'{"__metadata__":{"k":"caf\xe9"},' + hj({"w": ok_w})[1:], F4),
     "not valid UTF-8")
case("non_utf8_tensor_name", raw(b'{"w\xff\xfe":' + hj(ok_w) + b"}", F4), "not valid UTF-8")
case("overlong_utf8_name", raw(b'{"\xc0\xafw":' + hj(ok_w) + b"}", F4), "not valid UTF-8")
case("nul_escape_in_name", raw(b'{"w\\u0000x":' + hj(ok_w) + b"}", F4), "\\u0000 (NUL) escape")
case("raw_control_char_in_name", raw(b'{"w\x01":' + hj(ok_w) + b"}", F4), "raw control character 0x01")
case("nul_byte_padding", raw(hj({"w": ok_w}) + b"\x00\x00\x00", F4), "NUL byte")

# -- one tensor entry ---------------------------------------------------------
case("unknown_dtype", raw(hj({"w": t("Q7", [4], 0, 16)}), F4), 'unknown dtype "Q7"')
case("dtype_not_string", raw(hj({"w": {"dtype": 4, "shape": [4], "data_offsets": [0, 16]}}), F4),
     '"dtype" should be a string')
case("shape_negative", raw(hj({"w": t("F32", [-4], 0, 16)}), F4), "shape[0] is -4, expected a non-negative integer")
case("shape_non_integer", raw(hj({"w": t("F32", [2, 2.5], 0, 16)}), F4), "shape[1] is 2.5")
case("shape_string_dim", raw(hj({"w": t("F32", ["4"], 0, 16)}), F4), "shape[0] is not a number")
case("shape_not_array", raw(hj({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}}), F4),
     '"shape" should be an array')
case("shape_overflow", raw(hj({"w": t("U8", [2**40, 2**40, 16], 0, 16)}), F4), "shape overflows")
case("shape_overflow_with_dtype", raw(hj({"w": t("F64", [2**31, 2**31], 0, 16)}), F4),
     "shape x dtype size overflows")
case("too_many_dims", raw(hj({"w": t("U8", [1] * 8 + [16], 0, 16)}), F4), "9 dimensions (at most 8")
case("data_offsets_reversed", raw(hj({"w": t("F32", [4], 16, 0)}), F4), "end 0 before begin 16")
case("data_offsets_past_end", raw(hj({"w": t("F32", [4], 16, 32)}), F4), "run past the end")
case("data_offsets_three_entries", raw(hj({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8, 16]}}), F4),
     '"data_offsets" should be [begin, end]')
case("data_offsets_not_array", raw(hj({"w": {"dtype": "F32", "shape": [4], "data_offsets": "0-16"}}), F4),
     '"data_offsets" should be [begin, end]')
case("data_offsets_negative", raw(hj({"w": t("F32", [4], -16, 0)}), F4), "data_offsets[0] is -16")
case("huge_float_offsets", raw(hj({"w": t("F32", [4], 0, 1e300)}), F4), "data_offsets[1] is 1e+300")
case("byte_span_mismatch", raw(hj({"w": t("F32", [3], 0, 16)}), F4), "16 bytes in data_offsets but shape x F32 needs 12")
case("missing_dtype", raw(hj({"w": {"shape": [4], "data_offsets": [0, 16]}}), F4), 'missing field "dtype"')
case("missing_shape", raw(hj({"w": {"dtype": "F32", "data_offsets": [0, 16]}}), F4), 'missing field "shape"')
case("missing_data_offsets", raw(hj({"w": {"dtype": "F32", "shape": [4]}}), F4), 'missing field "data_offsets"')
case("extra_unknown_field", raw(hj({"w": dict(ok_w, offset=0)}), F4), 'unexpected field "offset"')
case("repeated_field", raw(b'{"w":{"dtype":"F32","dtype":"F16","shape":[4],"data_offsets":[0,16]}}', F4),
     'field "dtype" appears twice')
case("entry_not_object", raw(hj({"w": [0, 16]}), F4), "entry should be an object")
case("empty_tensor_name", raw(hj({"": ok_w}), F4), "empty name")

# -- the tensors together -----------------------------------------------------
case("overlapping_tensors", raw(hj({"a": t("F32", [3], 0, 12), "b": t("F32", [2], 8, 16)}), F4 + F4[:0]),
     "overlaps the previous tensor")
case("gap_between_tensors", raw(hj({"a": t("F32", [1], 0, 4), "b": t("F32", [2], 8, 16)}), F4),
     "gap of 4 unused bytes")
case("trailing_bytes_after_last_tensor", raw(hj({"w": t("F32", [3], 0, 12)}), F4), "4 trailing bytes after the last tensor")
case("duplicate_tensor_names", raw(b'{"w":' + hj(t("F32", [2], 0, 8)) + b',"w":' + hj(t("F32", [2], 8, 16)) + b"}", F4),
     'tensor name "w" appears twice')

# -- __metadata__ ---------------------------------------------------------------
case("duplicate_metadata", raw(b'{"__metadata__":{"a":"1"},"__metadata__":{"b":"2"},"w":' + hj(ok_w) + b"}", F4),
     '"__metadata__" appears twice')
case("duplicate_metadata_key", raw(b'{"__metadata__":{"a":"1","a":"2"},"w":' + hj(ok_w) + b"}", F4),
     '__metadata__ key "a" appears twice')
case("metadata_non_string_value", raw(hj({"__metadata__": {"format": "pt", "epoch": 3}, "w": ok_w}), F4),
     '__metadata__ "epoch" should be a string')
case("metadata_not_object", raw(hj({"__metadata__": ["pt"], "w": ok_w}), F4), '"__metadata__" should be an object')


def good_files():
    """Valid files for the fuzz seeds: every dtype, metadata, scalar, empty tensor."""
    out = {}
    out["good_one_f32.safetensors"] = raw(hj({"w": ok_w}).ljust(32), F4)
    hdr = {"__metadata__": {"format": "pt", "note": "caf\u00e9"},
           "a": t("F64", [2], 0, 16), "b": t("I64", [1], 16, 24), "c": t("F32", [2, 1], 24, 32),
           "d": t("I32", [], 32, 36), "e": t("F16", [2], 36, 40), "f": t("BF16", [1, 1], 40, 42),
           "g": t("U8", [3], 42, 45), "h": t("BOOL", [1], 45, 46), "z": t("F32", [0, 3], 46, 46)}
    data = (struct.pack("<2d", 1.5, -2.0) + struct.pack("<q", -7) + struct.pack("<2f", 0.5, 8.0) +
            struct.pack("<i", 42) + struct.pack("<2e", 1.0, -0.25) + b"\x80\x3f" + b"\x01\x02\x03" + b"\x01")
    out["good_all_dtypes.safetensors"] = raw(hj(hdr).ljust(8 * ((len(hj(hdr)) + 7) // 8)), data)
    out["good_empty.safetensors"] = raw(b"{}      ")
    return out


def main():
    os.makedirs(BAD, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    names = set()
    with open(os.path.join(BAD, "EXPECTED.tsv"), "w", encoding="utf-8") as tsv:
        for name, content, expect in CASES:
            assert name not in names, name
            names.add(name)
            assert "\t" not in expect and "\n" not in expect
            with open(os.path.join(BAD, name), "wb") as f:
                f.write(content)
            tsv.write(f"{name}\t{expect}\n")
    for name, content in good_files().items():
        with open(os.path.join(SEEDS, name), "wb") as f:
            f.write(content)
    print(f"{len(CASES)} malformed files in {BAD}, {len(good_files())} seeds in {SEEDS}")


if __name__ == "__main__":
    main()
