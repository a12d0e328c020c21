package crossmodal

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
)

// Config holds every setting of Phase 2. BaseConfig returns the paper's
// values (vis_dec code/config.py Config_MBM_finetune_cross with the README's
// overrides, cad-spec §3).
type Config struct {
	// FMRI is the fMRI MAE's architecture, normally taken from the Phase-1
	// run; DecoderDepth is the Phase-2 cut (paper: 6 of Phase 1's 8 blocks)
	// and MaskRatio the fMRI mask ratio (paper: 0.75).
	FMRI fmrimae.Config `json:"fmri"`
	// Image is the image MAE (paper: facebook/vit-mae-base, decoder cut to 6
	// layers). Image.CrossLayers is the depth of both cross stacks (paper: 3)
	// and Image.SupportDim must equal FMRI.EmbedDim.
	Image ImageConfig `json:"image"`
	// CrossResidual adds the fMRI cross stack's output to its input
	// (do_cross_residual, paper: true). The image side never has one.
	CrossResidual bool `json:"cross_residual"`
	// ImageMaskRatio is the image mask ratio during alignment (README: 0.5).
	ImageMaskRatio float64 `json:"image_mask_ratio"`
	// FMRIWeight and ImageWeight weigh the two masked MSEs (README: 0.25, 1.5).
	FMRIWeight  float64 `json:"fmri_recon_weight"`
	ImageWeight float64 `json:"img_recon_weight"`

	// Optimisation: AdamW over the trainable parameters of both models, the
	// per-iteration warm-up + half-cycle cosine schedule, and global-norm
	// clipping at ClipGrad separately for each model (trainer.py:20-23).
	LR           float64 `json:"lr"`            // paper: 5.3e-5 (not batch-scaled)
	MinLR        float64 `json:"min_lr"`        // 0
	WeightDecay  float64 `json:"weight_decay"`  // 0.05, not on 1-D params and biases
	Beta1        float64 `json:"beta1"`         // 0.9
	Beta2        float64 `json:"beta2"`         // 0.95
	WarmupEpochs float64 `json:"warmup_epochs"` // 2
	Epochs       int     `json:"epochs"`        // README: 60 (config.py: 15)
	BatchSize    int     `json:"batch_size"`    // 16 (4 GPUs × 4)
	ClipGrad     float64 `json:"clip_grad"`     // 0.8

	// ValFraction is the seeded share of the training pairs held out for
	// validation. The reference has none and selects on the test set
	// (cad-spec §6 item 15); we never look at the test set here.
	ValFraction float64 `json:"val_fraction"`
	// Select chooses the checkpoint beside the final one: "final" keeps only
	// the final epoch, "val" also keeps the epoch with the lowest validation
	// loss (FMRIWeight·L_fMRI + ImageWeight·L_image).
	Select string `json:"select"`
	// Seed seeds initialisation, the validation split, shuffling and masks.
	Seed uint64 `json:"seed"`
	// CheckpointEvery saves a resumable checkpoint every this many epochs
	// (besides "final", "best" and one on interruption); KeepCheckpoints
	// keeps the newest this many of them (0 keeps all).
	CheckpointEvery int `json:"checkpoint_every"`
	KeepCheckpoints int `json:"keep_checkpoints"`

	// ImagePretrain configures the image MAE that visdec pre-trains itself
	// when no vit-mae-base weights are given (Epochs 0: none).
	ImagePretrain ImagePretrainConfig `json:"image_pretrain"`
}

// ImagePretrainConfig configures pre-training the image MAE on the training
// stimuli with the masked-pixel MSE alone (the reference instead loads the
// frozen, ImageNet-pre-trained facebook/vit-mae-base).
type ImagePretrainConfig struct {
	Epochs       int     `json:"epochs"`
	LR           float64 `json:"lr"`
	WeightDecay  float64 `json:"weight_decay"`
	WarmupEpochs float64 `json:"warmup_epochs"`
	BatchSize    int     `json:"batch_size"`
}

// BaseConfig is the paper's Phase 2: the Phase-1 paper model with a 6-block
// decoder and vit-mae-base, trained 60 epochs at batch 16.
func BaseConfig() Config {
	f := fmrimae.PaperConfig()
	f.DecoderDepth = 6
	return Config{
		FMRI: f, Image: BaseImageConfig(), CrossResidual: true,
		ImageMaskRatio: 0.5, FMRIWeight: 0.25, ImageWeight: 1.5,
		LR: 5.3e-5, WeightDecay: 0.05, Beta1: 0.9, Beta2: 0.95, WarmupEpochs: 2,
		Epochs: 60, BatchSize: 16, ClipGrad: 0.8,
		ValFraction: 0.1, Select: "final", Seed: 2022, CheckpointEvery: 1, KeepCheckpoints: 2,
	}
}

// TinyConfig is for CPUs: fmrimae's tiny model (4656 voxels, 128×4), a
// 32×32 image MAE that visdec pre-trains itself on the stimuli, a larger
// learning rate and two epochs. On the Go backend one step of 16 pairs took
// about 5.5 CPU-seconds (BenchmarkAlignStep), so an epoch of GOD's 1,080
// training pairs takes a few minutes on two cores.
func TinyConfig() Config {
	c := BaseConfig()
	c.FMRI = fmrimae.TinyConfig()
	c.Image = TinyImageConfig()
	c.Image.SupportDim = c.FMRI.EmbedDim
	c.LR, c.WarmupEpochs, c.Epochs = 5e-4, 0.5, 2
	c.ImagePretrain = ImagePretrainConfig{Epochs: 15, LR: 1.5e-3, WeightDecay: 0.05, WarmupEpochs: 1, BatchSize: 32}
	return c
}

// Presets maps the names accepted by the commands to constructors.
var Presets = map[string]func() Config{
	"base": BaseConfig,
	"tiny": TinyConfig,
}

// Preset returns the named preset.
func Preset(name string) (Config, error) {
	f, ok := Presets[name]
	if !ok {
		names := make([]string, 0, len(Presets))
		for n := range Presets {
			names = append(names, n)
		}
		sort.Strings(names)
		return Config{}, fmt.Errorf("unknown alignment preset %q (have %s)", name, strings.Join(names, ", "))
	}
	return f(), nil
}

// crossLayer is the configuration of every cross layer, on both sides: the
// reference builds both stacks from the image model's ViTMAEConfig.
func (c Config) crossLayer() nn.HFConfig { return c.Image.encoderLayer() }

// Validate reports every problem, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := c.FMRI.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("fmri: %w", err))
	}
	if err := c.Image.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Image.SupportDim != c.FMRI.EmbedDim {
		bad("image support_dim %d must equal the fMRI embed dim %d", c.Image.SupportDim, c.FMRI.EmbedDim)
	}
	if !(c.ImageMaskRatio > 0 && c.ImageMaskRatio < 1) {
		bad("image_mask_ratio %g must be in (0, 1)", c.ImageMaskRatio)
	} else if c.Image.PatchSize > 0 && c.Image.ImageSize >= c.Image.PatchSize && fmrimae.LenKeep(c.Image.NumPatches(), c.ImageMaskRatio) < 1 {
		bad("image_mask_ratio %g keeps no patch", c.ImageMaskRatio)
	}
	if !(c.FMRI.MaskRatio > 0) {
		bad("fmri mask ratio %g must be positive (the fMRI loss is on removed patches)", c.FMRI.MaskRatio)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"fmri_recon_weight", c.FMRIWeight}, {"img_recon_weight", c.ImageWeight}, {"min_lr", c.MinLR},
		{"weight_decay", c.WeightDecay}, {"warmup_epochs", c.WarmupEpochs}, {"clip_grad", c.ClipGrad}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			bad("%s %g must be finite and ≥ 0", f.name, f.v)
		}
	}
	if c.FMRIWeight == 0 && c.ImageWeight == 0 {
		bad("fmri_recon_weight and img_recon_weight are both 0")
	}
	if !(c.LR > 0) {
		bad("lr %g must be positive", c.LR)
	}
	if !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) {
		bad("betas (%g, %g) must be in [0, 1)", c.Beta1, c.Beta2)
	}
	if c.Epochs < 1 {
		bad("epochs %d must be ≥ 1", c.Epochs)
	}
	if c.BatchSize < 1 {
		bad("batch_size %d must be ≥ 1", c.BatchSize)
	}
	if !(c.ValFraction >= 0 && c.ValFraction < 1) {
		bad("val_fraction %g must be in [0, 1)", c.ValFraction)
	}
	switch c.Select {
	case "final":
	case "val":
		if c.ValFraction == 0 {
			bad(`select "val" needs val_fraction > 0`)
		}
	default:
		bad(`select %q must be "final" or "val"`, c.Select)
	}
	if c.CheckpointEvery < 0 || c.KeepCheckpoints < 0 {
		bad("checkpoint_every %d and keep_checkpoints %d must not be negative", c.CheckpointEvery, c.KeepCheckpoints)
	}
	p := c.ImagePretrain
	if p.Epochs < 0 {
		bad("image_pretrain epochs %d must be ≥ 0", p.Epochs)
	} else if p.Epochs > 0 {
		if !(p.LR > 0) || p.BatchSize < 1 || !(p.WeightDecay >= 0) || !(p.WarmupEpochs >= 0) {
			bad("image_pretrain needs lr > 0, batch_size ≥ 1, weight_decay ≥ 0 and warmup_epochs ≥ 0 (got %+v)", p)
		}
	}
	return errors.Join(errs...)
}

// UsePhase1 adopts the architecture of the Phase-1 model alignment starts
// from (fmrimae.ReadCheckpoint reports it): voxels, widths, depths and
// heads. The decoder keeps min(c's, its) blocks, Phase 2's cut (paper: 6 of
// 8, cad-spec §6 item 19), and c's fMRI mask ratio stays.
func (c *Config) UsePhase1(f fmrimae.Config) {
	depth, ratio := min(c.FMRI.DecoderDepth, f.DecoderDepth), c.FMRI.MaskRatio
	c.FMRI = f
	c.FMRI.DecoderDepth, c.FMRI.MaskRatio = depth, ratio
	c.Image.SupportDim = f.EmbedDim
}

// UseImage adopts the architecture of given image-MAE weights (ReadImageMAE
// reports it). The decoder keeps min(c's, its) layers (paper: 6 of
// vit-mae-base's 8); the cross stack depth stays c's, and its support width
// is the fMRI model's.
func (c *Config) UseImage(w ImageConfig) {
	layers, cross := min(c.Image.DecoderLayers, w.DecoderLayers), c.Image.CrossLayers
	c.Image = w
	c.Image.DecoderLayers, c.Image.CrossLayers, c.Image.SupportDim = layers, cross, c.FMRI.EmbedDim
}
