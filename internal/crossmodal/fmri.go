package crossmodal

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
)

// This file is the fMRI side of Phase 2, MAEforFMRICross (vis_dec
// sc_mbm/mae_for_fmri.py:713-983): the Phase-1 encoder and decoder of package
// fmrimae, with a stack of cross layers between the encoder blocks and the
// final norm in which the fMRI tokens query the image tokens.

// DeclareFMRICross declares MAEforFMRICross: every Phase-1 parameter
// (fmrimae.Declare, decoder of c.FMRI.DecoderDepth blocks), then
// cross_blocks.N (c.Image.CrossLayers ViTMAELayers of the image width),
// cross_map_in Linear(D, H_img) and cross_map_out Linear(H_img, D). The new
// modules get the reference's init (xavier Linear, LayerNorm 1/0) until a
// checkpoint overwrites what it has (load_state_dict(strict=False),
// phase2_finetune_cross.py:197-198).
func DeclareFMRICross(in nn.Init, c Config) {
	fmrimae.Declare(in, c.FMRI)
	for i := 0; i < c.Image.CrossLayers; i++ {
		DeclareCrossLayer(in.In("cross_blocks.%d", i), c.crossLayer(), nn.InitXavier)
	}
	in.Linear("cross_map_in", c.FMRI.EmbedDim, c.Image.Hidden, true, nn.InitXavier)
	in.Linear("cross_map_out", c.Image.Hidden, c.FMRI.EmbedDim, true, nn.InitXavier)
}

// fmriTrace holds the intermediate values of the fMRI encoder with support.
type fmriTrace struct {
	Blocks, MapIn, Cross, MapOut, Latent *Node
}

// traceFMRIEncode is forward_encoder with image support (mae_for_fmri.py:
// 892-927): blocks, then z = cross_map_in(x); u = the cross stack on z with
// keys/values imgSupport [B, Ni, H_img]; z + u (when CrossResidual);
// cross_map_out; norm. With imgSupport nil the cross stack is skipped and
// it is the Phase-1 encoder.
func traceFMRIEncode(v nn.Vars, c Config, x, keep, imgSupport *Node) fmriTrace {
	var t fmriTrace
	t.Blocks = fmrimae.EncodeBlocks(v, c.FMRI, x, keep)
	h := t.Blocks
	if imgSupport != nil {
		t.MapIn = nn.Linear(v.In("cross_map_in"), h)
		u := t.MapIn
		for i := 0; i < c.Image.CrossLayers; i++ {
			u = CrossLayer(v.In("cross_blocks.%d", i), u, imgSupport, c.crossLayer())
		}
		t.Cross = u
		if c.CrossResidual {
			u = Add(t.MapIn, u)
		}
		t.MapOut = nn.Linear(v.In("cross_map_out"), u)
		h = t.MapOut
	}
	t.Latent = fmrimae.EncoderNorm(v, c.FMRI, h)
	return t
}

// FMRIEncode is the fMRI encoder of Phase 2: x [B, V] and the mask's keep
// selection [B, K, L] give the latent [B, 1+K, D]; imgSupport (the frozen
// image encoder's last_hidden_state, [B, Ni, H_img]) switches the cross stack
// on, nil leaves it off (the fMRI support for the image side is computed so).
func FMRIEncode(v nn.Vars, c Config, x, keep, imgSupport *Node) *Node {
	return traceFMRIEncode(v, c, x, keep, imgSupport).Latent
}

// DeclareAlign declares both Phase-2 models into one parameter set: the fMRI
// MAE with cross layers under "fmri." and the image MAE with its Phase-2
// modules under "image.", with the reference's trainable set (everything in
// the fMRI model but its fixed positions; in the image model the cross
// modules and the decoder).
func DeclareAlign(in nn.Init, c Config) {
	DeclareFMRICross(in.In("fmri"), c)
	DeclareImageMAE(in.In("image"), c.Image, true)
	SetAlignTrainable(in.Params, imagePrefix)
}

// Parameter-name prefixes of the two models in the joint set.
const (
	fmriPrefix  = "fmri."
	imagePrefix = "image."
)
