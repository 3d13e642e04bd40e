#!/usr/bin/python3
"""Expected ids for the SentencePiece tokenizers, from Debian's
python3-sentencepiece on the models tools/gen_spm_models.py trained, over the
strings of tests/data/text/strings.json plus SentencePiece-specific ones.

Writes tests/data/text/spm/:
  NAME_ids.json      a folder holding only NAME.model as spiece.model
                     (T5 / SigLIP layout): special pieces (<unk>, <s>, </s>)
                     split out of the text as transformers' tokenizers do,
                     each other section sp.encode()d, then </s>
  uni_fairseq_ids.json  the same model as sentencepiece.bpe.model (XLM-R's
                     layout): fairseq ids (<s> 0, <pad> 1, </s> 2, <unk> 3,
                     every other piece + 1, <mask> last), <s> A </s>
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
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "text")
SPM = os.path.join(DATA, "spm")

EXTRA = [
    "\u2581", "\u2581hello", "hello\u2581world", "\u2581\u2581\u2581", "<s>", "</s>", "<unk>", "a<s>b", "x </s> y",
    "<s><s>", "<0x41>", "<0xE2>", "  leading", "trailing  ", "  both  ", "a  b   c    d", "\t\ttabs\t",
    "\u3000full\u3000width\u3000", "ＡＢＣａｂｃ１２３", "ｶﾀｶﾅ", "①②③", "㍻", "ﬁﬂ", "™", "…", "x\u0301", "e\u0301\u0301",
    "\u00e9", "\u0065\u0301", "Å", "\u212b", "ǅ", "¼", "x²", "Ⅸ", "ﾊﾟ", "か\u3099", "\u1100\u1161\u11a8", "각",
    "😀👍🏽🇫🇷", "👨\u200d👩\u200d👧", "\u200d", "\u200c", "\ufeff", "\u00ad", "\u2028", "\x7f", "\x1f", "\x01a",
    "Ω", "\u2126", "ﷺ", "ﷻ", "ﬀ", "Ⓐ", "🄰", "㈱", "¨", "´", "\u0300", "\u0338", "a\u0338", "≠", "=\u0338",
    "मैं हिन्दी बोलता हूँ", "สวัสดีครับ", "我爱北京天安门", "日本語のテキストです", "한국어 텍스트",
    "Привет мир", "Καλημέρα κόσμε", "مرحبا بالعالم", "שלום עולם", "Tiếng Việt", "İstanbul ılık",
    "zażółć gęślą jaźń", "příliš žluťoučký kůň", "ÀÉÎÕÜ àéîõü", "x" * 300, "ab" * 200, "😀" * 50, "中" * 100,
    "a" + " " * 50 + "b", "the quick brown fox jumps over the lazy dog " * 10,
]


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


def main():
    strings, pairs = load_strings()
    for name in ["uni", "uni_plain", "bpe"]:
        sp = spm.SentencePieceProcessor(model_file=os.path.join(SPM, name + ".model"))
        sps = specials_of(sp)
        sid = {p: sp.piece_to_id(p) for p in sps}
        eos = sp.eos_id()
        singles = [{"text": s, "ids": encode_sections(sp, s, sps, sid) + [eos]} for s in strings]
        prs = [{"text": a, "pair": b, "ids": encode_sections(sp, a, sps, sid) + [eos] + encode_sections(sp, b, sps, sid) + [eos]}
               for a, b in pairs]
        write(os.path.join(SPM, name + "_ids.json"), {"reference": "python3-sentencepiece " + spm.__version__,
                                                       "model": name + ".model", "singles": singles, "pairs": prs})
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
