"""ImageEncoder: every input kind gives the CLI's embedding of the same file."""
import numpy as np
import pytest

import mmfuse
from conftest import CLIP_MODEL, IMAGES, TEXT_MODEL, VIT_MODEL, cli, read_safetensors


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    (d / "list.txt").write_text("\n".join(map(str, IMAGES)) + "\n")
    cli("embed", "--model", CLIP_MODEL, "--image-list", d / "list.txt", "--out", d / "e.safetensors")
    return read_safetensors(d / "e.safetensors")[0]["embeddings"]


@pytest.fixture(scope="module")
def enc():
    return mmfuse.ImageEncoder(CLIP_MODEL, threads=1, max_batch=3)


def test_paths_equal_cli(enc, ref):
    got = enc.encode([str(p) for p in IMAGES])
    assert got.shape == ref.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-6)
    np.testing.assert_allclose(enc.encode(IMAGES[1]), ref[1], atol=1e-6)   # a PathLike, one row


def test_bytes_pil_and_arrays_equal_cli(enc, ref):
    from PIL import Image, ImageOps
    blobs = [p.read_bytes() for p in IMAGES]
    np.testing.assert_allclose(enc.encode(blobs, batch_size=2), ref, atol=1e-6)
    # Pillow images / arrays: the caller decodes, so EXIF orientation is the caller's (exif_transpose)
    pils = [ImageOps.exif_transpose(Image.open(p)) for p in IMAGES]
    np.testing.assert_allclose(enc.encode(pils), ref, atol=1e-6)
    arrays = [np.asarray(im.convert("RGB")) for im in pils]
    np.testing.assert_allclose(enc.encode(arrays), ref, atol=1e-6)
    np.testing.assert_allclose(enc.encode(arrays[0]), ref[0], atol=1e-6)
    mixed = [str(IMAGES[0]), blobs[1], pils[2], arrays[3]]
    np.testing.assert_allclose(enc.encode(mixed, show_progress=True), ref, atol=1e-6)
    stack = np.stack([arrays[0], arrays[0][::-1]])          # (N, H, W, 3); a flipped view is copied
    got = enc.encode(stack)
    assert got.shape == (2, enc.dim)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-6)


def test_vit_pooling_choices():
    enc = mmfuse.ImageEncoder(VIT_MODEL, threads=1)
    a = enc.encode(str(IMAGES[0]), pooling="cls")
    b = enc.encode(str(IMAGES[0]), pooling="mean")
    assert a.shape == b.shape == (enc.dim,) and not np.allclose(a, b)


def test_bad_images_raise_naming_the_input(enc, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(mmfuse.Error, match="bad.png"):
        enc.encode([str(IMAGES[0]), str(bad)])
    with pytest.raises(mmfuse.Error, match=r"images\[1\]"):
        enc.encode([IMAGES[0].read_bytes(), b"not an image"])
    with pytest.raises(mmfuse.ArgumentError, match="uint8"):
        enc.encode(np.zeros((8, 8, 3), dtype=np.float32))
    with pytest.raises(mmfuse.ShapeError, match=r"\(H, W, 3\)"):
        enc.encode(np.zeros((8, 8, 4), dtype=np.uint8))
    with pytest.raises(mmfuse.ArgumentError, match="expected a path"):
        enc.encode([3.5])
    with pytest.raises(mmfuse.ArgumentError, match="no image tower"):
        mmfuse.ImageEncoder(TEXT_MODEL)
