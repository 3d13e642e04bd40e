#!/usr/bin/python3
"""Reference outputs for the BERT text encoder and the shared transformer layer.

BERT is written here from Hugging Face's BertModel semantics (tensor names,
post-norm layers, extended attention mask, pooler = tanh(dense(h[:, 0])), and
sentence-transformers' pooling: cls, masked mean, masked max), with random
weights, because Debian has no `transformers` package. Each config becomes a
small Hugging Face-style folder under tests/data/text/ plus an expected-output
file tests/data/text/expect_<name>.safetensors.

Also writes tests/data/text/tf_prenorm.safetensors: one pre-norm causal
layer (CLIP arrangement) with its input and output, for the shared layer.

Run: /usr/bin/python3 tests/ref/ref_bert.py   (from the repository root)
"""
import json
import math
import os
import shutil
import struct

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "text")

# ------------------------------------------------------------ safetensors

DT = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
      torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8"}


def st_write(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ------------------------------------------------------------ the model

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTS = {"gelu": torch.nn.functional.gelu, "gelu_new": gelu_new, "relu": torch.relu,
        "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x)}


def make_weights(cfg, gen):
    C, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    P, TV = cfg["max_position_embeddings"], cfg["type_vocab_size"]

    def r(*shape, s=0.2):
        return (torch.randn(*shape, generator=gen) * s).float()

    def ln(prefix, w):
        w[prefix + ".weight"] = 1.0 + r(C, s=0.1)
        w[prefix + ".bias"] = r(C, s=0.1)

    w = {}
    w["embeddings.word_embeddings.weight"] = r(V, C, s=0.5)
    w["embeddings.position_embeddings.weight"] = r(P, C, s=0.5)
    w["embeddings.token_type_embeddings.weight"] = r(TV, C, s=0.5)
    ln("embeddings.LayerNorm", w)
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l
        for n in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % n] = r(C, C, s=1.0 / math.sqrt(C))
            w[p + "attention.self.%s.bias" % n] = r(C, s=0.1)
        w[p + "attention.output.dense.weight"] = r(C, C, s=1.0 / math.sqrt(C))
        w[p + "attention.output.dense.bias"] = r(C, s=0.1)
        ln(p + "attention.output.LayerNorm", w)
        w[p + "intermediate.dense.weight"] = r(F, C, s=1.0 / math.sqrt(C))
        w[p + "intermediate.dense.bias"] = r(F, s=0.1)
        w[p + "output.dense.weight"] = r(C, F, s=1.0 / math.sqrt(F))
        w[p + "output.dense.bias"] = r(C, s=0.1)
        ln(p + "output.LayerNorm", w)
    w["pooler.dense.weight"] = r(C, C, s=1.0 / math.sqrt(C))
    w["pooler.dense.bias"] = r(C, s=0.1)
    return w


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def bert_forward(cfg, w, ids, mask, types):
    """Hugging Face BertModel.forward in float64-free float32, eval mode."""
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    D, eps, act = C // H, cfg["layer_norm_eps"], ACTS[cfg["hidden_act"]]
    pos = torch.arange(T).unsqueeze(0).expand(B, T)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][types]
         + w["embeddings.position_embeddings.weight"][pos])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l

        def heads(t):
            return t.view(B, T, H, D).permute(0, 2, 1, 3)
        q = heads(lin(x, p + "attention.self.query"))
        k = heads(lin(x, p + "attention.self.key"))
        v = heads(lin(x, p + "attention.self.value"))
        s = q @ k.transpose(-1, -2) / math.sqrt(D) + ext
        a = torch.softmax(s, dim=-1) @ v
        a = a.permute(0, 2, 1, 3).reshape(B, T, C)
        x = layer_norm(lin(a, p + "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        h = act(lin(x, p + "intermediate.dense"))
        x = layer_norm(lin(h, p + "output.dense") + x, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    pooled = torch.tanh(lin(x[:, 0], "pooler.dense"))
    return x, pooled


def poolings(h, mask, pooled):
    """sentence-transformers' Pooling module semantics."""
    m = mask.unsqueeze(-1).float()
    mean = (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    hm = h.clone()
    hm[m.expand_as(h) == 0] = -1e9
    mx = hm.max(1).values
    return {"cls": h[:, 0].contiguous(), "mean": mean, "max": mx, "pooler": pooled}


# ------------------------------------------------------------ a tiny WordPiece

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + \
    "the a cat dog sat on mat hello world run play un is was it this that and of to in for".split() + \
    "##s ##ing ##ed ##ly ##er ##believ ##able ##ness".split() + \
    list(".,!?;:'\"-()") + [c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + \
    ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]


def py_wordpiece(text, vocab):
    """BERT's basic tokenizer + WordPiece for plain ASCII text (all the
    parity texts are ASCII), written independently of the C code."""
    text = text.lower()
    words, cur = [], ""
    for ch in text:
        if ch.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif (33 <= ord(ch) <= 47) or (58 <= ord(ch) <= 64) or (91 <= ord(ch) <= 96) or (123 <= ord(ch) <= 126):
            if cur:
                words.append(cur)
            words.append(ch)
            cur = ""
        else:
            cur += ch
    if cur:
        words.append(cur)
    out = []
    for wd in words:
        if len(wd) > 100:
            out.append(vocab["[UNK]"])
            continue
        start, pieces = 0, []
        while start < len(wd):
            end, found = len(wd), None
            while start < end:
                sub = ("##" if start else "") + wd[start:end]
                if sub in vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                pieces = [vocab["[UNK]"]]
                break
            pieces.append(vocab[found])
            start = end
        out.extend(pieces)
    return out


TEXTS = [
    "",
    "hello",
    "Hello, world!",
    "the cat sat on the mat.",
    "The dog was running and playing; it is unbelievable!",
    "unbelievableness of the world",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "  spaced   out\ttabs\nand newlines  ",
    "numbers 12345 and 007, (parens) \"quotes\" 'single'",
    "zzzzqqqq xyzzy",
    "this that and of to in for the a is was it run play hello world cat dog sat on mat",
    "?!?!...",
]


def write_vocab_folder(path):
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")


def write_tokenizer_json(path, max_len):
    """A Hugging Face tokenizer.json for the tiny vocab (BertNormalizer,
    BertPreTokenizer, WordPiece, TemplateProcessing), as `tokenizers` saves it."""
    special = [{"id": VOCAB.index(t), "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True} for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]]
    cls, sep = VOCAB.index("[CLS]"), VOCAB.index("[SEP]")
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": {t: i for i, t in enumerate(VOCAB)}},
    }
    with open(os.path.join(path, "tokenizer.json"), "w") as f:
        json.dump(tj, f, indent=1)
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": max_len, "tokenizer_class": "BertTokenizer"}, f)


def make_case(name, cfg, seed, storage=torch.float32, prefix="bert.", shards=1, tok="vocab", st_pool=None,
              st_max_len=None, batch_lens=None):
    gen = torch.Generator().manual_seed(seed)
    cfg = dict(cfg)
    cfg.update({"model_type": "bert", "vocab_size": len(VOCAB), "pad_token_id": 0,
                "position_embedding_type": "absolute", "architectures": ["BertModel"]})
    w = make_weights(cfg, gen)
    # the reference runs on exactly the values the C side will read
    w = {k: v.to(storage).float() for k, v in w.items()}
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    named = {prefix + k: v.to(storage) for k, v in w.items()}
    if shards == 1:
        st_write(os.path.join(folder, "model.safetensors"), named, {"format": "pt"})
    else:
        keys = sorted(named)
        per = (len(keys) + shards - 1) // shards
        wmap = {}
        for s in range(shards):
            fn = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
            part = {k: named[k] for k in keys[s * per:(s + 1) * per]}
            st_write(os.path.join(folder, fn), part, {"format": "pt"})
            wmap.update({k: fn for k in part})
        total = sum(t.numel() * t.element_size() for t in named.values())
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": wmap}, f, indent=1)
    P = cfg["max_position_embeddings"]
    if tok == "vocab":
        write_vocab_folder(folder)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"do_lower_case": True, "model_max_length": P}, f)
    else:
        write_tokenizer_json(folder, P)
    if st_pool:
        mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
        with open(os.path.join(folder, "modules.json"), "w") as f:
            json.dump(mods, f, indent=1)
        os.makedirs(os.path.join(folder, "1_Pooling"))
        os.makedirs(os.path.join(folder, "2_Normalize"))
        with open(os.path.join(folder, "1_Pooling", "config.json"), "w") as f:
            json.dump({"word_embedding_dimension": cfg["hidden_size"],
                       "pooling_mode_cls_token": st_pool == "cls", "pooling_mode_mean_tokens": st_pool == "mean",
                       "pooling_mode_max_tokens": st_pool == "max", "pooling_mode_mean_sqrt_len_tokens": False}, f,
                      indent=1)
        with open(os.path.join(folder, "sentence_bert_config.json"), "w") as f:
            json.dump({"max_seq_length": st_max_len, "do_lower_case": False}, f)

    # ---- id-level batch: mixed lengths 1..P, random token types
    lens = batch_lens or [1, P, 2, P - 3, 5, 1, P // 2]
    B, T = len(lens), max(lens)
    ids = torch.randint(0, len(VOCAB), (B, T), generator=gen)
    types = torch.randint(0, cfg["type_vocab_size"], (B, T), generator=gen)
    mask = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
    ids = ids * mask
    types = types * mask
    with torch.no_grad():
        h, pooled = bert_forward(cfg, w, ids, mask, types)
    pools = poolings(h, mask, pooled)
    exp = {"ids": ids.int(), "type_ids": types.int(), "mask": mask.int(), "hidden": h}
    exp.update({"pool_" + k: v for k, v in pools.items()})

    # ---- text level: the parity texts through the tiny WordPiece
    vmap = {t: i for i, t in enumerate(VOCAB)}
    max_len = min(P, st_max_len or P)
    seqs = []
    for t in TEXTS:
        pieces = py_wordpiece(t, vmap)[:max_len - 2]
        seqs.append([vmap["[CLS]"]] + pieces + [vmap["[SEP]"]])
    TT = max(len(s) for s in seqs)
    tids = torch.zeros(len(seqs), TT, dtype=torch.int64)
    tmask = torch.zeros(len(seqs), TT, dtype=torch.int64)
    for i, s in enumerate(seqs):
        tids[i, :len(s)] = torch.tensor(s)
        tmask[i, :len(s)] = 1
    with torch.no_grad():
        th, tpooled = bert_forward(cfg, w, tids, tmask, torch.zeros_like(tids))
    tp = poolings(th, tmask, tpooled)
    exp.update({"text_ids": tids.int(), "text_mask": tmask.int(), "text_hidden": th})
    exp.update({"text_" + k: v for k, v in tp.items()})
    if st_pool:
        exp["text_default"] = torch.nn.functional.normalize(tp[st_pool], p=2, dim=1)
    st_write(os.path.join(OUT, "expect_%s.safetensors" % name), exp)
    print("%-10s hidden %d heads %d layers %d act %s storage %s -> %d tensors" % (
        name, cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["hidden_act"],
        DT[storage], len(named)))


def make_prenorm_layer():
    """One CLIP-style layer: x = x + attn(LN1(x)) (causal, padded); x = x + fc2(quick_gelu(fc1(LN2(x))))."""
    gen = torch.Generator().manual_seed(7)
    B, T, C, H, F = 3, 7, 16, 4, 40
    D, eps = C // H, 1e-5

    def r(*s, sc=0.3):
        return (torch.randn(*s, generator=gen) * sc).float()
    w = {"q_w": r(C, C), "k_w": r(C, C), "v_w": r(C, C), "q_b": r(C), "k_b": r(C), "v_b": r(C),
         "o_w": r(C, C), "o_b": r(C), "ln1_w": 1 + r(C, sc=0.1), "ln1_b": r(C, sc=0.1),
         "fc1_w": r(F, C), "fc1_b": r(F), "fc2_w": r(C, F), "fc2_b": r(C),
         "ln2_w": 1 + r(C, sc=0.1), "ln2_b": r(C, sc=0.1)}
    x = r(B, T, C, sc=1.0)
    lens = [7, 3, 1]
    keep = torch.zeros(B, T, dtype=torch.int64)
    for b, n in enumerate(lens):
        keep[b, :n] = 1
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & keep[:, None, None, :].bool()
    with torch.no_grad():
        y = layer_norm(x, w["ln1_w"], w["ln1_b"], eps)

        def proj(t, n):
            return (t @ w[n + "_w"].T + w[n + "_b"]).view(B, T, H, D).permute(0, 2, 1, 3)
        q, k, v = proj(y, "q"), proj(y, "k"), proj(y, "v")
        s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        s = s.masked_fill(~allowed, float("-inf"))
        a = (torch.softmax(s, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x1 = x + a @ w["o_w"].T + w["o_b"]
        y = layer_norm(x1, w["ln2_w"], w["ln2_b"], eps)
        h = ACTS["quick_gelu"](y @ w["fc1_w"].T + w["fc1_b"])
        out = x1 + h @ w["fc2_w"].T + w["fc2_b"]
    t = dict(w)
    t.update({"x": x, "keep": keep.int(), "out": out})
    st_write(os.path.join(OUT, "tf_prenorm.safetensors"), t)


def main():
    os.makedirs(OUT, exist_ok=True)
    base = {"layer_norm_eps": 1e-12, "type_vocab_size": 2}
    make_case("bert_a", dict(base, hidden_size=24, num_attention_heads=12, num_hidden_layers=2,
                             intermediate_size=48, hidden_act="gelu_new", max_position_embeddings=16),
              seed=1, storage=torch.float32, prefix="bert.", tok="vocab")
    make_case("bert_b", dict(base, hidden_size=16, num_attention_heads=1, num_hidden_layers=3,
                             intermediate_size=32, hidden_act="relu", max_position_embeddings=20, layer_norm_eps=1e-5),
              seed=2, storage=torch.float16, prefix="", tok="json")
    make_case("bert_c", dict(base, hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                             intermediate_size=64, hidden_act="gelu", max_position_embeddings=24, type_vocab_size=3),
              seed=3, storage=torch.bfloat16, prefix="bert.", shards=2, tok="vocab")
    make_case("bert_st", dict(base, hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                              intermediate_size=64, hidden_act="gelu", max_position_embeddings=32),
              seed=4, storage=torch.float32, prefix="", tok="json", st_pool="mean", st_max_len=12)
    make_prenorm_layer()


if __name__ == "__main__":
    main()
