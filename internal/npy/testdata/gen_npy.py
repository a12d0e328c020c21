"""Writes the .npy/.npz files the internal/npy tests read.

Run with NumPy 1.24 (not needed by the tests themselves):
    cd internal/npy/testdata && python3 gen_npy.py

Values are chosen so the Go test can recompute them exactly:
  le_<code>.npy   (np.arange(6) - 2).reshape(2, 3).astype('<code'), bool: arange % 3 == 0
  be_<code>.npy   the same, big-endian
  frac_<f>.npy    ((np.arange(6) - 2) / 3).astype(f), little- and big-endian
  fortran_f4.npy  np.asfortranarray(np.arange(24, dtype='f4').reshape(2, 3, 4))
  fortran_b1.npy  np.asfortranarray(np.arange(12).reshape(3, 4) % 2 == 0)
  scalar.npy      np.array(2.5), empty.npy zeros((0, 4), 'f4'), vec.npy arange(5, dtype='u1')
  v2.npy, v3.npy  arange(6, dtype='<i4').reshape(2, 3) in format versions 2.0 and 3.0
  object.npy      an object array (np.save of a dict)
  stored.npz      np.savez:            a (f8 3x2), mask (bool 5), idx (i8 4)
  deflated.npz    np.savez_compressed: the same arrays
"""
import numpy as np

codes = ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]
base = (np.arange(6) - 2).reshape(2, 3)
for c in codes:
    a = (np.arange(6).reshape(2, 3) % 3 == 0) if c == "b1" else base.astype("<" + c)
    np.save(f"le_{c}.npy", a)
    if c not in ("b1", "i1", "u1"):
        np.save(f"be_{c}.npy", a.astype(">" + c))
for f in ["f2", "f4", "f8"]:
    np.save(f"frac_le_{f}.npy", (base / 3).astype("<" + f))
    np.save(f"frac_be_{f}.npy", (base / 3).astype(">" + f))
np.save("fortran_f4.npy", np.asfortranarray(np.arange(24, dtype="f4").reshape(2, 3, 4)))
np.save("fortran_b1.npy", np.asfortranarray(np.arange(12).reshape(3, 4) % 2 == 0))
np.save("scalar.npy", np.array(2.5))
np.save("empty.npy", np.zeros((0, 4), "f4"))
np.save("vec.npy", np.arange(5, dtype="u1"))
for v in (2, 3):
    with open(f"v{v}.npy", "wb") as fh:
        np.lib.format.write_array(fh, np.arange(6, dtype="<i4").reshape(2, 3), version=(v, 0))
np.save("object.npy", {"k": np.arange(3)}, allow_pickle=True)
arrs = dict(a=np.arange(6, dtype="f8").reshape(3, 2) * 0.5, mask=np.array([True, False, True, True, False]),
            idx=np.array([3, 0, 2, 1], dtype="i8"))
np.savez("stored.npz", **arrs)
np.savez_compressed("deflated.npz", **arrs)
