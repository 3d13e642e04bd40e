"""numpy <-> C buffers: float32 C-contiguous arrays pass as they are (no copy); anything else
convertible is copied once, and what cannot be is refused with a message."""
import numpy as np

from .errors import ArgumentError, ShapeError


def matrix(x, what: str, dtype=np.float32, dim=None) -> np.ndarray:
    """A 2-D C-contiguous array of dtype (a 1-D array is one row)."""
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists and the like
        raise ArgumentError("%s: not convertible to an array (%s)" % (what, e)) from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ArgumentError("%s: expected numbers, got dtype %s" % (what, a.dtype))
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ShapeError("%s: expected a 2-D array (rows, dim), got shape %s" % (what, a.shape))
    if dim is not None and a.shape[1] != dim:
        raise ShapeError("%s: rows of %d values, expected %d" % (what, a.shape[1], dim))
    return np.ascontiguousarray(a, dtype=dtype)


def vector(x, what: str, dtype, n: int) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.shape[0] != n:
        raise ShapeError("%s: expected %d values in one dimension, got shape %s" % (what, n, a.shape))
    if a.dtype.kind not in "iu" and dtype != np.float32:
        raise ArgumentError("%s: expected integers, got dtype %s" % (what, a.dtype))
    return np.ascontiguousarray(a, dtype=dtype)


def ptr(a: np.ndarray):
    return a.ctypes.data if a is not None else None
