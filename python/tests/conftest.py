"""Shared fixtures: the source tree's small model folders, the CLI to compare against,
and a reader for the safetensors files the CLI writes (independent of the binding)."""
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

# From a source checkout (no install), the package next to this folder is the one tested;
# tests/cli_python.sh sets MMFUSE_TEST_INSTALLED to test the pip-installed copy instead.
if not os.environ.get("MMFUSE_TEST_INSTALLED"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pytest

SRC = Path(os.environ.get("MMFUSE_SRC") or Path(__file__).resolve().parents[2])
BIN = Path(os.environ.get("MMFUSE_BIN") or SRC / "build")
CLI = os.environ.get("MMFUSE_CLI") or str(BIN / "mmfuse")
TEXT_MODEL = SRC / "tests/data/text/bert_st"      # BERT + sentence-transformers mean pooling, Normalize
CLIP_MODEL = SRC / "tests/data/image/clip_zs"     # CLIP: text and image towers, 8-d shared space
VIT_MODEL = SRC / "tests/data/image/vit_pooler"
IMAGES = [SRC / "tests/data/image" / n for n in ("rgb8.png", "photo400x300.jpg", "grey8.png", "exif6.jpg")]

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    """{name: array} and the metadata of a safetensors file."""
    b = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", b[:8])
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in hdr.items():
        lo, hi = t["data_offsets"]
        out[name] = np.frombuffer(b[base + lo:base + hi], dtype=_DT[t["dtype"]]).reshape(t["shape"])
    return out, meta


def cli(*args, check=True):
    """Run the mmfuse CLI; returns stdout."""
    if not os.path.exists(CLI):
        pytest.skip("no mmfuse CLI at %s (make build)" % CLI)
    env = dict(os.environ, MMFUSE_PROGRESS="0")
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True, env=env)
    if check and r.returncode:
        raise AssertionError("mmfuse %s: exit %d: %s" % (" ".join(map(str, args)), r.returncode, r.stderr))
    return r.stdout


SHARED = Path(os.environ.get("MMFUSE_SHARED") or SRC.parent / "shared")


@pytest.fixture(scope="session")
def clip_folder(tmp_path_factory):
    """clip_zs with the real CLIP tokenizer from the shared folder: both towers."""
    import shutil
    tok = SHARED / "tokenizers/clip-vit-base-patch32"
    if not (tok / "tokenizer.json").exists():
        pytest.skip("no CLIP tokenizer at %s (see DATA.md: the shared tokenizer files)" % tok)
    d = tmp_path_factory.mktemp("clip")
    for f in tok.iterdir():
        shutil.copy(f, d / f.name)
    for f in ("config.json", "preprocessor_config.json", "model.safetensors"):
        shutil.copy(CLIP_MODEL / f, d / f)
    return d


@pytest.fixture(scope="session")
def texts():
    return ["hello world", "", "the cat sat on the mat.", "a red heart", "naïve café"]

