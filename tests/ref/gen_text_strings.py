#!/usr/bin/python3
"""Writes tests/data/text/strings.json: >= 500 varied strings for tokenizer
parity (accents, CJK, emoji, punctuation runs, whitespace oddities, very long
words, control characters, combining marks, mixed scripts, special tokens,
text pairs). Deterministic (seeded). The expected ids come from
tests/ref/ref_tokenizer_bert.mjs (npm @huggingface/tokenizers).

Deliberately absent (the JS reference differs from Hugging Face's Rust
tokenizer there; see src/text/wordpiece.c): CJK ideographs outside the BMP,
upper-case sigma (final-sigma rule), unassigned code points and characters
newer than Unicode 13 (our utf8proc's tables), and NUL (C strings end there)."""
import json
import os
import random

R = random.Random(1234)

FIXED = [
    "", " ", "\t\n", "Hello, world!", "hello world", "HELLO WORLD", "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!", "Don't stop-believing; it's 5 o'clock.", "U.S.A. vs. U.K.",
    "e-mail me at john.doe@example.com", "Visit https://huggingface.co/docs?q=bert&lang=en#top",
    "C++ and C# are languages; so is F#.", "<html><body>Hi</body></html>", "C:\\path\\to\\file.txt",
    "~`^|{}[]()<>", "$100.00 or €85,50 or £70 or ¥1000", "100% sure!!!", "#hashtag @user",
    "3.14159 2.71828 1,000,000", "½ ¾ ⅓ ²³", "ⅫⅣ Ⅻ", "ＡＢＣ ｆｕｌｌｗｉｄｔｈ １２３",
    # accents
    "café", "Café au lait", "naïve résumé", "Ångström", "Crème brûlée", "Zürich", "São Paulo", "Dvořák",
    "İstanbul", "Straße", "Œuvre complète", "ǄǅǆǇ", "Mañana", "façade", "coöperate", "Ærøskøbing",
    "Łódź", "Čeština", "Señor Müller", "àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ", "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞ",
    # combining marks
    "e\u0301", "a\u0308b\u0308c\u0308", "n\u0303o", "Z\u0334\u0327\u031ba\u0337l\u0338g\u0336o\u0335",
    "\u0301start", "x\u20dd", "cafe\u0301 au lait", "A\u030a", "\u0915\u094d\u0937",
    # CJK and other scripts
    "中文字符", "我爱北京天安门", "日本語のテキストです。", "ひらがな カタカナ", "한국어 텍스트", "hello世界",
    "漢字かな混じり文", "㐀㐁㐂", "豈更車", "中文，标点！", "「引用」『二重』", "Привет, мир!", "Καλημέρα κόσμε",
    "שלום עולם", "مرحبا بالعالم", "مَرْحَبًا", "नमस्ते दुनिया", "हिन्दी", "ภาษาไทย", "สวัสดีครับ",
    "Բարեւ աշխարհ", "გამარჯობა", "Tiếng Việt có dấu", "ελληνικά", "ქართული ენა",
    "mixed English 中文 русский العربية",
    # emoji
    "😀", "I love 🍕!", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷🇩🇪", "1\ufe0f\u20e3", "❤️", "✨sparkle✨",
    "🙂🙃😉", "🐶🐱🐭", "emoji😀in😀words", "🚀 to the 🌙",
    # punctuation runs
    "!!!???...", "—–-", "«quotes»", "¿Qué?", "¡Hola!", "“smart quotes” and ‘single’", "…", "©®™",
    "...---...", "?!?!?!", "a.b.c.d", "(((nested)))", "[[brackets]]", "****", "____", "a_b_c", "x^2+y^2=z^2",
    "1+1=2", "50/50", "he said: \"no\"", "'single quotes'", "§1.2 ¶3", "•bullet", "·middle·dot", "¬¦",
    # whitespace oddities
    "  leading spaces", "trailing spaces   ", "multiple    spaces", "tab\tseparated\tvalues", "new\nline",
    "windows\r\nline", "non\u00a0breaking", "em\u2003space", "ideographic\u3000space", "zero\u200bwidth",
    "line\u2028separator", "para\u2029separator", "narrow\u202fnbsp", "thin\u2009space", "ogham\u1680space",
    "\u3000\u3000", "\u00a0", "\n\n\n",
    # control chars
    "bell\x07char", "esc\x1b[0m", "del\x7fchar", "next\x85line", "ltr\u200emark",
    "\ufeffBOM at start", "soft\u00adhyphen", "\x01\x02\x03", "form\x0cfeed", "vertical\x0btab",
    "private\ue000use", "rtl\u202eoverride",
    # long words
    "a" * 99, "a" * 100, "a" * 101, "b" * 150, "supercalifragilisticexpialidocious",
    "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch", "x" * 300 + " short",
    "é" * 101, "中" * 120, "ab" * 60,
    # special tokens in text
    "[CLS] hello [SEP]", "foo[MASK]bar", "[mask] lower", "[UNK]", "[PAD][PAD]", "[SEP][SEP] double",
    "[CLS]", "a [MASK] b", "[ MASK ]", "[MASK", "MASK]",
    # numbers and misc
    "2023-11-28T01:52:11Z", "+1 (555) 123-4567", "0xDEADBEEF", "v1.2.3-beta", "3rd 2nd 1st",
    "10km/h", "25°C", "π≈3.14", "∑∫∂√∞", "→←↑↓", "★☆", "♠♥♦♣", "⌘⌥⇧", "ASCII ART: (╯°□°)╯︵ ┻━┻",
]

FRAGS = [
    "hello", "World", "CAFÉ", "naïve", "中文", "日本", "😀", "👍🏽", "!!!", "...", "—", "«»", "e\u0301",
    "Привет", "مرحبا", "नमस्ते", "ภาษา", "\t", "\n", "\u00a0", "\u3000", "\x07", "\u200b", "\ufeff",
    "[MASK]", "[SEP]", "supercalifragilistic", "über", "Ærø", "123", "4.56", "$", "#", "@", "%", "&",
    "(", ")", "'", "\"", "-", "_", "/", "\\", "ǅ", "İ", "ß", "ﬁ", "ＡＢ", "Ⅻ", "½", "a\u0308", "x" * 40,
    "don't", "U.S.", "e-mail", "C++", "<b>", "😀😀", "🇫🇷", "👨\u200d👩\u200d👧", "Καλη", "שלום", "한국",
    "ひらがな", "㐀", "Tiếng", "Łódź", "©", "™", "°", "±", "×", "÷", "¿", "¡",
]
SEPS = [" ", "", "  ", "\t", "\n", ",", ", ", ". ", "-", "\u00a0"]


def rand_string():
    n = R.randint(1, 12)
    parts = []
    for _ in range(n):
        parts.append(R.choice(FRAGS))
        parts.append(R.choice(SEPS))
    s = "".join(parts)
    if R.random() < 0.3:
        s = s.upper() if R.random() < 0.5 else s.lower()
    return s.replace("Σ", "σ")


def main():
    strings = list(FIXED)
    while len(strings) < 560:
        strings.append(rand_string())
    pairs = [[R.choice(strings), R.choice(strings)] for _ in range(40)]
    # (no empty second text: the JS reference treats text_pair "" as no pair)
    pairs = [p for p in pairs if p[1]]
    pairs += [["hello world", "a" * 10 + " b"], ["", "second only"]]
    for s in strings + [p for pr in pairs for p in pr]:
        assert "Σ" not in s
        for ch in s:
            assert not (0x20000 <= ord(ch) <= 0x2FA1F), "astral CJK excluded"
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "text", "strings.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"strings": strings, "pairs": pairs}, f, ensure_ascii=True, indent=0)
    print("wrote %d strings and %d pairs to %s" % (len(strings), len(pairs), out))


if __name__ == "__main__":
    main()
