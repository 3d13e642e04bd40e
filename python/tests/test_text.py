"""TextEncoder and Tokenizer against the CLI on the same inputs and the tokenizer's known ids."""
import numpy as np
import pytest

import mmfuse
from conftest import CLIP_MODEL, TEXT_MODEL, SRC, cli, read_safetensors


def test_version_matches_the_library_and_header():
    hdr = (SRC / "include/mmfuse.h").read_text()
    assert '#define MMFUSE_VERSION "%s"' % mmfuse.__version__ in hdr
    assert mmfuse.library_version == mmfuse.__version__


def test_encode_equals_cli_embed(tmp_path, texts):
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    cli("embed", "--model", TEXT_MODEL, "--text-file", tmp_path / "t.txt", "--out", tmp_path / "e.safetensors")
    ref = read_safetensors(tmp_path / "e.safetensors")[0]["embeddings"]
    enc = mmfuse.TextEncoder(TEXT_MODEL, threads=1)
    got = enc.encode(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), enc.dim) == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)   # same code path; batching may differ
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)   # the folder's Normalize module


def test_encode_options_and_shapes(texts):
    enc = mmfuse.TextEncoder(TEXT_MODEL, threads=1, max_batch=2)
    one = enc.encode(texts[0])
    assert one.shape == (enc.dim,)
    many = enc.encode(texts, batch_size=1, show_progress=True)
    np.testing.assert_allclose(many[0], one, atol=1e-6)
    raw = enc.encode(texts, normalize=False, pooling="cls")
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1)
    assert enc.encode([]).shape == (0, enc.dim)
    with pytest.raises(mmfuse.ArgumentError, match="pooling"):
        enc.encode(texts, pooling="avg")
    with pytest.raises(mmfuse.ArgumentError, match="none"):
        enc.encode(texts, pooling="none")
    with pytest.raises(mmfuse.ArgumentError, match=r"texts\[1\]: expected a str"):
        enc.encode(["a", 3])
    with pytest.raises(mmfuse.ArgumentError, match="NUL"):
        enc.encode("a\0b")
    with pytest.raises(mmfuse.ArgumentError, match="batch_size"):
        enc.encode(texts, batch_size=0)


def test_clip_text_tower_equals_cli(tmp_path, clip_folder):
    qs = ["a photo of a cat", "a red heart"]
    (tmp_path / "q.txt").write_text("\n".join(qs) + "\n")
    cli("embed", "--model", clip_folder, "--text-file", tmp_path / "q.txt", "--out", tmp_path / "q.safetensors")
    ref = read_safetensors(tmp_path / "q.safetensors")[0]["embeddings"]
    np.testing.assert_allclose(mmfuse.TextEncoder(clip_folder, threads=1).encode(qs), ref, atol=1e-6)


def test_tokenize_known_ids():
    # tests/ref/ref_bert.py's vocab: [CLS]=2 [SEP]=3 hello=12 world=13 cat=7, "##s"=100 (as tests/cli_text.sh)
    t = mmfuse.tokenize(["Hello WORLD", "cats", ""], SRC / "tests/data/text/bert_a")
    assert t["input_ids"].tolist() == [[2, 12, 13, 3], [2, 7, 100, 3], [2, 3, 0, 0]]
    assert t["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]
    assert t["input_ids"].dtype == np.int32 and t["attention_mask"].dtype == np.uint8
    one = mmfuse.Tokenizer(SRC / "tests/data/text/bert_a")("cats", add_special_tokens=False)
    assert one["input_ids"].tolist() == [7, 100]
    cut = mmfuse.tokenize("hello world cats", SRC / "tests/data/text/bert_a", max_length=3)
    assert cut["input_ids"].tolist() == [2, 12, 3] and bool(cut["truncated"])


def test_tokenize_equals_cli(texts):
    import json
    out = cli("tokenize", "--model", TEXT_MODEL, *sum((["--text", t] for t in texts), []))
    ref = [json.loads(l)["ids"] for l in out.splitlines()]
    got = mmfuse.TextEncoder(TEXT_MODEL, threads=1).tokenize(texts)
    for row, mask, r in zip(got["input_ids"], got["attention_mask"], ref):
        assert row[mask.astype(bool)].tolist() == r


def test_bad_folders_raise_with_the_library_message(tmp_path):
    with pytest.raises(mmfuse.NotFoundError, match="/nonexistent"):
        mmfuse.TextEncoder("/nonexistent/model")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(mmfuse.Error, match="config.json"):
        mmfuse.TextEncoder(tmp_path)
    with pytest.raises(mmfuse.ArgumentError, match="precision"):
        mmfuse.TextEncoder(TEXT_MODEL, precision="fp16")
    with pytest.raises(mmfuse.ArgumentError, match="threads"):
        mmfuse.TextEncoder(TEXT_MODEL, threads=0)
    with pytest.raises(mmfuse.ArgumentError, match="threads"):
        mmfuse.TextEncoder(TEXT_MODEL, threads=10 ** 6)
    with pytest.raises(mmfuse.ArgumentError, match="max_length"):
        mmfuse.Tokenizer(SRC / "tests/data/text/bert_a").tokenize("a", max_length=2 ** 40)
    with pytest.raises(mmfuse.ArgumentError, match="no text tower"):
        mmfuse.TextEncoder(SRC / "tests/data/image/vit_pooler")


def test_closed_encoder_refuses_instead_of_crashing():
    enc = mmfuse.TextEncoder(TEXT_MODEL, threads=1)
    enc.close()
    with pytest.raises(mmfuse.ArgumentError, match="closed"):
        enc.encode("x")
    enc.close()   # twice is fine


@pytest.mark.parametrize("precision", ["bf16", "int8", "auto"])
def test_reduced_precisions_stay_close_to_fp32(precision, texts):
    ref = mmfuse.TextEncoder(TEXT_MODEL, threads=1).encode(texts)
    try:
        enc = mmfuse.TextEncoder(TEXT_MODEL, threads=1, precision=precision)
    except mmfuse.UnsupportedError as e:       # a CPU without AVX512-BF16 / VNNI
        pytest.skip("%s: %s" % (precision, e))
    got = enc.encode(texts)
    cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.min() >= 0.999, cos              # docs/text.md: ~3 significant digits


def test_token_states_equal_cli_pooling_none(tmp_path, texts):
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    model = SRC / "tests/data/text/bert_a"
    cli("embed", "--model", model, "--text-file", tmp_path / "t.txt", "--out", tmp_path / "n.safetensors",
        "--pooling", "none")
    ref = read_safetensors(tmp_path / "n.safetensors")[0]
    enc = mmfuse.TextEncoder(model, threads=1)
    states, mask = enc.encode_tokens(texts)
    assert states.shape == ref["embeddings"].shape and (mask == ref["attention_mask"]).all()
    np.testing.assert_allclose(states, ref["embeddings"], atol=1e-6)
    one, m1 = enc.encode_tokens(texts[0])
    assert one.shape == (m1.sum(), enc.dim)   # a single text: its own length, no padding
    np.testing.assert_allclose(one, states[0, :len(one)], atol=1e-6)
    assert enc.encode_tokens([])[0].shape == (0, 0, enc.dim)
