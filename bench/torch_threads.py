"""Make "N threads" mean N cores on the PyTorch side of a benchmark.

Debian's torch runs its GEMMs in the pthread build of OpenBLAS, whose thread
pool ignores torch.set_num_threads: measured here, a 1024^3 matmul at
set_num_threads(1) used 2.0 s of CPU per wall second. set_threads() sets
PyTorch's pool and pins every OpenBLAS loaded into this process through its
own openblas_set_num_threads, so both sides of a comparison use the same cores.
"""
import ctypes

import torch


def set_threads(n):
    torch.set_num_threads(n)
    pinned = set()
    for line in open('/proc/self/maps'):
        path = line.split()[-1]
        if 'openblas' not in path or path in pinned:
            continue
        pinned.add(path)
        try:
            ctypes.CDLL(path).openblas_set_num_threads(n)
        except (OSError, AttributeError):
            pass   # a library of the family without the call (e.g. LAPACK front)
    return sorted(pinned)
