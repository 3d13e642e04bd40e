#!/usr/bin/python3
"""CLIP reference: a PyTorch re-implementation of transformers' CLIPModel
(modeling_clip.py) with the Hugging Face module names, random weights.
Writes tests/data/image/clip_<name>/ (config.json, preprocessor_config.json,
model.safetensors) and clip_expected.safetensors with, per case:
  pixel_values, vision_last_hidden (pre post_layernorm, as HF), image_embeds
  (get_image_features), input_ids (I32), attention_mask (U8), text_last_hidden
  (after final_layer_norm), text_embeds (get_text_features), logits_per_image
  (exp(logit_scale) * cos), logit_scale_exp.
Case "legacy" has eos_token_id = 2 (pooled at argmax(input_ids), as the
original openai configs); case "eos" pools at the first eos_token_id.

Usage: /usr/bin/python3 tests/ref/ref_clip.py [OUT_DIR]
"""
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from st_write import write_safetensors  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'data', 'image')


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class CLIPAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, H = c['hidden_size'], c['num_attention_heads']
        self.H, self.D = H, C // H
        self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(C, C) for _ in range(4))

    def forward(self, x, mask):
        B, T, C = x.shape
        sp = lambda t: t.view(B, T, self.H, self.D).transpose(1, 2)
        q, k, v = sp(self.q_proj(x) * self.D ** -0.5), sp(self.k_proj(x)), sp(self.v_proj(x))
        s = q @ k.transpose(-1, -2)
        if mask is not None:
            s = s + mask
        o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, C)
        return self.out_proj(o)


class CLIPMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c['hidden_size'], c['intermediate_size'])
        self.fc2 = nn.Linear(c['intermediate_size'], c['hidden_size'])

    def forward(self, x):
        return self.fc2(quick_gelu(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = CLIPAttention(c)
        self.layer_norm1 = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.mlp = CLIPMLP(c)
        self.layer_norm2 = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(c) for _ in range(c['num_hidden_layers'])])

    def forward(self, x, mask=None):
        for l in self.layers:
            x = l(x, mask)
        return x


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, p = c['hidden_size'], c['patch_size']
        self.class_embedding = nn.Parameter(torch.randn(C))
        self.patch_embedding = nn.Conv2d(3, C, kernel_size=p, stride=p, bias=False)
        n = (c['image_size'] // p) ** 2 + 1
        self.position_embedding = nn.Embedding(n, C)
        self.register_buffer('position_ids', torch.arange(n).expand((1, -1)))

    def forward(self, x):
        e = self.patch_embedding(x).flatten(2).transpose(1, 2)
        e = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), e], 1)
        return e + self.position_embedding(self.position_ids)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])
        self.encoder = CLIPEncoder(c)
        self.post_layernorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, x):
        h = self.encoder(self.pre_layrnorm(self.embeddings(x)))
        return h, self.post_layernorm(h[:, 0])


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c['vocab_size'], c['hidden_size'])
        self.position_embedding = nn.Embedding(c['max_position_embeddings'], c['hidden_size'])
        self.register_buffer('position_ids', torch.arange(c['max_position_embeddings']).expand((1, -1)))

    def forward(self, ids):
        return self.token_embedding(ids) + self.position_embedding(self.position_ids[:, :ids.shape[1]])


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.eos = c['eos_token_id']
        self.embeddings = CLIPTextEmbeddings(c)
        self.encoder = CLIPEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, ids, am):
        B, T = ids.shape
        causal = torch.full((T, T), float('-inf')).triu(1)[None, None]
        pad = (1.0 - am[:, None, None, :].float()) * torch.finfo(torch.float32).min
        h = self.final_layer_norm(self.encoder(self.embeddings(ids), causal + pad))
        if self.eos == 2:
            pos = ids.to(torch.int).argmax(-1)
        else:
            pos = (ids.to(torch.int) == self.eos).int().argmax(-1)
        return h, h[torch.arange(B), pos]


class CLIPModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        tc, vc = c['text_config'], c['vision_config']
        self.text_model = CLIPTextTransformer(tc)
        self.vision_model = CLIPVisionTransformer(vc)
        self.visual_projection = nn.Linear(vc['hidden_size'], c['projection_dim'], bias=False)
        self.text_projection = nn.Linear(tc['hidden_size'], c['projection_dim'], bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(c['logit_scale_init_value']))


def randomize(m, g):
    for name, p in m.named_parameters():
        if 'norm' in name:
            p.data = (1.0 if name.endswith('weight') else 0.0) + 0.2 * torch.randn(p.shape, generator=g)
        elif name == 'logit_scale':
            p.data = torch.tensor(2.3)
        else:
            p.data = 0.15 * torch.randn(p.shape, generator=g)


def text_cfg(eos, V):
    return {'vocab_size': V, 'hidden_size': 24, 'intermediate_size': 48, 'num_hidden_layers': 2,
            'num_attention_heads': 3, 'max_position_embeddings': 16, 'hidden_act': 'quick_gelu',
            'layer_norm_eps': 1e-5, 'bos_token_id': V - 2, 'eos_token_id': eos, 'pad_token_id': 1}


VIS = {'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 2, 'num_attention_heads': 4,
       'image_size': 32, 'patch_size': 8, 'hidden_act': 'quick_gelu', 'layer_norm_eps': 1e-5, 'num_channels': 3}
V = 300
CASES = {'legacy': 2, 'eos': 7}


def make_ids(g, eos_rule, B, T):
    """BOS, content, EOS, then padding (pad id = EOS as CLIP's tokenizer pads)."""
    bos, eos_max = V - 2, V - 1
    lens = [T, T - 3, 4][:B]
    ids = torch.full((B, T), eos_max, dtype=torch.long)
    am = torch.zeros(B, T, dtype=torch.uint8)
    for b, L in enumerate(lens):
        content = torch.randint(8, V - 2, (L - 2,), generator=g)
        if eos_rule != 2 and L > 5:
            content[1] = eos_rule          # an early eos id: the first one is pooled
        row = [bos] + content.tolist() + [eos_max if eos_rule == 2 else eos_rule]
        ids[b, :L] = torch.tensor(row)
        am[b, :L] = 1
    return ids, am


ZS_LABELS = ['a photo of a cat', 'A Photo Of A DOG', 'the quick brown fox jumps over the lazy dog', 'Hello, world!']
ZS_IMAGES = ['photo400x300.jpg', 'tall190x257.png', 'rgb8.png', 'cmyk.jpg', 'exif6.jpg']


def zeroshot_case(g):
    """clip_zs/: the real CLIP vocabulary size (49408, tiny text width so the
    committed file stays small, token embedding stored as F16) for an
    end-to-end `mmfuse zeroshot` test with the shared tokenizer files. Label
    ids come from the @huggingface/tokenizers reference (clip_bpe_cases.jsonl),
    pixels from the Pillow pipeline of ref_image_preprocess.py."""
    import numpy as np
    from PIL import Image, ImageOps
    import ref_image_preprocess as rip
    c = {'model_type': 'clip', 'projection_dim': 8, 'logit_scale_init_value': 2.6592,
         'text_config': {'vocab_size': 49408, 'hidden_size': 4, 'intermediate_size': 8, 'num_hidden_layers': 1,
                         'num_attention_heads': 1, 'max_position_embeddings': 77, 'hidden_act': 'quick_gelu',
                         'layer_norm_eps': 1e-5, 'bos_token_id': 0, 'eos_token_id': 2, 'pad_token_id': 1},
         'vision_config': dict(VIS, hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1)}
    m = CLIPModel(c)
    randomize(m, g)
    with torch.no_grad():   # round the big table through float16, as it is stored
        m.text_model.embeddings.token_embedding.weight.data = (m.text_model.embeddings.token_embedding.weight * 8).half().float()
        m.logit_scale.data = torch.tensor(2.0)
    m.eval()
    d = os.path.join(OUT, 'clip_zs')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(dict(c, architectures=['CLIPModel']), f, indent=1)
    proc = {'image_processor_type': 'CLIPImageProcessor', 'do_resize': True, 'size': {'shortest_edge': 32},
            'do_center_crop': True, 'crop_size': {'height': 32, 'width': 32}, 'resample': 3, 'do_rescale': True,
            'rescale_factor': 1 / 255, 'do_normalize': True, 'image_mean': [0.48145466, 0.4578275, 0.40821073],
            'image_std': [0.26862954, 0.26130258, 0.27577711]}
    with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
        json.dump(proc, f, indent=1)
    sd = dict(m.state_dict())
    sd['text_model.embeddings.token_embedding.weight'] = sd['text_model.embeddings.token_embedding.weight'].numpy().astype(np.float16)
    write_safetensors(os.path.join(d, 'model.safetensors'), sd, metadata={'format': 'pt'})
    cases = {}
    with open(os.path.join(OUT, 'clip_bpe_cases.jsonl')) as f:
        for line in f:
            j = json.loads(line)
            cases[j['text']] = j['ids']
    ids_list = [cases[t] for t in ZS_LABELS]
    T = max(len(i) for i in ids_list)
    ids = torch.full((len(ids_list), T), 49407, dtype=torch.long)
    am = torch.zeros(len(ids_list), T, dtype=torch.uint8)
    for k, row in enumerate(ids_list):
        ids[k, :len(row)] = torch.tensor(row)
        am[k, :len(row)] = 1
    px = []
    for name in ZS_IMAGES:
        im = ImageOps.exif_transpose(Image.open(os.path.join(OUT, name))).convert('RGB')
        px.append(rip.pixel_values(proc, rip.geometry(proc, np.asarray(im))))
    x = torch.from_numpy(np.stack(px))
    with torch.no_grad():
        img = m.visual_projection(m.vision_model(x)[1])
        txt = m.text_projection(m.text_model(ids, am)[1])
        logits = m.logit_scale.exp() * (img / img.norm(dim=-1, keepdim=True)) @ (txt / txt.norm(dim=-1, keepdim=True)).t()
        probs = logits.softmax(dim=1)
    write_safetensors(os.path.join(d, 'expected.safetensors'),
                      {'text_embeds': txt, 'image_embeds': img, 'logits_per_image': logits, 'probs': probs},
                      metadata={'generator': 'tests/ref/ref_clip.py', 'labels': json.dumps(ZS_LABELS),
                                'images': json.dumps(ZS_IMAGES)})
    with open(os.path.join(d, 'labels.txt'), 'w') as f:
        f.write('\n'.join(ZS_LABELS) + '\n')
    with open(os.path.join(d, 'expected_probs.tsv'), 'w') as f:
        for name, row in zip(ZS_IMAGES, probs.tolist()):
            f.write(name + '\t' + '\t'.join(f'{p:.7f}' for p in row) + '\n')


def main():
    g = torch.Generator().manual_seed(5)
    ex = {}
    for name, eos in CASES.items():
        c = {'model_type': 'clip', 'projection_dim': 20, 'logit_scale_init_value': 2.6592,
             'text_config': text_cfg(eos, V), 'vision_config': VIS}
        m = CLIPModel(c)
        randomize(m, g)
        m.eval()
        d = os.path.join(OUT, f'clip_{name}')
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(dict(c, architectures=['CLIPModel']), f, indent=1)
        with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
            json.dump({'image_processor_type': 'CLIPImageProcessor', 'do_resize': True, 'size': {'shortest_edge': 32},
                       'do_center_crop': True, 'crop_size': {'height': 32, 'width': 32}, 'resample': 3,
                       'do_rescale': True, 'rescale_factor': 1 / 255, 'do_normalize': True,
                       'image_mean': [0.48145466, 0.4578275, 0.40821073],
                       'image_std': [0.26862954, 0.26130258, 0.27577711], 'do_convert_rgb': True}, f, indent=1)
        sd = {k: v for k, v in m.state_dict().items()}
        write_safetensors(os.path.join(d, 'model.safetensors'), sd, metadata={'format': 'pt'})
        x = torch.randn(2, 3, 32, 32, generator=g)
        ids, am = make_ids(g, eos, 3, 12)
        with torch.no_grad():
            vh, vp = m.vision_model(x)
            img = m.visual_projection(vp)
            th, tp = m.text_model(ids, am)
            txt = m.text_projection(tp)
            ls = m.logit_scale.exp()
            logits = ls * (img / img.norm(dim=-1, keepdim=True)) @ (txt / txt.norm(dim=-1, keepdim=True)).t()
        ex.update({f'{name}/pixel_values': x, f'{name}/vision_last_hidden': vh, f'{name}/image_embeds': img,
                   f'{name}/input_ids': ids.to(torch.int32), f'{name}/attention_mask': am,
                   f'{name}/text_last_hidden': th, f'{name}/text_embeds': txt, f'{name}/logits_per_image': logits,
                   f'{name}/logit_scale_exp': ls.reshape(1)})
    zeroshot_case(g)
    write_safetensors(os.path.join(OUT, 'clip_expected.safetensors'), ex,
                      metadata={'generator': 'tests/ref/ref_clip.py', 'torch': torch.__version__})
    print('wrote', ', '.join(CASES))


if __name__ == '__main__':
    main()
