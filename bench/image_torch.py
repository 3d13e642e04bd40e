#!/usr/bin/python3
"""Image encoders and preprocessing: mmfuse vs Debian's PyTorch/torchvision and
Pillow, interleaved, written to bench/results/image.md.

  /usr/bin/python3 bench/image_torch.py BUILD_DIR [--quick]

Models: ViT-B/16 (torchvision vit_b_16 vs our ViTModel on a random-weight
ViT-B/16 folder) and ResNet-50 (torchvision resnet50 vs our ResNetModel), input
224 x 224, batch 1 and 16, threads 1 and 2; ours in fp32 and in bf16
(`--precision bf16`), PyTorch in fp32 (the reference) and in bf16
(`model.to(torch.bfloat16)`; torch.autocast fails on 1.13's ViT fast path).
Each configuration is measured in several rounds that alternate the four runs
(ours runs in a subprocess of bench_image); the best round of each is
reported, since on a shared machine the minimum is the least disturbed
estimate. The cosine of each side's bf16 embeddings to its fp32 ones (same
input, per image, the smallest) is reported too.
Decode + preprocess: CLIPImageProcessor semantics at 224 (decode, RGB,
shortest-edge bicubic resize, center crop, rescale, normalise) over JPEG and PNG
photos-like images, ours (1 and 2 threads) vs Pillow + numpy (one thread, as
the Hugging Face processor runs).
"""
import copy
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


def ours_model(model, B, nt, iters, prec='fp32', emb=None):
    """(best wall ms, best process-CPU ms) of `iters` forward passes; emb: file for the embeddings"""
    cmd = [BENCH, 'model', model, str(B), str(nt), str(iters), prec] + ([emb] if emb else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    j = json.loads(out.stdout.strip().splitlines()[-1])
    return j['best_ms'], j['cpu_ms']


def torch_net(model, prec, cache={}):
    """torchvision model with the classifier removed (the output is the pooled
    features / CLS embedding, as ours); bf16 = a copy in torch.bfloat16"""
    if (model, prec) not in cache:
        if (model, 'fp32') not in cache:
            torch.manual_seed(0)
            m = torchvision.models.vit_b_16() if model == 'vit' else torchvision.models.resnet50()
            if model == 'vit':
                m.heads = torch.nn.Identity()
            else:
                m.fc = torch.nn.Identity()
            cache[(model, 'fp32')] = m.eval()
        if prec == 'bf16':
            cache[(model, prec)] = copy.deepcopy(cache[(model, 'fp32')]).to(torch.bfloat16)
    return cache[(model, prec)]


def torch_model(model, B, nt, iters, prec='fp32'):
    set_threads(nt)
    m = torch_net(model, prec)
    x = torch.randn(B, 3, 224, 224)
    if prec == 'bf16':
        x = x.to(torch.bfloat16)
    with torch.inference_mode():
        m(x)
        best, best_cpu = 1e30, 1e30
        for _ in range(iters):
            t, c = time.perf_counter(), cpu_s()
            m(x)
            best = min(best, time.perf_counter() - t)
            best_cpu = min(best_cpu, cpu_s() - c)
    return best * 1e3, best_cpu * 1e3


def min_cosine(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    c = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    return float(c.min())


def torch_cosine(model, B):
    """PyTorch's own bf16 vs fp32 embeddings on one input"""
    set_threads(1)
    torch.manual_seed(1)
    x = torch.randn(B, 3, 224, 224)
    with torch.inference_mode():
        a = torch_net(model, 'fp32')(x).float().numpy()
        b = torch_net(model, 'bf16')(x.to(torch.bfloat16)).float().numpy()
    return min_cosine(b, a)


def ours_cosine(model, B):
    """our bf16 vs fp32 embeddings on the same input (bench_image seeds it)"""
    d = os.path.join(CACHE, 'emb')
    os.makedirs(d, exist_ok=True)
    e = {p: os.path.join(d, f'{model}_{B}_{p}.f32') for p in ('fp32', 'bf16')}
    for p in e:
        ours_model(model, B, 1, 1, p, e[p])
    a, b = (np.fromfile(e[p], dtype=np.float32).reshape(B, -1) for p in ('fp32', 'bf16'))
    return min_cosine(b, a)


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
    runs = ('ours_fp32', 'ours_bf16', 'torch_fp32', 'torch_bf16')
    for model in ('resnet', 'vit'):
        for B in (1, 16):
            for nt in (1, 2):
                iters = 1 if (B == 16 and model == 'vit') else (2 if B == 16 else 3)
                got = {r: [] for r in runs}
                for _ in range(rounds):
                    got['ours_fp32'].append(ours_model(model, B, nt, iters, 'fp32'))
                    got['torch_fp32'].append(torch_model(model, B, nt, iters, 'fp32'))
                    got['ours_bf16'].append(ours_model(model, B, nt, iters, 'bf16'))
                    got['torch_bf16'].append(torch_model(model, B, nt, iters, 'bf16'))
                best = {r: (min(w for w, _ in got[r]), min(c for _, c in got[r])) for r in runs}
                rows.append((model, B, nt, best))
                of, ob, tf, tb = (best[r][0] for r in runs)
                print(f'{model} B={B} threads={nt}: ours fp32 {of:.1f} ms, bf16 {ob:.1f} ms; torch fp32 {tf:.1f} ms, '
                      f'bf16 {tb:.1f} ms; x{tf / of:.2f} fp32, x{tf / ob:.2f} bf16 vs torch fp32, x{tb / ob:.2f} vs torch bf16 '
                      f'(CPU ms {" ".join(f"{best[r][1]:.1f}" for r in runs)})', flush=True)
    cos = []
    for model in ('resnet', 'vit'):
        cos.append((model, ours_cosine(model, 16), torch_cosine(model, 16)))
        print(f'{model}: cosine bf16 vs fp32, ours {cos[-1][1]:.6f}, PyTorch {cos[-1][2]:.6f}', flush=True)
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
            'the end)**: absolute times are inflated and noisy; ' if max(load0, load1) > (os.cpu_count() or 1) + 0.5 else
            f'Quiet machine (1-minute load average {load0:.1f} at the start, {load1:.1f} at the end); ') +
        'the two sides ran interleaved, round by round, and the best round of each is reported.',
        f'- Reference: PyTorch {torch.__version__} / torchvision {torchvision.__version__} (Debian), '
        '`torch.inference_mode()`, `torch.set_num_threads(threads)` with its OpenBLAS pool pinned to the same count '
        '(bench/torch_threads.py); models `torchvision.models.vit_b_16()` and `resnet50()` with random weights and the '
        'classifier replaced by Identity (the output is the embedding, as ours). PyTorch fp32 is the reference; '
        'PyTorch bf16 is the same model after `model.to(torch.bfloat16)` (oneDNN bf16; `torch.autocast` fails on '
        '1.13\'s ViT fast path). Ours: `mmf_encoder_embed_pixels` on random-weight folders of the same geometry '
        '(ViTModel incl. pooler; ResNetModel, batchnorm folded), fp32 and `--precision bf16`. 224 x 224 input.', '',
        'Wall-clock ms per batch (best round) and speed-ups: *fp32* = PyTorch fp32 / mmfuse fp32; *bf16 vs PyTorch '
        'fp32* = PyTorch fp32 / mmfuse bf16 (the issue\'s reference); *bf16 vs PyTorch bf16* = PyTorch bf16 / mmfuse bf16.', '',
        '| model | batch | threads | mmfuse fp32 | mmfuse bf16 | PyTorch fp32 | PyTorch bf16 | mmfuse bf16 img/s | speed-up fp32 | speed-up bf16 vs PyTorch fp32 | bf16 vs PyTorch bf16 |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for model, B, nt, best in rows:
        of, ob, tf, tb = (best[r][0] for r in runs)
        md.append(f'| {names[model]} | {B} | {nt} | {of:.1f} | {ob:.1f} | {tf:.1f} | {tb:.1f} | {1e3 * B / ob:.2f} | '
                  f'{tf / of:.2f} | {tf / ob:.2f} | {tb / ob:.2f} |')
    md += ['', 'One thread, process CPU time per batch (ms, best round): it counts only the time each side actually ran, '
           'so it is the fairest figure while other jobs share the machine.', '',
           '| model | batch | mmfuse fp32 | mmfuse bf16 | PyTorch fp32 | PyTorch bf16 | speed-up fp32 | speed-up bf16 vs PyTorch fp32 | bf16 vs PyTorch bf16 |',
           '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    for model, B, nt, best in rows:
        if nt != 1:
            continue
        of, ob, tf, tb = (best[r][1] for r in runs)
        md.append(f'| {names[model]} | {B} | {of:.1f} | {ob:.1f} | {tf:.1f} | {tb:.1f} | {tf / of:.2f} | {tf / ob:.2f} | {tb / ob:.2f} |')
    md += ['', 'bf16 accuracy: the smallest cosine, over the 16 images of one batch, between each side\'s bf16 and fp32 '
           'embeddings of the same input (random weights; tests/test_image_bf16.c checks ours against the PyTorch fp32 '
           'references: cosine >= 0.9999).', '',
           '| model | mmfuse bf16 vs fp32 | PyTorch bf16 vs fp32 |', '|---|---:|---:|']
    for model, co, ct in cos:
        md.append(f'| {names[model]} | {co:.6f} | {ct:.6f} |')
    md += ['', 'Targets (issue 4): ViT-B/16 batch-16 throughput >= 1.5x PyTorch; ResNet-50 >= 2x (PyTorch fp32 as the '
           'reference). fp32 is near the core\'s FMA peak on both sides (PyTorch runs oneDNN\'s direct convolutions, we '
           'run im2col + GEMM), so the 2x for ResNet-50 comes from `--precision bf16` (AVX512-BF16: twice the '
           'multiply-add rate per instruction, fp32 accumulation).',
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
