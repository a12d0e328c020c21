# Generates pixel_golden.npz: SSIM and PCC goldens from skimage 0.19.3 / numpy
# for odd image sizes and edge cases the metrics fixture does not cover.
# Run with /usr/bin/python3 (numpy 1.24, scipy 1.10, skimage 0.19.3).
import numpy as np
from skimage.metrics import structural_similarity

rng = np.random.default_rng(7)
cases = []
for h, w in [(7, 7), (8, 11), (13, 9), (16, 16)]:
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, (h, w, 3)), 0, 255).astype(np.uint8)
    cases.append((a, b))
# flat vs textured, extremes, identical
a = np.full((9, 9, 3), 255, np.uint8)
b = rng.integers(0, 256, (9, 9, 3), dtype=np.uint8)
cases.append((a, b))
cases.append((b, b.copy()))
c = np.zeros((10, 12, 3), np.uint8); c[:, 6:] = 255
cases.append((c, 255 - c))

out = {}
for k, (a, b) in enumerate(cases):
    out[f"a{k}"] = a
    out[f"b{k}"] = b
    out[f"ssim{k}"] = np.array(structural_similarity(a, b, data_range=255, channel_axis=-1), np.float64)
    with np.errstate(all="ignore"):
        out[f"pcc{k}"] = np.array(np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1], np.float64)
    out[f"mse_uint8{k}"] = np.array(np.square(a - b).mean(), np.float64)
out["count"] = np.array(len(cases), np.int64)
np.savez_compressed("pixel_golden.npz", **out)
