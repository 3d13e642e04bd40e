"""The part of TextEncoder and ImageEncoder that is the same: loading a model folder
(mmf_encoder_load), pooling/normalize arguments, batching for progress reports."""
import ctypes as C
import os
import sys

from . import _lib
from ._handle import Handle, PRECISIONS, choice, int_arg, open_handle, threads_arg
from .errors import ArgumentError

MODALITY_TEXT, MODALITY_IMAGE = 1, 2


class Encoder(Handle):
    _free = "mmf_encoder_free"
    _modality = 0
    _modality_name = ""

    def __init__(self, folder, precision=None, threads=None, max_batch: int = 32, max_length: int = 0):
        super().__init__()
        self.folder = os.fspath(folder)
        p = _lib.lib.mmf_encoder_params_default()
        p.n_threads = threads_arg(threads)
        p.max_batch = int_arg(max_batch, "max_batch", 1, 1 << 16)
        p.max_length = int_arg(max_length, "max_length", 0)
        if precision is not None:   # None: the library's default (auto, or MMFUSE_PRECISION)
            p.precision = choice(precision, PRECISIONS, "precision")
        self._take(open_handle(_lib.lib.mmf_encoder_load, _lib.cstr(self.folder, "folder"), C.byref(p)))
        self.max_batch = p.max_batch
        self.threads = p.n_threads
        self.precision = {v: k for k, v in PRECISIONS.items()}.get(p.precision, str(p.precision))
        if not _lib.lib.mmf_encoder_modalities(self._h) & self._modality:
            kind = _lib.lib.mmf_encoder_model_type(self._h).decode()
            self.close()
            raise ArgumentError("%s: model_type \"%s\" has no %s tower" % (self.folder, kind, self._modality_name))
        self.dim = int(_lib.lib.mmf_encoder_dim(self._h))
        self.model_type = _lib.lib.mmf_encoder_model_type(self._h).decode()

    def set_threads(self, threads) -> None:
        """Threads of later encode calls (None = every core)."""
        with self._lock:
            n = threads_arg(threads)
            _lib.check(_lib.lib.mmf_encoder_set_threads(self._handle, n))
            self.threads = n

    def __repr__(self):
        return "%s(%r, dim=%d, model_type=%r)" % (type(self).__name__, self.folder, self.dim, self.model_type)


def pooling_arg(pooling) -> int:
    """None = the folder's own pooling; else a name the library parses (cls, mean, ...)."""
    if pooling is None or pooling == "default":
        return -1
    out = C.c_int()
    _lib.check(_lib.lib.mmf_pooling_parse(_lib.cstr(pooling, "pooling"), C.byref(out)))
    return out.value


def normalize_arg(normalize) -> int:
    if normalize is None:
        return -1
    if not isinstance(normalize, (bool, int)):
        raise ArgumentError("normalize: expected True, False or None, got %r" % (normalize,))
    return 1 if normalize else 0


def batches(n: int, size: int, show_progress: bool, what: str):
    """(start, stop) ranges; with show_progress a line on stderr after each."""
    size = int_arg(size, "batch_size", 1)
    for i in range(0, n, size):
        yield i, min(n, i + size)
        if show_progress:
            sys.stderr.write("\r%s: %d/%d" % (what, min(n, i + size), n))
            sys.stderr.flush()
    if show_progress and n:
        sys.stderr.write("\n")
