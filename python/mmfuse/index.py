"""Index: the library's HNSW / exact vector index (docs/index.md) with hnswlib/FAISS-style
add and search. Payloads (any JSON value per id) are kept beside it in Python and saved
to PATH.payloads.json (the index file format itself holds only vectors and ids)."""
import ctypes as C
import json
import os
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from . import _lib
from ._arrays import matrix, ptr, vector
from ._handle import Handle, SharedLock, choice, int_arg, open_handle, threads_arg
from .errors import ArgumentError, FormatError, NotFoundError

KINDS = {"hnsw": 0, "flat": 1}
QUANTS = {None: 0, "none": 0, "int8": 1}
METRIC_NAMES = ("cosine", "dot", "l2")


class Index(Handle):
    """A vector index of `dim`-dimensional float32 vectors with int64 ids.

    metric: "cosine" (vectors normalised on the way in; higher is better), "dot" or "l2"
    (squared distance; lower is better). kind: "hnsw" or "flat" (exact). M, ef_construction,
    ef_search, seed: HNSW settings. quant: None or "int8" (int8 codes steer the walk, exact
    re-rank). threads: threads used by add (None = every core).
    Several threads may search one Index at the same time (in parallel: the GIL is
    released); add, delete, save and close wait for the searches and run alone.
    """
    _free = "mmf_index_free"

    def close(self) -> None:
        with self._rw.exclusive():
            super().close()

    def __init__(self, dim: int, metric: str = "cosine", kind: str = "hnsw", M: int = 16,
                 ef_construction: int = 200, ef_search: int = 64, quant: Optional[str] = None,
                 seed: int = 42, threads=1, _handle=None):
        super().__init__()
        self._rw = SharedLock()
        self.payloads = {}
        if _handle is not None:
            self._take(_handle)
            self._dim = self._info().dim
            return
        p = _lib.lib.mmf_index_params_default()
        m = C.c_int()
        _lib.check(_lib.lib.mmf_metric_parse(_lib.cstr(metric, "metric"), C.byref(m)))
        p.metric = m.value
        p.kind = choice(kind, KINDS, "kind")
        p.quant = choice(quant, QUANTS, "quant")
        p.M = int_arg(M, "M", 1)
        p.ef_construction = int_arg(ef_construction, "ef_construction", 1)
        p.ef_search = int_arg(ef_search, "ef_search", 1)
        p.seed = int_arg(seed, "seed", 0, 2 ** 64 - 1)
        p.n_threads = threads_arg(threads)
        self._take(open_handle(_lib.lib.mmf_index_new, int_arg(dim, "dim", 1), C.byref(p)))
        self._dim = int(dim)

    def _info(self) -> _lib.IndexInfo:
        i = _lib.IndexInfo()
        with self._rw.shared():
            _lib.lib.mmf_index_get_info(self._handle, C.byref(i))
        return i

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> str:
        return METRIC_NAMES[self._info().metric]

    @property
    def kind(self) -> str:
        return ("hnsw", "flat")[self._info().kind]

    @property
    def deleted(self) -> int:
        """Tombstones: deleted ids still routing the graph walk."""
        return self._info().deleted

    def __len__(self) -> int:
        return self._info().count

    def info(self) -> dict:
        """dim, kind, metric, quant, M, ef_construction, ef_search, count, deleted, max_level, bytes."""
        i = self._info()
        d = {f: getattr(i, f) for f, _ in _lib.IndexInfo._fields_}
        d["kind"], d["metric"], d["quant"] = ("hnsw", "flat")[i.kind], METRIC_NAMES[i.metric], ("none", "int8")[i.quant]
        return d

    def set_threads(self, threads) -> None:
        """Threads used by later add calls (None = every core)."""
        with self._rw.exclusive():
            _lib.lib.mmf_index_set_threads(self._handle, threads_arg(threads))

    def add(self, vectors, ids=None, payloads: Optional[Sequence[Any]] = None) -> None:
        """Add vectors (float32 [n, dim], or one [dim]) under ids (int64 [n]; None = the
        library numbers them after the largest id so far). An id already present is an
        error and nothing is added. payloads: one JSON-serialisable value per vector (needs ids)."""
        with self._rw.exclusive():
            h = self._handle
            x = matrix(vectors, "vectors", dim=self._dim)
            n = x.shape[0]
            idv = None if ids is None else vector(np.atleast_1d(np.asarray(ids)), "ids", np.int64, n)
            if payloads is not None:
                if idv is None:
                    raise ArgumentError("payloads: give ids too (payloads are stored by id)")
                payloads = list(payloads)
                if len(payloads) != n:
                    raise ArgumentError("payloads: %d values for %d vectors" % (len(payloads), n))
                for i, p in enumerate(payloads):
                    try:
                        json.dumps(p)
                    except (TypeError, ValueError) as e:
                        raise ArgumentError("payloads[%d]: not JSON-serialisable (%s)" % (i, e)) from None
            if n == 0:
                return
            _lib.check(_lib.lib.mmf_index_add(h, n, x.ctypes.data, ptr(idv)))
            if payloads is not None:
                self.payloads.update(zip(idv.tolist(), payloads))

    def delete(self, id: int) -> None:
        """Mark id deleted (never returned again); NotFoundError if it is not in the index."""
        with self._rw.exclusive():
            _lib.check(_lib.lib.mmf_index_delete(self._handle, int_arg(id, "id", -2 ** 63, 2 ** 63 - 1)))
            self.payloads.pop(int(id), None)

    def compact(self) -> None:
        """Drop the deleted ids for good: the graph is rebuilt over the live vectors (a
        build's cost, with the index's threads), ids, payloads and search results of the
        live ones unchanged. On failure the index is as before."""
        with self._rw.exclusive():
            _lib.check(_lib.lib.mmf_index_compact(self._handle))

    def search(self, queries, k: int = 10, ef: Optional[int] = None, exact: bool = False,
               threads=1) -> Tuple[np.ndarray, np.ndarray]:
        """The k best stored vectors for each query, best first: (ids int64, scores float32),
        each [nq, k] for [nq, dim] queries or [k] for one [dim] query. Slots beyond the
        live count hold id -1 and score NaN. ef: HNSW beam width (None = the index's
        ef_search, at least k); exact: brute force even on an HNSW index."""
        single = np.ndim(queries) == 1
        with self._rw.shared():
            h = self._handle
            q = matrix(queries, "queries", dim=self._dim)
            k = int_arg(k, "k", 1, 1 << 20)
            sp = _lib.lib.mmf_search_params_default()
            sp.ef = 0 if ef is None else int_arg(ef, "ef", 1)
            sp.exact = 1 if exact else 0
            sp.n_threads = threads_arg(threads)
            ids = np.empty((q.shape[0], k), dtype=np.int64)
            scores = np.empty((q.shape[0], k), dtype=np.float32)
            if q.shape[0]:
                _lib.check(_lib.lib.mmf_index_search(h, q.shape[0], q.ctypes.data, k, C.byref(sp),
                                                     ids.ctypes.data, scores.ctypes.data))
        return (ids[0], scores[0]) if single else (ids, scores)

    def payload(self, id: int, default=None):
        """The payload stored with id (default if none)."""
        return self.payloads.get(int(id), default)

    def save(self, path) -> None:
        """Write the index (versioned, checksummed, atomic) and, when any payloads are
        held, PATH.payloads.json (atomic too)."""
        with self._rw.shared():
            p = _lib.cstr(path, "path")
            _lib.check(_lib.lib.mmf_index_save(self._handle, p))
            side = p + b".payloads.json"
            if self.payloads:
                blob = json.dumps({"payloads": [[i, v] for i, v in sorted(self.payloads.items())]}).encode()
                _lib.check(_lib.lib.mmf_write_file_atomic(side, blob, len(blob)))
            elif os.path.exists(side):
                os.remove(side)  # a stale sidecar would attach old payloads on load

    @classmethod
    def load(cls, path) -> "Index":
        """Open a saved index (mapped read-only, every field validated) and its payloads."""
        p = _lib.cstr(path, "path")
        ix = cls(0, _handle=open_handle(_lib.lib.mmf_index_open, p))
        side = p + b".payloads.json"
        if os.path.exists(side):
            try:
                with open(side, "rb") as f:
                    items = json.load(f)["payloads"]
                ix.payloads = {int(i): v for i, v in items}
            except (ValueError, KeyError, TypeError) as e:
                raise FormatError("%s: not a payload file (%s)" % (side.decode(errors="replace"), e)) from None
        return ix

    def __repr__(self):
        return "Index(dim=%d, metric=%r, kind=%r, count=%d)" % (self.dim, self.metric, self.kind, len(self))
