"""Text: TextEncoder (pooled sentence embeddings, as sentence-transformers' encode) and
Tokenizer (ids and attention masks, as a Hugging Face tokenizer called with padding)."""
import ctypes as C
import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from ._encoder import MODALITY_TEXT, Encoder, batches, normalize_arg, pooling_arg
from ._handle import Handle, int_arg, open_handle
from .errors import ArgumentError

Texts = Union[str, Sequence[str]]


def _text_list(texts, what="texts"):
    """(list, single): a str is one text; a list/tuple/array of str is many."""
    if isinstance(texts, (str, bytes)):
        return [texts], True
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    try:
        items = list(texts)
    except TypeError:
        raise ArgumentError("%s: expected a str or a sequence of str, got %s" % (what, type(texts).__name__)) from None
    for i, t in enumerate(items):
        if not isinstance(t, (str, bytes)):
            raise ArgumentError("%s[%d]: expected a str, got %s" % (what, i, type(t).__name__))
    return items, False


def _tokenize(tok, texts, pairs, add_special_tokens, max_length) -> Dict[str, np.ndarray]:
    items, single = _text_list(texts)
    pair_items = None
    if pairs is not None:
        pair_items, _ = _text_list(pairs, "pairs")
        if len(pair_items) != len(items):
            raise ArgumentError("pairs: %d texts for %d inputs" % (len(pair_items), len(items)))
    encs = []
    try:
        for i, t in enumerate(items):
            e = _lib.Encoding()
            p = _lib.cstr(pair_items[i], "pairs[%d]" % i) if pair_items is not None else None
            _lib.check(_lib.lib.mmf_tokenizer_encode(tok, _lib.cstr(t, "texts[%d]" % i), p,
                                                     1 if add_special_tokens else 0, max_length, C.byref(e)))
            encs.append(e)
        T = max([e.n for e in encs] + [0])
        pad = _lib.lib.mmf_tokenizer_pad_id(tok)
        ids = np.full((len(encs), T), max(pad, 0), dtype=np.int32)
        types = np.zeros((len(encs), T), dtype=np.int32)
        mask = np.zeros((len(encs), T), dtype=np.uint8)
        for b, e in enumerate(encs):
            if e.n:
                ids[b, :e.n] = np.ctypeslib.as_array(e.ids, (e.n,))
                types[b, :e.n] = np.ctypeslib.as_array(e.type_ids, (e.n,))
                mask[b, :e.n] = np.ctypeslib.as_array(e.attention_mask, (e.n,))
        truncated = np.array([bool(e.truncated) for e in encs])
    finally:
        for e in encs:
            _lib.lib.mmf_encoding_free(C.byref(e))
    out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "truncated": truncated}
    if single:
        out = {k: v[0] for k, v in out.items()}
    return out


class Tokenizer(Handle):
    """A tokenizer from a Hugging Face folder (tokenizer.json, or vocab.txt + tokenizer_config.json)."""
    _free = "mmf_tokenizer_free"

    def __init__(self, folder):
        super().__init__()
        self.folder = os.fspath(folder)
        self._take(open_handle(_lib.lib.mmf_tokenizer_load, _lib.cstr(self.folder, "folder")))
        self.vocab_size = int(_lib.lib.mmf_tokenizer_vocab_size(self._h))

    def tokenize(self, texts: Texts, pairs: Optional[Texts] = None, add_special_tokens: bool = True,
                 max_length: Optional[int] = None) -> Dict[str, np.ndarray]:
        """Token ids of each text (and its pair), padded to the longest with the pad id.

        Returns ``input_ids`` (int32 [N, T]), ``attention_mask`` (uint8 [N, T], 1 = token),
        ``token_type_ids`` (int32 [N, T]) and ``truncated`` (bool [N]); a str gives 1-D arrays.
        max_length: None = the tokenizer's own limit, a number truncates (specials included),
        -1 never truncates.
        """
        ml = 0 if max_length is None else int_arg(max_length, "max_length", -1)
        with self._lock:
            return _tokenize(self._handle, texts, pairs, add_special_tokens, ml)

    __call__ = tokenize


def tokenize(texts: Texts, folder, **kw) -> Dict[str, np.ndarray]:
    """One-off ``Tokenizer(folder).tokenize(texts, **kw)``."""
    with Tokenizer(folder) as t:
        return t.tokenize(texts, **kw)


class TextEncoder(Encoder):
    """A text encoder from a Hugging Face folder (BERT family, CLIP's text tower, mmfuse's own).

    precision: "fp32" (default; matches PyTorch to ~1e-6) or "bf16" (AVX512-BF16 CPUs).
    threads: CPU threads per call (None = every core). max_batch: sequences per forward pass
    (activations are sized for it). max_length: tokens per text (0 = the model's limit).
    """
    _modality = MODALITY_TEXT
    _modality_name = "text"

    def encode(self, texts: Texts, batch_size: int = 32, normalize: Optional[bool] = None,
               pooling: Optional[str] = None, show_progress: bool = False) -> np.ndarray:
        """Pooled embeddings, float32 [N, dim] for a list of N texts, [dim] for one str.

        normalize: None = as the folder says (sentence-transformers Normalize module), True/False.
        pooling: None = the folder's (1_Pooling, else mean), or cls, mean, max, pooler.
        batch_size: texts per forward pass (at most the encoder's max_batch). Texts longer
        than the model allows are truncated, with a notice on stderr.
        """
        items, single = _text_list(texts)
        pool, norm = pooling_arg(pooling), normalize_arg(normalize)
        if pool == 4:
            raise ArgumentError("pooling \"none\" gives token states, not one vector per text")
        enc = [_lib.cstr(t, "texts[%d]" % i) for i, t in enumerate(items)]
        out = np.empty((len(enc), self.dim), dtype=np.float32)
        step = min(int_arg(batch_size, "batch_size", 1), self.max_batch)
        if step == self.max_batch and not show_progress:
            step = max(len(enc), 1)  # one call: the library batches by length itself
        with self._lock:
            h = self._handle
            for a, b in batches(len(enc), step, show_progress, "encode"):
                arr = (C.c_char_p * (b - a))(*enc[a:b])
                _lib.check(_lib.lib.mmf_encoder_embed_text(h, arr, b - a, pool, norm, out[a:].ctypes.data))
        return out[0] if single else out

    def encode_tokens(self, texts: Texts) -> Tuple[np.ndarray, np.ndarray]:
        """Every token's last hidden state: (states float32 [N, T, dim], mask uint8 [N, T]),
        T = the longest text's token count (specials included, after truncation); padded
        positions are 0 in both. A str gives [T, dim] and [T]."""
        items, single = _text_list(texts)
        enc = [_lib.cstr(t, "texts[%d]" % i) for i, t in enumerate(items)]
        n = len(enc)
        arr = (C.c_char_p * max(n, 1))(*enc)
        with self._lock:
            h = self._handle
            lengths = np.zeros(n, dtype=np.int32)
            if n:
                _lib.check(_lib.lib.mmf_encoder_text_lengths(h, arr, n, lengths.ctypes.data))
            T = int(lengths.max()) if n else 0
            states = np.zeros((n, T, self.dim), dtype=np.float32)
            mask = np.zeros((n, T), dtype=np.uint8)
            if n and T:
                _lib.check(_lib.lib.mmf_encoder_embed_text_tokens(h, arr, n, T, states.ctypes.data, mask.ctypes.data))
        return (states[0], mask[0]) if single else (states, mask)

    def tokenize(self, texts: Texts, pairs: Optional[Texts] = None, add_special_tokens: bool = True,
                 max_length: Optional[int] = None) -> Dict[str, np.ndarray]:
        """The encoder's tokenizer (see Tokenizer.tokenize); max_length None = the encoder's."""
        ml = _lib.lib.mmf_encoder_max_length(self._handle) if max_length is None else int_arg(max_length, "max_length", -1)
        with self._lock:
            tok = _lib.lib.mmf_encoder_tokenizer(self._handle)
            return _tokenize(tok, texts, pairs, add_special_tokens, ml)
