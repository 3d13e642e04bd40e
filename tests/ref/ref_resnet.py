#!/usr/bin/python3
"""ResNet reference: a PyTorch re-implementation of transformers' ResNetModel
(modeling_resnet.py) with the same module names, so state_dict keys are the
Hugging Face tensor names. Random weights, non-trivial batchnorm statistics.
Writes tests/data/image/resnet_<name>/ (config.json, preprocessor_config.json,
model.safetensors) and expected.safetensors with pixel_values,
last_hidden_state (B, C, h, w) and pooler_output (B, C).

Usage: /usr/bin/python3 tests/ref/ref_resnet.py [OUT_DIR]
"""
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'data', 'image')


class ResNetConvLayer(nn.Module):
    def __init__(self, i, o, kernel_size=3, stride=1, activation='relu'):
        super().__init__()
        self.convolution = nn.Conv2d(i, o, kernel_size=kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.normalization = nn.BatchNorm2d(o)
        self.activation = nn.ReLU() if activation is not None else nn.Identity()

    def forward(self, x):
        return self.activation(self.normalization(self.convolution(x)))


class ResNetEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embedder = ResNetConvLayer(cfg['num_channels'], cfg['embedding_size'], kernel_size=7, stride=2)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x):
        return self.pooler(self.embedder(x))


class ResNetShortCut(nn.Module):
    def __init__(self, i, o, stride=2):
        super().__init__()
        self.convolution = nn.Conv2d(i, o, kernel_size=1, stride=stride, bias=False)
        self.normalization = nn.BatchNorm2d(o)

    def forward(self, x):
        return self.normalization(self.convolution(x))


class ResNetBasicLayer(nn.Module):
    def __init__(self, i, o, stride=1):
        super().__init__()
        should = i != o or stride != 1
        self.shortcut = ResNetShortCut(i, o, stride=stride) if should else nn.Identity()
        self.layer = nn.Sequential(ResNetConvLayer(i, o, stride=stride), ResNetConvLayer(o, o, activation=None))
        self.activation = nn.ReLU()

    def forward(self, x):
        return self.activation(self.layer(x) + self.shortcut(x))


class ResNetBottleNeckLayer(nn.Module):
    def __init__(self, i, o, stride=1, reduction=4):
        super().__init__()
        should = i != o or stride != 1
        r = o // reduction
        self.shortcut = ResNetShortCut(i, o, stride=stride) if should else nn.Identity()
        self.layer = nn.Sequential(ResNetConvLayer(i, r, kernel_size=1), ResNetConvLayer(r, r, stride=stride),
                                   ResNetConvLayer(r, o, kernel_size=1, activation=None))
        self.activation = nn.ReLU()

    def forward(self, x):
        return self.activation(self.layer(x) + self.shortcut(x))


class ResNetStage(nn.Module):
    def __init__(self, cfg, i, o, stride=2, depth=2):
        super().__init__()
        L = ResNetBottleNeckLayer if cfg['layer_type'] == 'bottleneck' else ResNetBasicLayer
        self.layers = nn.Sequential(L(i, o, stride=stride), *[L(o, o) for _ in range(depth - 1)])

    def forward(self, x):
        return self.layers(x)


class ResNetEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hs, ds = cfg['hidden_sizes'], cfg['depths']
        self.stages = nn.ModuleList([ResNetStage(cfg, cfg['embedding_size'], hs[0],
                                                 stride=2 if cfg['downsample_in_first_stage'] else 1, depth=ds[0])])
        for (i, o), d in zip(zip(hs, hs[1:]), ds[1:]):
            self.stages.append(ResNetStage(cfg, i, o, depth=d))

    def forward(self, x):
        for s in self.stages:
            x = s(x)
        return x


class ResNetModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embedder = ResNetEmbeddings(cfg)
        self.encoder = ResNetEncoder(cfg)
        self.pooler = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        h = self.encoder(self.embedder(x))
        return h, self.pooler(h).flatten(1)


class ResNetForImageClassification(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.resnet = ResNetModel(cfg)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(cfg['hidden_sizes'][-1], 3))


def randomize(m, g):
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            fan = mod.weight[0].numel()
            mod.weight.data = torch.randn(mod.weight.shape, generator=g) * (2.0 / fan) ** 0.5
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.weight.data = 0.5 + torch.rand(n, generator=g)
            mod.bias.data = 0.3 * torch.randn(n, generator=g)
            mod.running_mean.data = 0.5 * torch.randn(n, generator=g)
            mod.running_var.data = 0.3 + 1.5 * torch.rand(n, generator=g)
            mod.num_batches_tracked.data = torch.tensor(123)


CASES = {
    # bottleneck, as microsoft/resnet-50 (ResNetForImageClassification names: "resnet." prefix)
    'bottleneck': dict(cfg={'model_type': 'resnet', 'num_channels': 3, 'embedding_size': 8,
                            'hidden_sizes': [16, 32, 64], 'depths': [2, 1, 2], 'layer_type': 'bottleneck',
                            'hidden_act': 'relu', 'downsample_in_first_stage': False},
                       classify=True, shape=(3, 3, 40, 52)),
    # basic, as microsoft/resnet-18, downsampling in the first stage
    'basic': dict(cfg={'model_type': 'resnet', 'num_channels': 3, 'embedding_size': 6,
                       'hidden_sizes': [6, 12], 'depths': [2, 2], 'layer_type': 'basic',
                       'hidden_act': 'relu', 'downsample_in_first_stage': True},
                  classify=False, shape=(2, 3, 33, 29)),
}


def main():
    g = torch.Generator().manual_seed(7)
    expected = {}
    for name, case in CASES.items():
        cfg = case['cfg']
        torch.manual_seed(0)
        full = ResNetForImageClassification(cfg) if case['classify'] else ResNetModel(cfg)
        randomize(full, g)
        full.eval()
        model = full.resnet if case['classify'] else full
        d = os.path.join(OUT, f'resnet_{name}')
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(dict(cfg, architectures=['ResNetForImageClassification' if case['classify'] else 'ResNetModel']), f, indent=1)
        with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
            json.dump({'image_processor_type': 'ConvNextImageProcessor', 'crop_pct': 0.875, 'do_normalize': True,
                       'do_rescale': True, 'do_resize': True, 'image_mean': [0.485, 0.456, 0.406],
                       'image_std': [0.229, 0.224, 0.225], 'resample': 3, 'rescale_factor': 1 / 255,
                       'size': {'shortest_edge': 32}}, f, indent=1)
        sd = {k: v for k, v in full.state_dict().items()}
        write_safetensors(os.path.join(d, 'model.safetensors'), sd, metadata={'format': 'pt'})
        x = torch.randn(case['shape'], generator=g)
        with torch.no_grad():
            h, p = model(x)
        expected[f'{name}/pixel_values'] = x
        expected[f'{name}/last_hidden_state'] = h.contiguous()
        expected[f'{name}/pooler_output'] = p.contiguous()
    write_safetensors(os.path.join(OUT, 'resnet_expected.safetensors'), expected,
                      metadata={'generator': 'tests/ref/ref_resnet.py', 'torch': torch.__version__})
    print('wrote', ', '.join(CASES))


if __name__ == '__main__':
    main()
