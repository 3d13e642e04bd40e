#!/usr/bin/python3
"""Expected ids for the SentencePiece tokenizers, from Debian's
python3-sentencepiece on the models tests/ref/gen_spm_models.py trained, over the
strings of tests/data/text/strings.json plus SentencePiece-specific ones.

Writes tests/data/text/spm/:
  NAME_ids.json      a folder holding only NAME.model as spiece.model
                     (T5 / SigLIP layout): special pieces (<unk>, <s>, </s>)
                     split out of the text as transformers' tokenizers do,
                     each other section sp.encode()d, then </s> unless the
                     text already ends with it (T5Tokenizer)
  uni_siglip_ids.json  uni.model as spiece.model with tokenizer_class
                     SiglipTokenizer: transformers' SiglipTokenizer steps
                     transcribed here (lower case, ASCII punctuation removed,
                     whitespace collapsed, "▁" prefix, sentencepiece without
                     its dummy prefix behind "<unk>", specials stripping the
                     spaces around them, </s> unless already last)
  uni_fairseq_ids.json  the same model as sentencepiece.bpe.model (XLM-R's
                     layout): fairseq ids (<s> 0, <pad> 1, </s> 2, <unk> 3,
                     every other piece + 1, <mask> last), <s> A </s>
  ../uni_nfkc/tokenizer.json  uni.model's pieces as an older XLM-R tokenizer.json
                     (NFKC instead of the charsmap, Replace " {2,}" -> " ", Metaspace
                     add_prefix_space, no byte fallback, <s> A </s></s> B </s>):
                     its ids come from npm's @huggingface/tokenizers
                     (tests/ref/ref_hf_tokenizers.mjs)
  ../spm_bpe/tokenizer.json  bpe.model as a Llama-style tokenizer.json (Prepend
                     "▁", Replace " " -> "▁", BPE with merges ordered by the
                     merged piece's score as transformers' SentencePieceExtractor
                     orders them, byte fallback, <s> A): its ids come from npm's
                     @huggingface/tokenizers (tests/ref/ref_hf_tokenizers.mjs)
  uni_tokenizer.json a tokenizer.json for uni.model written as transformers'
                     SpmConverter writes one (Precompiled charsmap, Strip right,
                     Replace " {2,}" -> U+2581, Metaspace, Unigram, byte fallback,
                     <s> A </s>); expected ids (uni_tokenizer_ids.json):
                     sentencepiece's normalised text segmented by Hugging
                     Face's Rust rule (Viterbi in double, ties to the earlier
                     start, every vocabulary entry matchable), which differs
                     from sentencepiece's float sums only on exact ties (and
                     on byte pieces typed as text); the script checks that
                     every difference is one of those
"""
import base64
import json
import os
import re
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data", "text")
SPM = os.path.join(DATA, "spm")

with open(os.path.join(DATA, "strings_extra.json"), encoding="utf-8") as f:
    EXTRA = json.load(f)["strings"]   # SentencePiece-, BPE- and special-token-specific strings


def load_strings():
    with open(os.path.join(DATA, "strings.json"), encoding="utf-8") as f:
        d = json.load(f)
    out = []
    for s in d["strings"] + EXTRA:
        if "\x00" not in s and s not in out:
            out.append(s)
    return out, [p for p in d["pairs"] if p[1]]


def split_specials(text, specials, lstrip=()):
    """transformers' split on special tokens: leftmost-longest, the text
    before an lstrip token loses its trailing whitespace."""
    parts, start, i = [], 0, 0
    while i < len(text):
        m = None
        for tok in specials:
            if text.startswith(tok, i) and (m is None or len(tok) > len(m)):
                m = tok
        if m is None:
            i += 1
            continue
        seg = text[start:i]
        if m in lstrip:
            seg = seg.rstrip()
        parts.append(seg)
        parts.append((m,))
        i += len(m)
        start = i
    parts.append(text[start:])
    return parts


def encode_sections(sp, text, specials, special_id, lstrip=(), piece_id=lambda i: i):
    ids = []
    for p in split_specials(text, specials, lstrip):
        if isinstance(p, tuple):
            ids.append(special_id[p[0]])
        elif p:
            ids += [piece_id(i) for i in sp.encode(p)]
    return ids


def specials_of(sp):
    return [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]


def normalized(sp, text):
    """sentencepiece's normalised text (U+2581 for spaces), from its pieces"""
    out = b""
    for i in sp.encode(text):
        p = sp.id_to_piece(i)
        out += bytes([int(p[3:5], 16)]) if sp.is_byte(i) else p.encode()
    return out.decode("utf-8", "replace")


def rust_viterbi(sp, word, pieces, unk_score):
    """Rust's Unigram::encode_optimized over one Metaspace word"""
    n = len(word)
    best = [None] * (n + 1)   # (score, id, start)
    best[0] = (0.0, -1, -1)
    for i in range(n):
        if best[i] is None:
            continue
        single = False
        for j in range(i + 1, n + 1):
            pid = pieces.get(word[i:j])
            if pid is None:
                continue
            c = best[i][0] + sp.get_score(pid)
            if best[j] is None or c > best[j][0]:
                best[j] = (c, pid, i)
            if j == i + 1:
                single = True
        if not single:
            c = best[i][0] + unk_score
            if best[i + 1] is None or c > best[i + 1][0]:
                best[i + 1] = (c, None, i)
    segs, e = [], n
    while e > 0:
        segs.append((best[e][2], e, best[e][1]))
        e = best[e][2]
    segs.reverse()
    ids, k = [], 0
    while k < len(segs):
        st, e, pid = segs[k]
        if pid is not None:
            ids.append(pid)
            k += 1
            continue
        while k + 1 < len(segs) and segs[k + 1][2] is None:   # fuse unknowns
            k += 1
        e = segs[k][1]
        for b in word[st:e].encode():
            ids.append(sp.piece_to_id("<0x%02X>" % b))
        k += 1
    return ids, best[n][0]


def rust_encode(sp, text, pieces, unk_score):
    ids, total = [], 0.0
    words, cur = [], ""
    for ch in normalized(sp, text):
        if ch == "\u2581" and cur:
            words.append(cur)
            cur = ""
        cur += ch
    if cur:
        words.append(cur)
    for w in words:
        i, sc = rust_viterbi(sp, w, pieces, unk_score)
        ids += i
        total += sc
    return ids, total


def path_score(sp, ids):
    return sum(sp.get_score(i) for i in ids if not sp.is_byte(i))


def write(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print("wrote", path)


def proto_fields(buf):
    """(field number, wire type, value) of one protobuf message"""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def charsmap_of(path):
    with open(path, "rb") as f:
        buf = f.read()
    for num, wt, v in proto_fields(buf):
        if num == 3 and wt == 2:
            for n2, w2, v2 in proto_fields(v):
                if n2 == 2 and w2 == 2:
                    return v2
    return b""


# ---- SigLIP: transformers' SiglipTokenizer over python3-sentencepiece ----

PY_PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"   # string.punctuation


def without_dummy_prefix(model_bytes):
    """the ModelProto with normalizer_spec.add_dummy_prefix = false, as
    SiglipTokenizer.get_spm_processor sets it (a later field wins in protobuf)"""
    out = b""
    for num, wt, v in proto_fields(model_bytes):
        if num == 3 and wt == 2:
            v = v + b"\x18\x00"
        out += key_bytes(num, wt) + (enc_varint(len(v)) + v if wt == 2 else enc_varint(v) if wt == 0 else v)
    return out


def enc_varint(v):
    o = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            o += bytes([b | 0x80])
        else:
            return o + bytes([b])


def key_bytes(num, wt):
    return enc_varint(num << 3 | wt)


class Siglip:
    """transformers' SiglipTokenizer.tokenize / _tokenize / build_inputs_with_special_tokens"""

    def __init__(self, path, eos="</s>", unk="<unk>", pad="</s>"):
        with open(path, "rb") as f:
            self.sp = spm.SentencePieceProcessor()
            self.sp.LoadFromSerializedProto(without_dummy_prefix(f.read()))
        self.eos, self.unk, self.pad = eos, unk, pad
        self.specials = [eos, unk, pad]
        self.unk_len = len(self.sp.encode(unk))

    def canonicalize(self, text):
        text = text.translate(str.maketrans("", "", PY_PUNCT))
        text = re.sub(r"\s+", " ", text)
        return text.strip()

    def _tokenize(self, text):
        ids = self.sp.encode(self.unk + self.canonicalize(text))
        return ids[self.unk_len:] if len(ids) >= self.unk_len else ids

    def tokenize(self, text):
        text = "\u2581" + text.replace("\u2581", " ")
        pat = "(" + "|".join(re.escape(t) for t in self.specials) + ")|(.+?)"
        text = re.sub(pat, lambda m: m.groups()[0] or m.groups()[1].lower(), text)
        parts = split_specials(text, self.specials)
        # every special strips the whitespace on both sides (AddedToken lstrip/rstrip)
        for i, p in enumerate(parts):
            if isinstance(p, tuple):
                if i > 0 and not isinstance(parts[i - 1], tuple):
                    parts[i - 1] = parts[i - 1].rstrip()
                if i + 1 < len(parts) and not isinstance(parts[i + 1], tuple):
                    parts[i + 1] = parts[i + 1].lstrip()
        toks = []
        for p in parts:
            if isinstance(p, tuple):
                toks.append(("special", self.sp.piece_to_id(p[0])))
            elif p:
                toks += [("piece", i) for i in self._tokenize(p)]
        if len(toks) > 1 and toks[0] == ("piece", self.sp.piece_to_id("\u2581")) and toks[1][0] == "special":
            toks = toks[1:]
        return [i for _, i in toks]

    def encode(self, a, b=None):
        eos = self.sp.piece_to_id(self.eos)
        add = lambda ids: ids if ids and ids[-1] == eos else ids + [eos]
        ids = add(self.tokenize(a))
        return ids if b is None else ids + add(self.tokenize(b))


def write_bpe_tokenizer_json():
    sp = spm.SentencePieceProcessor(model_file=os.path.join(SPM, "bpe.model"))
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    normal = {sp.id_to_piece(i) for i in range(n) if not (sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i))}
    merges = []
    for i in range(n):
        piece = sp.id_to_piece(i)
        if piece not in normal:
            continue
        local = [(piece[:k], piece[k:], sp.get_score(i)) for k in range(1, len(piece))
                 if piece[:k] in normal and piece[k:] in normal]
        merges += sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]]))
    merges.sort(key=lambda m: m[2], reverse=True)
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          "pre_tokenizer": None,
          "post_processor": {"type": "TemplateProcessing",
                             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                             "special_tokens": {}},
          "decoder": None,
          "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                    "vocab": vocab, "merges": [[a, b] for a, b, _ in merges]}}
    os.makedirs(os.path.join(DATA, "spm_bpe"), exist_ok=True)
    with open(os.path.join(DATA, "spm_bpe", "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)


def main():
    strings, pairs = load_strings()
    for name in ["uni", "uni_plain", "bpe"]:
        sp = spm.SentencePieceProcessor(model_file=os.path.join(SPM, name + ".model"))
        sps = specials_of(sp)
        sid = {p: sp.piece_to_id(p) for p in sps}
        eos = sp.eos_id()
        # T5Tokenizer._add_eos_if_not_present
        add = lambda ids: ids if ids and ids[-1] == eos else ids + [eos]
        singles = [{"text": s, "ids": add(encode_sections(sp, s, sps, sid))} for s in strings]
        prs = [{"text": a, "pair": b, "ids": add(encode_sections(sp, a, sps, sid)) + add(encode_sections(sp, b, sps, sid))}
               for a, b in pairs]
        write(os.path.join(SPM, name + "_ids.json"), {"reference": "python3-sentencepiece " + spm.__version__,
                                                       "model": name + ".model", "singles": singles, "pairs": prs})
    write_bpe_tokenizer_json()
    sg = Siglip(os.path.join(SPM, "uni.model"))
    write(os.path.join(SPM, "uni_siglip_ids.json"), {
        "reference": "python3-sentencepiece " + spm.__version__ + " under transformers' SiglipTokenizer steps",
        "model": "uni.model", "singles": [{"text": s, "ids": sg.encode(s)} for s in strings],
        "pairs": [{"text": a, "pair": b, "ids": sg.encode(a, b)} for a, b in pairs]})
    sp = spm.SentencePieceProcessor(model_file=os.path.join(SPM, "uni.model"))
    n = sp.get_piece_size()
    fair = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": n + 1}
    pid = lambda i: 3 if i == sp.unk_id() else i + 1
    enc = lambda s: encode_sections(sp, s, list(fair), fair, lstrip=("<mask>",), piece_id=pid)
    fs = strings + ["a <mask> b", "<mask>", "x<mask>", "a\t <mask>"]
    write(os.path.join(SPM, "uni_fairseq_ids.json"), {
        "reference": "python3-sentencepiece " + spm.__version__ + " with XLMRobertaTokenizer's fairseq ids",
        "model": "uni.model", "singles": [{"text": s, "ids": [0] + enc(s) + [2]} for s in fs],
        "pairs": [{"text": a, "pair": b, "ids": [0] + enc(a) + [2, 2] + enc(b) + [2]} for a, b in pairs]})

    # tokenizer.json as transformers' SpmConverter writes it for a Unigram model
    vocab = [[sp.id_to_piece(i), sp.get_score(i)] for i in range(n)]
    added = [{"id": i, "content": sp.id_to_piece(i), "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap_of(os.path.join(SPM, "uni.model"))).decode()},
            {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 1}}],
                           "special_tokens": {}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": sp.unk_id(), "vocab": vocab, "byte_fallback": True},
    }
    with open(os.path.join(SPM, "uni_tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    old = json.loads(json.dumps(tj))
    old["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    old["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True}
    old["model"]["byte_fallback"] = False
    old["added_tokens"].append({"id": n, "content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False,
                                "normalized": False, "special": True})
    old["model"]["vocab"].append(["<mask>", 0.0])
    item = lambda k, t: {"SpecialToken": {"id": k, "type_id": t}}
    seq = lambda k: {"Sequence": {"id": k, "type_id": 0}}
    old["post_processor"]["single"] = [item("<s>", 0), seq("A"), item("</s>", 0)]
    old["post_processor"]["pair"] = [item("<s>", 0), seq("A"), item("</s>", 0), item("</s>", 0), seq("B"), item("</s>", 0)]
    os.makedirs(os.path.join(DATA, "uni_nfkc"), exist_ok=True)
    with open(os.path.join(DATA, "uni_nfkc", "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(old, f, ensure_ascii=False)
    sps = specials_of(sp)
    sid = {p: sp.piece_to_id(p) for p in sps}
    bos, eos = sp.bos_id(), sp.eos_id()
    pieces = {}
    for i in range(n):
        pieces.setdefault(sp.id_to_piece(i), i)
    unk_score = min(sp.get_score(i) for i in range(n)) - 10.0
    ties = 0

    def enc(text):
        nonlocal ties
        ids = []
        for p in split_specials(text, sps):
            if isinstance(p, tuple):
                ids.append(sid[p[0]])
            elif p:
                want = sp.encode(p)
                got, _ = rust_encode(sp, p, pieces, unk_score)
                if got != want:
                    # only an exact tie of path scores may separate the two rules, or
                    # a byte piece typed as text (Rust matches "<0x41>" as the piece)
                    assert abs(path_score(sp, got) - path_score(sp, want)) < 1e-4 or "<0x" in p, (p, got, want)
                    ties += 1
                ids += got
        return ids
    singles = [{"text": s, "ids": [bos] + enc(s) + [eos]} for s in strings]
    prs = [{"text": a, "pair": b, "ids": [bos] + enc(a) + [eos] + enc(b) + [eos]} for a, b in pairs]
    print("tokenizer.json reference: %d sections where sentencepiece's float ties break the other way" % ties)
    write(os.path.join(SPM, "uni_tokenizer_ids.json"), {
        "reference": "python3-sentencepiece " + spm.__version__ + " normalisation, Rust's Unigram tie rule",
        "model": "uni_tokenizer.json", "singles": singles, "pairs": prs})


if __name__ == "__main__":
    main()
