"""Fusion heads (docs/fusion.md) over numpy embeddings: FusionHead.load / predict / fuse and
train(). Arrays become an in-memory embedding file (mmf_embfile_from_spec: the library
validates them exactly as it validates a file); everything else is the library's."""
import ctypes as C
import hashlib
import json
import sys
from typing import Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from . import _lib
from ._handle import Handle, PRECISIONS, choice, int_arg, open_handle, threads_arg
from .embeddings import Batch as _Batch
from .errors import ArgumentError

TASKS = {"classify": 0, "multilabel": 1, "align": 2}
TASK_NAMES = {v: k for k, v in TASKS.items()}


def _inputs(text_emb, image_emb, embs: dict) -> dict:
    d = {}
    if text_emb is not None:
        d["text"] = text_emb
    if image_emb is not None:
        d["image"] = image_emb
    for k, v in embs.items():
        if k in d:
            raise ArgumentError("modality \"%s\" given twice" % k)
        d[k] = v
    return d


class FusionHead(Handle):
    """A trained fusion head: an operator over the modality embeddings and an output layer.
    The layer before the output is the multimodal embedding (``fuse``)."""
    _free = "mmf_head_free"

    def __init__(self, _handle):
        super().__init__()
        self._take(_handle)
        h = self._h
        self.modalities: Dict[str, int] = {
            _lib.lib.mmf_head_modality(h, m).decode(): int(_lib.lib.mmf_head_dim(h, m))
            for m in range(_lib.lib.mmf_head_n_modalities(h))}
        self.fusion = _lib.lib.mmf_head_fusion(h).decode()
        self.task = TASK_NAMES.get(_lib.lib.mmf_head_task(h), "?")
        self.emb_dim = int(_lib.lib.mmf_head_emb_dim(h))
        self.out_dim = int(_lib.lib.mmf_head_out_dim(h))

    @classmethod
    def load(cls, path) -> "FusionHead":
        """Open a head written by ``mmfuse train`` or FusionHead.save."""
        return cls(open_handle(_lib.lib.mmf_head_load, _lib.cstr(path, "path")))

    def save(self, path) -> None:
        """safetensors with the parameters and the JSON config; written atomically."""
        with self._lock:
            _lib.check(_lib.lib.mmf_head_save(self._handle, _lib.cstr(path, "path")))

    def _run(self, embs, present, threads, want_emb: bool) -> np.ndarray:
        single = all(np.ndim(v) == 1 for v in embs.values() if v is not None) and any(v is not None for v in embs.values())
        with self._lock, _Batch(embs, self.modalities, present=present, name="inputs") as b:
            o = _lib.lib.mmf_eval_params_default()
            o.n_threads = threads_arg(threads)
            width = self.emb_dim if want_emb else self.out_dim
            out = np.empty((b.n, width), dtype=np.float32)
            if b.n:
                p = out.ctypes.data
                _lib.check(_lib.lib.mmf_head_predict(self._handle, b.h, C.byref(o), p if want_emb else None,
                                                     None if want_emb else p))
        return out[0] if single else out

    def predict(self, text_emb=None, image_emb=None, *, present: Optional[Mapping[str, object]] = None,
                threads=1, **embeddings) -> np.ndarray:
        """The head's outputs, float32 [N, out_dim] (class logits for classify, label logits
        for multilabel), for N rows of embeddings ([dim] for one row gives [out_dim]).

        text_emb / image_emb: the "text" / "image" modalities; other modalities by name as
        keywords. A modality not given is absent in every row (the operator's rule for a
        missing modality applies); present={"image": bool [N]} marks single rows absent.
        """
        return self._run(_inputs(text_emb, image_emb, embeddings), present, threads, False)

    def fuse(self, text_emb=None, image_emb=None, *, present: Optional[Mapping[str, object]] = None,
             threads=1, **embeddings) -> np.ndarray:
        """The multimodal embeddings, float32 [N, emb_dim]; arguments as predict."""
        return self._run(_inputs(text_emb, image_emb, embeddings), present, threads, True)

    def describe(self) -> dict:
        """The head's configuration as the library describes it (JSON)."""
        buf = C.create_string_buffer(1 << 16)
        with self._lock:
            return json.loads(_lib.lib.mmf_head_describe(self._handle, buf, len(buf)).decode())

    def __repr__(self):
        return "FusionHead(fusion=%r, task=%r, modalities=%r, emb_dim=%d, out_dim=%d)" % (
            self.fusion, self.task, self.modalities, self.emb_dim, self.out_dim)


_INT_PARAMS = ("hidden", "heads", "layers", "rank", "proj", "sketch", "budget", "epochs", "batch", "patience")
_FLOAT_PARAMS = ("lr", "weight_decay", "dropout", "label_smoothing", "clip_norm")


_PROGRESS_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_int, C.c_int, C.c_int64, C.c_int64, C.c_double,
                           C.POINTER(C.c_double))


def _epoch_reporter(progress, show_progress, failures, has_val: bool, align: bool):
    """The C progress callback: at each epoch's end (the call with metrics), progress(epoch,
    epochs, train_loss, val) with val = {"loss", "accuracy", "macro_f1"} ({"loss",
    "recall@1", "recall@5"} for align) or None without validation data. A Python exception
    cannot unwind through C: the first one is kept and raised when training returns."""
    keys = ("loss", "recall@1", "recall@5") if align else ("loss", "accuracy", "macro_f1")

    def cb(user, epoch, epochs, batch, batches, loss, vm):
        if not vm or failures:
            return
        val = {k: vm[i] for i, k in enumerate(keys)} if has_val else None
        try:
            if show_progress:
                sys.stderr.write("epoch %d/%d  train loss %.4f%s\n" % (epoch, epochs, loss, "" if not val else
                                 "".join("  val %s %.4f" % kv for kv in val.items())))
            if progress is not None:
                progress(epoch, epochs, loss, val)
        except BaseException as e:  # noqa: B902 - re-raised after the C call
            failures.append(e)
    return _PROGRESS_FN(cb)


_NOTICE_FN = C.CFUNCTYPE(None, C.c_void_p, C.c_int, C.c_char_p, C.c_int, C.c_int64, C.c_int)


def _setup(arrays, options) -> bytes:
    """What a resume must match (mmf_checkpoint_params.setup): each array's dtype, shape
    and a hash of its bytes, and every option that changes the result."""
    lines = []
    for name, a in arrays:
        if a is None:
            continue
        a = np.ascontiguousarray(np.asarray(a))
        digest = hashlib.blake2b(a.view(np.uint8).reshape(-1) if a.size else b"", digest_size=8).hexdigest()
        lines.append("array %s=%s %s, hash %s" % (name, a.dtype.str, "x".join(map(str, a.shape)), digest))
    lines += ["option %s=%r" % (k, options[k]) for k in sorted(options)]
    return "\n".join(lines).encode()


def train(embeddings: Mapping[str, object], labels=None, val: Optional[Tuple] = None, fusion: str = "concat",
          task: str = "classify", present: Optional[Mapping[str, object]] = None, n_classes: int = 0,
          modality_dropout: Optional[Mapping[str, float]] = None, cosine: bool = True, seed: int = 1,
          threads=1, precision: str = "fp32", show_progress: bool = False,
          progress: Optional[Callable[[int, int, float, Optional[dict]], None]] = None,
          checkpoint: Optional[str] = None, checkpoint_every: int = 0, resume: bool = False, **params) -> FusionHead:
    """Train a fusion head on numpy embeddings, as ``mmfuse train`` does on files.

    embeddings: {modality: float32 [N, dim]}; labels: int [N] class ids (classify),
    0/1 float [N, C] (multilabel) or None (align: the first two modalities are paired).
    val: (embeddings, labels) or (embeddings, labels, present) to select the best epoch
    and stop early. present: {modality: bool [N]} rows where a modality is absent.
    Options (library defaults): hidden, heads, layers, rank, proj, sketch, budget, epochs,
    batch, lr, weight_decay, dropout, label_smoothing, clip_norm, patience; cosine,
    modality_dropout {modality: rate}, seed, threads, precision ("fp32" | "bf16").
    show_progress prints a line per epoch on stderr; progress(epoch, epochs, train_loss, val)
    is called after each epoch (val: {"loss", "accuracy", "macro_f1"} or None).
    checkpoint: a file the run's whole state is written to after each epoch (every
    checkpoint_every steps instead when > 0), atomically; resume=True continues from it
    and returns the head an uninterrupted run returns. A resume needs the same arrays
    and options (threads may change); an existing checkpoint without resume=True, or
    one from another setup, raises naming the file and the difference.
    """
    t = choice(task, TASKS, "task")
    if t != TASKS["align"] and labels is None:
        raise ArgumentError("labels: task \"%s\" needs labels" % task)
    p = _lib.lib.mmf_train_params_default()
    fusion_b = _lib.cstr(fusion, "fusion")
    p.fusion, p.task = fusion_b, t
    for k, v in params.items():
        if k in _INT_PARAMS:
            setattr(p, k, int_arg(v, k, 0, 2 ** 63 - 1 if k == "budget" else 2 ** 31 - 1))
        elif k in _FLOAT_PARAMS:
            try:
                setattr(p, k, float(v))
            except (TypeError, ValueError):
                raise ArgumentError("%s: expected a number, got %r" % (k, v)) from None
        else:
            raise ArgumentError("unknown option \"%s\" (options: %s)" % (k, ", ".join(_INT_PARAMS + _FLOAT_PARAMS)))
    p.cosine = 1 if cosine else 0
    p.seed = int_arg(seed, "seed", 0, 2 ** 64 - 1)
    p.n_threads = threads_arg(threads)
    p.precision = choice(precision, PRECISIONS, "precision")
    names = [k for k, v in embeddings.items() if v is not None]
    for k, r in (modality_dropout or {}).items():
        if k not in names:
            raise ArgumentError("modality_dropout: \"%s\" is not a given modality (%s)" % (k, ", ".join(names)))
        p.modality_dropout[names.index(k)] = float(r)
    notice = setup = ckpt_b = None
    if checkpoint is not None:
        ckpt_b = _lib.cstr(checkpoint, "checkpoint")
        p.checkpoint.path = ckpt_b
        p.checkpoint.every = int_arg(checkpoint_every, "checkpoint_every", 0, 2 ** 62)
        p.checkpoint.resume = 1 if resume else 0
        v = tuple(val) if isinstance(val, (tuple, list)) else ()
        arrays = [("train " + k, e) for k, e in embeddings.items()] + [("train labels", labels)]
        arrays += [("train present " + k, e) for k, e in (present or {}).items()]
        if len(v) >= 2:
            arrays += [("val " + k, e) for k, e in v[0].items()] + [("val labels", v[1])]
        if len(v) == 3 and v[2] is not None:
            arrays += [("val present " + k, e) for k, e in v[2].items()]
        setup = _setup(arrays, dict(params, fusion=fusion, task=task, n_classes=n_classes, cosine=cosine, seed=seed,
                                    precision=precision, modality_dropout=sorted((modality_dropout or {}).items())))
        p.checkpoint.setup = setup
        if show_progress:
            def said(user, resumed, path, epoch, step, finished):
                if resumed:
                    sys.stderr.write("resumed from %s %s\n" % (path.decode(errors="replace"), "(training had finished)"
                                     if finished else "at epoch %d step %d" % (epoch, step)))
            notice = _NOTICE_FN(said)   # referenced until train returns
            p.checkpoint.notice = C.cast(notice, C.c_void_p)
    elif resume or checkpoint_every:
        raise ArgumentError("resume and checkpoint_every need checkpoint=FILE")
    failures = []
    if show_progress or progress is not None:
        if progress is not None and not callable(progress):
            raise ArgumentError("progress: expected a callable, got %r" % (progress,))
        cb = _epoch_reporter(progress, show_progress, failures, val is not None, t == TASKS["align"])
        p.progress = C.cast(cb, C.c_void_p)   # cb stays referenced until train returns
    vb = None
    with _Batch(embeddings, labels=labels, present=present, multilabel=t == TASKS["multilabel"], n_classes=n_classes, name="train") as tb:
        try:
            if val is not None:
                if not isinstance(val, (tuple, list)) or len(val) not in (2, 3):
                    raise ArgumentError("val: expected (embeddings, labels) or (embeddings, labels, present)")
                vb = _Batch(val[0], labels=val[1], present=val[2] if len(val) == 3 else None,
                           multilabel=t == TASKS["multilabel"], n_classes=n_classes, name="val")
            out = C.c_void_p()
            _lib.check(_lib.lib.mmf_head_train(tb.h, vb.h if vb else None, C.byref(p), C.byref(out)))
        finally:
            if vb:
                vb.close()
    head = FusionHead(out)
    if failures:
        raise failures[0]
    return head
