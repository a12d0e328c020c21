// Package fmrimae is phase 1 of the pipeline: the double-contrastive masked
// autoencoder on fMRI voxels (DC-MAE; Sun et al. 2023 §3.1, cad-spec §2).
//
// The model (model.go) follows vis_dec sc_mbm/mae_for_fmri.py
// MAEforFMRIContrast (lines 108-373): voxels [B, V] are cut into L = V/16
// patches, embedded by a Conv1d that is written here as a reshape plus a dense
// layer, given fixed 1-D sin-cos positions, randomly masked per sample (75 %),
// prefixed with a cls token and run through pre-LN ViT blocks and a final
// LayerNorm; a narrower decoder puts mask tokens at the removed patches and
// predicts every patch. Parameters carry the reference's state_dict names and
// layouts, so reference checkpoints load 1:1 (import.go). The blocks run as
// nn.FastTimmBlock: timm's Block with a hand-written attention backward, equal
// to float rounding and about twice as fast on the Go backend.
//
// Masking (mask.go) is computed on the host from injectable U[0,1) noise
// (argsort, ascending; the first int(L·(1−ratio)) patches in shuffled order
// are kept) and enters the graph as a one-hot [B, K, L] selection, so the
// gather and the un-shuffle are exact Einsums on every backend.
//
// The objective (loss.go, mae_for_fmri.py:533-644) combines the masked-patch
// MSE, a self-contrast InfoNCE between the full reconstruction of mask A and
// the input, and a cross-contrast InfoNCE between the reconstructions of two
// independent masks, with explicit weights λ_mask, λ_sc, λ_cc (presets cad,
// cad-literal and mindvis; cad-spec §2.4 and §6.10-6.12).
//
// Training (train.go, trainer.py:187-382) uses nn.Trainer: AdamW (0.9, 0.95),
// weight decay 0.05 except 1-D parameters and biases, per-iteration warm-up
// then half-cycle cosine, global-norm clipping at 0.8. It writes a run
// directory (internal/rundir): config.json, metrics.jsonl (one line per
// epoch, with held-out validation metrics), train.log and atomic safetensors
// checkpoints that resume bit-identically on the same backend.
//
// Later stages build on the encoder: EncodeBlocks/EncoderNorm (phase 2 puts
// its cross-attention between them), Decode and MaskedMSE, EncodeNoMask with
// DeclareEncoder (the LDM stage's fmri_encoder, cad-spec §4.4), ImportWeights
// (strict=False loading with the reference's position resizing; a depth-8
// phase-1 decoder loads into depth 6 with blocks 6-7 reported unexpected),
// ReadCheckpoint (reference checkpoint.pth, state dicts, visdec checkpoints)
// and LoadEncoder (config and weights of a pretrain run directory).
//
// Randomness is a pure function of (seed, stream, counter): the held-out
// split, each epoch's shuffle, each step's masks A and B, and the fixed
// validation masks. A resumed run therefore draws exactly what an
// uninterrupted one draws, without storing generator state.
package fmrimae
