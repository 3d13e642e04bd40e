"""k-means over numpy rows (the library's mmf_kmeans: k-means++ seeding, BLAS assignments)."""
import ctypes as C
from typing import NamedTuple

import numpy as np

from . import _lib
from ._arrays import matrix
from ._handle import choice, int_arg, threads_arg
from .errors import ArgumentError

INITS = {"kmeans++": 1, "random": 0}


class KMeansResult(NamedTuple):
    centroids: np.ndarray   # float32 [k, dim]
    labels: np.ndarray      # int32 [n], each row's cluster
    inertia: float          # sum of squared distances to the assigned centroid
    iterations: int


def kmeans(x, k: int, max_iter: int = 0, tol: float = 1e-4, mini_batch: int = 0, init: str = "kmeans++",
           seed: int = 42, threads=1) -> KMeansResult:
    """Squared-Euclidean k-means of the rows of x (float32 [n, dim]).

    max_iter: 0 = 50 Lloyd iterations (or 100 batches with mini_batch); tol: stop when the
    inertia improves by less (relative), < 0 runs every iteration; mini_batch: > 0 for
    mini-batch k-means with that batch size; init: "kmeans++" or "random".
    """
    a = matrix(x, "x")
    p = _lib.lib.mmf_kmeans_params_default()
    p.k = int_arg(k, "k", 1)
    p.max_iter = int_arg(max_iter, "max_iter", 0)
    try:
        p.tol = float(tol)
    except (TypeError, ValueError):
        raise ArgumentError("tol: expected a number, got %r" % (tol,)) from None
    p.mini_batch = int_arg(mini_batch, "mini_batch", 0)
    p.init_plus_plus = choice(init, INITS, "init")
    p.seed = int_arg(seed, "seed", 0, 2 ** 64 - 1)
    p.n_threads = threads_arg(threads)
    r = _lib.KmeansResult()
    _lib.check(_lib.lib.mmf_kmeans(a.ctypes.data, a.shape[0], a.shape[1], C.byref(p), C.byref(r)))
    try:
        cent = np.ctypeslib.as_array(r.centroids, (p.k, a.shape[1])).copy()
        labels = np.ctypeslib.as_array(r.assign, (a.shape[0],)).copy()
        return KMeansResult(cent, labels, float(r.inertia), int(r.iterations))
    finally:
        _lib.lib.mmf_kmeans_result_free(C.byref(r))
