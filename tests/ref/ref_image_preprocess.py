#!/usr/bin/python3
"""Reference data for image decoding and Hugging Face preprocessing.

Writes small test images into tests/data/image/ (PNG in every colour type,
written by hand so every bit depth / tRNS / interlace case is covered; JPEG
baseline, progressive, grey, CMYK, EXIF orientations through Pillow) and the
expected outputs computed with Debian's Pillow:
  decode/<file>      U8 [H, W, 3]  ImageOps.exif_transpose(Image.open(f)).convert("RGB")
  resize/<case>      U8 [h, w, 3]  Image.resize((w, h), filter) of the decoded image
  pre/<cfg>/<file>   U8 [h, w, 3]  resize + crop as the transformers processor does
  pix/<cfg>/<file>   F32 [3, h, w] full pixel_values (rescale + normalise, float32)
The processor pipelines are re-implemented here from the transformers code
(no transformers package on Debian): resizing is Pillow's own.

One deliberate difference, also in src/io/image_decode.c: Pillow 9.4 opens
16-bit greyscale PNG as mode "I" and convert("RGB") clips values above 255 to
white; for those files the expected image is the high byte instead.

Usage: /usr/bin/python3 tests/ref/ref_image_preprocess.py [OUT_DIR]
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors as save  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'data', 'image')
rng = np.random.default_rng(1234)


def content(h, w, c=3):
    """Smooth gradients + edges + noise: exercises every filter tap."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        v = 127 + 100 * np.sin(x / (3 + 2 * k) + y / (5 + k)) + 40 * ((x // 7 + y // 5 + k) % 2)
        v += rng.normal(0, 12, size=(h, w))
        chans.append(np.clip(v, 0, 255))
    return np.stack(chans, -1)


# ---------------------------------------------------------------- PNG writer
def _chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)


def _pack_rows(a, bits, ch):
    """a: (h, w, ch) ints -> list of raw row bytes at `bits` per sample."""
    rows = []
    for r in a:
        flat = r.reshape(-1)
        if bits == 16:
            rows.append(flat.astype('>u2').tobytes())
        elif bits == 8:
            rows.append(flat.astype(np.uint8).tobytes())
        else:
            per = 8 // bits
            n = len(flat)
            pad = (-n) % per
            v = np.concatenate([flat, np.zeros(pad, dtype=flat.dtype)]).reshape(-1, per)
            out = np.zeros(len(v), dtype=np.int64)
            for i in range(per):
                out |= v[:, i].astype(np.int64) << (8 - bits * (i + 1))
            rows.append(out.astype(np.uint8).tobytes())
    return rows


def png_bytes(a, color_type, bits, palette=None, trns=None, interlace=False):
    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, ch = a.shape
    ihdr = struct.pack('>IIBBBBB', w, h, bits, color_type, 0, 0, 1 if interlace else 0)
    raw = b''
    if not interlace:
        for r in _pack_rows(a, bits, ch):
            raw += b'\x00' + r
    else:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        for x0, y0, dx, dy in passes:
            sub = a[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for r in _pack_rows(sub, bits, ch):
                raw += b'\x00' + r
    out = b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', ihdr)
    if palette is not None:
        out += _chunk(b'PLTE', bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b'tRNS', trns)
    out += _chunk(b'IDAT', zlib.compress(raw, 9)) + _chunk(b'IEND', b'')
    return out


def make_images():
    files = {}
    c = content(23, 31)
    files['rgb8.png'] = png_bytes(c.astype(np.uint8), 2, 8)
    files['rgb16.png'] = png_bytes((c * 257 + rng.integers(0, 256, c.shape)).astype(np.uint16), 2, 16)
    rgba = np.concatenate([c, content(23, 31, 1)], -1)
    files['rgba8.png'] = png_bytes(rgba.astype(np.uint8), 6, 8)
    files['rgba16.png'] = png_bytes((rgba * 257).astype(np.uint16), 6, 16)
    g = content(19, 27, 1)[:, :, 0]
    files['grey8.png'] = png_bytes(g.astype(np.uint8), 0, 8)
    files['grey8_trns.png'] = png_bytes(g.astype(np.uint8), 0, 8, trns=struct.pack('>H', 100))
    files['grey16.png'] = png_bytes((g * 257).astype(np.uint16), 0, 16)
    for b in (1, 2, 4):
        files[f'grey{b}.png'] = png_bytes((g.astype(np.int64) >> (8 - b)), 0, b)
    ga = np.stack([g, content(19, 27, 1)[:, :, 0]], -1)
    files['greyalpha8.png'] = png_bytes(ga.astype(np.uint8), 4, 8)
    files['greyalpha16.png'] = png_bytes((ga * 257).astype(np.uint16), 4, 16)
    for b in (1, 2, 4, 8):
        n = 1 << b
        pal = rng.integers(0, 256, size=(n, 3))
        idx = rng.integers(0, n, size=(17, 21))
        trns = bytes(rng.integers(0, 256, size=max(1, n // 2)).astype(np.uint8))
        files[f'pal{b}_trns.png'] = png_bytes(idx, 3, b, palette=pal, trns=trns)
    files['rgb8_interlaced.png'] = png_bytes(content(13, 11).astype(np.uint8), 2, 8, interlace=True)
    files['pal4_interlaced.png'] = png_bytes(rng.integers(0, 16, size=(9, 14)), 3, 4,
                                             palette=rng.integers(0, 256, size=(16, 3)), interlace=True)
    # JPEG through Pillow (libjpeg-turbo, as our decoder)
    big = Image.fromarray(content(60, 80).astype(np.uint8))
    for name, kw in [('baseline420.jpg', dict(quality=90)),
                     ('baseline444.jpg', dict(quality=95, subsampling=0)),
                     ('baseline422.jpg', dict(quality=85, subsampling=1)),
                     ('progressive.jpg', dict(quality=90, progressive=True))]:
        b = io.BytesIO()
        big.save(b, 'JPEG', **kw)
        files[name] = b.getvalue()
    b = io.BytesIO()
    Image.fromarray(content(33, 47, 1)[:, :, 0].astype(np.uint8), 'L').save(b, 'JPEG', quality=90)
    files['grey.jpg'] = b.getvalue()
    b = io.BytesIO()
    Image.fromarray(content(21, 29, 4).astype(np.uint8), 'CMYK').save(b, 'JPEG', quality=95)
    files['cmyk.jpg'] = b.getvalue()
    small = Image.fromarray(content(24, 40).astype(np.uint8))
    for o in (2, 3, 4, 5, 6, 7, 8):
        ex = Image.Exif()
        ex[0x0112] = o
        b = io.BytesIO()
        small.save(b, 'JPEG', quality=90, exif=ex.tobytes())
        files[f'exif{o}.jpg'] = b.getvalue()
    # a larger photo-like image for the full-size processor cases
    b = io.BytesIO()
    Image.fromarray(content(300, 400).astype(np.uint8)).save(b, 'JPEG', quality=80)
    files['photo400x300.jpg'] = b.getvalue()
    b = io.BytesIO()
    Image.fromarray(content(257, 190).astype(np.uint8)).save(b, 'PNG')
    files['tall190x257.png'] = b.getvalue()
    # PNG with an eXIf chunk: exif_transpose honours it for PNG too
    for o in (3, 6):
        ex = Image.Exif()
        ex[0x0112] = o
        b = io.BytesIO()
        Image.fromarray(content(10, 14).astype(np.uint8)).save(b, 'PNG', exif=ex.tobytes())
        files[f'exif{o}.png'] = b.getvalue()
    return files


def decode_ref(path):
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    if im.mode in ('I', 'I;16', 'I;16B'):   # 16-bit grey: high byte (documented difference)
        a = (np.asarray(im).astype(np.int64) >> 8).astype(np.uint8)
        return np.stack([a, a, a], -1)
    return np.asarray(im.convert('RGB'))


# ------------------------------------------------- transformers pipelines (re-implemented)
def edge_size(w, h, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)   # (w, h)


def center_crop(a, ch, cw):
    H, W = a.shape[:2]
    top = (H - ch) // 2
    left = (W - cw) // 2
    if top >= 0 and top + ch <= H and left >= 0 and left + cw <= W:
        return a[top:top + ch, left:left + cw]
    nh, nw = max(ch, H), max(cw, W)
    new = np.zeros((nh, nw) + a.shape[2:], dtype=a.dtype)
    tp = -(-(nh - H) // 2)
    lp = -(-(nw - W) // 2)
    new[tp:tp + H, lp:lp + W] = a
    top += tp
    left += lp
    return new[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]


def geometry(cfg, rgb):
    im = Image.fromarray(rgb)
    t = cfg.get('image_processor_type') or cfg.get('feature_extractor_type')
    rs = cfg['resample']
    if t.startswith('CLIP'):
        s = cfg['size']
        if isinstance(s, int) or 'shortest_edge' in s:
            e = s if isinstance(s, int) else s['shortest_edge']
            a = np.asarray(im.resize(edge_size(im.width, im.height, e), rs))
        else:
            a = np.asarray(im.resize((s['width'], s['height']), rs))
        if cfg.get('do_center_crop', True):
            cs = cfg['crop_size']
            ch, cw = (cs, cs) if isinstance(cs, int) else (cs['height'], cs['width'])
            a = center_crop(a, ch, cw)
        return a
    if t.startswith('ViT'):
        s = cfg['size']
        h, w = (s, s) if isinstance(s, int) else (s['height'], s['width'])
        return np.asarray(im.resize((w, h), rs))
    if t.startswith('ConvNext'):
        s = cfg['size']
        e = s if isinstance(s, int) else s['shortest_edge']
        if e < 384:
            r = int(e / cfg['crop_pct'])
            a = np.asarray(im.resize(edge_size(im.width, im.height, r), rs))
            return center_crop(a, e, e)
        return np.asarray(im.resize((e, e), rs))
    raise ValueError(t)


def pixel_values(cfg, a):
    x = (a.astype(np.float64) * cfg.get('rescale_factor', 1 / 255)).astype(np.float32)
    mean = np.array(cfg['image_mean'], dtype=np.float32)
    std = np.array(cfg['image_std'], dtype=np.float32)
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1))


CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CONFIGS = {
    # the real model folders' configs (full size)
    'clip_openai': {'crop_size': 224, 'do_center_crop': True, 'do_normalize': True, 'do_resize': True,
                    'feature_extractor_type': 'CLIPFeatureExtractor', 'image_mean': CLIP_MEAN,
                    'image_std': CLIP_STD, 'resample': 3, 'size': 224},
    'vit_google': {'do_normalize': True, 'do_resize': True, 'feature_extractor_type': 'ViTFeatureExtractor',
                   'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5], 'resample': 2, 'size': 224},
    'resnet_ms': {'crop_pct': 0.875, 'do_normalize': True, 'do_rescale': True, 'do_resize': True,
                  'image_mean': [0.485, 0.456, 0.406], 'image_processor_type': 'ConvNextImageProcessor',
                  'image_std': [0.229, 0.224, 0.225], 'resample': 3, 'rescale_factor': 0.00392156862745098,
                  'size': {'shortest_edge': 224}},
    # small geometries (new-style dicts), so expected arrays stay small
    'clip_small': {'image_processor_type': 'CLIPImageProcessor', 'do_resize': True, 'size': {'shortest_edge': 20},
                   'do_center_crop': True, 'crop_size': {'height': 18, 'width': 16}, 'resample': 3,
                   'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                   'image_mean': CLIP_MEAN, 'image_std': CLIP_STD},
    'clip_pad': {'image_processor_type': 'CLIPImageProcessor', 'do_resize': True, 'size': {'shortest_edge': 12},
                 'do_center_crop': True, 'crop_size': {'height': 15, 'width': 21}, 'resample': 2,
                 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                 'image_mean': CLIP_MEAN, 'image_std': CLIP_STD},
    'vit_small': {'image_processor_type': 'ViTImageProcessor', 'do_resize': True, 'size': {'height': 16, 'width': 24},
                  'resample': 2, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                  'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5]},
    'vit_up': {'image_processor_type': 'ViTImageProcessor', 'do_resize': True, 'size': {'height': 45, 'width': 37},
               'resample': 3, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
               'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5]},
    'convnext_small': {'image_processor_type': 'ConvNextImageProcessor', 'do_resize': True,
                       'size': {'shortest_edge': 21}, 'crop_pct': 0.875, 'resample': 3, 'do_rescale': True,
                       'rescale_factor': 1 / 255, 'do_normalize': True,
                       'image_mean': [0.485, 0.456, 0.406], 'image_std': [0.229, 0.224, 0.225]},
}
FULL = {'clip_openai': ['photo400x300.jpg'], 'resnet_ms': ['tall190x257.png'], 'vit_google': ['photo400x300.jpg']}
RESIZES = [  # (file, w, h, filter)
    ('photo400x300.jpg', 224, 168, 3), ('photo400x300.jpg', 97, 33, 2), ('photo400x300.jpg', 31, 250, 1),
    ('photo400x300.jpg', 50, 50, 4), ('photo400x300.jpg', 61, 45, 5), ('rgb8.png', 100, 71, 3),
    ('rgb8.png', 64, 23, 2), ('rgb8.png', 31, 9, 3), ('grey8.png', 5, 3, 3), ('grey8.png', 1, 1, 2),
    ('tall190x257.png', 13, 300, 3), ('baseline420.jpg', 80, 37, 3), ('pal8_trns.png', 40, 40, 1),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    files = make_images()
    t, dec = {}, {}
    for name, data in sorted(files.items()):
        p = os.path.join(OUT, name)
        with open(p, 'wb') as f:
            f.write(data)
        dec[name] = decode_ref(p)
        if dec[name].size <= 40000:   # large ones are checked through their resized outputs
            t['decode/' + name] = dec[name]
    for name, w, h, flt in RESIZES:
        im = Image.fromarray(dec[name])
        t[f'resize/{name}/{w}x{h}/{flt}'] = np.asarray(im.resize((w, h), flt))
    for cname, cfg in CONFIGS.items():
        with open(os.path.join(OUT, f'proc_{cname}.json'), 'w') as f:
            json.dump(cfg, f, indent=1)
        for name in FULL.get(cname, sorted(files)):   # full-size outputs: one image each (size)
            a = geometry(cfg, dec[name])
            t[f'pre/{cname}/{name}'] = np.ascontiguousarray(a)
            if name in ('rgb8.png', 'cmyk.jpg'):
                t[f'pix/{cname}/{name}'] = pixel_values(cfg, a)
    save(os.path.join(OUT, 'expected.safetensors'), t,
         {'generator': 'tests/ref/ref_image_preprocess.py', 'pillow': Image.__version__})
    print(f'wrote {len(files)} images and {len(t)} expected arrays to {OUT}')


if __name__ == '__main__':
    main()
