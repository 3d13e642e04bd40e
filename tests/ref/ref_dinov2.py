#!/usr/bin/python3
"""DINOv2 reference: Dinov2Model written from transformers' modeling_dinov2.py
semantics (no `transformers` package on Debian) in float64, random weights.

  embeddings = [cls_token; patch conv(pixels)] + position table, the table
    resized by F.interpolate(bicubic, align_corners=False) in float32 when the
    input grid differs from the checkpoint's (interpolate_pos_encoding; this
    call is torch's own, not re-implemented), CLS row kept;
  layer (pre-norm): x += lambda1 * attn(norm1(x)); x += lambda2 * mlp(norm2(x));
  last_hidden_state = layernorm(x); pooler_output = its CLS row.

pixel_values come from real test images through the BitImageProcessor
pipeline of tests/ref/ref_image_preprocess.py (Pillow resize of the shortest
edge, centre crop, rescale, normalise). Writes tests/data/image/dinov2_<case>/
(config.json, preprocessor_config.json, model.safetensors) and
tests/data/image/dinov2_expected.safetensors: <case>/{pixel_values,
last_hidden_state, cls, mean, cls_mean}.

Usage: /usr/bin/python3 tests/ref/ref_dinov2.py
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402
from ref_image_preprocess import decode_ref, geometry, pixel_values  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', 'tests', 'data', 'image')
F64 = torch.float64
IMAGES = ['photo400x300.jpg', 'tall190x257.png', 'rgb8.png']
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

CASES = {
    # dinov2-small layout (Dinov2Model, no prefix): checkpoint grid 10 x 10, inputs 7 x 7 (downsampled table)
    'small': dict(cfg=dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=2, mlp_ratio=4, patch_size=4,
                           image_size=40, hidden_act='gelu', layer_norm_eps=1e-6, qkv_bias=True),
                  prefix='', shortest=32, crop=28),
    # Dinov2ForImageClassification layout ("dinov2." prefix, classifier ignored), grid 4 -> 6 (upsampled), no qkv bias
    'up': dict(cfg=dict(hidden_size=24, num_attention_heads=2, num_hidden_layers=3, mlp_ratio=2, patch_size=4,
                        image_size=16, hidden_act='gelu_new', layer_norm_eps=1e-6, qkv_bias=False),
               prefix='dinov2.', shortest=26, crop=24),
    # same grid as the checkpoint: the table is used as it is
    'same': dict(cfg=dict(hidden_size=16, num_attention_heads=2, num_hidden_layers=1, mlp_ratio=3, patch_size=5,
                          image_size=20, hidden_act='gelu', layer_norm_eps=1e-5, qkv_bias=True),
                 prefix='', shortest=22, crop=20),
}


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACT = {'gelu': torch.nn.functional.gelu, 'gelu_new': gelu_tanh}


def make_weights(c, g):
    C, P, L = c['hidden_size'], c['patch_size'], c['num_hidden_layers']
    F = int(C * c['mlp_ratio'])
    G = c['image_size'] // P

    def r(*s, sc=0.2):
        return (torch.randn(*s, generator=g) * sc).float()
    w = {'embeddings.cls_token': r(1, 1, C, sc=0.5), 'embeddings.mask_token': torch.zeros(1, C),
         'embeddings.position_embeddings': r(1, G * G + 1, C, sc=0.5),
         'embeddings.patch_embeddings.projection.weight': r(C, 3, P, P, sc=1.0 / math.sqrt(3 * P * P)),
         'embeddings.patch_embeddings.projection.bias': r(C, sc=0.1)}
    for l in range(L):
        p = 'encoder.layer.%d.' % l
        for n in ('norm1', 'norm2'):
            w[p + n + '.weight'] = 1 + r(C, sc=0.1)
            w[p + n + '.bias'] = r(C, sc=0.1)
        for n in ('query', 'key', 'value'):
            w[p + 'attention.attention.%s.weight' % n] = r(C, C, sc=1.0 / math.sqrt(C))
            if c['qkv_bias']:
                w[p + 'attention.attention.%s.bias' % n] = r(C, sc=0.1)
        w[p + 'attention.output.dense.weight'] = r(C, C, sc=1.0 / math.sqrt(C))
        w[p + 'attention.output.dense.bias'] = r(C, sc=0.1)
        w[p + 'layer_scale1.lambda1'] = 0.5 + r(C, sc=0.3)
        w[p + 'mlp.fc1.weight'] = r(F, C, sc=1.0 / math.sqrt(C))
        w[p + 'mlp.fc1.bias'] = r(F, sc=0.1)
        w[p + 'mlp.fc2.weight'] = r(C, F, sc=1.0 / math.sqrt(F))
        w[p + 'mlp.fc2.bias'] = r(C, sc=0.1)
        w[p + 'layer_scale2.lambda1'] = 0.5 + r(C, sc=0.3)
    w['layernorm.weight'] = 1 + r(C, sc=0.1)
    w['layernorm.bias'] = r(C, sc=0.1)
    return w


def positions(w, c, H, W):
    """Dinov2Embeddings.interpolate_pos_encoding (float32 interpolation, as transformers)."""
    pe = w['embeddings.position_embeddings']
    n_pos = pe.shape[1] - 1
    G = int(n_pos ** 0.5)
    P = c['patch_size']
    if (H // P) * (W // P) == n_pos and H == W:
        return pe.to(F64)
    patch = pe[:, 1:].reshape(1, G, G, -1).permute(0, 3, 1, 2)
    patch = torch.nn.functional.interpolate(patch.to(torch.float32), size=(H // P, W // P), mode='bicubic',
                                            align_corners=False)
    patch = patch.permute(0, 2, 3, 1).reshape(1, -1, pe.shape[-1])
    return torch.cat((pe[:, :1], patch), 1).to(F64)


def forward(w, c, px):
    w64 = {k: v.to(F64) for k, v in w.items()}
    B, _, H, W = px.shape
    C, heads, eps, act = c['hidden_size'], c['num_attention_heads'], c['layer_norm_eps'], ACT[c['hidden_act']]
    D = C // heads
    x = torch.nn.functional.conv2d(px.to(F64), w64['embeddings.patch_embeddings.projection.weight'],
                                   w64['embeddings.patch_embeddings.projection.bias'], stride=c['patch_size'])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat((w64['embeddings.cls_token'].expand(B, -1, -1), x), 1) + positions(w, c, H, W)
    T = x.shape[1]

    def ln(t, n):
        return torch.nn.functional.layer_norm(t, (C,), w64[n + '.weight'], w64[n + '.bias'], eps)

    def lin(t, n, bias=True):
        y = t @ w64[n + '.weight'].T
        return y + w64[n + '.bias'] if bias and (n + '.bias') in w64 else y

    for l in range(c['num_hidden_layers']):
        p = 'encoder.layer.%d.' % l
        h = ln(x, p + 'norm1')
        q, k, v = (lin(h, p + 'attention.attention.' + n).view(B, T, heads, D).permute(0, 2, 1, 3)
                   for n in ('query', 'key', 'value'))
        a = (torch.softmax(q @ k.transpose(-1, -2) * D ** -0.5, -1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        x = x + lin(a, p + 'attention.output.dense') * w64[p + 'layer_scale1.lambda1']
        h = act(lin(ln(x, p + 'norm2'), p + 'mlp.fc1'))
        x = x + lin(h, p + 'mlp.fc2') * w64[p + 'layer_scale2.lambda1']
    return ln(x, 'layernorm')


def main():
    g = torch.Generator().manual_seed(21)
    ex = {}
    for name, case in CASES.items():
        c = dict(case['cfg'], model_type='dinov2', num_channels=3, layerscale_value=1.0, use_swiglu_ffn=False,
                 drop_path_rate=0.0, architectures=['Dinov2ForImageClassification' if case['prefix'] else 'Dinov2Model'])
        w = make_weights(c, g)
        d = os.path.join(OUT, 'dinov2_' + name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(c, f, indent=1)
        proc = {'image_processor_type': 'BitImageProcessor', 'do_resize': True, 'size': {'shortest_edge': case['shortest']},
                'resample': 3, 'do_center_crop': True, 'crop_size': {'height': case['crop'], 'width': case['crop']},
                'do_rescale': True, 'rescale_factor': 0.00392156862745098, 'do_normalize': True,
                'image_mean': IMAGENET_MEAN, 'image_std': IMAGENET_STD, 'do_convert_rgb': True}
        with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
            json.dump(proc, f, indent=1)
        stored = {case['prefix'] + k: v for k, v in w.items()}
        if case['prefix']:   # the classification head a Dinov2ForImageClassification checkpoint carries
            stored['classifier.weight'] = torch.zeros(5, 2 * c['hidden_size'])
            stored['classifier.bias'] = torch.zeros(5)
        write_safetensors(os.path.join(d, 'model.safetensors'), stored, metadata={'format': 'pt'})
        # the reference's own processor path for BitImageProcessor is CLIP's (resize shortest edge + centre crop)
        geo = dict(proc, image_processor_type='CLIPImageProcessor')
        px = np.stack([pixel_values(geo, geometry(geo, decode_ref(os.path.join(OUT, f)))) for f in IMAGES])
        px = torch.from_numpy(px)
        with torch.no_grad():
            h = forward(w, c, px)
        cls, mean = h[:, 0], h[:, 1:].mean(1)
        ex[name + '/pixel_values'] = px
        ex[name + '/last_hidden_state'] = h.float()
        ex[name + '/cls'] = cls.float()
        ex[name + '/mean'] = mean.float()
        ex[name + '/cls_mean'] = torch.cat((cls, mean), 1).float()
    write_safetensors(os.path.join(OUT, 'dinov2_expected.safetensors'), ex,
                      metadata={'generator': 'tests/ref/ref_dinov2.py', 'images': ','.join(IMAGES)})
    print('wrote', ', '.join('dinov2_' + n for n in CASES))


if __name__ == '__main__':
    main()
