"""Writes mixed.safetensors (every dtype the reader converts, in the layout
the safetensors spec defines: u64-LE header length, JSON header with
dtype/shape/data_offsets and __metadata__, raw little-endian data) and
mixed.npz with the float32 values the reader must return.

Run with PyTorch and NumPy (the tests do not need them):
    cd internal/safetensors/testdata && python3 gen_safetensors.py
"""
import json
import struct

import numpy as np
import torch

g = torch.Generator().manual_seed(11)
tensors = {
    "w.f32": torch.randn(3, 4, generator=g),
    "w.f16": torch.randn(5, generator=g).half(),
    "w.bf16": torch.randn(2, 3, generator=g).bfloat16(),
    "w.f64": torch.randn(4, generator=g).double(),
    "w.i64": torch.arange(-3, 3, dtype=torch.int64),
    "w.i32": torch.arange(4, dtype=torch.int32),
    "w.i16": torch.tensor([-7, 7], dtype=torch.int16),
    "w.i8": torch.tensor([-128, 127], dtype=torch.int8),
    "w.u8": torch.tensor([0, 200], dtype=torch.uint8),
    "w.bool": torch.tensor([True, False, True]),
    "scalar": torch.tensor(1.25),
    "empty": torch.zeros(0, 2),
}
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
         torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
         torch.uint8: "U8", torch.bool: "BOOL"}
header, blobs, off = {"__metadata__": {"format": "pt", "note": "fixture"}}, [], 0
for k, t in tensors.items():
    b = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open("mixed.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
np.savez("mixed.npz", **{k: t.float().numpy() for k, t in tensors.items()})
