// Package crossmodal is phase 2 of the pipeline: cross-modal guidance (Sun et
// al. 2023 §3.2; cad-spec §3). The phase-1 fMRI masked autoencoder and an
// image masked autoencoder are joined by cross-attention and trained together
// on (fMRI, image) pairs, so that the fMRI encoder learns features that help
// reconstruct the seen image.
//
// The image MAE (image.go) is Hugging Face's ViTMAEForPreTraining as vis_dec
// copies it (code/sc_mbm/mae_for_image.py): Conv2d patch embedding (written
// as a dense layer over patchified pixels), fixed 2-D sin-cos positions,
// per-sample masking, pre-LN ViTMAELayers (LayerNorm eps 1e-12), a decoder
// with its own layers and an eps-1e-5 decoder_norm, and the masked pixel MSE
// in ImageNet-normalised pixel space. Parameters carry the Hugging Face
// state_dict names, so facebook/vit-mae-base imports 1:1 (import.go). The
// reference adds vit.encoder.cross_map_in (fMRI width → image width) and
// vit.encoder.layer_cross, run after the encoder layers when fMRI support
// is given, with no outer residual.
//
// The cross layer (cross.go, mae_for_image.py:527-577) is reproduced
// exactly, including its unusual wiring: a self-attention branch that is
// not added back, cross-attention whose queries are the layer-normed
// self-attention output and whose keys and values are the other modality's
// tokens (not normed), a single residual, then the MLP (cad-spec §3.2).
//
// The fMRI side (fmri.go, MAEforFMRICross, mae_for_fmri.py:713-983) reuses
// package fmrimae's encoder and decoder and inserts cross_map_in, a stack of
// cross layers querying the image tokens, an outer residual and
// cross_map_out between the encoder blocks and the final norm.
//
// One training step (loss.go Objective, trainer.py:77-136) computes the
// frozen image encoder's tokens at mask ratio 0, the fMRI MAE's masked loss
// with those tokens as keys and values, the fMRI encoder's tokens at mask
// ratio 0 (not detached: the image loss trains the fMRI encoder through
// them), and the image MAE's masked loss with the fMRI tokens as keys and
// values; the loss is 0.25·L_fMRI + 1.5·L_image. Masks are computed on the
// host from injectable noise (fmrimae.Mask) and enter the graph as one-hot
// selections. Training (train.go, loop.go) uses nn.Trainer: AdamW over the
// trainable parameters of both models (the image encoder frozen except its
// cross modules), warm-up plus half-cycle cosine, gradient clipping at 0.8
// for each model separately.
//
// Where visdec differs from the reference, on purpose:
//
//   - validation: a seeded share of the training pairs is held out; the
//     reference selects checkpoints on the test set with a buggy image
//     correlation (cad-spec §6 item 15). The final checkpoint is always kept,
//     the best-on-validation one on request. ReferenceImageCorr reproduces
//     the buggy value for parity; training logs correct per-sample
//     correlations.
//   - image preprocessing is explicit (resize, then ImageNet mean/std)
//     instead of the version-dependent Hugging Face processor (§6 item 16).
//   - without vit-mae-base weights (they cannot be downloaded here), an
//     image MAE is pre-trained on the training stimuli first (pretrain.go).
//
// A run directory holds config.json, metrics.jsonl, train.log and
// checkpoints with the parameters of both models ("fmri." and "image."
// prefixes), their AdamW moments and the position in training; a resumed
// run continues bit for bit. LoadFMRIEncoder hands the fMRI encoder to the
// LDM stage with phase-1 names. ReadReferenceCheckpoint imports the
// reference's phase-2 checkpoints (the fMRI model and config_merge).
package crossmodal
