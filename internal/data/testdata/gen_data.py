"""Writes tiny datasets in the publishers' layouts, plus the arrays the
reference preprocessing produces from them, for internal/data's tests.

Run with NumPy 1.24 (not needed by the tests themselves):
    cd internal/data/testdata && python3 gen_data.py

The expected arrays follow the reference's semantics (cad-spec §1.1-1.3;
vis_dec code/dataset.py pad_to_patch_size, normalize, process_voxel_ts,
create_Kamitani_dataset; mind-vis code/dataset.py create_BOLD5000_dataset),
re-stated here with NumPy so the Go loaders can be checked against them.

god/        sbj_1.npz, sbj_2.npz, images_256.npz, imagenet_class_index.json,
            imagenet_training_label.csv, imagenet_testing_label.csv
god_expected.npz   train/test fMRI for [sbj_1], [sbj_1, sbj_2], literal and
            train-stats test normalisation; labels
hcp/        s100/HCP_visual_voxel.npz, s200/HCP_visual_voxel.npz
hcp_expected.npz
bold5000/   the BOLD5000 layout for CSI1
bold5000_expected.npz
"""
import csv
import json
import os

import numpy as np

rng = np.random.default_rng(2022)
P = 16


def pad(x, p=P):
    return np.pad(x, ((0, 0), (0, p - x.shape[1] % p)), "wrap")


def zs(x, mean=None, std=None):
    mean = np.mean(x) if mean is None else mean
    std = np.std(x) if std is None else std
    return (x - mean) / std


# ---------------------------------------------------------------- GOD
os.makedirs("god", exist_ok=True)
classes = {
    "0": ["n01440764", "tench"],
    "1": ["n01443537", "n09999999", "goldfish"],
    "2": ["n01484850", "great white shark"],
    "3": ["n01491361", "tiger shark"],
    "4": ["n01494475", "hammerhead"],
}
with open("god/imagenet_class_index.json", "w") as f:
    json.dump(classes, f)
n_train_img, n_test = 10, 3
train_ids = [f"{o}.{i:06d}" for i, o in enumerate([1440764, 1443537, 9999999, 1484850, 1440764,
                                                     1443537, 1484850, 9999999, 1440764, 1484850])]
test_ids = ["1491361.000011", "1494475.000012", "1491361.000013"]
with open("god/imagenet_training_label.csv", "w", newline="") as f:
    w = csv.writer(f)
    for t in train_ids:
        w.writerow([t, "extra"])
with open("god/imagenet_testing_label.csv", "w", newline="") as f:
    w = csv.writer(f)
    for t in test_ids:
        w.writerow([t])
train_images = rng.integers(0, 256, (n_train_img, 8, 8, 3), dtype=np.uint8)
test_images = rng.integers(0, 256, (n_test, 8, 8, 3), dtype=np.uint8)
np.savez("god/images_256.npz", train_images=train_images, test_images=test_images)

subjects = {"sbj_1": (37, 19), "sbj_2": (45, 35)}
raw = {}
for name, (n_all, n_vc) in subjects.items():
    arr_3 = rng.permutation(n_train_img)[: n_train_img - 1]  # 9 trials
    arr_0 = rng.normal(3.0, 2.0, (len(arr_3), n_all))
    reps = 4
    arr_1 = rng.normal(1.0, 0.5, (n_test * reps, n_all))   # image-major
    arr_2 = arr_1.reshape(n_test, reps, n_all).mean(1)
    vc = np.zeros(n_all, dtype=bool)
    vc[rng.choice(n_all, n_vc, replace=False)] = True
    v1 = np.zeros(n_all, dtype=bool)
    v1[:5] = True
    if name == "sbj_2":
        np.savez_compressed(f"god/{name}.npz", arr_0=arr_0, arr_1=arr_1, arr_2=arr_2, arr_3=arr_3, VC=vc, V1=v1)
    else:
        np.savez(f"god/{name}.npz", arr_0=arr_0.astype(np.float32), arr_1=arr_1.astype(np.float32),
                 arr_2=arr_2.astype(np.float32), arr_3=arr_3, VC=vc, V1=v1)
        arr_0, arr_1, arr_2 = (a.astype(np.float32).astype(np.float64) for a in (arr_0, arr_1, arr_2))
    raw[name] = (arr_0, arr_1, arr_2, arr_3, vc)


def god(subs, mode):
    trs, tts, reps_all = [], [], []
    for s in subs:
        arr_0, arr_1, arr_2, arr_3, vc = raw[s]
        tr = pad(arr_0[:, vc])
        tt = pad(arr_2[:, vc])
        rp = pad(arr_1[:, vc])
        m0, s0 = np.mean(tr), np.std(tr)
        tr = zs(tr)
        if mode == "literal":
            m, sd = np.mean(tr), np.std(tr)
        else:
            m, sd = m0, s0
        trs.append(tr)
        tts.append(zs(tt, m, sd))
        reps_all.append(zs(rp, m, sd))
    L = max(t.shape[1] for t in tts)
    trs = [np.pad(t, ((0, 0), (0, L - t.shape[1])), "wrap") for t in trs]
    tts = [np.pad(t, ((0, 0), (0, L - t.shape[1])), "wrap") for t in tts]
    reps_all = [np.pad(t, ((0, 0), (0, L - t.shape[1])), "wrap") for t in reps_all]
    return np.concatenate(trs).astype(np.float32), np.concatenate(tts).astype(np.float32), np.concatenate(reps_all).astype(np.float32)


exp = {}
for key, subs in {"one": ["sbj_1"], "two": ["sbj_1", "sbj_2"]}.items():
    for mode in ["literal", "train-stats"]:
        tr, tt, rp = god(subs, mode)
        exp[f"{key}/{mode}/train"] = tr
        exp[f"{key}/{mode}/test"] = tt
        exp[f"{key}/{mode}/repeats"] = rp
# Labels as get_img_label: class index in json order, description, naive order.
wnid = [[int(n[1:]) for n in v[:-1]] for v in classes.values()]
desc = [v[-1] for v in classes.values()]


def labels(ids):
    out = []
    for t in ids:
        o = int(t.split(".")[0])
        for c, ws in enumerate(wnid):
            if o in ws:
                out.append(c)
                break
    return np.array(out)


exp["train_class_by_row"] = labels(train_ids)
exp["test_class"] = labels(test_ids)
exp["sbj_1/arr_3"] = raw["sbj_1"][3]
exp["sbj_2/arr_3"] = raw["sbj_2"][3]
np.savez("god_expected.npz", **exp)

# ---------------------------------------------------------------- HCP
hexp = {}
widths = {"s100": (3, 4, 2, 5), "s200": (5, 5, 5, 5)}
T = 37
per = []
for sub, ws in widths.items():
    os.makedirs(f"hcp/{sub}", exist_ok=True)
    rois = {f"V{i + 1}": rng.normal(0, 1, (T, w)) for i, w in enumerate(ws)}
    np.savez(f"hcp/{sub}/HCP_visual_voxel.npz", **rois)
    v = np.concatenate([rois["V1"], rois["V2"], rois["V3"], rois["V4"]], axis=-1)
    k = 8 // 0.75
    chunks = np.array_split(v, len(v) // k, axis=0)
    v = np.concatenate([np.mean(c, axis=0).reshape(1, -1) for c in chunks], axis=0)
    per.append(zs(pad(v)))
L = max(p.shape[1] for p in per)
hexp["all"] = np.concatenate([np.pad(p, ((0, 0), (0, L - p.shape[1])), "wrap") for p in per]).astype(np.float32)
hexp["s100"] = per[0].astype(np.float32)
np.savez("hcp_expected.npz", **hexp)

# ---------------------------------------------------------------- BOLD5000
root = "bold5000"
betas = f"{root}/BOLD5000_GLMsingle_ROI_betas/py"
os.makedirs(betas, exist_ok=True)
stim_root = f"{root}/BOLD5000_Stimuli"
os.makedirs(f"{stim_root}/Scene_Stimuli/Presented_Stimuli", exist_ok=True)
names = [f"img{i:02d}.jpg" for i in range(8)]
repeated = ["img01.jpg", "img05.jpg", "never_shown.jpg"]
with open(f"{stim_root}/Scene_Stimuli/repeated_stimuli_113_list.txt", "w") as f:
    f.write("\n".join(repeated) + "\n")
# Two sessions with two runs each; repeats are prefixed rep_ in the lists.
runs = {
    "CSI1_sess01/run1.txt": ["img00.jpg", "img01.jpg", "img02.jpg"],
    "CSI1_sess01/run2.txt": ["img03.jpg", "rep_img01.jpg", "img05.jpg"],
    "CSI1_sess02/run1.txt": ["rep_img05.jpg", "img04.jpg", "rep_img01.jpg"],
    "CSI1_sess02/run2.txt": ["img06.jpg", "img07.jpg"],
}
order = []
for rel, lst in sorted(runs.items()):
    os.makedirs(f"{stim_root}/Stimuli_Presentation_Lists/CSI1/{os.path.dirname(rel)}", exist_ok=True)
    with open(f"{stim_root}/Stimuli_Presentation_Lists/CSI1/{rel}", "w") as f:
        f.write("\n".join(lst) + "\n")
    order += [n.replace("rep_", "", 1) if n.startswith("rep_") else n for n in lst]
trials = len(order)
imgs = {n: rng.integers(0, 256, (6, 6, 3), dtype=np.uint8) for n in names}
np.save(f"{stim_root}/Scene_Stimuli/Presented_Stimuli/img_dict.npy", imgs)
roi_w = {"EarlyVis": (4, 3), "LOC": (2, 2), "OPA": (3, 1), "PPA": (2, 3), "RSC": (1, 2)}
for roi, (lh, rh) in roi_w.items():
    for hemi, w in (("LH", lh), ("RH", rh)):
        np.save(f"{betas}/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_{hemi}{roi}.npy",
                rng.normal(0, 1, (trials, w)).astype(np.float32))
# A second subject's file that must not be picked up for CSI1.
np.save(f"{betas}/CSI2_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_LHEarlyVis.npy", np.zeros((2, 2), np.float32))
files = sorted(f for f in os.listdir(betas) if f.endswith(".npy"))
parts = []
for roi in ["EarlyVis", "LOC", "OPA", "PPA", "RSC"]:
    for f in files:
        if "CSI1" in f and roi in f:
            parts.append(np.load(f"{betas}/{f}"))
x = zs(pad(np.concatenate(parts, axis=-1)))
test_idx = [[i for i, n in enumerate(order) if n == r] for r in repeated]
test_idx = [t for t in test_idx if len(t) > 0]
flat = [i for t in test_idx for i in t]
bexp = {
    "train": x[[i for i in range(trials) if i not in flat]].astype(np.float32),
    "test": np.stack([x[t].mean(0) for t in test_idx]).astype(np.float32),
    "test_img": np.stack([imgs[order[t[0]]] for t in test_idx]),
    "train_img": np.stack([imgs[order[i]] for i in range(trials) if i not in flat]),
}
np.savez("bold5000_expected.npz", **bexp)
