"""Minimal safetensors writer (no safetensors package on Debian): 8-byte LE
header length, JSON header, raw little-endian data, tensors tiling the data."""
import json
import struct

import numpy as np

_DT = {np.dtype('float32'): 'F32', np.dtype('uint8'): 'U8', np.dtype('int32'): 'I32',
       np.dtype('int64'): 'I64', np.dtype('float64'): 'F64'}


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in _DT:
            raise ValueError(f'{name}: dtype {a.dtype} not handled')
        b = a.astype(a.dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': _DT[a.dtype], 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
