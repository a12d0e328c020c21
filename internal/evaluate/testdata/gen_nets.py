# Generates vit_tiny.npz and lpips_tiny.npz: tiny random-weight versions of
# torchvision's VisionTransformer (vit_h_14's architecture) and of LPIPS-alex
# (torchvision AlexNet features + lpips v0.1 lin layers), written here in
# torch 1.13 with torchvision's and lpips' module and parameter names (torchvision
# is not installed), with PIL preprocessing as the SWAG transforms do it.
# Run with /usr/bin/python3 from this directory.
import numpy as np
import torch
import torch.nn as nn
from PIL import Image

torch.manual_seed(0)
rng = np.random.default_rng(11)


class MLPBlock(nn.Sequential):
    def __init__(self, d, m):
        super().__init__(nn.Linear(d, m), nn.GELU(), nn.Dropout(0.0), nn.Linear(m, d), nn.Dropout(0.0))


class EncoderBlock(nn.Module):
    def __init__(self, heads, d, m):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = MLPBlock(d, m)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, seq, layers, heads, d, m):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.randn(1, seq, d) * 0.02)
        self.layers = nn.Sequential()
        for i in range(layers):
            self.layers.add_module(f"encoder_layer_{i}", EncoderBlock(heads, d, m))
        self.ln = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(x + self.pos_embedding))


class VisionTransformer(nn.Module):
    def __init__(self, image, patch, layers, heads, d, m, classes):
        super().__init__()
        self.patch = patch
        self.conv_proj = nn.Conv2d(3, d, patch, patch)
        self.class_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.encoder = Encoder((image // patch) ** 2 + 1, layers, heads, d, m)
        self.heads = nn.Sequential()
        self.heads.add_module("head", nn.Linear(d, classes))

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x)
        x = x.reshape(n, x.shape[1], -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        f = x[:, 0]
        return self.heads(f), f


def swag_transform(img, size):
    # ImageClassification(crop_size=size, resize_size=size, BICUBIC) on a PIL image.
    im = Image.fromarray(img)
    w, h = im.size
    if h <= w:
        nh, nw = size, int(size * w / h)
    else:
        nh, nw = int(size * h / w), size
    im = im.resize((nw, nh), Image.BICUBIC)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    im = im.crop((left, top, left + size, top + size))
    t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float().div(255)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return (t - mean) / std


cfg = dict(image=28, patch=7, layers=2, heads=2, d=16, m=32, classes=10)
vit = VisionTransformer(**cfg).eval()
with torch.no_grad():  # make the class token and position embedding matter
    vit.class_token.normal_(0, 1)
    vit.encoder.pos_embedding.normal_(0, 0.5)
images = rng.integers(0, 256, (3, 20, 24, 3), dtype=np.uint8)
x = torch.stack([swag_transform(im, cfg["image"]) for im in images])
with torch.no_grad():
    logits, feats = vit(x)
out = {f"param/{k}": v.numpy() for k, v in vit.state_dict().items()}
out.update({"in/images": images, "out/probs": logits.softmax(-1).numpy(), "out/feats": feats.numpy(),
            "out/input": x.permute(0, 2, 3, 1).numpy()})
for k, v in cfg.items():
    out[f"config/{k}"] = np.array(v, np.int64)
np.savez_compressed("vit_tiny.npz", **out)


# LPIPS-alex with small channel counts; names as torchvision alexnet.features
# and lpips' lin layers.
ch = [4, 6, 8, 6, 6]
features = nn.Sequential(
    nn.Conv2d(3, ch[0], 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
    nn.Conv2d(ch[0], ch[1], 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
    nn.Conv2d(ch[1], ch[2], 3, padding=1), nn.ReLU(),
    nn.Conv2d(ch[2], ch[3], 3, padding=1), nn.ReLU(),
    nn.Conv2d(ch[3], ch[4], 3, padding=1), nn.ReLU())
taps = [1, 4, 7, 9, 11]
lins = [nn.Conv2d(c, 1, 1, bias=False) for c in ch]
with torch.no_grad():
    for l in lins:
        l.weight.uniform_(0, 1)
shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)


def lpips_feats(img):
    x = torch.FloatTensor(np.expand_dims(img.transpose(2, 0, 1) / 127.5 - 1.0, 0))
    x = (x - shift) / scale
    outs = []
    for i, layer in enumerate(features):
        x = layer(x)
        if i in taps:
            outs.append(x / (torch.sqrt(torch.sum(x ** 2, dim=1, keepdim=True)) + 1e-10))
    return outs


imgs = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
imgs[2] = np.clip(imgs[0].astype(int) + rng.integers(-30, 30, imgs[0].shape), 0, 255).astype(np.uint8)
dist = np.zeros((3, 3))
with torch.no_grad():
    f = [lpips_feats(im) for im in imgs]
    for i in range(3):
        for j in range(3):
            dist[i, j] = sum(lins[k]((f[i][k] - f[j][k]) ** 2).mean(dim=[2, 3], keepdim=True)
                             for k in range(5)).item()
out = {f"param/features.{k}": v.numpy() for k, v in features.state_dict().items()}
out.update({f"param/lin{k}.model.1.weight": l.weight.detach().numpy() for k, l in enumerate(lins)})
out.update({"in/images": imgs, "out/dist": dist, "config/channels": np.array(ch, np.int64)})
np.savez_compressed("lpips_tiny.npz", **out)
