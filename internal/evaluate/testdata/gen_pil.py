# Generates pil_golden.npz: PIL 9.4 Image.resize(BICUBIC) results that
# PILResizeBicubic must reproduce byte for byte. Run with /usr/bin/python3.
import numpy as np
from PIL import Image

rng = np.random.default_rng(3)
out = {}
cases = [((9, 12), (26, 31)), ((16, 16), (37, 37)), ((20, 14), (7, 5)), ((10, 10), (10, 23)), ((11, 8), (4, 8))]
for k, ((h, w), (nh, nw)) in enumerate(cases):
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.asarray(Image.fromarray(a).resize((nw, nh), Image.BICUBIC))
    out[f"in{k}"] = a
    out[f"out{k}"] = b
out["count"] = np.array(len(cases), np.int64)
np.savez_compressed("pil_golden.npz", **out)
