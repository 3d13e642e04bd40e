"""mmfuse: multimodal deep learning in C, called from Python with numpy in and out.

A thin layer over ``libmmfuse.so`` (ctypes): every computation happens in the C
library; this package converts arguments, checks shapes and turns failures into
:class:`Error` subclasses carrying the library's message. Library calls release
the GIL, so Python threads run them in parallel (each thread with its own
encoder, or one index searched from many threads).

>>> import mmfuse
>>> enc = mmfuse.TextEncoder("models/all-MiniLM-L6-v2")
>>> e = enc.encode(["a red heart", "a green apple"])        # (2, 384) float32
>>> ix = mmfuse.Index(e.shape[1]); ix.add(e, ids=[10, 11])
>>> ids, scores = ix.search(enc.encode("heart"), k=1)

See docs/python.md.
"""
__version__ = "0.1.0"

from .errors import (Error, ArgumentError, FileIOError, FormatError, ShapeError, UnsupportedError,
                     OutOfMemoryError, NumericError, NotFoundError)
from ._lib import path as library_path, lib as _clib
from .text import TextEncoder, Tokenizer, tokenize
from .image import ImageEncoder
from .index import Index
from .cluster import kmeans, KMeansResult
from . import fusion
from .embeddings import EmbeddingFile, load_embeddings, save_embeddings
from .metrics import Clustering, Retrieval, cluster_scores, retrieval_scores
from .fusion import FusionHead

library_version = _clib.mmf_version().decode()

__all__ = ["TextEncoder", "ImageEncoder", "Tokenizer", "tokenize", "Index", "FusionHead", "fusion",
           "kmeans", "KMeansResult", "load_embeddings", "save_embeddings", "EmbeddingFile",
           "cluster_scores", "retrieval_scores", "Clustering", "Retrieval", "Error", "ArgumentError", "FileIOError", "FormatError", "ShapeError",
           "UnsupportedError", "OutOfMemoryError", "NumericError", "NotFoundError",
           "library_path", "library_version", "__version__"]
