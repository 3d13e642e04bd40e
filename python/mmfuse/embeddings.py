"""Embedding files (docs/embedding-file.md), the seam between encoders and fusion heads:
load_embeddings / save_embeddings read and write the files the CLI reads and writes
(`mmfuse embed --records`, `train`, `fuse`), and Batch builds the same thing in memory
for FusionHead and fusion.train. Validation is the library's (mmf_embfile_*)."""
import ctypes as C
import os
from typing import Dict, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from . import _lib
from ._arrays import matrix, vector
from ._handle import open_handle
from .errors import ArgumentError, ShapeError


class _Spec:
    """An mmf_embfile_spec over numpy arrays (kept alive by this object).

    dims: the modalities a consumer expects (a head's): others are refused, missing ones
    are added with every row absent. labels: int [N] class ids, or with multilabel (None =
    a 2-D float array means multi-hot) 0/1 [N, C]."""

    def __init__(self, embs: Mapping[str, object], dims: Optional[Mapping[str, int]] = None, labels=None,
                 present: Optional[Mapping[str, object]] = None, multilabel: Optional[bool] = None,
                 n_classes: int = 0, ids=None, label_names: Optional[Sequence[str]] = None, name: str = "<arrays>"):
        if not isinstance(embs, Mapping):
            raise ArgumentError("%s: embeddings: expected a dict {modality: array}, got %s" % (name, type(embs).__name__))
        given = {k: v for k, v in embs.items() if v is not None}
        if not given:
            raise ArgumentError("%s: no embeddings given (expected at least one of: %s)"
                                % (name, ", ".join(dims) if dims else "a modality name"))
        for k in given:
            if not isinstance(k, str):
                raise ArgumentError("%s: modality names are strings, got %r" % (name, k))
            if dims is not None and k not in dims:
                raise ArgumentError("%s: unknown modality \"%s\" (the head has: %s)" % (name, k, ", ".join(dims)))
        arrays, n = {}, None
        for k, v in given.items():
            a = matrix(v, "%s[%s]" % (name, k), dim=dims[k] if dims else None)
            if n is not None and a.shape[0] != n:
                raise ShapeError("%s: modality \"%s\" has %d rows, \"%s\" has %d"
                                 % (name, k, a.shape[0], next(iter(arrays)), n))
            n = a.shape[0]
            arrays[k] = a
        names = list(arrays)
        absent = [k for k in (dims or {}) if k not in arrays]
        for k in absent:  # listed with every row absent: the head applies its missing-modality rule
            arrays[k] = np.zeros((n, dims[k]), dtype=np.float32)
        names += absent
        M = len(names)
        mask = np.ones((n, M), dtype=np.uint8)
        mask[:, M - len(absent):] = 0
        for k, v in (present or {}).items():
            if k not in given:
                raise ArgumentError("%s: present[\"%s\"] names no given modality (%s)" % (name, k, ", ".join(names)))
            mask[:, names.index(k)] = vector(np.asarray(v).astype(np.uint8), "%s: present[%s]" % (name, k), np.uint8, n)
        self._keep = [arrays, mask]
        cnames = (C.c_char_p * M)(*[_lib.cstr(k, "modality") for k in names])
        cdims = (C.c_int64 * M)(*[arrays[k].shape[1] for k in names])
        cdata = (C.c_void_p * M)(*[arrays[k].ctypes.data for k in names])
        sp = _lib.EmbfileSpec(n_rows=n, n_modalities=M, names=cnames, dims=cdims,
                              data=C.cast(cdata, C.POINTER(C.c_void_p)), mask=mask.ctypes.data)
        if labels is not None:
            if multilabel is None:
                multilabel = np.ndim(labels) == 2
            if multilabel:
                y = matrix(labels, "%s: labels" % name)
                if y.shape[0] != n:
                    raise ShapeError("%s: labels have %d rows for %d samples" % (name, y.shape[0], n))
                sp.multihot, sp.n_classes = y.ctypes.data, y.shape[1]
            else:
                y = vector(np.asarray(labels), "%s: labels" % name, np.int64, n)
                sp.labels, sp.n_classes = y.ctypes.data, int(n_classes)
            self._keep.append(y)
        if ids is not None:
            iv = vector(np.asarray(ids), "%s: ids" % name, np.int64, n)
            sp.ids = iv.ctypes.data
            self._keep.append(iv)
        if label_names is not None:
            ln = ",".join(label_names) if not isinstance(label_names, str) else label_names
            sp.label_names = _lib.cstr(ln, "label_names")
            self._keep.append(sp.label_names)
        self._keep += [cnames, cdims, cdata]
        self.n, self.names, self.spec = n, names, sp


class Batch(_Spec):
    """An mmf_embfile opened from arrays in memory (mmf_embfile_from_spec): a context manager."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        name = kw.get("name", "<arrays>")
        self.h = open_handle(_lib.lib.mmf_embfile_from_spec, C.byref(self.spec), name.encode())

    def close(self):
        if self.h:
            _lib.lib.mmf_embfile_close(self.h)
            self.h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EmbeddingFile(NamedTuple):
    embeddings: Dict[str, np.ndarray]   # {modality: float32 [N, dim]}; absent rows are zeros
    present: Dict[str, np.ndarray]      # {modality: bool [N]}
    labels: Optional[np.ndarray]        # int64 [N] class ids, float32 [N, C] multi-hot, or None
    n_classes: int
    ids: Optional[np.ndarray]           # int64 [N] or None


def save_embeddings(path, embeddings: Mapping[str, object], labels=None, present: Optional[Mapping[str, object]] = None,
                    ids=None, n_classes: int = 0, label_names: Optional[Sequence[str]] = None) -> None:
    """Write an embedding file (atomically) that `mmfuse train/eval/fuse` and FusionHead read.

    embeddings: {modality: float32 [N, dim]}; labels: int [N] class ids or 0/1 float [N, C];
    present: {modality: bool [N]} (default: every row present); ids: int [N]."""
    p = _lib.cstr(path, "path")
    s = _Spec(embeddings, labels=labels, present=present, n_classes=n_classes, ids=ids, label_names=label_names,
              name=os.fsdecode(p))
    # the writer stores what it is given; the reader's checks (finite present rows, labels in
    # range) run first, so that a file that could not be opened is never written
    _lib.lib.mmf_embfile_close(open_handle(_lib.lib.mmf_embfile_from_spec, C.byref(s.spec), p))
    _lib.check(_lib.lib.mmf_embfile_write(p, C.byref(s.spec)))


def load_embeddings(path) -> EmbeddingFile:
    """Read and validate an embedding file (token-level modalities come back pooled, as
    the fusion heads see them). ``FusionHead.predict(**f.embeddings, present=f.present)``."""
    lib = _lib.lib
    h = open_handle(lib.mmf_embfile_open, _lib.cstr(path, "path"))
    try:
        n, M = int(lib.mmf_embfile_rows(h)), lib.mmf_embfile_n_modalities(h)
        mask = np.ctypeslib.as_array(lib.mmf_embfile_mask(h), (n, M)) if n else np.zeros((0, M), np.uint8)
        embs, present = {}, {}
        for m in range(M):
            name = lib.mmf_embfile_modality(h, m).decode()
            d = int(lib.mmf_embfile_dim(h, m))
            embs[name] = np.ctypeslib.as_array(lib.mmf_embfile_data(h, m), (n, d)).copy() if n else np.zeros((0, d), np.float32)
            present[name] = mask[:, m].astype(bool)
        kind, nc = lib.mmf_embfile_label_kind(h), int(lib.mmf_embfile_n_classes(h))
        labels = None
        if kind == 1 and n:
            labels = np.ctypeslib.as_array(lib.mmf_embfile_labels(h), (n,)).copy()
        elif kind == 2 and n:
            labels = np.ctypeslib.as_array(lib.mmf_embfile_multihot(h), (n, nc)).copy()
        idp = lib.mmf_embfile_ids(h)
        ids = np.ctypeslib.as_array(idp, (n,)).copy() if idp and n else None
        return EmbeddingFile(embs, present, labels, nc, ids)
    finally:
        lib.mmf_embfile_close(h)
