// Package ldm is the latent-diffusion stage (cad-spec §4): it conditions a
// latent diffusion model on fMRI, fine-tunes it on a subject's training
// pairs and samples image reconstructions of the test fMRI.
//
// What it computes:
//
//   - the conditioning model (cond.go; ldm_for_fmri.py:15-44,
//     mae_for_fmri.py:987-1070): the pretrained fMRI encoder without cls
//     token or masking → [B, L, D], Conv1d(L→L/2→77) over tokens,
//     Linear(D→context) → the context [B, 77, context];
//   - the ε-model (model.go): the unet package's UNet on the latents with
//     that context, and the training objective p_losses (ddpm.py:1069-1102):
//     x_t = √ᾱ_t z + √(1−ᾱ_t) ε, loss = mean((ε̂ − ε)²), with the linear-√β
//     schedule of the sampler package;
//   - fine-tuning (train.go, optim.go; ddpm.py:1413-1437, ldm_finetune.py):
//     AdamW with weight decay on every parameter, global-norm clipping,
//     constant learning rate, the reference's random-crop augmentation on
//     the host (augment.go), the reference's trainable set or the whole UNet,
//     optionally the reference's duplicated norm2 updates (cad-spec §6 item
//     24); a seeded validation split instead of the reference's test-set
//     checkpoint selection (§6 item 26);
//   - reconstruction (reconstruct.go; ddpm.py:375-428): PLMS or DDIM from the
//     sampler package around one compiled denoising step, the VQ decoder of
//     the autoencoder package, the reference's uint8 output path;
//   - import of reference weights (import.go): CompVis/Lightning LDM
//     checkpoints (model.diffusion_model.*, cond_stage_model.*,
//     first_stage_model.*) and pretrained fMRI encoders.
//
// What it reads and writes: a tune run directory holds config.json (the
// model, the settings and where the inputs came from), metrics.jsonl (per
// epoch: training and validation ε-MSE, learning rate, throughput),
// train.log, checkpoints/{epoch-NNNN,final,best}.safetensors (UNet and
// conditioning parameters under their reference names, plus AdamW moments)
// and first_stage.safetensors (a copy of the frozen autoencoder, so the run
// alone rebuilds the pipeline). Reconstruct writes PNGs, grid.png,
// samples.npz ("samples": uint8 [N, 1+S, H, W, 3], index 0 = ground truth)
// and reconstruct.json.
//
// Differences from the reference are deliberate and documented where they
// occur: validation on held-out training pairs, an optional frozen encoder
// for CPU runs, host noise instead of torch's CUDA generator, and an
// optional classifier-free guidance that the reference does not use.
package ldm
