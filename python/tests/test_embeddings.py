"""load_embeddings / save_embeddings: the files the CLI reads and writes."""
import json

import numpy as np
import pytest

import mmfuse
from conftest import cli, read_safetensors


def arrays(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.standard_normal((n, 3)).astype(np.float32), \
        rng.integers(0, 4, n)


def test_round_trip_and_the_cli_reads_it(tmp_path):
    t, i, y = arrays()
    present = np.arange(40) % 5 != 0
    p = tmp_path / "e.safetensors"
    mmfuse.save_embeddings(p, {"text": t, "image": i}, labels=y, present={"image": present},
                           ids=np.arange(100, 140), label_names=["a", "b", "c", "d"])
    raw, meta = read_safetensors(p)            # the format, read independently
    assert meta["modalities"] == "text,image" and raw["mask"].shape == (40, 2)
    assert (raw["mask"][:, 1] == present).all() and (raw["labels"] == y).all()
    f = mmfuse.load_embeddings(p)
    np.testing.assert_array_equal(f.embeddings["text"], t)
    np.testing.assert_array_equal(f.embeddings["image"][present], i[present])
    assert (f.embeddings["image"][~present] == 0).all()          # absent rows read as zeros
    assert (f.present["image"] == present).all() and f.present["text"].all()
    assert (f.labels == y).all() and f.labels.dtype == np.int64 and (f.ids == np.arange(100, 140)).all()
    # the CLI trains on it; its fused output reads back equal to FusionHead.fuse of the same arrays
    cli("train", "--train", p, "--fusion", "concat", "--epochs", 2, "--out", tmp_path / "h.safetensors")
    cli("fuse", tmp_path / "h.safetensors", "--data", p, "--out", tmp_path / "f.safetensors")
    fused = mmfuse.load_embeddings(tmp_path / "f.safetensors")
    head = mmfuse.FusionHead.load(tmp_path / "h.safetensors")
    np.testing.assert_allclose(fused.embeddings["fused"], head.fuse(**f.embeddings, present=f.present), atol=1e-5)
    assert (fused.ids == f.ids).all() and (fused.labels == y).all()


def test_multihot_labels(tmp_path):
    t, _, _ = arrays()
    mh = (np.random.default_rng(1).random((40, 5)) > 0.5).astype(np.float32)
    mmfuse.save_embeddings(tmp_path / "m.safetensors", {"text": t}, labels=mh)
    f = mmfuse.load_embeddings(tmp_path / "m.safetensors")
    assert f.labels.shape == (40, 5) and f.n_classes == 5 and (f.labels == mh).all() and f.ids is None


def test_bad_files_and_arrays(tmp_path):
    t, i, y = arrays()
    bad = t.copy()
    bad[4, 1] = np.nan
    with pytest.raises(mmfuse.Error, match="text"):
        mmfuse.save_embeddings(tmp_path / "x.safetensors", {"text": bad})
    with pytest.raises(mmfuse.ArgumentError, match="invalid name"):
        mmfuse.save_embeddings(tmp_path / "x.safetensors", {"mask": t})
    with pytest.raises(mmfuse.ShapeError, match="rows"):
        mmfuse.save_embeddings(tmp_path / "x.safetensors", {"text": t, "image": i[:10]})
    with pytest.raises(mmfuse.ArgumentError, match="dict"):
        mmfuse.save_embeddings(tmp_path / "x.safetensors", [t])
    assert not (tmp_path / "x.safetensors").exists()
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{}")
    with pytest.raises(mmfuse.Error, match="junk.safetensors"):
        mmfuse.load_embeddings(tmp_path / "junk.safetensors")
