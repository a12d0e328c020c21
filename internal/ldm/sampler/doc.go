// Package sampler holds the diffusion noise schedule and the samplers of the
// latent diffusion stage (cad-spec §4.1, §4.5, §4.6).
//
// Schedule is DDPM.register_schedule with the paper's "linear" betas,
// β = linspace(√0.0015, √0.0195, 1000)² computed in float64 and stored as
// float32 buffers (mind-vis code/dc_ldm/models/diffusion/ddpm.py:133-185,
// modules/diffusionmodules/util.py:21-44). QSample and EpsLoss are the
// training pieces of p_losses (ddpm.py:290-293, 1069-1102): x_t =
// √ᾱ_t·z + √(1−ᾱ_t)·ε and mean((ε_θ − ε)²).
//
// PLMS (plms.py, the reference's sampler: 250 steps, η 0) and DDIM (ddim.py,
// η configurable) run on the host around an EpsFn the caller supplies, so
// one compiled denoising-step graph (the UNet with the timestep as an input)
// is looped over the timesteps. Timesteps is make_ddim_timesteps
// (util.py:46-63). All sampler arithmetic is float32 in the reference's
// order of operations. Classifier-free guidance (Guided, CombineGuidance) is
// an extension, off by default: the paper samples with guidance scale 1.
// Noise comes from seeded host generators (NewRNG, Normal), so sampling is
// deterministic on every backend; it cannot reproduce torch's CUDA RNG.
//
// It reads and writes no files.
package sampler
