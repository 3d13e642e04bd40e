#!/usr/bin/python3
"""ViT reference: a PyTorch re-implementation of transformers' ViTModel
(modeling_vit.py) with the Hugging Face module names, random weights.
Writes tests/data/image/vit_<name>/ (config.json, preprocessor_config.json,
model.safetensors) and vit_expected.safetensors: pixel_values,
last_hidden_state (after the final layernorm), pooler (tanh(dense(h0))) when
the model has one, cls (h0) and mean (mean of the patch tokens, CLS excluded).

Usage: /usr/bin/python3 tests/ref/ref_vit.py [OUT_DIR]
"""
import json
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'data', 'image')
ACT = {'gelu': nn.GELU(), 'gelu_new': nn.GELU(approximate='tanh'), 'relu': nn.ReLU()}


class ViTSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, H = c['hidden_size'], c['num_attention_heads']
        self.H, self.D = H, C // H
        self.query = nn.Linear(C, C, bias=c['qkv_bias'])
        self.key = nn.Linear(C, C, bias=c['qkv_bias'])
        self.value = nn.Linear(C, C, bias=c['qkv_bias'])

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.H, self.D).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.D), -1)
        o = (a @ v).permute(0, 2, 1, 3)
        return o.reshape(o.shape[0], o.shape[1], -1)


class ViTSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])

    def forward(self, x):
        return self.dense(x)


class ViTAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = ViTSelfAttention(c)
        self.output = ViTSelfOutput(c)

    def forward(self, x):
        return self.output(self.attention(x))


class ViTIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['intermediate_size'])
        self.act = ACT[c['hidden_act']]

    def forward(self, x):
        return self.act(self.dense(x))


class ViTOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['intermediate_size'], c['hidden_size'])

    def forward(self, x):
        return self.dense(x)


class ViTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        eps = c['layer_norm_eps']
        self.attention = ViTAttention(c)
        self.intermediate = ViTIntermediate(c)
        self.output = ViTOutput(c)
        self.layernorm_before = nn.LayerNorm(c['hidden_size'], eps=eps)
        self.layernorm_after = nn.LayerNorm(c['hidden_size'], eps=eps)

    def forward(self, x):
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output(self.intermediate(self.layernorm_after(x)))


class ViTPatchEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        p = c['patch_size']
        self.projection = nn.Conv2d(c['num_channels'], c['hidden_size'], kernel_size=p, stride=p)

    def forward(self, x):
        return self.projection(x).flatten(2).transpose(1, 2)


class ViTEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = (c['image_size'] // c['patch_size']) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, c['hidden_size']))
        self.patch_embeddings = ViTPatchEmbeddings(c)
        self.position_embeddings = nn.Parameter(torch.randn(1, n + 1, c['hidden_size']))

    def forward(self, x):
        e = self.patch_embeddings(x)
        e = torch.cat([self.cls_token.expand(e.shape[0], -1, -1), e], 1)
        return e + self.position_embeddings


class ViTEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([ViTLayer(c) for _ in range(c['num_hidden_layers'])])

    def forward(self, x):
        for l in self.layer:
            x = l(x)
        return x


class ViTPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class ViTModel(nn.Module):
    def __init__(self, c, pooler=True):
        super().__init__()
        self.embeddings = ViTEmbeddings(c)
        self.encoder = ViTEncoder(c)
        self.layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.pooler = ViTPooler(c) if pooler else None

    def forward(self, x):
        h = self.layernorm(self.encoder(self.embeddings(x)))
        return h, (self.pooler(h) if self.pooler is not None else None)


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vit = ViTModel(c, pooler=False)
        self.classifier = nn.Linear(c['hidden_size'], 5)


def randomize(m, g):
    for name, p in m.named_parameters():
        if 'layernorm' in name or 'LayerNorm' in name:
            p.data = (1.0 if name.endswith('weight') else 0.0) + 0.2 * torch.randn(p.shape, generator=g)
        else:
            p.data = 0.15 * torch.randn(p.shape, generator=g)


CASES = {
    'pooler': dict(cfg={'model_type': 'vit', 'hidden_size': 32, 'num_hidden_layers': 2, 'num_attention_heads': 4,
                        'intermediate_size': 64, 'hidden_act': 'gelu', 'layer_norm_eps': 1e-12, 'image_size': 32,
                        'patch_size': 8, 'num_channels': 3, 'qkv_bias': True}, classify=False, batch=3),
    # ViTForImageClassification names ("vit." prefix, no pooler), one head, gelu_new
    'classifier': dict(cfg={'model_type': 'vit', 'hidden_size': 24, 'num_hidden_layers': 3, 'num_attention_heads': 1,
                            'intermediate_size': 40, 'hidden_act': 'gelu_new', 'layer_norm_eps': 1e-6, 'image_size': 24,
                            'patch_size': 6, 'num_channels': 3, 'qkv_bias': False}, classify=True, batch=2),
}


def main():
    g = torch.Generator().manual_seed(11)
    ex = {}
    for name, case in CASES.items():
        c = case['cfg']
        full = ViTForImageClassification(c) if case['classify'] else ViTModel(c)
        randomize(full, g)
        full.eval()
        model = full.vit if case['classify'] else full
        d = os.path.join(OUT, f'vit_{name}')
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(dict(c, architectures=['ViTForImageClassification' if case['classify'] else 'ViTModel']), f, indent=1)
        with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
            s = c['image_size']
            json.dump({'image_processor_type': 'ViTImageProcessor', 'do_resize': True, 'size': {'height': s, 'width': s},
                       'resample': 2, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                       'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5]}, f, indent=1)
        write_safetensors(os.path.join(d, 'model.safetensors'), full.state_dict(), metadata={'format': 'pt'})
        x = torch.randn(case['batch'], 3, c['image_size'], c['image_size'], generator=g)
        with torch.no_grad():
            h, p = model(x)
        ex[f'{name}/pixel_values'] = x
        ex[f'{name}/last_hidden_state'] = h
        ex[f'{name}/cls'] = h[:, 0].contiguous()
        ex[f'{name}/mean'] = h[:, 1:].mean(1)
        if p is not None:
            ex[f'{name}/pooler'] = p
    write_safetensors(os.path.join(OUT, 'vit_expected.safetensors'), ex,
                      metadata={'generator': 'tests/ref/ref_vit.py', 'torch': torch.__version__})
    print('wrote', ', '.join(CASES))


if __name__ == '__main__':
    main()
