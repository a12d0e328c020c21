// Package autoencoder is the first stage of the latent diffusion model: the
// VQ-regularised image autoencoder that maps 256² RGB images to 3×64×64
// latents and back (cad-spec §4.3; the CompVis cin256-v2 "VQ-f4").
//
// It computes the reference's VQModelInterface (mind-vis
// code/dc_ldm/models/autoencoder.py: VectorQuantizer :17-150,
// VQModelInterface :385-403) with the Encoder, Decoder, ResnetBlock,
// AttnBlock, Downsample and Upsample of
// code/dc_ldm/modules/diffusionmodules/model.py: GroupNorm(32, eps 1e-6),
// swish, ResnetBlocks, one single-head AttnBlock in the mid section,
// down-sampling by padding (0,1,0,1) plus a stride-2 3×3 convolution, and
// nearest-neighbour up-sampling plus a 3×3 convolution. Encode returns the
// un-quantised quant_conv output (the latents the diffusion model learns);
// Decode snaps latents to their nearest codebook vectors first. Parameters are
// named as the reference's state_dict (encoder.conv_in.weight, …,
// quantize.embedding.weight, quant_conv.*, post_quant_conv.*), so a CompVis
// checkpoint's first_stage_model.* keys load 1:1.
//
// Activations are NHWC ([B, H, W, C]); images are in [-1, 1].
//
// Because no pretrained weights can be downloaded here, Train fits a small
// autoencoder from scratch on stimulus images (train.go): an L1 or L2
// reconstruction loss plus the VQ-VAE codebook and commitment losses with the
// straight-through estimator, and dead-code restarts. It reads a
// data.Dataset and writes a run directory (config.json, metrics.jsonl,
// train.log, checkpoints/, reconstructions.png); Load reads one back.
package autoencoder
