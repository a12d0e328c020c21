"""Writes reference_phase2.pth, a small vis_dec Phase-2 checkpoint for the
crossmodal import test, laid out as utils.py save_model_merge_conf writes it:
{"model", "optimizer", "epoch", "scaler", "config", "config_merge"}.

"model" holds the MAEforFMRICross parameters of the cross parity fixture
fmri_small_seed1 (param/*); "config" is a pickled stand-in of the Phase-1
Config_MBM_fMRI_contrast and config_merge's "cross_img_encoder_config" one of
transformers' ViTMAEConfig (same module and class names, so the pickle
records what the reference's does). Run with PyTorch 1.13 and NumPy:

    cd internal/crossmodal/testdata && python3 gen_reference_ckpt.py
"""
import sys
import types

import numpy as np
import torch

FIXTURE = "../../../testdata/parity/cross/fmri_small_seed1.npz"


def fake_class(module, name, attrs):
    parts = module.split(".")
    for i in range(1, len(parts)):  # pickle imports the parent packages first
        sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    mod = sys.modules.setdefault(module, types.ModuleType(module))
    cls = type(name, (), {"__module__": module})
    setattr(mod, name, cls)
    obj = cls()
    obj.__dict__.update(attrs)
    return obj


def main():
    arrays = np.load(FIXTURE)
    model = {k[len("param/"):]: torch.from_numpy(arrays[k].copy()) for k in arrays.files if k.startswith("param/")}
    phase1 = fake_class("config", "Config_MBM_fMRI_contrast", dict(
        patch_size=16, embed_dim=32, depth=2, num_heads=4, decoder_embed_dim=16, decoder_num_heads=2,
        mlp_ratio=1.0, mask_ratio=0.75, seed=2022))
    image = fake_class("transformers.models.vit_mae.configuration_vit_mae", "ViTMAEConfig", dict(
        hidden_size=24, num_hidden_layers=3, num_attention_heads=2, intermediate_size=48, hidden_act="gelu",
        layer_norm_eps=1e-12, image_size=32, patch_size=8, num_channels=3, qkv_bias=True,
        decoder_num_attention_heads=2, decoder_hidden_size=16, decoder_num_hidden_layers=2,
        decoder_intermediate_size=32, mask_ratio=0.75, norm_pix_loss=False,
        num_cross_encoder_layers=3, do_cross_residual=True))
    merge = dict(patch_size=16, embed_dim=32, decoder_embed_dim=16, depth=2, num_heads=4, decoder_num_heads=2,
                 mlp_ratio=1.0, decoder_depth=1, do_cross_attention=True, target_sub_train_proportion=1,
                 bold5000_train_subs=["CSI1", "CSI2", "CSI3"], bold5000_test_subs=["CSI4"],
                 kam_train_subs=["sbj_1", "sbj_2", "sbj_3", "sbj_4"], kam_test_subs=["sbj_5"],
                 fmri_recon_weight=0.25, img_recon_weight=1.5, cross_img_encoder_config=image, num_voxels=160)
    names = sorted(model)
    optimizer = {"state": {i: {"step": torch.tensor(3.0), "exp_avg": torch.zeros_like(model[n]),
                               "exp_avg_sq": torch.zeros_like(model[n])} for i, n in enumerate(names[:2])},
                 "param_groups": [{"lr": 5.3e-5, "weight_decay": 0.0, "params": [0, 1]}]}
    ckpt = {"model": model, "optimizer": optimizer, "epoch": 7, "scaler": {"scale": 65536.0},
            "config": phase1, "config_merge": merge}
    torch.save(ckpt, "reference_phase2.pth")


if __name__ == "__main__":
    main()
