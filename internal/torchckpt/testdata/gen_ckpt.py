"""Writes the small torch.save files the torchckpt tests read.

Run with PyTorch 1.13 and NumPy (not needed by the tests themselves):
    cd internal/torchckpt/testdata && python3 gen_ckpt.py

Outputs (each < 20 KB):
  mixed.pth          zip format: every storage dtype, views with strides and
                     storage offsets, shared storages, nn.Parameter, numpy
                     scalars, argparse.Namespace, a custom class, torch.Size
  mixed_legacy.pth   the same object, _use_new_zipfile_serialization=False
  mixed_bigendian.pth  mixed.pth rewritten with a "byteorder" record saying
                     "big" and every storage byte-swapped (as torch >= 2.1
                     writes on big-endian machines)
  mixed.npz          expected values: tensor.float() for every tensor, keyed
                     by its path ("tensors/f16", "model/w", ...)
"""
import argparse
import io
import zipfile

import numpy as np
import torch


class Custom:  # stands for the reference's pickled Config_MBM_fMRI_contrast
    def __init__(self):
        self.lr = 2.5e-4
        self.depth = 24
        self.name = "cfg"
        self.betas = (0.9, 0.95)
        self.tags = ["a", "b"]


def build():
    g = torch.Generator().manual_seed(7)
    base = torch.randn(4, 6, generator=g)
    shared = torch.randn(10, generator=g)
    tensors = {
        "f32": base,
        "f16": torch.randn(3, 5, generator=g).half(),
        "bf16": torch.randn(2, 7, generator=g).bfloat16(),
        "f64": torch.randn(5, generator=g).double() * 1e3,
        "i64": torch.arange(-5, 7, dtype=torch.int64).reshape(3, 4),
        "i32": torch.arange(-3, 3, dtype=torch.int32),
        "i16": torch.arange(-4, 4, dtype=torch.int16),
        "i8": torch.arange(-2, 6, dtype=torch.int8),
        "u8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "transposed": base.t(),                 # stride (1, 6)
        "sliced": base[1:3, 2:5],               # storage offset 8, stride (6, 1)
        "stepped": base[:, ::2],                # stride (6, 2)
        "shared_a": shared[2:6],                # two views of one storage
        "shared_b": shared.view(2, 5),
        "expanded": torch.randn(1, 3, generator=g).expand(4, 3),  # stride 0
    }
    model = {"w": torch.nn.Parameter(torch.randn(3, 2, generator=g)),
             "b": torch.nn.Parameter(torch.zeros(3))}
    ns = argparse.Namespace(seed=2022, roi="VC", lr=1e-3)
    obj = {
        "tensors": tensors,
        "model": model,
        "epoch": 7,
        "best": np.float64(0.125),
        "count": np.int64(42),
        "size": torch.Size([2, 3]),
        "args": ns,
        "config": Custom(),
        "nested": {"list": [torch.ones(2), 1, "x"], "tuple": (torch.full((2,), 2.0), None)},
    }
    return obj


def flat(prefix, v, out):
    if isinstance(v, torch.Tensor):
        out[prefix] = v.detach().float().numpy().copy()
    elif isinstance(v, dict):
        for k, x in v.items():
            flat(f"{prefix}/{k}" if prefix else str(k), x, out)
    elif isinstance(v, (list, tuple)) and not isinstance(v, torch.Size):
        for i, x in enumerate(v):
            flat(f"{prefix}/{i}", x, out)


def swap_zip(src, dst):
    """Rewrite a zip checkpoint as a big-endian machine would write it."""
    zin = zipfile.ZipFile(src)
    obj = torch.load(src)
    dtypes = {}
    # Map storage keys to element sizes by re-reading the pickle's storages.
    import pickle

    class U(pickle.Unpickler):
        def find_class(self, mod, name):
            if mod == "torch._utils" and name == "_rebuild_tensor_v2":
                return lambda *a: None
            if mod == "torch._utils" and name == "_rebuild_parameter":
                return lambda *a: None
            if mod == "torch" and name.endswith("Storage"):
                return name
            try:
                return super().find_class(mod, name)
            except Exception:
                return lambda *a, **k: None

        def persistent_load(self, pid):
            dtypes[pid[2]] = pid[1]
            return None

    root = zin.namelist()[0].split("/")[0]
    U(io.BytesIO(zin.read(root + "/data.pkl"))).load()
    size = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
            "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
            "ByteStorage": 1, "BoolStorage": 1}
    zout = zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED)
    for info in zin.infolist():
        data = zin.read(info.filename)
        key = info.filename.split("/data/")[-1] if "/data/" in info.filename else None
        if key is not None and key in dtypes:
            es = size[dtypes[key]]
            a = np.frombuffer(data, dtype=f"u{es}" if es > 1 else "u1")
            data = a.byteswap().tobytes()
        zout.writestr(info.filename, data)
    zout.writestr(root + "/byteorder", "big")
    zout.close()
    del obj


def main():
    torch.manual_seed(0)
    obj = build()
    torch.save(obj, "mixed.pth")
    torch.save(obj, "mixed_legacy.pth", _use_new_zipfile_serialization=False)
    swap_zip("mixed.pth", "mixed_bigendian.pth")
    out = {}
    flat("", obj, out)
    np.savez("mixed.npz", **out)


main()
