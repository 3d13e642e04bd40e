#!/usr/bin/python3
"""SigLIP reference: SiglipModel and SiglipVisionModel written from
transformers' modeling_siglip.py semantics (no `transformers` package on
Debian) in float64, random weights.

  vision: patch conv (bias) + position_embedding (no CLS), pre-norm layers
    (CLIP names), post_layernorm; pooled = the MAP head: torch's own
    nn.MultiheadAttention(probe, h, h) (in_proj_weight / out_proj, called
    here, not re-implemented), then a + mlp(layernorm(a)), row 0;
  text: token + position embeddings, the layers without a causal mask and
    without an attention mask (texts padded to max_position_embeddings with
    the pad id, as SiglipProcessor(padding="max_length") feeds them),
    final_layer_norm, pooled = head(h[:, -1]);
  logits_per_image = (normalised image @ normalised text^T) * exp(logit_scale)
    + logit_bias; probabilities sigmoid(logits).

pixel_values come from real test images through SiglipImageProcessor's path
(the ViT resize of tests/ref/ref_image_preprocess.py: Pillow bicubic to
height x width, rescale, normalise with 0.5 / 0.5). Text ids: a tiny Unigram
tokenizer.json of whole-word pieces ("▁word"), so the reference ids are the
words looked up, plus "</s>". Writes tests/data/image/siglip_{a,vision}/ and
tests/data/image/siglip_expected.safetensors.

Usage: /usr/bin/python3 tests/ref/ref_siglip.py
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
WORDS = "a photo of cat dog the red car two bird sitting on branch".split()
TEXTS = ["a photo of a cat", "a photo of a dog", "two red bird sitting on the branch", "car",
         "the cat the dog the car the bird a photo of a red car"]
VOCAB = [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["\u2581", -8.0]] + \
    [["\u2581" + w, -1.0 - 0.01 * i] for i, w in enumerate(WORDS)] + [[c, -6.0] for c in "abcdefghijklmnopqrstuvwxyz"]


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class G:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def r(self, *s, sc=0.2):
        return (torch.randn(*s, generator=self.g) * sc).float()


def layers(g, w, p, C, F, L):
    for l in range(L):
        q = p + 'encoder.layers.%d.' % l
        for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
            w[q + 'self_attn.%s.weight' % n] = g.r(C, C, sc=1.0 / math.sqrt(C))
            w[q + 'self_attn.%s.bias' % n] = g.r(C, sc=0.1)
        for n in ('layer_norm1', 'layer_norm2'):
            w[q + n + '.weight'] = 1 + g.r(C, sc=0.1)
            w[q + n + '.bias'] = g.r(C, sc=0.1)
        w[q + 'mlp.fc1.weight'] = g.r(F, C, sc=1.0 / math.sqrt(C))
        w[q + 'mlp.fc1.bias'] = g.r(F, sc=0.1)
        w[q + 'mlp.fc2.weight'] = g.r(C, F, sc=1.0 / math.sqrt(F))
        w[q + 'mlp.fc2.bias'] = g.r(C, sc=0.1)


def vision_weights(g, vc, w):
    C, F, P = vc['hidden_size'], vc['intermediate_size'], vc['patch_size']
    N = (vc['image_size'] // P) ** 2
    p = 'vision_model.'
    w[p + 'embeddings.patch_embedding.weight'] = g.r(C, 3, P, P, sc=1.0 / math.sqrt(3 * P * P))
    w[p + 'embeddings.patch_embedding.bias'] = g.r(C, sc=0.1)
    w[p + 'embeddings.position_embedding.weight'] = g.r(N, C, sc=0.5)
    layers(g, w, p, C, F, vc['num_hidden_layers'])
    w[p + 'post_layernorm.weight'] = 1 + g.r(C, sc=0.1)
    w[p + 'post_layernorm.bias'] = g.r(C, sc=0.1)
    w[p + 'head.probe'] = g.r(1, 1, C, sc=1.0)
    w[p + 'head.attention.in_proj_weight'] = g.r(3 * C, C, sc=1.0 / math.sqrt(C))
    w[p + 'head.attention.in_proj_bias'] = g.r(3 * C, sc=0.1)
    w[p + 'head.attention.out_proj.weight'] = g.r(C, C, sc=1.0 / math.sqrt(C))
    w[p + 'head.attention.out_proj.bias'] = g.r(C, sc=0.1)
    w[p + 'head.layernorm.weight'] = 1 + g.r(C, sc=0.1)
    w[p + 'head.layernorm.bias'] = g.r(C, sc=0.1)
    w[p + 'head.mlp.fc1.weight'] = g.r(F, C, sc=1.0 / math.sqrt(C))
    w[p + 'head.mlp.fc1.bias'] = g.r(F, sc=0.1)
    w[p + 'head.mlp.fc2.weight'] = g.r(C, F, sc=1.0 / math.sqrt(F))
    w[p + 'head.mlp.fc2.bias'] = g.r(C, sc=0.1)


def text_weights(g, tc, w):
    C, F = tc['hidden_size'], tc['intermediate_size']
    p = 'text_model.'
    w[p + 'embeddings.token_embedding.weight'] = g.r(tc['vocab_size'], C, sc=0.5)
    w[p + 'embeddings.position_embedding.weight'] = g.r(tc['max_position_embeddings'], C, sc=0.5)
    layers(g, w, p, C, F, tc['num_hidden_layers'])
    w[p + 'final_layer_norm.weight'] = 1 + g.r(C, sc=0.1)
    w[p + 'final_layer_norm.bias'] = g.r(C, sc=0.1)
    w[p + 'head.weight'] = g.r(tc['projection_size'], C, sc=1.0 / math.sqrt(C))
    w[p + 'head.bias'] = g.r(tc['projection_size'], sc=0.1)


def encoder(w, p, c, x):
    B, T, C = x.shape
    H, eps = c['num_attention_heads'], c['layer_norm_eps']
    D = C // H

    def ln(t, n):
        return torch.nn.functional.layer_norm(t, (C,), w[n + '.weight'], w[n + '.bias'], eps)

    def lin(t, n):
        return t @ w[n + '.weight'].T + w[n + '.bias']
    for l in range(c['num_hidden_layers']):
        q = p + 'encoder.layers.%d.' % l
        h = ln(x, q + 'layer_norm1')
        qq, kk, vv = (lin(h, q + 'self_attn.' + n).view(B, T, H, D).transpose(1, 2) for n in ('q_proj', 'k_proj', 'v_proj'))
        a = torch.softmax(qq @ kk.transpose(2, 3) * D ** -0.5, -1) @ vv
        x = x + lin(a.transpose(1, 2).reshape(B, T, C), q + 'self_attn.out_proj')
        x = x + lin(gelu_tanh(lin(ln(x, q + 'layer_norm2'), q + 'mlp.fc1')), q + 'mlp.fc2')
    return x


def vision_forward(w, vc, px):
    p = 'vision_model.'
    C = vc['hidden_size']
    x = torch.nn.functional.conv2d(px.to(F64), w[p + 'embeddings.patch_embedding.weight'], w[p + 'embeddings.patch_embedding.bias'],
                                   stride=vc['patch_size']).flatten(2).transpose(1, 2)
    x = encoder(w, p, vc, x + w[p + 'embeddings.position_embedding.weight'][None])
    h = torch.nn.functional.layer_norm(x, (C,), w[p + 'post_layernorm.weight'], w[p + 'post_layernorm.bias'], vc['layer_norm_eps'])
    mha = torch.nn.MultiheadAttention(C, vc['num_attention_heads'], batch_first=True).to(F64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(w[p + 'head.attention.in_proj_weight'])
        mha.in_proj_bias.copy_(w[p + 'head.attention.in_proj_bias'])
        mha.out_proj.weight.copy_(w[p + 'head.attention.out_proj.weight'])
        mha.out_proj.bias.copy_(w[p + 'head.attention.out_proj.bias'])
    mha.eval()
    a = mha(w[p + 'head.probe'].repeat(h.shape[0], 1, 1), h, h)[0]
    y = torch.nn.functional.layer_norm(a, (C,), w[p + 'head.layernorm.weight'], w[p + 'head.layernorm.bias'], vc['layer_norm_eps'])
    y = a + gelu_tanh(y @ w[p + 'head.mlp.fc1.weight'].T + w[p + 'head.mlp.fc1.bias']) @ w[p + 'head.mlp.fc2.weight'].T + w[p + 'head.mlp.fc2.bias']
    return h, y[:, 0]


def text_forward(w, tc, ids):
    p = 'text_model.'
    C, T = tc['hidden_size'], ids.shape[1]
    x = w[p + 'embeddings.token_embedding.weight'][ids] + w[p + 'embeddings.position_embedding.weight'][torch.arange(T)][None]
    x = encoder(w, p, tc, x)
    h = torch.nn.functional.layer_norm(x, (C,), w[p + 'final_layer_norm.weight'], w[p + 'final_layer_norm.bias'], tc['layer_norm_eps'])
    return h, h[:, -1] @ w[p + 'head.weight'].T + w[p + 'head.bias']


def tokenizer_json():
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                              "normalized": False, "special": True} for i, t in enumerate(["<pad>", "</s>", "<unk>"])],
            "normalizer": None,
            "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                               "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                        {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                               "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
            "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
            "model": {"type": "Unigram", "unk_id": 2, "vocab": VOCAB, "byte_fallback": False}}


def main():
    g = G(31)
    vc = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_channels=3,
              image_size=16, patch_size=4, hidden_act='gelu_pytorch_tanh', layer_norm_eps=1e-6)
    tc = dict(vocab_size=len(VOCAB), hidden_size=24, intermediate_size=48, num_hidden_layers=2, num_attention_heads=3,
              max_position_embeddings=12, hidden_act='gelu_pytorch_tanh', layer_norm_eps=1e-6, projection_size=32,
              pad_token_id=1, eos_token_id=1)
    proc = {'image_processor_type': 'SiglipImageProcessor', 'do_resize': True, 'size': {'height': 16, 'width': 16},
            'resample': 3, 'do_rescale': True, 'rescale_factor': 0.00392156862745098, 'do_normalize': True,
            'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5], 'do_convert_rgb': True}
    w = {}
    vision_weights(g, vc, w)
    text_weights(g, tc, w)
    w['logit_scale'] = torch.tensor([math.log(10.0)]).float()
    w['logit_bias'] = torch.tensor([-3.5]).float()
    w64 = {k: v.to(F64) for k, v in w.items()}
    ex = {}
    geo = dict(proc, image_processor_type='ViTImageProcessor')
    px = torch.from_numpy(np.stack([pixel_values(geo, geometry(geo, decode_ref(os.path.join(OUT, f)))) for f in IMAGES]))
    for name, cfg, keys in (('a', {'model_type': 'siglip', 'architectures': ['SiglipModel'], 'text_config': tc, 'vision_config': vc},
                             list(w)),
                            ('vision', dict(vc, model_type='siglip_vision_model', architectures=['SiglipVisionModel']),
                             [k for k in w if k.startswith('vision_model.')])):
        d = os.path.join(OUT, 'siglip_' + name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(cfg, f, indent=1)
        with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
            json.dump(proc, f, indent=1)
        write_safetensors(os.path.join(d, 'model.safetensors'), {k: w[k] for k in keys}, metadata={'format': 'pt'})
        if name == 'a':
            with open(os.path.join(d, 'tokenizer.json'), 'w') as f:
                json.dump(tokenizer_json(), f, indent=1, ensure_ascii=False)
            with open(os.path.join(d, 'tokenizer_config.json'), 'w') as f:
                json.dump({"model_max_length": tc['max_position_embeddings'], "pad_token": "</s>", "eos_token": "</s>",
                           "unk_token": "<unk>", "tokenizer_class": "SiglipTokenizer"}, f)
    with torch.no_grad():
        vh, vp = vision_forward(w64, vc, px)
        # id level: random ids of mixed lengths; the model sees them padded to max_position_embeddings
        P = tc['max_position_embeddings']
        gi = torch.Generator().manual_seed(32)
        lens = [3, P, 1, 7]
        T = max(lens)
        ids = torch.full((len(lens), T), 1, dtype=torch.int64)
        for b, n in enumerate(lens):
            ids[b, :n] = torch.randint(0, tc['vocab_size'], (n,), generator=gi)
        full = torch.full((len(lens), P), 1, dtype=torch.int64)
        full[:, :T] = ids
        th, tp = text_forward(w64, tc, full)
        # text level: whole-word pieces + </s>, padded to max_length
        vmap = {t: i for i, (t, _) in enumerate(VOCAB)}
        seqs = [[vmap["\u2581" + x] for x in t.split()][:P - 1] + [1] for t in TEXTS]
        tids = torch.full((len(seqs), P), 1, dtype=torch.int64)
        for i, s in enumerate(seqs):
            tids[i, :len(s)] = torch.tensor(s)
        _, tte = text_forward(w64, tc, tids)
        ni, nt = vp / vp.norm(dim=-1, keepdim=True), tte / tte.norm(dim=-1, keepdim=True)
        logits = ni @ nt.T * w64['logit_scale'].exp() + w64['logit_bias']
    ex.update({'pixel_values': px, 'vision_last_hidden': vh.float(), 'image_embeds': vp.float(), 'image_mean': vh.mean(1).float(),
               'input_ids': ids.int(), 'text_last_hidden': th[:, :T].float(), 'text_embeds': tp.float(),
               'texts_ids': tids.int(), 'texts_embeds': tte.float(), 'logits_per_image': logits.float(),
               'probs_per_image': torch.sigmoid(logits).float()})
    # so400m-patch14-384's geometry in small: 18 x 18 inputs, patch 4 -> the convolution leaves a 2-pixel border
    vo = dict(vc, image_size=18)
    d = os.path.join(OUT, 'siglip_border')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(dict(vo, model_type='siglip_vision_model', architectures=['SiglipVisionModel']), f, indent=1)
    po = dict(proc, size={'height': 18, 'width': 18})
    with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
        json.dump(po, f, indent=1)
    write_safetensors(os.path.join(d, 'model.safetensors'), {k: w[k] for k in w if k.startswith('vision_model.')},
                      metadata={'format': 'pt'})
    geo = dict(po, image_processor_type='ViTImageProcessor')
    pxo = torch.from_numpy(np.stack([pixel_values(geo, geometry(geo, decode_ref(os.path.join(OUT, f)))) for f in IMAGES]))
    with torch.no_grad():
        vho, vpo = vision_forward(w64, vo, pxo)
    ex.update({'border/pixel_values': pxo, 'border/vision_last_hidden': vho.float(), 'border/image_embeds': vpo.float(),
               'border/image_mean': vho.mean(1).float()})
    write_safetensors(os.path.join(OUT, 'siglip_expected.safetensors'), ex,
                      metadata={'generator': 'tests/ref/ref_siglip.py', 'images': ','.join(IMAGES), 'texts': '|'.join(TEXTS)})
    print('wrote siglip_a, siglip_vision, siglip_border')


if __name__ == '__main__':
    main()
