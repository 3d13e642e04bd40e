"""Tiny safetensors writer for the reference scripts (there is no safetensors
Python package on Debian 12).

    from st_write import write_safetensors
    write_safetensors("out.safetensors", {"x": np_array, "w": torch_bf16_tensor},
                      metadata={"producer": "tests/ref/ref_foo.py"})

Values are numpy arrays or torch tensors. Supported dtypes: F32, F16, BF16 (torch
tensors only: numpy has no bfloat16), F64, I64, I32, U8, BOOL. The layout follows
the official library so our strict reader accepts it: 8-byte little-endian header
length, JSON header padded with spaces to a multiple of 8, then the tensors back to
back with no gaps, ordered by element size (largest first) then name, so every
tensor's data stays aligned to its element size.
"""
import json
import struct

import numpy as np

_NP_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("float64"): "F64",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}
_SIZES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}


def _to_bytes(name, value):
    """(dtype string, shape list, little-endian bytes) of one tensor."""
    try:
        import torch
    except ImportError:  # plain numpy use does not need torch
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
            return "BF16", list(t.shape), raw
        value = t.numpy()
    arr = np.asarray(value)
    if arr.dtype not in _NP_DTYPES:
        raise TypeError(f"st_write: tensor {name!r} has unsupported dtype {arr.dtype}")
    dt = _NP_DTYPES[arr.dtype]
    arr = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False))
    return dt, list(arr.shape), arr.tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Write `tensors` (name -> numpy array or torch tensor) to `path`."""
    items = [(name,) + _to_bytes(name, v) for name, v in tensors.items()]
    items.sort(key=lambda it: (-_SIZES[it[1]], it[0]))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, dt, shape, raw in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for _, _, _, raw in items:
            f.write(raw)
    import os
    os.replace(tmp, path)
