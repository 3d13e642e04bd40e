"""Index: add/search/delete/save/load, and the same answers as the CLI on the same vectors."""
import json
import sys

import numpy as np
import pytest

import mmfuse
from conftest import cli

sys.path.insert(0, str(__import__("conftest").SRC / "tests" / "ref"))
from st_write import write_safetensors  # noqa: E402  (the tests' independent writer)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((300, 16)).astype(np.float32), np.arange(1000, 1300, dtype=np.int64)


def test_search_equals_cli_on_the_same_file(tmp_path, data):
    x, ids = data
    q = x[:12] + 0.05
    write_safetensors(str(tmp_path / "x.safetensors"), {"embeddings": x, "ids": ids})
    write_safetensors(str(tmp_path / "q.safetensors"), {"embeddings": q})
    cli("index", "build", tmp_path / "x.safetensors", "--out", tmp_path / "cli.mmfidx", "--M", 8)
    lines = cli("search", tmp_path / "cli.mmfidx", "--vector-file", tmp_path / "q.safetensors", "-k", 5, "--json")
    ref = [json.loads(l)["results"] for l in lines.splitlines()]
    ref_ids = np.array([[r["id"] for r in row] for row in ref])
    ref_scores = np.array([[r["score"] for r in row] for row in ref])
    # the CLI's file, opened here
    got_ids, got_scores = mmfuse.Index.load(tmp_path / "cli.mmfidx").search(q, k=5)
    assert (got_ids == ref_ids).all()
    np.testing.assert_allclose(got_scores, ref_scores, atol=1e-5)   # the CLI prints 6 digits
    # built here with the same settings (one thread, same seed: the same graph)
    ix = mmfuse.Index(16, M=8)
    ix.add(x, ids)
    got_ids, got_scores = ix.search(q, k=5)
    assert (got_ids == ref_ids).all()
    np.testing.assert_allclose(got_scores, ref_scores, atol=1e-5)


def test_add_delete_save_load_payloads(tmp_path, data):
    x, ids = data
    ix = mmfuse.Index(16, metric="l2", kind="flat")
    ix.add(x[:100], ids[:100], payloads=[{"row": i} for i in range(100)])
    ix.add(x[100:110])                                  # library-assigned ids: after the largest
    assert len(ix) == 110 and ix.dim == 16 and ix.metric == "l2" and ix.kind == "flat"
    i, s = ix.search(x[5], k=3)
    assert i.shape == (3,) and i[0] == ids[5] and s[0] == pytest.approx(0, abs=1e-4)
    assert s[1] >= s[0]                                  # l2: smaller is better, best first
    assert ix.search(x[100], k=1)[0][0] == ids[99] + 1
    ix.delete(ids[5])
    assert ids[5] not in ix.search(x[5], k=10)[0]
    with pytest.raises(mmfuse.NotFoundError):
        ix.delete(ids[5])
    ix.save(tmp_path / "a.mmfidx")
    jx = mmfuse.Index.load(tmp_path / "a.mmfidx")
    assert len(jx) == 109 and jx.deleted == 1 and jx.payload(ids[7]) == {"row": 7} and jx.payload(ids[5]) is None
    assert (jx.search(x[:20], k=4)[0] == ix.search(x[:20], k=4)[0]).all()
    jx.add(x[200:201], [5])                              # an opened (mapped) index still takes adds
    assert jx.search(x[200], k=1)[0][0] == 5
    before = jx.search(x[:20], k=4)
    jx.compact()                                         # tombstones go, the live answers stay
    assert jx.deleted == 0 and len(jx) == 110 and jx.payload(ids[7]) == {"row": 7}
    assert (jx.search(x[:20], k=4)[0] == before[0]).all()
    small = mmfuse.Index(16)
    with pytest.raises(mmfuse.ArgumentError, match="no vectors"):
        small.search(x[:2], k=3)
    small.add(x[:2], [1, 2])
    i2, s2 = small.search(x[:2], k=4)                   # slots beyond the live count: -1 / NaN
    assert (i2[:, 2:] == -1).all() and np.isnan(s2[:, 2:]).all() and sorted(i2[0, :2]) == [1, 2]


def test_bad_arguments_are_refused(tmp_path, data):
    x, ids = data
    ix = mmfuse.Index(16)
    with pytest.raises(mmfuse.ShapeError, match="expected 16"):
        ix.add(x[:, :8])
    with pytest.raises(mmfuse.ShapeError, match=r"expected 4 values.*\(3,\)"):
        ix.add(x[:4], ids[:3])
    with pytest.raises(mmfuse.ArgumentError, match="integers"):
        ix.add(x[:2], [1.5, 2.5])
    with pytest.raises(mmfuse.ArgumentError, match="numbers"):
        ix.add([["a"] * 16])
    with pytest.raises(mmfuse.ArgumentError, match="payloads"):
        ix.add(x[:2], payloads=[1, 2])
    with pytest.raises(mmfuse.ArgumentError, match="JSON"):
        ix.add(x[:1], [1], payloads=[object()])
    ix.add(x[::2][:10].T.copy().T, ids[:10])             # non-contiguous rows are copied
    with pytest.raises(mmfuse.ArgumentError, match="already"):
        ix.add(x[:1], ids[:1])
    with pytest.raises(mmfuse.ArgumentError, match="metric"):
        mmfuse.Index(16, metric="hamming")
    with pytest.raises(mmfuse.ArgumentError, match="kind"):
        mmfuse.Index(16, kind="ivf")
    with pytest.raises(mmfuse.ArgumentError, match=r"M: 1000000000000 out of range"):
        mmfuse.Index(16, M=10 ** 12)                     # refused, not wrapped to a C int
    with pytest.raises(mmfuse.ArgumentError, match="threads"):
        mmfuse.Index(16, threads=10 ** 6)
    with pytest.raises(mmfuse.ArgumentError, match="dim: expected an integer"):
        mmfuse.Index(4.5)
    with pytest.raises(mmfuse.ArgumentError, match="k"):
        ix.search(x[0], k=0)
    with pytest.raises(mmfuse.ShapeError):
        ix.search(np.zeros((2, 2, 16), np.float32))
    (tmp_path / "junk.mmfidx").write_bytes(b"MMFIDX" + b"\0" * 100)
    with pytest.raises(mmfuse.Error, match="junk.mmfidx"):
        mmfuse.Index.load(tmp_path / "junk.mmfidx")
    with pytest.raises(mmfuse.Error, match="nothere"):
        mmfuse.Index.load(tmp_path / "nothere.mmfidx")


def test_float32_rows_pass_without_a_copy():
    from mmfuse._arrays import matrix
    a = np.zeros((4, 16), np.float32)
    assert matrix(a, "x", dim=16) is a                     # the caller's buffer goes to C as it is
    b = np.zeros((16, 4), np.float32).T                    # a transposed view: copied once
    m = matrix(b, "x", dim=16)
    assert m is not b and m.flags.c_contiguous and not np.shares_memory(m, b)
    assert matrix(np.zeros((4, 16)), "x").dtype == np.float32   # float64: converted
