"""cluster_scores and retrieval_scores equal the numbers mmfuse cluster --labels and
mmfuse retrieval print for the same data; known answers for perfect and paired cases."""
import json

import numpy as np
import pytest

import mmfuse
from conftest import cli


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 30)
    t = rng.standard_normal((30, 4)).astype(np.float32)
    i = t + rng.standard_normal((30, 4)).astype(np.float32) * 0.8
    p = tmp_path_factory.mktemp("m") / "m.safetensors"
    mmfuse.save_embeddings(p, {"text": t, "image": i}, labels=y)
    return p, t, i, y


def test_cluster_scores_equal_cli(data, tmp_path):
    p, t, _, y = data
    cli("cluster", p, "--tensor", "text", "-k", 3, "--labels", "labels", "--out", tmp_path / "c.json")
    ref = json.loads((tmp_path / "c.json").read_text())
    got = mmfuse.cluster_scores(y, mmfuse.kmeans(t, 3).labels)
    for k in ("nmi", "ari", "purity"):
        assert getattr(got, k) == pytest.approx(ref["scores"][k], abs=1e-6)   # the CLI prints 6 digits
    assert mmfuse.cluster_scores([0, 0, 1, 1], [7, 7, 3, 3]) == (1.0, 1.0, 1.0)   # names do not matter


def test_retrieval_scores_equal_cli(data):
    p, t, i, _ = data
    ref = json.loads(cli("retrieval", p, "--json"))
    got = mmfuse.retrieval_scores(t, i)                         # row i pairs row i
    back = mmfuse.retrieval_scores(i, t)
    for r, g in ((ref["text->image"], got), (ref["image->text"], back)):
        for k in ("r1", "r5", "r10", "map"):
            assert getattr(g, k) == pytest.approx(r[k], abs=1e-6)
        assert g.n_queries == r["queries"]
    assert mmfuse.retrieval_scores(t, t).r1 == 1.0
    # ids decide relevance: a query whose id is not in the gallery is left out
    s = mmfuse.retrieval_scores(t[:5], t, query_ids=[0, 1, 2, 3, 99])
    assert s.n_queries == 4 and s.r1 == 1.0


def test_bad_arguments(data):
    _, t, i, y = data
    with pytest.raises(mmfuse.ShapeError, match="pred"):
        mmfuse.cluster_scores(y, y[:5])
    with pytest.raises(mmfuse.ShapeError, match="expected 4"):
        mmfuse.retrieval_scores(t, i[:, :2])
    with pytest.raises(mmfuse.ArgumentError, match="metric"):
        mmfuse.retrieval_scores(t, i, metric="jaccard")
    with pytest.raises(mmfuse.ShapeError, match="gallery_ids"):
        mmfuse.retrieval_scores(t, i, gallery_ids=[1, 2])
