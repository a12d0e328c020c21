// Package unet is the latent-diffusion ε-model of the LDM stage: the
// CompVis/MinD-Vis UNetModel with SpatialTransformer cross-attention to the
// fMRI context and MinD-Vis's time-conditioning head (cad-spec §4.2).
//
// It computes ε̂ = UNet(x_t, t, c) for NHWC latents x_t [B, H, W, 3], integer
// timesteps t and a context c [B, 77, ctx]: a sinusoidal time embedding
// ([cos | sin], max period 1e4) through time_embed, plus
// time_embed_condtion(c); ResBlocks (GroupNorm32 eps 1e-5, SiLU, 3×3 convs,
// the embedding added between them); SpatialTransformers (GroupNorm eps 1e-6,
// 1×1 proj_in, self-attention, cross-attention to c, GEGLU feed-forward, 1×1
// proj_out) at the configured downsampling factors; strided-conv
// downsampling, nearest-neighbour upsampling + conv, skip concatenations,
// and a zero-initialised output convolution.
//
// Parameters are named exactly as the reference state dict (time_embed.0,
// input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight, out.2.bias, …;
// under "model.diffusion_model." in an LDM checkpoint), in PyTorch layouts, so
// the CompVis cin256-v2 weights import 1:1. Convolutions are nn.Conv2D
// (im2col + one matmul: fast on the Go backend, and with exact gradients).
//
// Reference: mind-vis code/dc_ldm/modules/diffusionmodules/openaimodel.py
// (ResBlock :162-278, Downsample/Upsample :88-160, UNetModel :415-761),
// util.py:151-171 (timestep_embedding), attention.py:152-262
// (CrossAttention, GEGLU, BasicTransformerBlock, SpatialTransformer).
package unet
