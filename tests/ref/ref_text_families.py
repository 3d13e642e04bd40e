#!/usr/bin/python3
"""Reference outputs for the RoBERTa / XLM-RoBERTa, DistilBERT and MPNet text
encoders, in float64.

Each family is written here from Hugging Face's modeling code semantics and
its published configs (Debian has no `transformers`): tensor names as the
checkpoints carry them, RobertaEmbeddings' position ids from the input ids
(padding_idx + 1 onwards), DistilBERT's embeddings without token types and
its sinusoidal table, MPNet's relative position bucket bias (computed once
from arange(T), shared by every layer and the batch), and sentence-transformers'
pooling (cls, masked mean, masked max) and Normalize. Random weights, stored
as F32 (one case F16); the reference runs in float64 on exactly the stored
values. Folders go to tests/data/text/<name>/, expected outputs to
tests/data/text/expect_<name>.safetensors.

Run: /usr/bin/python3 tests/ref/ref_text_families.py   (from the repository root)
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ref_bert import st_write, py_wordpiece, VOCAB as BERT_VOCAB  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "text")
F64 = torch.float64

# RoBERTa / MPNet vocabularies start <s> <pad> </s> <unk>; the WordPiece test
# tokenizer keeps that order so pad = 1 as in the real checkpoints
RB_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>"]
RB_VOCAB = RB_SPECIAL + [t for t in BERT_VOCAB if not t.startswith("[")] + ["<mask>"]

TEXTS = [
    "",
    "hello",
    "Hello, world!",
    "the cat sat on the mat.",
    "The dog was running and playing; it is unbelievable!",
    "unbelievableness of the world",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "numbers 12345 and 007, (parens) \"quotes\" 'single'",
    "this that and of to in for the a is was it run play hello world cat dog sat on mat",
]


# for the SentencePiece folder: scripts, accents, CJK, emoji, spacing
MULTI_TEXTS = [
    "Héllo wörld, naïve café!",
    "Ünïcödé — ‘quotes’ and “more”",
    "你好，世界。日本語のテキスト",
    "한국어 문장입니다",
    "Привет, как дела?",
    "emoji 🙂👍🏽 and ✨ sparkles",
    "   spaced\tout   text  ",
    "ﬁne ligatures ①②③ ＦＵＬＬＷＩＤＴＨ",
    "",
    "a",
]
SPM_MODEL = os.path.join(OUT, "spm", "uni.model")   # spm_train Unigram, nmt_nfkc + byte fallback
BYTEBPE = os.path.join(OUT, "bytebpe")   # a byte-level BPE trained here, ids from npm @huggingface/tokenizers


def bytebpe_cases(max_len, n=14):
    """Strings and their ids from the committed npm reference (ids_js.json), spread over the list, that fit."""
    with open(os.path.join(BYTEBPE, "ids_js.json")) as f:
        singles = json.load(f)["singles"]
    fit = [s for s in singles if 2 < len(s["ids"]) <= max_len]
    step = max(1, len(fit) // n)
    return [(s["text"], s["ids"]) for s in fit[::step][:n]]


def spm_fairseq_ids(text):
    """XLMRobertaTokenizer: SentencePiece pieces, fairseq ids (<s> <pad> </s> <unk> first, pieces one later,
    the unknown piece -> <unk>), <s> ... </s>; python3-sentencepiece does the segmentation."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=SPM_MODEL)
    return [0] + [3 if i == sp.unk_id() else i + 1 for i in sp.encode(text)] + [2], sp.get_piece_size() + 2


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTS = {"gelu": torch.nn.functional.gelu, "gelu_new": gelu_tanh, "relu": torch.relu}


def ln(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def attention(x_q, w, names, B, T, H, mask, bias=None):
    """Self attention as the HF modules compute it; names = (q, k, v, o) prefixes."""
    C = x_q.shape[-1]
    D = C // H

    def lin(t, n):
        return t @ w[n + ".weight"].T + w[n + ".bias"]

    def heads(t):
        return t.view(B, T, H, D).permute(0, 2, 1, 3)
    q, k, v = (heads(lin(x_q, n)) for n in names[:3])
    s = q @ k.transpose(-1, -2) / math.sqrt(D)
    if bias is not None:
        s = s + bias
    s = s + (1.0 - mask[:, None, None, :].to(F64)) * torch.finfo(F64).min
    a = (torch.softmax(s, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
    return lin(a, names[3])


def roberta_positions(ids, pad):
    m = (ids != pad).long()
    return torch.cumsum(m, 1) * m + pad


# ---------------------------------------------------------------- weights

class Gen:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def r(self, *shape, s=0.2):
        return (torch.randn(*shape, generator=self.g) * s).float()

    def ln(self, w, prefix, C):
        w[prefix + ".weight"] = 1.0 + self.r(C, s=0.1)
        w[prefix + ".bias"] = self.r(C, s=0.1)

    def lin(self, w, prefix, out, inp):
        w[prefix + ".weight"] = self.r(out, inp, s=1.0 / math.sqrt(inp))
        w[prefix + ".bias"] = self.r(out, s=0.1)


def bert_layout_weights(g, cfg, V, TV, rel_buckets=0, mpnet=False):
    """BertModel names (roberta) or MPNetModel names (mpnet)."""
    C, F, P, H = cfg["hidden_size"], cfg["intermediate_size"], cfg["max_position_embeddings"], cfg["num_attention_heads"]
    w = {"embeddings.word_embeddings.weight": g.r(V, C, s=0.5),
         "embeddings.position_embeddings.weight": g.r(P, C, s=0.5)}
    if TV:
        w["embeddings.token_type_embeddings.weight"] = g.r(TV, C, s=0.5)
    g.ln(w, "embeddings.LayerNorm", C)
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        if mpnet:
            for n in "qkvo":
                g.lin(w, p + "attention.attn." + n, C, C)
            g.ln(w, p + "attention.LayerNorm", C)
        else:
            for n in ("query", "key", "value"):
                g.lin(w, p + "attention.self." + n, C, C)
            g.lin(w, p + "attention.output.dense", C, C)
            g.ln(w, p + "attention.output.LayerNorm", C)
        g.lin(w, p + "intermediate.dense", F, C)
        g.lin(w, p + "output.dense", C, F)
        g.ln(w, p + "output.LayerNorm", C)
    if rel_buckets:
        w["encoder.relative_attention_bias.weight"] = g.r(rel_buckets, H, s=1.0)
    g.lin(w, "pooler.dense", C, C)
    return w


def distilbert_weights(g, cfg, V, with_positions):
    C, F, P = cfg["dim"], cfg["hidden_dim"], cfg["max_position_embeddings"]
    w = {"embeddings.word_embeddings.weight": g.r(V, C, s=0.5)}
    if with_positions:
        w["embeddings.position_embeddings.weight"] = g.r(P, C, s=0.5)
    g.ln(w, "embeddings.LayerNorm", C)
    for l in range(cfg["n_layers"]):
        p = "transformer.layer.%d." % l
        for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
            g.lin(w, p + "attention." + n, C, C)
        g.ln(w, p + "sa_layer_norm", C)
        g.lin(w, p + "ffn.lin1", F, C)
        g.lin(w, p + "ffn.lin2", C, F)
        g.ln(w, p + "output_layer_norm", C)
    return w


def sinusoidal(n_pos, dim):
    """DistilBERT's create_sinusoidal_embeddings: float64 table, stored as float32."""
    enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out = np.zeros((n_pos, dim), dtype=np.float32)
    out[:, 0::2] = np.sin(enc[:, 0::2])
    out[:, 1::2] = np.cos(enc[:, 1::2])
    return torch.from_numpy(out)


# ---------------------------------------------------------------- forwards

def post_norm_stack(x, w, cfg, mask, names, bias=None):
    B, T, _ = x.shape
    H, eps, act = cfg["num_attention_heads"], cfg["layer_norm_eps"], ACTS[cfg["hidden_act"]]
    for l in range(cfg["num_hidden_layers"]):
        p = names["layer"] % l
        a = attention(x, w, [p + n for n in names["qkvo"]], B, T, H, mask, bias)
        x = ln(a + x, w[p + names["ln1"] + ".weight"], w[p + names["ln1"] + ".bias"], eps)
        h = act(x @ w[p + names["fc1"] + ".weight"].T + w[p + names["fc1"] + ".bias"])
        x = ln(h @ w[p + names["fc2"] + ".weight"].T + w[p + names["fc2"] + ".bias"] + x,
               w[p + names["ln2"] + ".weight"], w[p + names["ln2"] + ".bias"], eps)
    return x


BERT_NAMES = {"layer": "encoder.layer.%d.", "qkvo": ["attention.self.query", "attention.self.key", "attention.self.value",
                                                     "attention.output.dense"],
              "ln1": "attention.output.LayerNorm", "fc1": "intermediate.dense", "fc2": "output.dense",
              "ln2": "output.LayerNorm"}
MPNET_NAMES = dict(BERT_NAMES, qkvo=["attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o"],
                   ln1="attention.LayerNorm")
DISTIL_NAMES = {"layer": "transformer.layer.%d.", "qkvo": ["attention.q_lin", "attention.k_lin", "attention.v_lin",
                                                           "attention.out_lin"],
                "ln1": "sa_layer_norm", "fc1": "ffn.lin1", "fc2": "ffn.lin2", "ln2": "output_layer_norm"}


def pooler(w, x):
    return torch.tanh(x[:, 0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])


def roberta_forward(cfg, w, ids, mask):
    pad = cfg["pad_token_id"]
    pos = roberta_positions(ids, pad)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos] + \
        w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    x = ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg["layer_norm_eps"])
    x = post_norm_stack(x, w, cfg, mask, BERT_NAMES)
    return x, pooler(w, x)


def distilbert_forward(cfg, w, ids, mask):
    T = ids.shape[1]
    pe = w.get("embeddings.position_embeddings.weight")
    if pe is None:
        pe = sinusoidal(cfg["max_position_embeddings"], cfg["dim"]).to(F64)
    x = w["embeddings.word_embeddings.weight"][ids] + pe[torch.arange(T)][None]
    x = ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], 1e-12)
    c = {"num_attention_heads": cfg["n_heads"], "layer_norm_eps": 1e-12, "hidden_act": cfg["activation"],
         "num_hidden_layers": cfg["n_layers"]}
    return post_norm_stack(x, w, c, mask, DISTIL_NAMES), None


def mpnet_bucket(rel, num_buckets=32, max_distance=128):
    """MPNetEncoder.relative_position_bucket"""
    ret = 0
    n = -rel
    num_buckets //= 2
    ret += (n < 0).long() * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                                * (num_buckets - max_exact)).long()
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


def mpnet_forward(cfg, w, ids, mask):
    T = ids.shape[1]
    pos = roberta_positions(ids, 1)   # MPNetEmbeddings: padding_idx = 1
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
    x = ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], cfg["layer_norm_eps"])
    ar = torch.arange(T)
    bucket = mpnet_bucket(ar[None, :] - ar[:, None], num_buckets=cfg["relative_attention_num_buckets"])
    bias = w["encoder.relative_attention_bias.weight"][bucket].permute(2, 0, 1)[None]   # (1, H, T, T)
    x = post_norm_stack(x, w, cfg, mask, MPNET_NAMES, bias)
    return x, pooler(w, x)


def poolings(h, mask, pooled):
    m = mask.unsqueeze(-1).to(F64)
    mean = (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    hm = h.clone()
    hm[m.expand_as(h) == 0] = -1e9
    out = {"cls": h[:, 0].contiguous(), "mean": mean, "max": hm.max(1).values}
    if pooled is not None:
        out["pooler"] = pooled
    return out


# ---------------------------------------------------------------- folders

def write_tokenizer(folder, vocab, cls, sep, pad, unk, max_len):
    """A WordPiece tokenizer.json over the tiny vocab with the family's special
    tokens and template (the encoders are the point here, not the tokenizer)."""
    special = [{"id": vocab.index(t), "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for t in vocab if t.startswith("<") or t.startswith("[")]
    tj = {"version": "1.0", "truncation": None,
          "padding": None, "added_tokens": special,
          "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                         "strip_accents": None, "lowercase": True},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "post_processor": {
              "type": "TemplateProcessing",
              "single": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": sep, "type_id": 0}}],
              "pair": [{"SpecialToken": {"id": cls, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": sep, "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                       {"SpecialToken": {"id": sep, "type_id": 1}}],
              "special_tokens": {cls: {"id": cls, "ids": [vocab.index(cls)], "tokens": [cls]},
                                 sep: {"id": sep, "ids": [vocab.index(sep)], "tokens": [sep]}}},
          "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
          "model": {"type": "WordPiece", "unk_token": unk, "continuing_subword_prefix": "##",
                    "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(vocab)}}}
    if pad is not None:
        tj["padding"] = {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                         "pad_id": vocab.index(pad), "pad_type_id": 0, "pad_token": pad}
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(tj, f, indent=1)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": max_len}, f)


def write_st_modules(folder, C, pool, normalize, max_len):
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        os.makedirs(os.path.join(folder, "2_Normalize"), exist_ok=True)
    with open(os.path.join(folder, "modules.json"), "w") as f:
        json.dump(mods, f, indent=1)
    os.makedirs(os.path.join(folder, "1_Pooling"), exist_ok=True)
    with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
        json.dump({"word_embedding_dimension": C, "pooling_mode_cls_token": pool == "cls",
                   "pooling_mode_mean_tokens": pool == "mean", "pooling_mode_max_tokens": pool == "max",
                   "pooling_mode_mean_sqrt_len_tokens": False}, f, indent=1)
    with open(os.path.join(folder, "sentence_bert_config.json"), "w") as f:
        json.dump({"max_seq_length": max_len, "do_lower_case": False}, f)


def make_case(name, family, cfg, seed, prefix="", storage=torch.float32, st_pool=None, normalize=False,
              st_max_len=None, sinusoidal_missing=False, spm=False, bytebpe=False):
    g = Gen(seed)
    cfg = dict(cfg)
    if family == "distilbert":
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [t for t in BERT_VOCAB if not t.startswith("[")]
        cfg.update({"model_type": "distilbert", "vocab_size": len(vocab), "pad_token_id": 0,
                    "architectures": ["DistilBertModel"]})
        w = distilbert_weights(g, cfg, len(vocab), not sinusoidal_missing)
        C, P, pad, cls, sep, unk, padtok = cfg["dim"], cfg["max_position_embeddings"], 0, "[CLS]", "[SEP]", "[UNK]", "[PAD]"
        fwd, npos = distilbert_forward, P
    else:
        vocab = RB_VOCAB
        if spm:   # only the size matters: the tokenizer is sentencepiece.bpe.model
            vocab = ["<s>", "<pad>", "</s>", "<unk>"] + ["p%d" % i for i in range(spm_fairseq_ids("")[1] - 4)]
        if bytebpe:   # the byte-level BPE's tokenizer.json decides the ids
            with open(os.path.join(BYTEBPE, "tokenizer.json")) as f:
                tj = json.load(f)
            vocab = ["t%d" % i for i in range(max(max(tj["model"]["vocab"].values()), max(a["id"] for a in tj["added_tokens"])) + 1)]
        cfg.update({"vocab_size": len(vocab), "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2})
        if family == "mpnet":
            cfg.update({"model_type": "mpnet", "architectures": ["MPNetModel"]})
            w = bert_layout_weights(g, cfg, len(vocab), 0, rel_buckets=cfg["relative_attention_num_buckets"], mpnet=True)
            fwd = mpnet_forward
        else:
            cfg.update({"model_type": family, "type_vocab_size": 1, "position_embedding_type": "absolute",
                        "architectures": ["XLMRobertaModel" if family == "xlm-roberta" else "RobertaModel"]})
            w = bert_layout_weights(g, cfg, len(vocab), 1)
            fwd = roberta_forward
        C, P, pad, cls, sep, unk, padtok = cfg["hidden_size"], cfg["max_position_embeddings"], 1, "<s>", "</s>", "<unk>", "<pad>"
        npos = P - 2   # positions start at padding_idx + 1 = 2
    w = {k: v.to(storage) for k, v in w.items()}
    w64 = {k: v.to(F64) for k, v in w.items()}
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    st_write(os.path.join(folder, "model.safetensors"), {prefix + k: v for k, v in w.items()}, {"format": "pt"})
    if bytebpe:
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copyfile(os.path.join(BYTEBPE, fn), os.path.join(folder, fn))
    elif spm:
        shutil.copyfile(SPM_MODEL, os.path.join(folder, "sentencepiece.bpe.model"))
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": npos, "bos_token": "<s>",
                       "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}, f)
    else:
        write_tokenizer(folder, vocab, cls, sep, padtok, unk, npos)
    if st_pool:
        write_st_modules(folder, C, st_pool, normalize, st_max_len)

    # ---- id level: mixed lengths up to the positions the model has; pads (and mask 0) after the end;
    # some real tokens equal the pad id, which RoBERTa / MPNet give position padding_idx
    lens = [1, npos, 2, npos - 3, 5, 1, npos // 2]
    B, T = len(lens), max(lens)
    gi = torch.Generator().manual_seed(seed + 100)
    ids = torch.randint(0, len(vocab), (B, T), generator=gi)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
    ids = torch.where(mask.bool(), ids, torch.full_like(ids, pad))
    if family != "distilbert":
        ids[1, 3] = pad
        ids[3, 0] = pad
    with torch.no_grad():
        h, pooled = fwd(cfg, w64, ids, mask)
    exp = {"ids": ids.int(), "mask": mask.int(), "hidden": h.float()}
    exp.update({"pool_" + k: v.float() for k, v in poolings(h, mask, pooled).items()})

    # ---- text level through the tiny WordPiece and the family's template
    vmap = {t: i for i, t in enumerate(vocab)}
    max_len = min(npos, st_max_len or npos)
    texts = TEXTS
    if bytebpe:
        cases = bytebpe_cases(max_len)
        texts, seqs = [c[0] for c in cases], [c[1] for c in cases]
    elif spm:
        texts = MULTI_TEXTS
        seqs = [(lambda s: s[:max_len - 1] + [2] if len(s) > max_len else s)(spm_fairseq_ids(t)[0]) for t in MULTI_TEXTS]
    else:
        seqs = [[vmap[cls]] + py_wordpiece(t, dict(vmap, **{"[UNK]": vmap[unk]}))[:max_len - 2] + [vmap[sep]] for t in TEXTS]
    TT = max(len(s) for s in seqs)
    tids = torch.full((len(seqs), TT), pad, dtype=torch.int64)
    tmask = torch.zeros(len(seqs), TT, dtype=torch.int64)
    for i, s in enumerate(seqs):
        tids[i, :len(s)] = torch.tensor(s)
        tmask[i, :len(s)] = 1
    with torch.no_grad():
        th, tpooled = fwd(cfg, w64, tids, tmask)
    tp = poolings(th, tmask, tpooled)
    exp.update({"text_ids": tids.int(), "text_mask": tmask.int(), "text_hidden": th.float()})
    exp.update({"text_" + k: v.float() for k, v in tp.items()})
    if st_pool:
        d = tp[st_pool]
        exp["text_default"] = (torch.nn.functional.normalize(d, p=2, dim=1) if normalize else d).float()
    st_write(os.path.join(OUT, "expect_%s.safetensors" % name), exp, {"texts": json.dumps(texts, ensure_ascii=False)})
    print("%-16s %-11s C %d layers %d storage %s -> %d tensors" % (name, family, C, cfg.get("num_hidden_layers", cfg.get("n_layers")),
                                                                   storage, len(w)))


def main():
    os.makedirs(OUT, exist_ok=True)
    rb = {"hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 64,
          "hidden_act": "gelu", "max_position_embeddings": 20, "layer_norm_eps": 1e-5}
    # roberta-base layout: "roberta." prefix, pooler, no sentence-transformers modules
    make_case("roberta_a", "roberta", rb, seed=11, prefix="roberta.")
    # multilingual-e5 / paraphrase-multilingual layout: no prefix, F16, mean + Normalize, max_seq_length
    make_case("xlmr_st", "xlm-roberta", dict(rb, hidden_act="gelu_new", num_hidden_layers=3), seed=12,
              storage=torch.float16, st_pool="mean", normalize=True, st_max_len=10)
    # distilbert-base-uncased layout: "distilbert." prefix, learned positions
    db = {"dim": 24, "n_heads": 3, "n_layers": 2, "hidden_dim": 48, "activation": "gelu",
          "max_position_embeddings": 16, "sinusoidal_pos_embds": False}
    # xlm-roberta-base / multilingual-e5 with the SentencePiece file: an spm_train Unigram model as
    # sentencepiece.bpe.model (fairseq ids), multilingual texts
    make_case("xlmr_spm", "xlm-roberta", dict(rb, max_position_embeddings=40), seed=17, prefix="roberta.",
              st_pool="mean", normalize=True, st_max_len=38, spm=True)
    # roberta-base's tokenizer kind: a byte-level BPE tokenizer.json (RobertaProcessing), ids from npm
    make_case("roberta_bpe", "roberta", dict(rb, max_position_embeddings=34), seed=18, prefix="roberta.", bytebpe=True)
    make_case("distilbert_a", "distilbert", db, seed=13, prefix="distilbert.")
    # multi-qa-distilbert-cos-v1 layout: no prefix, cls + Normalize; sinusoidal table not in the checkpoint
    make_case("distilbert_st", "distilbert", dict(db, activation="relu", sinusoidal_pos_embds=True), seed=14,
              st_pool="cls", normalize=True, sinusoidal_missing=True)
    # all-mpnet-base-v2 layout: no prefix, mean + Normalize; 40 positions so buckets past max_exact are used
    mp = {"hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 64,
          "hidden_act": "gelu", "max_position_embeddings": 40, "layer_norm_eps": 1e-5,
          "relative_attention_num_buckets": 32}
    make_case("mpnet_st", "mpnet", mp, seed=15, st_pool="mean", normalize=True, st_max_len=38)
    # MPNetForMaskedLM-style "mpnet." prefix, 16 buckets, pooler
    make_case("mpnet_b", "mpnet", dict(mp, relative_attention_num_buckets=16, max_position_embeddings=24), seed=16,
              prefix="mpnet.")


if __name__ == "__main__":
    main()
