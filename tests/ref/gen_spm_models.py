#!/usr/bin/python3
"""Trains the small SentencePiece models the tokenizer tests use, with Debian's
spm_train (package `sentencepiece`) over a multilingual text written here
(Latin scripts with accents, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai,
CJK, Hangul, emoji, digits, punctuation). Deterministic: the corpus is seeded
and training runs with one thread.

Writes tests/data/text/spm/:
  uni.model      Unigram, nmt_nfkc (a real Precompiled charsmap), byte fallback
  uni_plain.model Unigram, identity normaliser, no byte fallback (unknown pieces),
                 whitespace kept as written (remove_extra_whitespaces=false)
  bpe.model      SentencePiece BPE, identity normaliser, byte fallback
Then tests/ref/ref_spm.py writes the expected ids (python3-sentencepiece)."""
import os
import random
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "data", "text", "spm")

WORDS = {
    "en": "the quick brown fox jumps over lazy dog photo of a cat running in the park with friends beautiful "
          "sunset over mountains people walking street city night lights music festival summer holiday".split(),
    "fr": "le chat noir dort sur la chaise près de fenêtre où été très café crème brûlée déjà naïve "
          "garçon français élève hôpital forêt".split(),
    "de": "der schnelle braune Fuchs springt über den faulen Hund Straße Mädchen schön Größe Grüße Äpfel "
          "Öl Übung".split(),
    "es": "el niño pequeño come manzanas mañana señor año corazón canción pingüino está aquí".split(),
    "pt": "não são irmã coração ação informação você obrigado".split(),
    "pl": "zażółć gęślą jaźń Łódź Kraków dziękuję".split(),
    "cs": "příliš žluťoučký kůň úpěl ďábelské ódy".split(),
    "tr": "İstanbul ılık şehir güzel çiçek ağaç öğrenci".split(),
    "vi": "Tiếng Việt có dấu người Việt Nam thành phố Hồ Chí Minh".split(),
    "ru": "Привет мир быстрая коричневая лиса прыгает через ленивую собаку Москва ёжик".split(),
    "el": "Καλημέρα κόσμε γρήγορη καφέ αλεπού πηδά πάνω από σκύλο Αθήνα".split(),
    "ar": "مرحبا بالعالم القط الأسود ينام على الكرسي مدينة".split(),
    "he": "שלום עולם החתול השחור ישן על הכיסא".split(),
    "hi": "नमस्ते दुनिया भारत हिन्दी भाषा बिल्ली कुत्ता".split(),
    "th": "สวัสดี ภาษาไทย แมว สุนัข กรุงเทพ".split(),
    "zh": "我爱北京天安门 中文字符 今天天气很好 猫在椅子上睡觉 城市 夜晚 音乐".split(),
    "ja": "日本語のテキストです ひらがな カタカナ 東京タワー 猫が好きです".split(),
    "ko": "한국어 텍스트 안녕하세요 고양이 서울 음악".split(),
    "emoji": "😀 👍 🐱 🐶 🚀 🌙 ❤️ ✨ 🍕 🇫🇷 👍🏽".split(),
    "num": "0 1 2 3 4 5 6 7 8 9 10 42 100 2023 3.14 $5 50% #1 @home".split(),
    "punct": [",", ".", "!", "?", ";", ":", "-", "(", ")", "\"", "'", "...", "«", "»", "—", "、", "。"],
}


def corpus(rng, n_lines):
    langs = [k for k in WORDS if k not in ("emoji", "num", "punct")]
    lines = []
    for _ in range(n_lines):
        lang = rng.choice(langs)
        ws = [rng.choice(WORDS[lang]) for _ in range(rng.randint(3, 14))]
        if rng.random() < 0.3:
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(WORDS["emoji"]))
        if rng.random() < 0.3:
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(WORDS["num"]))
        s = " ".join(ws)
        if rng.random() < 0.5:
            s += rng.choice(WORDS["punct"])
        if rng.random() < 0.2:
            s = s.capitalize()
        lines.append(s)
    return lines


def train(text_path, name, extra):
    prefix = os.path.join(OUT, name)
    args = ["spm_train", "--input=" + text_path, "--model_prefix=" + prefix, "--num_threads=1",
            "--random_seed=7", "--minloglevel=2"] + extra
    subprocess.run(args, check=True)
    os.remove(prefix + ".vocab")
    print("wrote %s.model (%d bytes)" % (prefix, os.path.getsize(prefix + ".model")))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(2027)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(corpus(rng, 6000)) + "\n")
        train(path, "uni", ["--model_type=unigram", "--vocab_size=900", "--byte_fallback=true",
                            "--character_coverage=0.9995"])
        train(path, "uni_plain", ["--model_type=unigram", "--vocab_size=500", "--normalization_rule_name=identity",
                                  "--remove_extra_whitespaces=false", "--character_coverage=0.98"])
        train(path, "bpe", ["--model_type=bpe", "--vocab_size=900", "--byte_fallback=true",
                            "--normalization_rule_name=identity"])


if __name__ == "__main__":
    main()
