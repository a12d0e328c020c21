package crossmodal

import (
	"errors"
	"fmt"

	"github.com/visdec/visdec/internal/nn"
)

// ImageConfig describes the image MAE: a Hugging Face ViTMAEConfig plus the
// reference's cross-attention additions (vis_dec phase2_finetune_cross.py:
// 117-153, config.py:181-184). BaseImageConfig is facebook/vit-mae-base as
// Phase 2 uses it.
type ImageConfig struct {
	ImageSize int `json:"image_size"` // input side in pixels (vit-mae-base: 224)
	PatchSize int `json:"patch_size"` // pixels per patch side (16)
	Channels  int `json:"num_channels"`

	Hidden       int     `json:"hidden_size"`         // encoder width (768)
	Layers       int     `json:"num_hidden_layers"`   // encoder layers (12)
	Heads        int     `json:"num_attention_heads"` // (12, head dim 64)
	Intermediate int     `json:"intermediate_size"`   // MLP width (3072)
	LayerNormEps float64 `json:"layer_norm_eps"`      // every ViTMAELayer and vit.layernorm (1e-12)

	DecoderHidden       int `json:"decoder_hidden_size"`         // (512)
	DecoderLayers       int `json:"decoder_num_hidden_layers"`   // (8 in the hub model; Phase 2 keeps 6)
	DecoderHeads        int `json:"decoder_num_attention_heads"` // (16)
	DecoderIntermediate int `json:"decoder_intermediate_size"`   // (2048)

	// MaskRatio is the mask ratio of image pre-training (HF default 0.75).
	// Phase 2 masks at Config.ImageMaskRatio instead.
	MaskRatio float64 `json:"mask_ratio"`
	// NormPixLoss normalises each target patch (hub config: false).
	NormPixLoss bool `json:"norm_pix_loss"`

	// CrossLayers is num_cross_encoder_layers: the layer_cross stack after
	// the encoder layers (3).
	CrossLayers int `json:"num_cross_encoder_layers"`
	// SupportDim is the width of the fMRI tokens that vit.encoder.cross_map_in
	// maps to Hidden (the fMRI embed dim, 1024; the reference hard-codes it).
	SupportDim int `json:"support_dim"`
}

// decoderNormEps is nn.LayerNorm's default: decoder_norm is built without the
// config's eps (mae_for_image.py:823).
const decoderNormEps = 1e-5

// BaseImageConfig is facebook/vit-mae-base (hub config.json) with the Phase-2
// changes: decoder cut to 6 layers, 3 cross layers, support from a 1024-wide
// fMRI encoder.
func BaseImageConfig() ImageConfig {
	return ImageConfig{
		ImageSize: 224, PatchSize: 16, Channels: 3,
		Hidden: 768, Layers: 12, Heads: 12, Intermediate: 3072, LayerNormEps: 1e-12,
		DecoderHidden: 512, DecoderLayers: 6, DecoderHeads: 16, DecoderIntermediate: 2048,
		MaskRatio: 0.75, CrossLayers: 3, SupportDim: 1024,
	}
}

// TinyImageConfig is a small image MAE that visdec pre-trains itself on the
// stimulus images (32×32 pixels, 8×8 patches), for CPU runs and tests.
func TinyImageConfig() ImageConfig {
	return ImageConfig{
		ImageSize: 32, PatchSize: 8, Channels: 3,
		Hidden: 64, Layers: 3, Heads: 4, Intermediate: 128, LayerNormEps: 1e-12,
		DecoderHidden: 48, DecoderLayers: 2, DecoderHeads: 4, DecoderIntermediate: 96,
		MaskRatio: 0.75, CrossLayers: 3, SupportDim: 64,
	}
}

// Grid is the number of patches per side.
func (c ImageConfig) Grid() int { return c.ImageSize / c.PatchSize }

// NumPatches is L, the number of patch tokens (196 for vit-mae-base).
func (c ImageConfig) NumPatches() int { return c.Grid() * c.Grid() }

// PatchDim is the number of values per patch, p·p·C (768).
func (c ImageConfig) PatchDim() int { return c.PatchSize * c.PatchSize * c.Channels }

func (c ImageConfig) encoderLayer() nn.HFConfig {
	return nn.HFConfig{Hidden: c.Hidden, Intermediate: c.Intermediate, Heads: c.Heads, LayerNormEps: c.LayerNormEps}
}

func (c ImageConfig) decoderLayer() nn.HFConfig {
	return nn.HFConfig{Hidden: c.DecoderHidden, Intermediate: c.DecoderIntermediate, Heads: c.DecoderHeads, LayerNormEps: c.LayerNormEps}
}

// Validate reports every problem, each naming its field.
func (c ImageConfig) Validate() error {
	var errs []error
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("image %s must be positive, got %d", name, v))
		}
	}
	pos("image_size", c.ImageSize)
	pos("patch_size", c.PatchSize)
	pos("num_channels", c.Channels)
	pos("hidden_size", c.Hidden)
	pos("num_attention_heads", c.Heads)
	pos("intermediate_size", c.Intermediate)
	pos("decoder_hidden_size", c.DecoderHidden)
	pos("decoder_num_attention_heads", c.DecoderHeads)
	pos("decoder_intermediate_size", c.DecoderIntermediate)
	pos("support_dim", c.SupportDim)
	if c.Layers < 0 || c.DecoderLayers < 0 || c.CrossLayers < 0 {
		errs = append(errs, fmt.Errorf("image layer counts must be ≥ 0 (layers %d, decoder %d, cross %d)", c.Layers, c.DecoderLayers, c.CrossLayers))
	}
	if c.PatchSize > 0 && c.ImageSize%c.PatchSize != 0 {
		errs = append(errs, fmt.Errorf("image_size %d is not a multiple of patch_size %d", c.ImageSize, c.PatchSize))
	}
	if c.Heads > 0 && c.Hidden%c.Heads != 0 {
		errs = append(errs, fmt.Errorf("image hidden_size %d is not a multiple of num_attention_heads %d", c.Hidden, c.Heads))
	}
	if c.DecoderHeads > 0 && c.DecoderHidden%c.DecoderHeads != 0 {
		errs = append(errs, fmt.Errorf("image decoder_hidden_size %d is not a multiple of decoder_num_attention_heads %d", c.DecoderHidden, c.DecoderHeads))
	}
	if c.Hidden%4 != 0 || c.DecoderHidden%4 != 0 {
		errs = append(errs, fmt.Errorf("image hidden sizes must be multiples of 4 for 2-D sin-cos positions (got %d, %d)", c.Hidden, c.DecoderHidden))
	}
	if c.LayerNormEps <= 0 {
		errs = append(errs, fmt.Errorf("image layer_norm_eps must be positive, got %g", c.LayerNormEps))
	}
	if c.MaskRatio < 0 || c.MaskRatio >= 1 {
		errs = append(errs, fmt.Errorf("image mask_ratio must be in [0,1), got %g", c.MaskRatio))
	}
	return errors.Join(errs...)
}
