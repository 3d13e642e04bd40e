"""ImageEncoder: image embeddings (ViT, CLIP's vision tower, ResNet, mmfuse's own CNN) from
paths, encoded bytes, PIL images or uint8 HWC arrays. Decoding and preprocessing are the
library's (Pillow-exact, docs/images.md); this module only routes each kind of input."""
import ctypes as C
import os
from typing import Any, Optional, Sequence

import numpy as np

from . import _lib
from ._encoder import MODALITY_IMAGE, Encoder, batches, normalize_arg, pooling_arg
from ._handle import int_arg
from .errors import ArgumentError, ShapeError


def _is_pil(x) -> bool:
    return hasattr(x, "convert") and hasattr(x, "mode") and hasattr(x, "size")


def _single(images) -> bool:
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike)) or _is_pil(images):
        return True
    return isinstance(images, np.ndarray) and images.ndim == 3


def _rgb_array(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype != np.uint8:
        raise ArgumentError("%s: expected a uint8 array (H, W, 3), got dtype %s" % (what, a.dtype))
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ShapeError("%s: expected a uint8 RGB array of shape (H, W, 3), got %s" % (what, a.shape))
    return np.ascontiguousarray(a)


class ImageEncoder(Encoder):
    """An image encoder from a Hugging Face folder (its preprocessor_config.json is the
    preprocessing). Arguments as TextEncoder."""
    _modality = MODALITY_IMAGE
    _modality_name = "image"

    def __init__(self, folder, precision: str = "fp32", threads=None, max_batch: int = 32):
        super().__init__(folder, precision, threads, max_batch)
        c, h, w = C.c_int(), C.c_int(), C.c_int()
        self._proc = _lib.lib.mmf_encoder_image_processor(self._h)
        _lib.lib.mmf_image_processor_size(self._proc, C.byref(c), C.byref(h), C.byref(w))
        self.input_shape = (c.value, h.value, w.value)

    def _pixels(self, item: Any, what: str, dst: np.ndarray) -> None:
        """One image -> dst (3, H, W) through the library's decoder and processor."""
        img = _lib.Image()
        owned = False
        if isinstance(item, (str, os.PathLike)):
            _lib.check(_lib.lib.mmf_image_load(_lib.cstr(item, what), None, C.byref(img)))
            owned = True
        elif isinstance(item, (bytes, bytearray, memoryview)):
            buf = bytes(item)
            _lib.check(_lib.lib.mmf_image_decode_memory(buf, len(buf), what.encode(), None, C.byref(img)))
            owned = True
        else:
            if _is_pil(item):
                item = np.asarray(item.convert("RGB"))
            elif not isinstance(item, np.ndarray):
                raise ArgumentError("%s: expected a path, bytes, a PIL image or a uint8 (H, W, 3) array, got %s"
                                    % (what, type(item).__name__))
            arr = _rgb_array(item, what)
            img.height, img.width, img.rgb = arr.shape[0], arr.shape[1], arr.ctypes.data
        try:
            _lib.check(_lib.lib.mmf_image_processor_run(self._proc, C.byref(img), dst.ctypes.data))
        finally:
            if owned:
                _lib.lib.mmf_image_free(C.byref(img))

    def encode(self, images, batch_size: int = 32, normalize: Optional[bool] = None,
               pooling: Optional[str] = None, show_progress: bool = False) -> np.ndarray:
        """Embeddings, float32 [N, dim] for N images, [dim] for a single one.

        images: a path, encoded PNG/JPEG bytes, a PIL image, a uint8 (H, W, 3) array, a uint8
        (N, H, W, 3) array, or a sequence of these. A list of paths is decoded in parallel by
        the library. normalize / pooling as TextEncoder.encode (vit: pooler, cls, mean).
        """
        single = _single(images)
        if single:
            items = [images]
        elif isinstance(images, np.ndarray):
            if images.ndim != 4:
                raise ShapeError("images: expected (H, W, 3) or (N, H, W, 3), got shape %s" % (images.shape,))
            items = list(images)
        else:
            try:
                items = list(images)
            except TypeError:
                raise ArgumentError("images: expected an image or a sequence of images, got %s"
                                    % type(images).__name__) from None
        pool, norm = pooling_arg(pooling), normalize_arg(normalize)
        n = len(items)
        out = np.empty((n, self.dim), dtype=np.float32)
        step = min(int_arg(batch_size, "batch_size", 1), self.max_batch)
        all_paths = all(isinstance(x, (str, os.PathLike)) for x in items)
        with self._lock:
            h = self._handle
            if all_paths:
                enc = [_lib.cstr(x, "images[%d]" % i) for i, x in enumerate(items)]
                if not show_progress:
                    step = max(n, 1)
                for a, b in batches(n, step, show_progress, "encode"):
                    arr = (C.c_char_p * (b - a))(*enc[a:b])
                    _lib.check(_lib.lib.mmf_encoder_embed_image_files(h, arr, b - a, pool, norm, 0, None,
                                                                       out[a:].ctypes.data, None, None))
            else:
                pixels = np.empty((step,) + self.input_shape, dtype=np.float32)
                for a, b in batches(n, step, show_progress, "encode"):
                    for i in range(a, b):
                        self._pixels(items[i], "images[%d]" % i, pixels[i - a])
                    _lib.check(_lib.lib.mmf_encoder_embed_pixels(h, pixels.ctypes.data, b - a, pool, norm,
                                                                  out[a:].ctypes.data))
        return out[0] if single else out

    @property
    def logit_scale(self) -> float:
        """CLIP: exp(logit_scale), the factor on cosine similarities; 0 for other models."""
        return float(_lib.lib.mmf_encoder_logit_scale(self._handle))
