"""Loads libmmfuse.so and declares the C signatures used by the binding (include/mmfuse.h).

ctypes releases the GIL for the duration of every foreign call, so Python threads run
library calls in parallel. Only functions declared in include/mmfuse.h are bound.
"""
import ctypes as C
import os
from pathlib import Path

from .errors import BY_STATUS, Error, ArgumentError

_HERE = Path(__file__).resolve().parent


def _candidates():
    env = os.environ.get("MMFUSE_LIBRARY")
    if env:
        yield Path(env)
        return
    yield _HERE / "libmmfuse.so"                     # pip install: bundled with the package
    try:                                             # make install: PREFIX/SITE/mmfuse -> PREFIX/LIBDIR
        from . import _installed
        prefix = _HERE.parents[len(Path(_installed.SITE).parts)]
        yield prefix / _installed.LIBDIR / "libmmfuse.so.0"
    except ImportError:
        pass
    yield _HERE.parent.parent / "build" / "libmmfuse.so"  # source tree: python/mmfuse -> build/
    for d in ("/usr/local/lib", "/usr/lib"):
        yield Path(d) / "libmmfuse.so.0"


def _load():
    tried = []
    for p in _candidates():
        tried.append(str(p))
        if p.exists():
            try:
                return C.CDLL(str(p)), str(p)
            except OSError as e:  # a dependency missing, another architecture
                raise ImportError("mmfuse: cannot load %s: %s" % (p, e)) from None
    raise ImportError("mmfuse: libmmfuse.so not found (tried %s); build it with `make build` "
                      "or point MMFUSE_LIBRARY at it" % ", ".join(tried))


lib, path = _load()

i32, i64, u64, f32, f64 = C.c_int, C.c_int64, C.c_uint64, C.c_float, C.c_double
vp, cp, sz = C.c_void_p, C.c_char_p, C.c_size_t
P = C.POINTER
MAX_MODALITIES = 8


class EncoderParams(C.Structure):
    _fields_ = [("n_threads", i32), ("max_batch", i32), ("max_length", i32),
                ("progress", vp), ("progress_user", vp), ("precision", i32), ("pooling", i32)]


class Encoding(C.Structure):
    _fields_ = [("n", i32), ("ids", P(C.c_int32)), ("type_ids", P(C.c_int32)),
                ("attention_mask", P(C.c_uint8)), ("tokens", P(cp)), ("truncated", i32)]


class Image(C.Structure):
    _fields_ = [("width", i32), ("height", i32), ("rgb", vp)]


class IndexParams(C.Structure):
    _fields_ = [("kind", i32), ("metric", i32), ("quant", i32), ("M", i32), ("ef_construction", i32),
                ("ef_search", i32), ("seed", u64), ("n_threads", i32)]


class SearchParams(C.Structure):
    _fields_ = [("ef", i32), ("exact", i32), ("n_threads", i32)]


class IndexInfo(C.Structure):
    _fields_ = [("dim", i32), ("kind", i32), ("metric", i32), ("quant", i32), ("M", i32),
                ("ef_construction", i32), ("ef_search", i32), ("count", sz), ("deleted", sz),
                ("max_level", i32), ("bytes", sz)]


class KmeansParams(C.Structure):
    _fields_ = [("k", i32), ("max_iter", i32), ("tol", f64), ("mini_batch", i32),
                ("init_plus_plus", i32), ("seed", u64), ("n_threads", i32)]


class KmeansResult(C.Structure):
    _fields_ = [("centroids", P(f32)), ("assign", P(C.c_int32)), ("inertia", f64), ("iterations", i32)]


class EmbfileSpec(C.Structure):
    _fields_ = [("n_rows", i64), ("n_modalities", i32), ("names", P(cp)), ("dims", P(i64)),
                ("data", P(vp)), ("mask", vp), ("labels", vp), ("multihot", vp), ("n_classes", i64),
                ("ids", vp), ("encoders", vp), ("label_names", cp)]


class CheckpointParams(C.Structure):   # mmf_checkpoint_params (fusion.train: checkpoint=, resume=)
    _fields_ = [("path", cp), ("every", i64), ("resume", i32), ("setup", cp), ("notice", vp), ("notice_user", vp)]


class TrainParams(C.Structure):
    _fields_ = [("fusion", cp), ("task", i32), ("hidden", i32), ("heads", i32), ("layers", i32),
                ("rank", i32), ("proj", i32), ("sketch", i32), ("budget", i64), ("epochs", i32),
                ("batch", i32), ("lr", f32), ("weight_decay", f32), ("dropout", f32),
                ("label_smoothing", f32), ("clip_norm", f32), ("cosine", i32),
                ("modality_dropout", f32 * MAX_MODALITIES), ("patience", i32), ("seed", u64),
                ("n_threads", i32), ("progress", vp), ("progress_user", vp), ("precision", i32),
                ("phase_seconds", P(f64)), ("checkpoint", CheckpointParams)]


class EvalOpts(C.Structure):
    _fields_ = [("drop", cp), ("drop_rate", f32), ("noise", f32), ("seed", u64),
                ("n_threads", i32), ("batch", i32)]


PROGRESS_FN = C.CFUNCTYPE(None, sz, sz, vp)

_SIGS = {
    "mmf_version": (cp, []), "mmf_last_error": (cp, []), "mmf_clear_error": (None, []), "mmf_status_str": (cp, [i32]),
    "mmf_encoder_params_default": (EncoderParams, []),
    "mmf_encoder_load": (i32, [cp, P(EncoderParams), P(vp)]), "mmf_encoder_free": (None, [vp]),
    "mmf_encoder_modalities": (i32, [vp]), "mmf_encoder_dim": (i32, [vp]),
    "mmf_encoder_model_type": (cp, [vp]), "mmf_encoder_max_length": (i32, [vp]),
    "mmf_encoder_default_pooling": (i32, [vp]), "mmf_encoder_default_normalize": (i32, [vp]),
    "mmf_encoder_tokenizer": (vp, [vp]), "mmf_encoder_image_processor": (vp, [vp]),
    "mmf_encoder_set_threads": (i32, [vp, i32]), "mmf_encoder_logit_scale": (f32, [vp]),
    "mmf_encoder_embed_text": (i32, [vp, P(cp), sz, i32, i32, vp]),
    "mmf_encoder_text_lengths": (i32, [vp, P(cp), sz, vp]),
    "mmf_encoder_embed_text_tokens": (i32, [vp, P(cp), sz, i32, vp, vp]),
    "mmf_encoder_embed_pixels": (i32, [vp, vp, sz, i32, i32, vp]),
    "mmf_encoder_embed_image_files": (i32, [vp, P(cp), sz, i32, i32, i32, vp, vp, vp, vp]),
    "mmf_pooling_parse": (i32, [cp, P(i32)]),
    "mmf_tokenizer_load": (i32, [cp, P(vp)]), "mmf_tokenizer_free": (None, [vp]),
    "mmf_tokenizer_encode": (i32, [vp, cp, cp, i32, i32, P(Encoding)]),
    "mmf_encoding_free": (None, [P(Encoding)]), "mmf_tokenizer_pad_id": (C.c_int32, [vp]),
    "mmf_tokenizer_vocab_size": (i64, [vp]), "mmf_tokenizer_max_length": (i32, [vp]),
    "mmf_image_decode_memory": (i32, [vp, sz, cp, vp, P(Image)]),
    "mmf_image_load": (i32, [cp, vp, P(Image)]), "mmf_image_free": (None, [P(Image)]),
    "mmf_image_processor_size": (None, [vp, P(i32), P(i32), P(i32)]),
    "mmf_image_processor_run": (i32, [vp, P(Image), vp]),
    "mmf_metric_parse": (i32, [cp, P(i32)]),
    "mmf_index_params_default": (IndexParams, []), "mmf_search_params_default": (SearchParams, []),
    "mmf_index_new": (i32, [i32, P(IndexParams), P(vp)]), "mmf_index_free": (None, [vp]),
    "mmf_index_add": (i32, [vp, sz, vp, vp]), "mmf_index_delete": (i32, [vp, i64]), "mmf_index_compact": (i32, [vp]),
    "mmf_index_search": (i32, [vp, sz, vp, i32, P(SearchParams), vp, vp]),
    "mmf_index_save": (i32, [vp, cp]), "mmf_index_open": (i32, [cp, P(vp)]),
    "mmf_index_get_info": (None, [vp, P(IndexInfo)]), "mmf_index_set_ef": (None, [vp, i32]),
    "mmf_index_set_threads": (None, [vp, i32]),
    "mmf_kmeans_params_default": (KmeansParams, []),
    "mmf_kmeans": (i32, [vp, sz, i32, P(KmeansParams), P(KmeansResult)]),
    "mmf_kmeans_result_free": (None, [P(KmeansResult)]),
    "mmf_embfile_write": (i32, [cp, P(EmbfileSpec)]), "mmf_embfile_open": (i32, [cp, P(vp)]),
    "mmf_embfile_close": (None, [vp]), "mmf_embfile_from_spec": (i32, [P(EmbfileSpec), cp, P(vp)]),
    "mmf_embfile_rows": (i64, [vp]), "mmf_embfile_n_modalities": (i32, [vp]),
    "mmf_embfile_modality": (cp, [vp, i32]), "mmf_embfile_dim": (i64, [vp, i32]),
    "mmf_embfile_data": (P(f32), [vp, i32]), "mmf_embfile_mask": (P(C.c_uint8), [vp]),
    "mmf_embfile_label_kind": (i32, [vp]), "mmf_embfile_n_classes": (i64, [vp]),
    "mmf_embfile_labels": (P(i64), [vp]), "mmf_embfile_multihot": (P(f32), [vp]), "mmf_embfile_ids": (P(i64), [vp]), "mmf_write_file_atomic": (i32, [cp, cp, sz]),
    "mmf_train_params_default": (TrainParams, []), "mmf_eval_params_default": (EvalOpts, []),
    "mmf_head_train": (i32, [vp, vp, P(TrainParams), P(vp)]),
    "mmf_head_save": (i32, [vp, cp]), "mmf_head_load": (i32, [cp, P(vp)]), "mmf_head_free": (None, [vp]),
    "mmf_head_fusion": (cp, [vp]), "mmf_head_task": (i32, [vp]),
    "mmf_head_emb_dim": (i64, [vp]), "mmf_head_out_dim": (i64, [vp]),
    "mmf_head_n_modalities": (i32, [vp]), "mmf_head_modality": (cp, [vp, i32]), "mmf_head_dim": (i64, [vp, i32]),
    "mmf_head_describe": (cp, [vp, cp, sz]),
    "mmf_head_predict": (i32, [vp, vp, P(EvalOpts), vp, vp]),
}
for _name, (_res, _args) in _SIGS.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args


def fail(status: int):
    """The exception for a failed call: the mmf_status class with mmf_last_error() as its message."""
    msg = (lib.mmf_last_error() or b"").decode("utf-8", "replace")
    if not msg:
        msg = lib.mmf_status_str(status).decode()
    return BY_STATUS.get(status, Error)(msg, status)


def check(status: int):
    if status != 0:
        raise fail(status)


def cstr(s, what: str) -> bytes:
    """str/PathLike -> NUL-free UTF-8 bytes (a NUL would silently cut the string in C)."""
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, str):
        s = s.encode("utf-8", "surrogateescape")
    if not isinstance(s, bytes):
        raise ArgumentError("%s: expected a string, got %s" % (what, type(s).__name__))
    if b"\0" in s:
        raise ArgumentError("%s: contains a NUL character" % what)
    return s


def cstr_array(items, what: str):
    enc = [cstr(t, "%s[%d]" % (what, i)) for i, t in enumerate(items)]
    arr = (cp * max(len(enc), 1))(*enc)
    return arr, enc  # keep enc alive alongside arr
