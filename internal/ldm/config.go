package ldm

import (
	"errors"
	"fmt"

	"github.com/visdec/visdec/internal/ldm/sampler"
	"github.com/visdec/visdec/internal/ldm/unet"
)

// Config describes the latent diffusion model of the LDM stage: the ε-UNet,
// the fMRI conditioning model and the noise schedule (cad-spec §4.1).
type Config struct {
	UNet unet.Config `json:"unet"`
	Cond CondConfig  `json:"cond"`
	// Timesteps is T (1000); the schedule is linear in √β from LinearStart
	// to LinearEnd (0.0015 → 0.0195), as the CompVis config.yaml.
	Timesteps   int     `json:"timesteps"`
	LinearStart float64 `json:"linear_start"`
	LinearEnd   float64 `json:"linear_end"`
	// Parameterization is what the UNet predicts: "eps" (the noise, as the
	// paper and CompVis) or "x0" (the clean latent, the reference DDPM's
	// other option; ddpm.py p_losses). With "x0" the samplers get
	// ε = (x_t − √ᾱ_t·x̂0)/√(1−ᾱ_t).
	Parameterization string `json:"parameterization"`
	// ScaleFactor multiplies the autoencoder's latents before diffusion
	// and divides the sampled ones before decoding (LatentDiffusion's
	// scale_factor; 0 means 1, the CompVis VQ-f4 configs' value). With
	// ScaleByStd, Tune sets it to 1/std of the training latents (the
	// reference's scale_by_std, computed there on the first batch): a
	// small autoencoder's latents (std ≈ 0.46 in the tiny demo) otherwise
	// drown in the schedule's noise by t ≈ 100. Off in every preset: in
	// the tiny demo it lowered the validation loss (relative to the latent
	// variance) but the samples used the fMRI less (pair-wise PCC
	// identification 0.52 against 0.63 without it, both measured with the literal
	// test normalisation).
	ScaleFactor float64 `json:"scale_factor,omitempty"`
	ScaleByStd  bool    `json:"scale_by_std,omitempty"`
	// RidgeConcat also conditions the UNet by concatenation (CompVis's
	// "hybrid" conditioning: concat + cross-attention): a ridge regression
	// from the fMRI to the latents, fitted by Tune on the training pairs
	// and stored as fixed parameters (cond_stage_model.ridge.*), gives a
	// latent-shaped first guess that is appended to x_t as extra input
	// channels. The UNet then learns to refine a spatially aligned linear
	// decoding instead of recovering the layout through the cross-attention
	// alone. An extension (the reference conditions by cross-attention only);
	// on in the tiny preset.
	RidgeConcat bool `json:"ridge_concat,omitempty"`
}

// latentChannels is the channel count of the latents (the UNet's output;
// its input has twice as many with RidgeConcat).
func (c Config) latentChannels() int { return c.UNet.OutChannels }

// latentSize is the number of values of one latent [h, w, c].
func (c Config) latentSize() int { return c.UNet.ImageSize * c.UNet.ImageSize * c.latentChannels() }

// scale is the latent scale factor (1 when unset).
func (c Config) scale() float32 {
	if c.ScaleFactor == 0 {
		return 1
	}
	return float32(c.ScaleFactor)
}

// scaleLatents multiplies z in place by f.
func scaleLatents(z []float32, f float32) {
	if f == 1 {
		return
	}
	for i := range z {
		z[i] *= f
	}
}

// Parameterizations the model supports.
const (
	PredictEps = "eps"
	PredictX0  = "x0"
)

// predictsX0 reports whether the UNet outputs x̂0.
func (c Config) predictsX0() bool { return c.Parameterization == PredictX0 }

// Validate reports every problem, each naming the field.
func (c Config) Validate() error {
	var errs []error
	if err := c.UNet.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Cond.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.UNet.ContextDim != c.Cond.CondDim {
		errs = append(errs, fmt.Errorf("ldm: UNet.ContextDim %d differs from Cond.CondDim %d", c.UNet.ContextDim, c.Cond.CondDim))
	}
	if c.UNet.ContextLen != c.Cond.SeqLen {
		errs = append(errs, fmt.Errorf("ldm: UNet.ContextLen %d differs from Cond.SeqLen %d", c.UNet.ContextLen, c.Cond.SeqLen))
	}
	if want := c.UNet.OutChannels * (1 + b2i(c.RidgeConcat)); c.UNet.InChannels != want {
		errs = append(errs, fmt.Errorf("ldm: UNet.InChannels %d must be %d (OutChannels %d, ridge concat %v)", c.UNet.InChannels, want, c.UNet.OutChannels, c.RidgeConcat))
	}
	if c.Parameterization != "" && c.Parameterization != PredictEps && c.Parameterization != PredictX0 {
		errs = append(errs, fmt.Errorf("ldm: Parameterization %q must be eps or x0", c.Parameterization))
	}
	if c.Timesteps < 2 {
		errs = append(errs, fmt.Errorf("ldm: Timesteps %d must be ≥ 2", c.Timesteps))
	}
	if !(c.LinearStart > 0 && c.LinearEnd > c.LinearStart && c.LinearEnd < 1) {
		errs = append(errs, fmt.Errorf("ldm: need 0 < LinearStart (%g) < LinearEnd (%g) < 1", c.LinearStart, c.LinearEnd))
	}
	return errors.Join(errs...)
}

// Preset is a named model size: the UNet and the context width. The fMRI
// encoder's architecture comes from the pretrained run it is initialised
// from, and the latent size from the autoencoder.
type Preset struct {
	Name string
	UNet unet.Config
	// CondDim is the context width (the UNet's ContextDim).
	CondDim int
	// Parameterization is what the UNet predicts (PredictEps, PredictX0).
	Parameterization string
	// StandardizeLatents z-scores the encoder latents before the mappers
	// (CondConfig.Standardize).
	StandardizeLatents bool
	// ScaleByStd sets Config.ScaleByStd.
	ScaleByStd bool
	// RidgeConcat sets Config.RidgeConcat.
	RidgeConcat bool
	// Train holds the preset's training defaults.
	Train TrainDefaults
}

// TrainDefaults are a preset's defaults for Tune.
type TrainDefaults struct {
	BatchSize int
	LR        float64
	Epochs    int
	// FreezeEncoder fixes the fMRI encoder (see TuneConfig.FreezeEncoder).
	FreezeEncoder bool
	// Trainable is the default trained set: the reference's for a
	// pretrained UNet, all for one trained from scratch.
	Trainable Trainable
}

// Presets lists the model sizes `visdec tune --preset` accepts.
//
//   - cin256: the paper (CompVis cin256-v2 UNet 192·[1,2,3,5], attention at
//     32²/16²/8², context 77×512, 64×64×3 latents); batch 2, lr 5.3e-5
//     (cad-spec §4.5, §6 item 21), for a UNet imported with --init-ldm.
//   - tiny: for CPU runs, where the UNet is trained from scratch in
//     minutes: 32·[1,2], one ResBlock per level, attention at the lowest
//     resolution, context 77×32; batch 16, lr 2e-3. Two deliberate
//     differences from the paper make that possible: the UNet predicts x0
//     (the reference DDPM's other parameterisation; with ε-prediction a
//     UNet trained from scratch for a few hundred steps ignores the
//     conditioning and samples noise), and the pretrained fMRI encoder is
//     kept fixed, its latents computed once (it dominates the step time).
//     A third, the z-scoring of those latents with training statistics
//     (CondConfig.Standardize), keeps the item-independent part of a small
//     encoder's tokens from drowning the part that carries the stimulus.
//     A fourth, hybrid conditioning on a ridge guess (Config.RidgeConcat),
//     gives the UNet the stimulus' layout: pair-wise identification of the
//     demo's samples from noise 0.626 without it and 0.764 with it (4 tuning
//     epochs on the same subject, encoder and first stage).
func Presets() map[string]Preset {
	tiny := unet.Tiny()
	return map[string]Preset{
		"cin256": {Name: "cin256", UNet: unet.Cin256(), CondDim: 512, Parameterization: PredictEps,
			Train: TrainDefaults{BatchSize: 2, LR: 5.3e-5, Epochs: 500, Trainable: TrainReference}},
		"tiny": {Name: "tiny", UNet: tiny, CondDim: tiny.ContextDim, Parameterization: PredictX0, StandardizeLatents: true, RidgeConcat: true,
			Train: TrainDefaults{BatchSize: 16, LR: 2e-3, Epochs: 30, FreezeEncoder: true, Trainable: TrainAll}},
	}
}

// LookupPreset returns the named preset.
func LookupPreset(name string) (Preset, error) {
	p, ok := Presets()[name]
	if !ok {
		return Preset{}, fmt.Errorf("unknown LDM preset %q (have cin256, tiny)", name)
	}
	return p, nil
}

// NewConfig assembles a model configuration from a preset, the fMRI
// encoder's configuration and the autoencoder's latent shape [h, w, c].
func NewConfig(p Preset, cond CondConfig, latent []int) Config {
	u := p.UNet
	u.ImageSize = latent[0]
	u.InChannels, u.OutChannels = latent[2]*(1+b2i(p.RidgeConcat)), latent[2]
	u.ContextDim = p.CondDim
	if cond.SeqLen == 0 {
		cond.SeqLen = u.ContextLen
	}
	u.ContextLen = cond.SeqLen
	cond.CondDim = p.CondDim
	cond.Standardize = p.StandardizeLatents
	param := p.Parameterization
	if param == "" {
		param = PredictEps
	}
	return Config{UNet: u, Cond: cond, Timesteps: 1000, LinearStart: 0.0015, LinearEnd: 0.0195,
		Parameterization: param, ScaleByStd: p.ScaleByStd, RidgeConcat: p.RidgeConcat}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Schedule returns the model's noise schedule (sampler.Linear).
func Schedule(cfg Config) (*sampler.Schedule, error) {
	return sampler.Linear(cfg.Timesteps, cfg.LinearStart, cfg.LinearEnd)
}
