"""Fusion heads: train/predict/fuse over numpy equal the CLI's train/eval/fuse on the same
embedding file; a missing modality is handled as the CLI handles an absent one."""
import json
import sys

import numpy as np
import pytest

import mmfuse
from conftest import SRC, cli, read_safetensors

sys.path.insert(0, str(SRC / "tests" / "ref"))
from st_write import write_safetensors  # noqa: E402


def synth(n, seed):
    """Two modalities that each carry part of a 3-class label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    text = rng.standard_normal((n, 6)).astype(np.float32)
    image = rng.standard_normal((n, 5)).astype(np.float32)
    text[:, 0] += 2.0 * (y == 1)
    image[:, 0] += 2.0 * (y == 2)
    return text, image, y


def write_embfile(path, text, image, y, image_mask=None):
    mask = np.ones((len(y), 2), np.uint8)
    if image_mask is not None:
        mask[:, 1] = image_mask
    write_safetensors(str(path), {"text": text, "image": image, "mask": mask, "labels": y.astype(np.int64),
                                  "ids": np.arange(len(y), dtype=np.int64)}, metadata={"modalities": "text,image"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("fusion")
    tr, te = synth(240, 1), synth(60, 2)
    write_embfile(d / "train.safetensors", *tr)
    write_embfile(d / "test.safetensors", *te)
    cli("train", "--train", d / "train.safetensors", "--fusion", "gmu", "--hidden", 16, "--epochs", 40, "--lr", 3e-3,
        "--out", d / "gmu.head.safetensors")
    return d, tr, te


def test_predict_and_fuse_equal_cli(trained, tmp_path):
    d, _, (text, image, y) = trained
    head = mmfuse.FusionHead.load(d / "gmu.head.safetensors")
    assert head.fusion == "gmu" and head.task == "classify" and head.modalities == {"text": 6, "image": 5}
    out = head.predict(text_emb=text, image_emb=image)
    assert out.shape == (60, 3) and out.dtype == np.float32
    cli("eval", d / "gmu.head.safetensors", "--data", d / "test.safetensors", "--no-table",
        "--predictions", tmp_path / "p.json")
    rows = json.loads((tmp_path / "p.json").read_text())["rows"]
    assert out.argmax(1).tolist() == [r["pred"] for r in rows]
    assert [list(np.argsort(-o, kind="stable")[:3]) for o in out] == [r["top5"][:3] for r in rows]
    cli("fuse", d / "gmu.head.safetensors", "--data", d / "test.safetensors", "--out", tmp_path / "f.safetensors")
    ref = read_safetensors(tmp_path / "f.safetensors")[0]["fused"]
    emb = head.fuse(text, image)
    assert emb.shape == (60, head.emb_dim)
    np.testing.assert_allclose(emb, ref, atol=1e-5)   # batch sizes differ: GEMMs of other shapes
    np.testing.assert_allclose(head.fuse(text[3], image[3]), ref[3], atol=1e-5)   # one row


def test_missing_modality_equals_an_absent_column(trained, tmp_path):
    d, _, (text, image, y) = trained
    head = mmfuse.FusionHead.load(d / "gmu.head.safetensors")
    write_embfile(tmp_path / "noimg.safetensors", text, image, y, image_mask=np.zeros(len(y), np.uint8))
    cli("fuse", d / "gmu.head.safetensors", "--data", tmp_path / "noimg.safetensors", "--out", tmp_path / "f.safetensors")
    ref = read_safetensors(tmp_path / "f.safetensors")[0]["fused"]
    np.testing.assert_allclose(head.fuse(text_emb=text), ref, atol=1e-5)
    some = np.arange(len(y)) % 2 == 0                     # per-row absence
    got = head.fuse(text, image, present={"image": some})
    np.testing.assert_allclose(got[~some], ref[~some], atol=1e-5)
    np.testing.assert_allclose(got[some], head.fuse(text, image)[some], atol=1e-5)


def test_train_over_numpy_equals_cli_train(trained, tmp_path):
    d, (text, image, y), (tt, ti, ty) = trained
    head = mmfuse.fusion.train({"text": text, "image": image}, y, fusion="gmu", hidden=16, epochs=40, lr=3e-3, threads=1)
    head.save(tmp_path / "py.head.safetensors")
    ref = mmfuse.FusionHead.load(d / "gmu.head.safetensors")
    np.testing.assert_allclose(head.predict(tt, ti), ref.predict(tt, ti), atol=1e-5)
    acc = (head.predict(tt, ti).argmax(1) == ty).mean()
    assert acc > 0.55, acc                                 # chance is 1/3
    again = mmfuse.FusionHead.load(tmp_path / "py.head.safetensors")
    np.testing.assert_array_equal(again.predict(tt, ti), head.predict(tt, ti))
    # with validation data and other options
    seen = []
    h2 = mmfuse.fusion.train({"text": text, "image": image}, y, val=({"text": tt, "image": ti}, ty), fusion="concat",
                             epochs=3, lr=3e-3, modality_dropout={"image": 0.2}, patience=5,
                             progress=lambda *a: seen.append(a), show_progress=True)
    assert h2.fusion == "concat" and h2.describe()["fusion"] == "concat"
    assert [s[:2] for s in seen] == [(1, 3), (2, 3), (3, 3)]
    assert all(s[2] > 0 and 0 <= s[3]["accuracy"] <= 1 and s[3]["loss"] > 0 for s in seen)
    # the accuracy the callback heard for the kept (last, best-or-equal) epoch is the head's on val
    best = max(s[3]["accuracy"] for s in seen)
    assert (h2.predict(tt, ti).argmax(1) == ty).mean() == pytest.approx(best, abs=1e-9)

    def stop(*a):
        raise KeyboardInterrupt("stop")
    with pytest.raises(KeyboardInterrupt, match="stop"):   # raised once training returns
        mmfuse.fusion.train({"text": text}, y, epochs=2, progress=stop)


def test_bad_inputs_raise(trained):
    d, (text, image, y), _ = trained
    head = mmfuse.FusionHead.load(d / "gmu.head.safetensors")
    with pytest.raises(mmfuse.ShapeError, match="expected 6"):
        head.predict(text_emb=image)
    with pytest.raises(mmfuse.ShapeError, match="rows"):
        head.predict(text[:5], image[:4])
    with pytest.raises(mmfuse.ArgumentError, match="no embeddings"):
        head.predict()
    with pytest.raises(mmfuse.ArgumentError, match="unknown modality \"audio\""):
        head.predict(audio=text)
    bad = text.copy()
    bad[2, 2] = np.inf
    with pytest.raises(mmfuse.Error, match="text"):
        head.predict(bad, image)
    with pytest.raises(mmfuse.Error, match="fusion|operator"):
        mmfuse.fusion.train({"text": text}, y, fusion="nosuch")
    with pytest.raises(mmfuse.ArgumentError, match="unknown option"):
        mmfuse.fusion.train({"text": text}, y, epoch=3)
    with pytest.raises(mmfuse.ArgumentError, match="labels"):
        mmfuse.fusion.train({"text": text}, None)
    with pytest.raises(mmfuse.ArgumentError, match="task"):
        mmfuse.fusion.train({"text": text}, y, task="regress")
    with pytest.raises(mmfuse.Error, match="nothere"):
        mmfuse.FusionHead.load(d / "nothere.safetensors")


def test_checkpoint_kill_and_resume_equals_uninterrupted(trained, tmp_path):
    """A training process killed (SIGKILL from its progress callback, during epoch 3: the
    checkpoint of epoch 2 stays) and resumed returns the uninterrupted run's head."""
    import subprocess
    d, (text, image, y), (tt, ti, ty) = trained
    np.savez(tmp_path / "data.npz", text=text, image=image, y=y, tt=tt, ti=ti, ty=ty)
    args = dict(fusion="gmu", hidden=16, epochs=4, lr=3e-3, dropout=0.2, threads=1)
    ref = mmfuse.fusion.train({"text": text, "image": image}, y, val=({"text": tt, "image": ti}, ty), **args)
    ref.save(tmp_path / "ref.head")
    ck = tmp_path / "ck.st"
    code = ("import os, signal, numpy as np, mmfuse\n"
            "z = np.load(%r)\n"
            "def die(epoch, *a):\n"
            "    if epoch == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
            "mmfuse.fusion.train({'text': z['text'], 'image': z['image']}, z['y'], val=({'text': z['tt'], 'image': z['ti']}, z['ty']),"
            " progress=die, checkpoint=%r, **%r)\n") % (str(tmp_path / "data.npz"), str(ck), args)
    import os
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))   # the mmfuse this test imports
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env)
    assert r.returncode == -9 and ck.exists(), r.stderr.decode()
    head = mmfuse.fusion.train({"text": text, "image": image}, y, val=({"text": tt, "image": ti}, ty), checkpoint=ck,
                               resume=True, show_progress=True, **args)
    head.save(tmp_path / "k.head")
    assert (tmp_path / "ref.head").read_bytes() == (tmp_path / "k.head").read_bytes()
    with pytest.raises(mmfuse.Error, match="exists"):
        mmfuse.fusion.train({"text": text, "image": image}, y, checkpoint=ck, **args)
    with pytest.raises(mmfuse.Error, match="option lr"):
        mmfuse.fusion.train({"text": text, "image": image}, y, val=({"text": tt, "image": ti}, ty), checkpoint=ck, resume=True,
                            **dict(args, lr=1e-3))
    with pytest.raises(mmfuse.Error, match="array train text"):
        mmfuse.fusion.train({"text": text + 1, "image": image}, y, val=({"text": tt, "image": ti}, ty), checkpoint=ck,
                            resume=True, **args)
