package unet

import (
	"errors"
	"fmt"
	"slices"
)

// Config holds the UNet's hyper-parameters, named as openaimodel.py
// UNetModel's arguments. Cin256 returns the paper's values (the CompVis
// cin256-v2 config.yaml with MinD-Vis's use_time_cond).
type Config struct {
	ImageSize      int     `json:"image_size"`            // latent height and width (paper: 64)
	InChannels     int     `json:"in_channels"`           // latent channels in (paper: 3)
	OutChannels    int     `json:"out_channels"`          // ε channels out (paper: 3)
	ModelChannels  int     `json:"model_channels"`        // base width (paper: 192)
	ChannelMult    []int   `json:"channel_mult"`          // width multiplier per level (paper: [1,2,3,5])
	NumResBlocks   int     `json:"num_res_blocks"`        // ResBlocks per level on the way down (paper: 2)
	AttentionRes   []int   `json:"attention_resolutions"` // downsampling factors ds with a SpatialTransformer (paper: [8,4,2] = 8², 16², 32²)
	NumHeads       int     `json:"num_heads"`             // attention heads; d_head = ch/NumHeads (legacy; paper: 1)
	Depth          int     `json:"transformer_depth"`     // BasicTransformerBlocks per SpatialTransformer (paper: 1)
	ContextDim     int     `json:"context_dim"`           // cross-attention context width (paper: 512)
	ContextLen     int     `json:"context_len"`           // context tokens; the time-conditioning head's Conv1d channels (reference: 77)
	UseTimeCond    bool    `json:"use_time_cond"`         // add time_embed_condtion(context) to the time embedding (MinD-Vis: true)
	NormGroups     int     `json:"norm_groups"`           // GroupNorm groups (reference: 32)
	GroupNormEps   float64 `json:"groupnorm_eps"`         // ResBlock and output GroupNorm eps (reference: 1e-5)
	STGroupNormEps float64 `json:"st_groupnorm_eps"`      // SpatialTransformer GroupNorm eps (reference: 1e-6)
	LayerNormEps   float64 `json:"layernorm_eps"`         // BasicTransformerBlock LayerNorm eps (reference: 1e-5)
}

// Cin256 is the paper's UNet: cin256-v2, 192·[1,2,3,5], 2 ResBlocks per level,
// attention at 32²/16²/8², one head, context 77×512.
func Cin256() Config {
	return Config{
		ImageSize: 64, InChannels: 3, OutChannels: 3, ModelChannels: 192,
		ChannelMult: []int{1, 2, 3, 5}, NumResBlocks: 2, AttentionRes: []int{8, 4, 2},
		NumHeads: 1, Depth: 1, ContextDim: 512, ContextLen: 77, UseTimeCond: true,
		NormGroups: 32, GroupNormEps: 1e-5, STGroupNormEps: 1e-6, LayerNormEps: 1e-5,
	}
}

// Tiny is a UNet for CPU runs and tests: 8×8 latents (32×32 images through
// the VQ-f4), widths 32·[1,2], one ResBlock per level, attention at the
// lowest resolution only, context 77×32.
func Tiny() Config {
	return Config{
		ImageSize: 8, InChannels: 3, OutChannels: 3, ModelChannels: 32,
		ChannelMult: []int{1, 2}, NumResBlocks: 1, AttentionRes: []int{2},
		NumHeads: 1, Depth: 1, ContextDim: 32, ContextLen: 77, UseTimeCond: true,
		NormGroups: 32, GroupNormEps: 1e-5, STGroupNormEps: 1e-6, LayerNormEps: 1e-5,
	}
}

// TimeEmbedDim is the width of the time embedding (4·model channels).
func (c Config) TimeEmbedDim() int { return 4 * c.ModelChannels }

// Validate reports every problem, each naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.InChannels < 1 || c.OutChannels < 1 {
		bad("unet: InChannels and OutChannels must be ≥ 1 (got %d, %d)", c.InChannels, c.OutChannels)
	}
	if c.ModelChannels < 1 {
		bad("unet: ModelChannels must be ≥ 1 (got %d)", c.ModelChannels)
	}
	if len(c.ChannelMult) == 0 {
		bad("unet: ChannelMult is empty")
	}
	if c.NumResBlocks < 1 {
		bad("unet: NumResBlocks must be ≥ 1 (got %d)", c.NumResBlocks)
	}
	if c.NumHeads < 1 {
		bad("unet: NumHeads must be ≥ 1 (got %d)", c.NumHeads)
	}
	if c.Depth < 1 {
		bad("unet: Depth must be ≥ 1 (got %d)", c.Depth)
	}
	if c.ContextDim < 1 || c.ContextLen < 2 {
		bad("unet: ContextDim must be ≥ 1 and ContextLen ≥ 2 (got %d, %d)", c.ContextDim, c.ContextLen)
	}
	if c.NormGroups < 1 {
		bad("unet: NormGroups must be ≥ 1 (got %d)", c.NormGroups)
	}
	if len(c.ChannelMult) > 0 {
		if down := 1 << (len(c.ChannelMult) - 1); c.ImageSize < down || c.ImageSize%down != 0 {
			bad("unet: ImageSize %d must be a multiple of 2^(levels-1) = %d", c.ImageSize, down)
		}
	}
	for _, m := range c.ChannelMult {
		ch := m * c.ModelChannels
		if m < 1 {
			bad("unet: ChannelMult entries must be ≥ 1 (got %v)", c.ChannelMult)
			break
		}
		if c.NormGroups > 0 && ch%c.NormGroups != 0 {
			bad("unet: channels %d (=%d·%d) not divisible by NormGroups %d", ch, m, c.ModelChannels, c.NormGroups)
		}
		if c.NumHeads > 0 && ch%c.NumHeads != 0 {
			bad("unet: channels %d not divisible by NumHeads %d", ch, c.NumHeads)
		}
	}
	if c.ModelChannels > 0 && c.NormGroups > 0 && c.ModelChannels%c.NormGroups != 0 {
		bad("unet: ModelChannels %d not divisible by NormGroups %d", c.ModelChannels, c.NormGroups)
	}
	if c.GroupNormEps <= 0 || c.STGroupNormEps <= 0 || c.LayerNormEps <= 0 {
		bad("unet: normalisation eps values must be > 0")
	}
	return errors.Join(errs...)
}

// layerKind names the modules a TimestepEmbedSequential may hold.
type layerKind int

const (
	convIn layerKind = iota
	resBlock
	spatialTransformer
	downsample
	upsample
)

// layer is one module of the UNet: its kind and channel counts.
type layer struct {
	kind    layerKind
	in, out int
}

// plan is the UNet's structure, derived from the config exactly as
// UNetModel.__init__ derives it (openaimodel.py:524-651). Declare and Forward
// both walk it, so names and shapes cannot drift apart.
type plan struct {
	input  [][]layer // input_blocks.N.M
	middle []layer   // middle_block.M
	output [][]layer // output_blocks.N.M; each block first concatenates a skip
	skips  []int     // channels of the skip consumed by each output block
	outCh  int       // channels entering "out"
}

func (c Config) plan() plan {
	var p plan
	mc := c.ModelChannels
	p.input = append(p.input, []layer{{convIn, c.InChannels, mc}})
	chans := []int{mc}
	ch, ds := mc, 1
	for level, mult := range c.ChannelMult {
		for range c.NumResBlocks {
			blk := []layer{{resBlock, ch, mult * mc}}
			ch = mult * mc
			if slices.Contains(c.AttentionRes, ds) {
				blk = append(blk, layer{spatialTransformer, ch, ch})
			}
			p.input = append(p.input, blk)
			chans = append(chans, ch)
		}
		if level != len(c.ChannelMult)-1 {
			p.input = append(p.input, []layer{{downsample, ch, ch}})
			chans = append(chans, ch)
			ds *= 2
		}
	}
	p.middle = []layer{{resBlock, ch, ch}, {spatialTransformer, ch, ch}, {resBlock, ch, ch}}
	for level := len(c.ChannelMult) - 1; level >= 0; level-- {
		mult := c.ChannelMult[level]
		for i := 0; i <= c.NumResBlocks; i++ {
			skip := chans[len(chans)-1]
			chans = chans[:len(chans)-1]
			blk := []layer{{resBlock, ch + skip, mult * mc}}
			ch = mult * mc
			if slices.Contains(c.AttentionRes, ds) {
				blk = append(blk, layer{spatialTransformer, ch, ch})
			}
			if level > 0 && i == c.NumResBlocks {
				blk = append(blk, layer{upsample, ch, ch})
				ds /= 2
			}
			p.output = append(p.output, blk)
			p.skips = append(p.skips, skip)
		}
	}
	p.outCh = ch
	return p
}
