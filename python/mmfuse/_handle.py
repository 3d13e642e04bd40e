"""What every wrapper of a C handle shares: ownership (freed once, on close() or when
collected), a lock (a handle is used by one thread at a time; other handles run in
parallel since ctypes releases the GIL), and argument parsing shared by the encoders."""
import ctypes as C
import os
import threading

from . import _lib
from .errors import ArgumentError

PRECISIONS = {"fp32": 0, "bf16": 1, "int8": 2, "auto": 3}   # mmf_precision


def threads_arg(threads, what="threads") -> int:
    """None = every core this process may use; else a positive int."""
    if threads is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # not Linux
            return max(1, os.cpu_count() or 1)
    if isinstance(threads, bool) or not hasattr(threads, "__index__") or not 1 <= threads.__index__() <= MAX_THREADS:
        raise ArgumentError("%s: expected an integer in 1..%d or None, got %r" % (what, MAX_THREADS, threads))
    return int(threads.__index__())


INT_MIN, INT_MAX = -2 ** 31, 2 ** 31 - 1
MAX_THREADS = 1024


def int_arg(v, what, lo=INT_MIN, hi=INT_MAX) -> int:
    """An integer in [lo, hi]; the default range is C's int, so nothing wraps on the way in."""
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise ArgumentError("%s: expected an integer, got %r" % (what, v))
    v = int(v.__index__())
    if v < lo or v > hi:
        raise ArgumentError("%s: %d out of range (%d..%d)" % (what, v, lo, hi))
    return v


def choice(v, table: dict, what: str) -> int:
    if v not in table:
        raise ArgumentError("%s: %r, expected one of %s" % (what, v, ", ".join(map(str, table))))
    return table[v]


class SharedLock:
    """Many readers or one writer: the library allows concurrent mmf_index_search calls
    but not a search during add/delete, so searches share the lock and changes own it."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def shared(self):
        return _Held(self, False)

    def exclusive(self):
        return _Held(self, True)


class _Held:
    def __init__(self, lock: SharedLock, exclusive: bool):
        self.lock, self.exclusive = lock, exclusive

    def __enter__(self):
        c = self.lock._cond
        with c:
            if self.exclusive:
                c.wait_for(lambda: not self.lock._writer and self.lock._readers == 0)
                self.lock._writer = True
            else:
                c.wait_for(lambda: not self.lock._writer)
                self.lock._readers += 1

    def __exit__(self, *exc):
        c = self.lock._cond
        with c:
            if self.exclusive:
                self.lock._writer = False
            else:
                self.lock._readers -= 1
            c.notify_all()


class Handle:
    """Owns one C handle, freed by `_free` (a name in _lib.lib)."""
    _free = None

    def __init__(self):
        self._h = None
        self._lock = threading.RLock()

    def _take(self, h):
        self._h = h

    @property
    def _handle(self):
        if not self._h:
            raise ArgumentError("%s is closed" % type(self).__name__)
        return self._h

    def close(self) -> None:
        """Free the C object now (it is also freed when garbage-collected)."""
        with self._lock:
            if self._h:
                getattr(_lib.lib, self._free)(self._h)
                self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_h", None):
                getattr(_lib.lib, self._free)(self._h)
                self._h = None
        except Exception:
            pass


def open_handle(fn, *args) -> C.c_void_p:
    """Call a `mmf_X_open/load(..., &out)` and return out, raising the library's error."""
    out = C.c_void_p()
    _lib.check(fn(*args, C.byref(out)))
    return out
