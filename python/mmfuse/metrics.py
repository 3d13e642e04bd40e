"""Evaluation over numpy arrays: clustering agreement and cross-modal retrieval, the
library's (the numbers `mmfuse cluster --labels` and `mmfuse retrieval` print)."""
import ctypes as C
from typing import NamedTuple

import numpy as np

from . import _lib
from ._arrays import matrix, vector
from ._handle import threads_arg
from .errors import ArgumentError


class ClusterScores(C.Structure):
    _fields_ = [("nmi", C.c_double), ("ari", C.c_double), ("purity", C.c_double)]


class RetrievalScores(C.Structure):
    _fields_ = [("r1", C.c_double), ("r5", C.c_double), ("r10", C.c_double), ("map", C.c_double),
                ("n_queries", C.c_size_t)]


_lib.lib.mmf_cluster_scores_compute.restype = C.c_int
_lib.lib.mmf_cluster_scores_compute.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t, C.POINTER(ClusterScores)]
_lib.lib.mmf_retrieval_eval.restype = C.c_int
_lib.lib.mmf_retrieval_eval.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t, C.c_void_p, C.c_void_p, C.c_size_t,
                                        C.c_int, C.c_int, C.c_int, C.POINTER(RetrievalScores)]


class Clustering(NamedTuple):
    nmi: float      # normalised mutual information (arithmetic mean of the entropies)
    ari: float      # adjusted Rand index
    purity: float


class Retrieval(NamedTuple):
    r1: float
    r5: float
    r10: float
    map: float
    n_queries: int  # queries with at least one relevant gallery item


def _labels(x, what, n=None):
    a = np.asarray(x)
    return vector(a, what, np.int64, a.shape[0] if n is None and a.ndim == 1 else (n if n is not None else -1))


def cluster_scores(truth, pred) -> Clustering:
    """NMI, ARI and purity of a clustering `pred` against reference labels `truth` (int [n] each)."""
    t = _labels(truth, "truth")
    p = _labels(pred, "pred", t.shape[0])
    out = ClusterScores()
    _lib.check(_lib.lib.mmf_cluster_scores_compute(t.ctypes.data, p.ctypes.data, t.shape[0], C.byref(out)))
    return Clustering(out.nmi, out.ari, out.purity)


def retrieval_scores(queries, gallery, query_ids=None, gallery_ids=None, metric: str = "cosine",
                     threads=1) -> Retrieval:
    """R@1/5/10 and mAP of each query row ranking the whole gallery; gallery rows with the
    query's pair id are the relevant ones (ids default to row numbers: row i pairs row i)."""
    q = matrix(queries, "queries")
    g = matrix(gallery, "gallery", dim=q.shape[1])
    qi = np.arange(q.shape[0]) if query_ids is None else query_ids
    gi = np.arange(g.shape[0]) if gallery_ids is None else gallery_ids
    qi = _labels(qi, "query_ids", q.shape[0])
    gi = _labels(gi, "gallery_ids", g.shape[0])
    m = C.c_int()
    _lib.check(_lib.lib.mmf_metric_parse(_lib.cstr(metric, "metric"), C.byref(m)))
    out = RetrievalScores()
    _lib.check(_lib.lib.mmf_retrieval_eval(q.ctypes.data, qi.ctypes.data, q.shape[0], g.ctypes.data, gi.ctypes.data,
                                           g.shape[0], q.shape[1], m.value, threads_arg(threads), C.byref(out)))
    return Retrieval(out.r1, out.r5, out.r10, out.map, int(out.n_queries))
