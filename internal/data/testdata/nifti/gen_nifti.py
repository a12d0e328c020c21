"""Writes the small NIfTI files the internal/data tests read, and the values
nibabel reads from them (nifti_expected.npz), so the Go reader can be
checked against nibabel without Python at test time.

Run with NumPy and nibabel 5 (Debian python3-nibabel):
    cd internal/data/testdata/nifti && python3 gen_nifti.py

Copied from nibabel 5.0.0 nibabel/tests/data (Expat/MIT licence, Copyright
2006-2012 the NiBabel developers): functional.nii (int16 4-D with
scl_slope/scl_inter), example_nifti2.nii.gz (NIfTI-2, gzip),
standard.nii.gz (uint8 3-D), resampled_anat_moved.nii (big-endian float32
with NaNs).

Written here:
  mask_functional.nii.gz  uint8 mask over functional.nii's 17x21x3 grid
  mask_empty.nii          all-zero mask (selects nothing)
  be_int16.nii            big-endian int16 4-D with slope/intercept
  f64_ext.nii             float64 3-D with a header extension
  n2_be.nii               NIfTI-2, big-endian, float32
"""
import numpy as np
import nibabel as nib

rng = np.random.default_rng(5)
exp = {}
SAMPLES = 64


def summary(key, data):
    """Sum, sum of squares, NaN count and 64 sampled values (data in file
    order, X fastest), instead of whole arrays, to keep the file small."""
    d = np.asarray(data, np.float32).ravel(order="F")
    fin = d[np.isfinite(d)].astype(np.float64)
    idx = np.random.default_rng(len(d)).integers(0, len(d), SAMPLES)
    exp[key + "/stats"] = np.array([fin.sum(), (fin ** 2).sum(), np.isnan(d).sum(), len(d)])
    exp[key + "/idx"] = idx
    exp[key + "/val"] = d[idx]

for name in ["functional.nii", "example_nifti2.nii.gz", "standard.nii.gz", "resampled_anat_moved.nii"]:
    im = nib.load(name)
    summary(name, im.get_fdata())
    exp[name + "/shape"] = np.array(im.shape)

func = nib.load("functional.nii")
mask = (rng.random(func.shape[:3]) > 0.6).astype(np.uint8)
nib.save(nib.Nifti1Image(mask, func.affine), "mask_functional.nii.gz")
nib.save(nib.Nifti1Image(np.zeros(func.shape[:3], np.uint8), func.affine), "mask_empty.nii")
data = func.get_fdata()
masked = np.stack([data[..., t][mask > 0] for t in range(data.shape[3])])  # [T, V], C order over x, y, z
summary("functional_masked", masked.T)  # .T so that ravel(order="F") is row-major [T, V]
exp["functional_masked/shape"] = np.array(masked.shape)

a = (rng.integers(-300, 300, (3, 4, 2, 5))).astype(">i2")
# Written by hand so that nibabel's writer cannot rescale or byte-swap it.
hdr = nib.Nifti1Header(endianness=">")
hdr.set_data_shape(a.shape)
hdr.set_data_dtype(">i2")
hdr.set_xyzt_units("mm", "msec")
hdr["pixdim"][1:5] = [2, 2, 3, 1500]
hdr["scl_slope"], hdr["scl_inter"] = 0.5, -2.0
hdr["vox_offset"] = 352
with open("be_int16.nii", "wb") as f:
    f.write(hdr.binaryblock + b"\0" * 4 + a.tobytes(order="F"))
summary("be_int16.nii", nib.load("be_int16.nii").get_fdata())

b = rng.normal(0, 1, (3, 3, 2))
img = nib.Nifti1Image(b, np.eye(4))
img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"hello extension"))
nib.save(img, "f64_ext.nii")
summary("f64_ext.nii", nib.load("f64_ext.nii").get_fdata())

c = rng.normal(0, 1, (2, 3, 4)).astype(">f4")
nib.save(nib.Nifti2Image(c, np.eye(4), header=nib.Nifti2Header(endianness=">")), "n2_be.nii")
summary("n2_be.nii", nib.load("n2_be.nii").get_fdata())
np.savez_compressed("nifti_expected.npz", **exp)
for k in ["be_int16.nii", "f64_ext.nii", "n2_be.nii"]:
    h = nib.load(k).header
    print(k, h.endianness, h.get_data_dtype(), h["vox_offset"])
