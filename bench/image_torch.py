#!/usr/bin/python3
"""Image encoders and preprocessing: mmfuse vs Debian's PyTorch/torchvision and
Pillow, interleaved, written to bench/results/image.md.

  /usr/bin/python3 bench/image_torch.py BUILD_DIR [--quick]

Models: ViT-B/16 (torchvision vit_b_16 vs our ViTModel on a random-weight
ViT-B/16 folder) and ResNet-50 (torchvision resnet50 vs our ResNetModel), input
224 x 224, fp32, batch 1 and 16, threads 1 and 2. Each configuration is
measured in several rounds that alternate the two sides (ours runs in a
subprocess of bench_image); the best round of each side is reported, since on
a shared machine the minimum is the least disturbed estimate.
Decode + preprocess: CLIPImageProcessor semantics at 224 (decode, RGB,
shortest-edge bicubic resize, center crop, rescale, normalise) over JPEG and PNG
photos-like images, ours (1 and 2 threads) vs Pillow + numpy (one thread, as
the Hugging Face processor runs).
"""
import datetime
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from torch_threads import set_threads
import torchvision
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build')
QUICK = '--quick' in sys.argv
BENCH = os.path.join(BUILD, 'bench_image')
CACHE = os.environ.get('MMFUSE_BENCH_CACHE', '/tmp/mmfuse-bench-models')


def cpu_s():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def ours_model(model, B, nt, iters):
    """(best wall ms, best process-CPU ms) of `iters` forward passes"""
    out = subprocess.run([BENCH, 'model', model, str(B), str(nt), str(iters)], capture_output=True, text=True, check=True)
    j = json.loads(out.stdout.strip().splitlines()[-1])
    return j['best_ms'], j['cpu_ms']


def torch_model(model, B, nt, iters, cache={}):
    set_threads(nt)
    if model not in cache:
        m = torchvision.models.vit_b_16() if model == 'vit' else torchvision.models.resnet50()
        cache[model] = m.eval()
    m = cache[model]
    x = torch.randn(B, 3, 224, 224)
    with torch.inference_mode():
        m(x)
        best, best_cpu = 1e30, 1e30
        for _ in range(iters):
            t, c = time.perf_counter(), cpu_s()
            m(x)
            best = min(best, time.perf_counter() - t)
            best_cpu = min(best_cpu, cpu_s() - c)
    return best * 1e3, best_cpu * 1e3


def make_images(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    for i in range(24):
        w, h = [(640, 480), (480, 640), (800, 600), (500, 375)][i % 4]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.stack([127 + 100 * np.sin(x / (9 + k) + y / (13 + 2 * k) + i) for k in range(3)], -1)
        img += rng.normal(0, 8, img.shape).astype(np.float32)
        im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        p = os.path.join(d, f'img{i:02d}.' + ('png' if i % 6 == 5 else 'jpg'))
        im.save(p, quality=90) if p.endswith('jpg') else im.save(p)
        paths.append(p)
    lst = os.path.join(d, 'list.txt')
    with open(lst, 'w') as f:
        f.write('\n'.join(paths) + '\n')
    return paths, lst


MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def pillow_preprocess(paths, repeats):
    best = 1e30
    for _ in range(repeats):
        t = time.perf_counter()
        for p in paths:
            im = ImageOps.exif_transpose(Image.open(p)).convert('RGB')
            w, h = im.size
            s = 224
            nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
            a = np.asarray(im.resize((nw, nh), Image.BICUBIC))
            top, left = (nh - s) // 2, (nw - s) // 2
            a = a[top:top + s, left:left + s]
            x = ((a.astype(np.float64) * (1 / 255)).astype(np.float32) - MEAN) / STD
            x = np.ascontiguousarray(x.transpose(2, 0, 1))
        best = min(best, time.perf_counter() - t)
    return len(paths) / best


def ours_preprocess(lst, nt, repeats):
    out = subprocess.run([BENCH, 'preprocess', lst, str(nt), str(repeats)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])['img_per_s']


def cpu_name():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    if not os.path.exists(BENCH):
        sys.exit(f'{BENCH} not built (make bench)')
    rounds = 1 if QUICK else 3
    load0 = os.getloadavg()[0]
    rows = []
    for model in ('resnet', 'vit'):
        for B in (1, 16):
            for nt in (1, 2):
                iters = 1 if (B == 16 and model == 'vit') else (2 if B == 16 else 3)
                ours, ref = [], []
                for _ in range(rounds):
                    ours.append(ours_model(model, B, nt, iters))
                    ref.append(torch_model(model, B, nt, iters))
                o, r = min(w for w, _ in ours), min(w for w, _ in ref)
                oc, rc = min(c for _, c in ours), min(c for _, c in ref)
                rows.append((model, B, nt, o, r, oc, rc))
                print(f'{model} B={B} threads={nt}: ours {o:.1f} ms ({oc:.1f} CPU), torch {r:.1f} ms ({rc:.1f} CPU), '
                      f'x{r / o:.2f} wall, x{rc / oc:.2f} CPU', flush=True)
    paths, lst = make_images(os.path.join(CACHE, 'images'))
    pre = []
    for nt in (1, 2):
        ours, ref = [], []
        for _ in range(rounds):
            ours.append(ours_preprocess(lst, nt, 2))
            ref.append(pillow_preprocess(paths, 2))
        pre.append((nt, max(ours), max(ref)))
        print(f'preprocess threads={nt}: ours {max(ours):.1f} img/s, Pillow {max(ref):.1f} img/s', flush=True)
    load1 = os.getloadavg()[0]
    names = {'vit': 'ViT-B/16', 'resnet': 'ResNet-50'}
    now = datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')
    md = [
        '## Image encoders and preprocessing: mmfuse vs PyTorch/torchvision and Pillow', '',
        f'- Machine: {cpu_name()}, {os.cpu_count()} logical CPUs visible; measured {now} by `bench/image_torch.py` '
        f'(driving `bench_image`). ' + (
            f'**Shared machine with other jobs running (1-minute load average {load0:.1f} at the start, {load1:.1f} at '
            'the end)**: absolute times are inflated and noisy; ' if max(load0, load1) > 1.5 else
            f'Quiet machine (1-minute load average {load0:.1f} at the start, {load1:.1f} at the end); ') +
        'the two sides ran interleaved, round by round, and the best round of each is reported.',
        f'- Reference: PyTorch {torch.__version__} / torchvision {torchvision.__version__} (Debian), '
        '`torch.inference_mode()`, `torch.set_num_threads(threads)` with its OpenBLAS pool pinned to the same count (bench/torch_threads.py); models `torchvision.models.vit_b_16()` and '
        '`resnet50()` with random weights. Ours: `mmf_encoder_embed_pixels` on random-weight folders of the same '
        'geometry (ViTModel incl. pooler; ResNetModel, batchnorm folded). fp32, 224 x 224 input.', '',
        'Columns: wall-clock ms per batch (best round), images per second from it, the wall-clock speed-up, and for '
        '1 thread also the process CPU time per batch and its ratio: with one thread, CPU time counts only the time '
        'each side actually ran, so it is the fairest figure on a loaded machine.', '',
        '| model | batch | threads | precision | mmfuse ms/batch | PyTorch ms/batch | mmfuse img/s | PyTorch img/s | speed-up (wall) | mmfuse CPU ms | PyTorch CPU ms | speed-up (CPU time) |',
        '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for model, B, nt, o, r, oc, rc in rows:
        cpu = f'{oc:.1f} | {rc:.1f} | {rc / oc:.2f}' if nt == 1 else '- | - | -'
        md.append(f'| {names[model]} | {B} | {nt} | fp32 | {o:.1f} | {r:.1f} | {1e3 * B / o:.2f} | {1e3 * B / r:.2f} | {r / o:.2f} | {cpu} |')
    md += ['', 'Targets (issue 4): ViT-B/16 batch-16 throughput >= 1.5x PyTorch; ResNet-50 >= 2x.  Profile (perf, ResNet-50 and ViT-B/16, 1 thread): '
           'about 75% of our time is OpenBLAS sgemm (kernel + packing), so the remaining gap to 2x on ResNet-50 is '
           'convolution algorithm (im2col + GEMM against oneDNN\'s direct convolutions), not overhead.',
           '', 'Decode + preprocess (CLIPImageProcessor at 224: decode, RGB, shortest-edge bicubic resize, center crop, '
           'rescale, normalise; 24 images 500x375 to 800x600, 20 JPEG + 4 PNG). Pillow + numpy runs one image at a time '
           'in one thread, as the Hugging Face processor does; ours decodes in parallel with `threads`.', '',
           '| threads (ours) | mmfuse img/s | Pillow img/s | ratio |', '|---:|---:|---:|---:|']
    for nt, o, r in pre:
        md.append(f'| {nt} | {o:.1f} | {r:.1f} | {o / r:.2f} |')
    md.append('')
    os.makedirs(os.path.join(ROOT, 'bench', 'results'), exist_ok=True)
    with open(os.path.join(ROOT, 'bench', 'results', 'image.md'), 'w') as f:
        f.write('\n'.join(md))
    print('wrote bench/results/image.md')


if __name__ == '__main__':
    main()
