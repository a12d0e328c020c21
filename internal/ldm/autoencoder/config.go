package autoencoder

import (
	"errors"
	"fmt"
	"slices"
)

// Config describes a VQ autoencoder (the reference's VQModelInterface with its
// ddconfig). Cin256 returns the CompVis cin256-v2 first stage the paper uses
// (cad-spec §4.1, §4.3); Tiny returns a CPU-sized model of the same shape.
type Config struct {
	Resolution  int   `json:"resolution"`  // image side H = W (reference: 256)
	InChannels  int   `json:"in_channels"` // image channels (3)
	OutChannels int   `json:"out_ch"`      // decoded channels, out_ch (3)
	Ch          int   `json:"ch"`          // base channel count ch (128)
	ChMult      []int `json:"ch_mult"`     // channel multiplier per level, ch_mult ([1,2,4]: f = 2^(len-1) = 4)
	// NumResBlocks is ResnetBlocks per encoder level (2); the decoder has one
	// more per level, as the reference.
	NumResBlocks int `json:"num_res_blocks"`
	// AttnResolutions lists the feature-map sides at which level blocks are
	// followed by an AttnBlock ([] in cin256: only the mid block attends).
	AttnResolutions []int `json:"attn_resolutions"`
	ZChannels       int   `json:"z_channels"` // encoder output channels z_channels (3)
	EmbedDim        int   `json:"embed_dim"`  // codebook vector size embed_dim (3)
	NEmbed          int   `json:"n_embed"`    // codebook entries n_embed (8192)
	// Beta weights the VQ-VAE commitment term (0.25).
	Beta float64 `json:"beta"`
	// Legacy applies Beta the way the reference's VectorQuantizer does with
	// legacy=True (its default): the weight 1 goes to the commitment term
	// ‖z − sg[e]‖² and Beta to the codebook term ‖sg[z] − e‖². The loss value
	// is the same either way; only the gradients differ. Training defaults
	// to false (the VQ-VAE paper's weighting).
	Legacy bool `json:"legacy"`
	// Groups is the GroupNorm group count (32 in the reference) and NormEps
	// its epsilon (1e-6).
	Groups  int     `json:"groups"`
	NormEps float64 `json:"norm_eps"`
	// Continuous drops the quantiser: the decoder reads the encoder's
	// latents as they are (a plain autoencoder; the LDM then scales them
	// with scale_by_std, as it does a KL first stage's). An extension for
	// CPU-sized first stages. In the tiny demo (2 epochs, 4 latent
	// channels, lr 2e-3) it reconstructed the test images best (17.8 dB;
	// pair-wise identification of the round trip 0.956, against 0.921 for
	// the demo's 256-code VQ) but did not improve the LDM's samples, so the
	// demo keeps the VQ. The codebook is still declared, unused, so
	// checkpoints keep one layout.
	Continuous bool `json:"continuous,omitempty"`
}

// Cin256 is the first stage of the CompVis cin256-v2 LDM (cad-spec §4.1):
// 256² RGB ↔ 3×64×64 latents, codebook 8192×3.
func Cin256() Config {
	return Config{
		Resolution: 256, InChannels: 3, OutChannels: 3,
		Ch: 128, ChMult: []int{1, 2, 4}, NumResBlocks: 2, AttnResolutions: []int{},
		ZChannels: 3, EmbedDim: 3, NEmbed: 8192, Beta: 0.25, Legacy: true,
		Groups: 32, NormEps: 1e-6,
	}
}

// Tiny is a CPU-sized f4 model for tests and quick starts: 32² images ↔
// 3×8×8 latents. Its 32 channels keep GroupNorm's 32 groups.
func Tiny() Config {
	return Config{
		Resolution: 32, InChannels: 3, OutChannels: 3,
		Ch: 32, ChMult: []int{1, 2, 2}, NumResBlocks: 1, AttnResolutions: []int{},
		ZChannels: 3, EmbedDim: 3, NEmbed: 64, Beta: 0.25,
		Groups: 32, NormEps: 1e-6,
	}
}

// Small is the default for `visdec train-autoencoder` on the CPU: 64² images
// ↔ 3×16×16 latents, f4 as the reference, at a quarter of its width.
func Small() Config {
	return Config{
		Resolution: 64, InChannels: 3, OutChannels: 3,
		Ch: 32, ChMult: []int{1, 2, 4}, NumResBlocks: 1, AttnResolutions: []int{},
		ZChannels: 3, EmbedDim: 3, NEmbed: 512, Beta: 0.25,
		Groups: 32, NormEps: 1e-6,
	}
}

// Preset returns a named configuration: "cin256", "small" or "tiny".
func Preset(name string) (Config, error) {
	switch name {
	case "cin256":
		return Cin256(), nil
	case "small":
		return Small(), nil
	case "tiny":
		return Tiny(), nil
	}
	return Config{}, fmt.Errorf("unknown autoencoder size %q (want cin256, small or tiny)", name)
}

// Factor is the spatial down-sampling factor 2^(levels−1).
func (c Config) Factor() int { return 1 << (len(c.ChMult) - 1) }

// LatentSize is the latent side Resolution / Factor.
func (c Config) LatentSize() int { return c.Resolution / c.Factor() }

// LatentShape is [h, w, EmbedDim], the NHWC shape of one latent.
func (c Config) LatentShape() []int {
	s := c.LatentSize()
	return []int{s, s, c.EmbedDim}
}

// Validate reports every problem with the configuration, each naming its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, f := range []struct {
		name string
		v    int
	}{{"Resolution", c.Resolution}, {"InChannels", c.InChannels}, {"OutChannels", c.OutChannels},
		{"Ch", c.Ch}, {"NumResBlocks", c.NumResBlocks}, {"ZChannels", c.ZChannels},
		{"EmbedDim", c.EmbedDim}, {"NEmbed", c.NEmbed}, {"Groups", c.Groups}} {
		if f.v <= 0 {
			bad("%s must be positive, got %d", f.name, f.v)
		}
	}
	if len(c.ChMult) == 0 {
		bad("ChMult must list at least one level")
	}
	for i, m := range c.ChMult {
		if m <= 0 {
			bad("ChMult[%d] must be positive, got %d", i, m)
		} else if c.Groups > 0 && (c.Ch*m)%c.Groups != 0 {
			bad("ChMult[%d]: %d channels are not divisible into %d GroupNorm groups", i, c.Ch*m, c.Groups)
		}
	}
	if c.Groups > 0 && c.Ch%c.Groups != 0 {
		bad("Ch: %d channels are not divisible into %d GroupNorm groups", c.Ch, c.Groups)
	}
	if len(c.ChMult) > 0 && c.Resolution > 0 && c.Resolution%c.Factor() != 0 {
		bad("Resolution %d is not divisible by the down-sampling factor %d", c.Resolution, c.Factor())
	}
	if c.Beta < 0 {
		bad("Beta must be ≥ 0, got %g", c.Beta)
	}
	if c.NormEps <= 0 {
		bad("NormEps must be positive, got %g", c.NormEps)
	}
	return errors.Join(errs...)
}

// attnAt reports whether level blocks at feature side res get an AttnBlock.
func (c Config) attnAt(res int) bool { return slices.Contains(c.AttnResolutions, res) }
