"""Writes the pickles the pyobj tests and fuzz seeds use.

Run with Python 3 and NumPy 1.24 (not needed by the tests themselves):
    cd internal/pyobj/testdata && python3 gen_pickles.py

sample_p{0..5}.pkl  the same object (see SAMPLE) pickled with protocols 0-5
numpy_p{2,4}.pkl    a dict of NumPy arrays: every numeric dtype, bool,
                    Fortran order, big-endian, 0-d, empty, plus numpy scalars
recursive.pkl       a list that contains itself
imgdict.npy         np.save of a dict {name: uint8 HxWx3 array}, as
                    BOLD5000's img_dict.npy (an object array)
"""
import pickle

import numpy as np


class Opaque:
    def __init__(self):
        self.a = 1
        self.b = "two"


SAMPLE = {
    "none": None, "true": True, "false": False,
    "int": 7, "neg": -123456, "big": 2 ** 70, "float": 2.5,
    "str": "héllo", "bytes": b"\x00\x01\xff", "bytearray": bytearray(b"ab"),
    "list": [1, 2.0, "x"], "tuple": (1, (2, 3)), "empty_tuple": (),
    "nested": {"k": [{"deep": 1}]}, 3: "int key",
    "set": {5}, "frozenset": frozenset([6]),
    "obj": Opaque(),
}


def numpy_sample():
    out = {}
    for code in ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]:
        a = (np.arange(6) - 2).reshape(2, 3).astype(code) if code != "b1" else np.array([[True, False, True], [False, True, True]])
        out["le_" + code] = a
    out["be_f4"] = np.arange(6, dtype=">f4").reshape(3, 2) / 3
    out["be_i8"] = np.arange(4, dtype=">i8") * -5
    out["fortran_f8"] = np.asfortranarray(np.arange(12, dtype="f8").reshape(3, 4))
    out["fortran_u1_3d"] = np.asfortranarray(np.arange(24, dtype="u1").reshape(2, 3, 4))
    out["zero_d"] = np.array(1.5, dtype="f4")
    out["empty"] = np.zeros((0, 4), dtype="f4")
    out["scalar_f8"] = np.float64(0.1)
    out["scalar_f4"] = np.float32(0.1)
    out["scalar_i4"] = np.int32(-9)
    out["scalar_u1"] = np.uint8(200)
    out["scalar_bool"] = np.bool_(True)
    return out


def main():
    for p in range(6):
        with open(f"sample_p{p}.pkl", "wb") as f:
            pickle.dump(SAMPLE, f, protocol=p)
    for p in (2, 4):
        with open(f"numpy_p{p}.pkl", "wb") as f:
            pickle.dump(numpy_sample(), f, protocol=p)
    rec = [1]
    rec.append(rec)
    with open("recursive.pkl", "wb") as f:
        pickle.dump(rec, f, protocol=2)
    rng = np.random.default_rng(3)
    imgs = {"a.jpg": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
            "rep_b.JPEG": rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
            "c d.png": rng.integers(0, 256, (2, 2, 3), dtype=np.uint8)}
    np.save("imgdict.npy", imgs)


main()
