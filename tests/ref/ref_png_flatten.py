#!/usr/bin/python3
"""Reference for scripts/png-flatten.js (the emoji builder's alpha flattening).

Writes tests/data/png_flatten/<kind>.png in every PNG kind the emoji art uses
(and a few more), with Pillow, and <kind>.rgb: the raw 8-bit RGB Pillow gets by
compositing the image onto white, Image.alpha_composite(white, im.convert("RGBA")).
tests/test_png_flatten.c runs the flattener on each PNG and compares.
Odd sizes (13 x 7) exercise sub-byte row padding. Run: /usr/bin/python3 tests/ref/ref_png_flatten.py
"""
import os
import random

from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "png_flatten")
W, H = 13, 7
rng = random.Random(20261128)


def alpha():
    # fully transparent, fully opaque and partial values, as in antialiased art
    return rng.choice([0, 0, 255, 255, rng.randrange(1, 255)])


def rgba8():
    im = Image.new("RGBA", (W, H))
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256), alpha()) for _ in range(W * H)])
    return im, {}


def greyalpha8():
    im = Image.new("LA", (W, H))
    im.putdata([(rng.randrange(256), alpha()) for _ in range(W * H)])
    return im, {}


def palette(bits):
    n = 1 << bits
    im = Image.new("P", (W, H))
    pal = [rng.randrange(256) for _ in range(3 * n)]
    im.putpalette(pal)
    im.putdata([rng.randrange(n) for _ in range(W * H)])
    # tRNS shorter than the palette: later entries are opaque
    trns = bytes([0, 128, 255, 7] + [alpha() for _ in range(max(0, n // 2 - 4))])
    return im, {"transparency": trns, "bits": bits}


def rgb8_trns():
    im = Image.new("RGB", (W, H))
    key = (10, 20, 30)
    im.putdata([key if rng.random() < 0.3 else (rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(W * H)])
    return im, {"transparency": key}


def grey8_trns():
    im = Image.new("L", (W, H))
    im.putdata([77 if rng.random() < 0.3 else rng.randrange(256) for _ in range(W * H)])
    return im, {"transparency": 77}


def grey1():
    im = Image.new("1", (W, H))
    im.putdata([rng.choice([0, 255]) for _ in range(W * H)])
    return im, {}


def rgb8():
    im = Image.new("RGB", (W, H))
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(W * H)])
    return im, {}


KINDS = {
    "rgba8": rgba8, "greyalpha8": greyalpha8, "palette8_trns": lambda: palette(8),
    "palette4_trns": lambda: palette(4), "palette2_trns": lambda: palette(2), "palette1_trns": lambda: palette(1),
    "rgb8_trns": rgb8_trns, "grey8_trns": grey8_trns, "grey1": grey1, "rgb8": rgb8,
}

os.makedirs(OUT, exist_ok=True)
for name, make in KINDS.items():
    im, opts = make()
    path = os.path.join(OUT, name + ".png")
    im.save(path, optimize=False, **opts)
    back = Image.open(path)
    white = Image.new("RGBA", back.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, back.convert("RGBA")).convert("RGB")
    with open(os.path.join(OUT, name + ".rgb"), "wb") as f:
        f.write(flat.tobytes())
    print(f"{name}: mode {back.mode}, {back.info.get('transparency') is not None and 'tRNS' or 'no tRNS'}")
