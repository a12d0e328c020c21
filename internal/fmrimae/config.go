package fmrimae

import (
	"errors"
	"fmt"
	"math"
)

// Config holds the architecture of the fMRI masked autoencoder and its mask
// ratio. PaperConfig returns the reference values (vis_dec code/config.py
// Config_MBM_fMRI_contrast; sc_mbm/mae_for_fmri.py:108-263).
type Config struct {
	NumVoxels       int     `json:"num_voxels"`        // V, length of every fMRI vector; a multiple of PatchSize (paper: 4656 for GOD sbj_3)
	PatchSize       int     `json:"patch_size"`        // voxels per token (paper: 16)
	EmbedDim        int     `json:"embed_dim"`         // encoder width D (paper: 1024)
	Depth           int     `json:"depth"`             // encoder blocks (paper: 24)
	NumHeads        int     `json:"num_heads"`         // encoder attention heads (paper: 16)
	MLPRatio        float64 `json:"mlp_ratio"`         // MLP hidden width / D, in encoder and decoder (paper: 1.0)
	DecoderEmbedDim int     `json:"decoder_embed_dim"` // decoder width (paper: 512)
	DecoderDepth    int     `json:"decoder_depth"`     // decoder blocks (paper: 8 in phase 1, 6 in phase 2)
	DecoderNumHeads int     `json:"decoder_num_heads"` // decoder attention heads (paper: 16)
	MaskRatio       float64 `json:"mask_ratio"`        // fraction of patches hidden from the encoder (paper: 0.75)
	LayerNormEps    float64 `json:"layernorm_eps"`     // every LayerNorm (timm/PyTorch default: 1e-5)
}

// PaperConfig is the paper's phase-1 model: 1024×24 encoder with 16 heads,
// MLP ratio 1, a 512×8 decoder with 16 heads, V = 4656 (291 patches).
func PaperConfig() Config {
	return Config{
		NumVoxels: 4656, PatchSize: 16,
		EmbedDim: 1024, Depth: 24, NumHeads: 16, MLPRatio: 1.0,
		DecoderEmbedDim: 512, DecoderDepth: 8, DecoderNumHeads: 16,
		MaskRatio: 0.75, LayerNormEps: 1e-5,
	}
}

// SmallConfig sits between tiny and paper: 256×8 encoder, 128×2 decoder (the
// "bench" preset of shared/bench/torch_phase1.py), about 6.7M parameters.
func SmallConfig() Config {
	c := PaperConfig()
	c.EmbedDim, c.Depth, c.NumHeads = 256, 8, 8
	c.DecoderEmbedDim, c.DecoderDepth, c.DecoderNumHeads = 128, 2, 8
	return c
}

// TinyConfig trains in seconds per epoch on a CPU: 128×4 encoder, 64×2
// decoder (the "tiny" preset of shared/bench/torch_phase1.py).
func TinyConfig() Config {
	c := PaperConfig()
	c.EmbedDim, c.Depth, c.NumHeads = 128, 4, 4
	c.DecoderEmbedDim, c.DecoderDepth, c.DecoderNumHeads = 64, 2, 4
	return c
}

// Presets maps the preset names accepted by the commands to constructors.
var Presets = map[string]func() Config{
	"tiny":  TinyConfig,
	"small": SmallConfig,
	"paper": PaperConfig,
}

// Preset returns the named preset.
func Preset(name string) (Config, error) {
	f, ok := Presets[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown model preset %q (have tiny, small, paper)", name)
	}
	return f(), nil
}

// NumPatches is L = V / PatchSize, the number of tokens without the cls.
func (c Config) NumPatches() int { return c.NumVoxels / c.PatchSize }

// LenKeep is the number of patches the encoder sees: int(L·(1−MaskRatio)), as
// random_masking computes it (mae_for_fmri.py:295).
func (c Config) LenKeep() int { return LenKeep(c.NumPatches(), c.MaskRatio) }

// LenKeep is int(l·(1−ratio)) with Python's float64 arithmetic and truncation.
func LenKeep(l int, ratio float64) int { return int(float64(l) * (1 - ratio)) }

// MLPHidden is the MLP hidden width of a block of width dim.
func (c Config) MLPHidden(dim int) int { return int(float64(dim) * c.MLPRatio) }

// Validate reports every problem, each naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.PatchSize <= 0 {
		bad("PatchSize %d must be positive", c.PatchSize)
	} else if c.NumVoxels <= 0 || c.NumVoxels%c.PatchSize != 0 {
		bad("NumVoxels %d must be a positive multiple of PatchSize %d", c.NumVoxels, c.PatchSize)
	}
	for _, d := range []struct {
		name         string
		dim, heads   int
		depth        int
		allowNoDepth bool
	}{{"EmbedDim", c.EmbedDim, c.NumHeads, c.Depth, true}, {"DecoderEmbedDim", c.DecoderEmbedDim, c.DecoderNumHeads, c.DecoderDepth, true}} {
		switch {
		case d.dim <= 0 || d.dim%2 != 0:
			bad("%s %d must be positive and even (sin-cos positions)", d.name, d.dim)
		case d.heads <= 0 || d.dim%d.heads != 0:
			bad("%s %d must be divisible by its number of heads %d", d.name, d.dim, d.heads)
		}
		if d.depth < 0 {
			bad("%s depth %d must not be negative", d.name, d.depth)
		}
	}
	if c.MLPRatio <= 0 || math.IsNaN(c.MLPRatio) {
		bad("MLPRatio %g must be positive", c.MLPRatio)
	} else if c.MLPHidden(c.EmbedDim) < 1 || c.MLPHidden(c.DecoderEmbedDim) < 1 {
		bad("MLPRatio %g leaves an empty MLP", c.MLPRatio)
	}
	if !(c.MaskRatio >= 0 && c.MaskRatio < 1) {
		bad("MaskRatio %g must be in [0, 1)", c.MaskRatio)
	} else if c.PatchSize > 0 && c.NumVoxels >= c.PatchSize && c.LenKeep() < 1 {
		bad("MaskRatio %g keeps no patch of %d", c.MaskRatio, c.NumPatches())
	}
	if !(c.LayerNormEps > 0) {
		bad("LayerNormEps %g must be positive", c.LayerNormEps)
	}
	return errors.Join(errs...)
}
