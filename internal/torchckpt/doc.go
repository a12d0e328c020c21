// Package torchckpt reads PyTorch checkpoints into named float32 tensors, in
// pure Go and without running any Python code.
//
// Formats:
//
//   - torch.save zip archives (the default since torch 1.6): <root>/data.pkl
//     plus one raw little-endian file per storage, <root>/data/<key>
//     (torch/serialization.py _save and _load);
//   - the legacy torch.save stream (_use_new_zipfile_serialization=False):
//     five consecutive pickles (magic number, protocol version, sys info, the
//     object, the sorted storage keys) followed by each storage as an int64
//     element count and its raw bytes (torch/serialization.py _legacy_save);
//   - PyTorch Lightning .ckpt files, which are zip archives whose top level
//     holds "state_dict", "epoch", "global_step", "optimizer_states", ...;
//   - the reference's Phase-1 checkpoints (vis_dec code/sc_mbm/utils.py
//     save_model: {"model", "optimizer", "epoch", "scaler", "config"}) whose
//     "config" is a pickled config.Config_MBM_fMRI_contrast instance: it is
//     decoded as an inert record of its class name and attributes (never
//     constructed, never executed), which Config reports;
//   - .safetensors files, through internal/safetensors.
//
// Tensors are rebuilt from torch._utils._rebuild_tensor_v2 (storage, storage
// offset, size, stride): stride and offset are applied here, with bounds
// checks, so views and non-contiguous tensors come out right. Storages of
// dtype float16, bfloat16, float64 and the integer and bool types are
// converted to float32; the source dtype is recorded (Checkpoint.DType).
// nn.Parameter (torch._utils._rebuild_parameter) is unwrapped to its tensor.
//
// Every error names the file.
package torchckpt
