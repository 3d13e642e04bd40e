"""kmeans against the CLI's cluster on the same rows, and a clustering with a known answer."""
import json
import sys

import numpy as np
import pytest

import mmfuse
from conftest import SRC, cli

sys.path.insert(0, str(SRC / "tests" / "ref"))
from st_write import write_safetensors  # noqa: E402


def blobs():
    rng = np.random.default_rng(3)
    centers = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)
    truth = np.repeat(np.arange(3), 40)
    return (centers[truth] + rng.standard_normal((120, 2)).astype(np.float32) * 0.5), truth


def test_recovers_separated_blobs():
    x, truth = blobs()
    r = mmfuse.kmeans(x, 3)
    assert r.centroids.shape == (3, 2) and r.labels.shape == (120,)
    # each true blob maps onto one cluster
    for c in range(3):
        assert len(set(r.labels[truth == c].tolist())) == 1
    assert len(set(r.labels.tolist())) == 3
    assert r.inertia == pytest.approx(float(((x - r.centroids[r.labels]) ** 2).sum()), rel=1e-4)


def test_equals_cli(tmp_path):
    x, _ = blobs()
    write_safetensors(str(tmp_path / "x.safetensors"), {"embeddings": x})
    cli("cluster", tmp_path / "x.safetensors", "-k", 3, "--out", tmp_path / "c.json")
    ref = json.loads((tmp_path / "c.json").read_text())
    got = mmfuse.kmeans(x, 3)
    assert [a["id"] for a in ref["assignments"]] == list(range(len(x)))
    assert got.labels.tolist() == [a["cluster"] for a in ref["assignments"]]
    assert got.inertia == pytest.approx(ref["inertia"], rel=1e-6) and got.iterations == ref["iterations"]


def test_bad_arguments():
    x, _ = blobs()
    with pytest.raises(mmfuse.ArgumentError, match="k"):
        mmfuse.kmeans(x, 500)
    with pytest.raises(mmfuse.ArgumentError, match="init"):
        mmfuse.kmeans(x, 3, init="forgy")
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(mmfuse.Error, match="NaN|finite"):
        mmfuse.kmeans(bad, 3)
