package fmrimae

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// Parameter names follow the reference state_dict (MAEforFMRIContrast), so
// reference checkpoints load 1:1:
//
//	cls_token [1,1,D]  pos_embed [1,L+1,D] (frozen)  mask_token [1,1,Dd]
//	decoder_pos_embed [1,L+1,Dd] (frozen)
//	patch_embed.proj.weight [D,1,P]  patch_embed.proj.bias [D]
//	blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.{weight,bias}
//	norm.{weight,bias}  decoder_embed.{weight,bias} [Dd,D],[Dd]
//	decoder_blocks.N.*  decoder_norm.*  decoder_pred.{weight,bias} [P,Dd],[P]

// Declare declares every parameter of the masked autoencoder with the
// reference's initialisation (mae_for_fmri.py:226-263): sin-cos positions
// (frozen), cls and mask tokens N(0, 0.02²), patch embedding N(0, 0.02²) (the
// apply(_init_weights) Conv1d branch runs last, cad-spec §6.13), Linear
// xavier-uniform with zero bias, LayerNorm ones/zeros.
func Declare(in nn.Init, cfg Config) {
	l := cfg.NumPatches()
	in.Normal("cls_token", 0.02, 1, 1, cfg.EmbedDim)
	in.Add("pos_embed", []int{1, l + 1, cfg.EmbedDim}, SinCos1D(cfg.EmbedDim, l, true)).Frozen = true
	in.Normal("mask_token", 0.02, 1, 1, cfg.DecoderEmbedDim)
	in.Add("decoder_pos_embed", []int{1, l + 1, cfg.DecoderEmbedDim}, SinCos1D(cfg.DecoderEmbedDim, l, true)).Frozen = true
	declareEncoderBody(in, cfg)
	DeclareDecoder(in, cfg)
}

// DeclareEncoder declares only what EncodeNoMask reads (pos_embed,
// patch_embed, blocks, norm): the LDM stage's fmri_encoder without its unused
// cls and mask tokens (mae_for_fmri.py:987-1030).
func DeclareEncoder(in nn.Init, cfg Config) {
	l := cfg.NumPatches()
	in.Add("pos_embed", []int{1, l + 1, cfg.EmbedDim}, SinCos1D(cfg.EmbedDim, l, true)).Frozen = true
	declareEncoderBody(in, cfg)
}

func declareEncoderBody(in nn.Init, cfg Config) {
	in.Normal("patch_embed.proj.weight", 0.02, cfg.EmbedDim, 1, cfg.PatchSize)
	in.Zeros("patch_embed.proj.bias", cfg.EmbedDim)
	for i := range cfg.Depth {
		nn.DeclareTimmBlock(in.In("blocks.%d", i), cfg.EmbedDim, cfg.MLPRatio, nn.InitXavier)
	}
	in.LayerNorm("norm", cfg.EmbedDim)
}

// DeclareDecoder declares decoder_embed, decoder_blocks, decoder_norm and
// decoder_pred (mask_token and decoder_pos_embed are declared by Declare).
func DeclareDecoder(in nn.Init, cfg Config) {
	in.Linear("decoder_embed", cfg.EmbedDim, cfg.DecoderEmbedDim, true, nn.InitXavier)
	for i := range cfg.DecoderDepth {
		nn.DeclareTimmBlock(in.In("decoder_blocks.%d", i), cfg.DecoderEmbedDim, cfg.MLPRatio, nn.InitXavier)
	}
	in.LayerNorm("decoder_norm", cfg.DecoderEmbedDim)
	in.Linear("decoder_pred", cfg.DecoderEmbedDim, cfg.PatchSize, true, nn.InitXavier)
}

// SinCos1D is get_1d_sincos_pos_embed (sc_mbm/utils.py:6-38): row p holds
// [sin(p·ω_k) | cos(p·ω_k)], ω_k = 1/10000^(k/(D/2)), k < D/2; with cls a
// zero row comes first. The result is [(cls?1:0)+length, dim], row-major.
// The reference evaluates in float32 NumPy; we evaluate ω and p·ω in float32
// too and sin/cos in float64, so values agree to about one float32 ulp.
func SinCos1D(dim, length int, cls bool) []float32 {
	half := dim / 2
	omega := make([]float32, half)
	for k := range omega {
		e := float32(k) / float32(float64(dim)/2)
		omega[k] = 1 / float32(math.Pow(10000, float64(e)))
	}
	off := 0
	if cls {
		off = 1
	}
	out := make([]float32, (length+off)*dim)
	for p := range length {
		row := out[(p+off)*dim : (p+off+1)*dim]
		for k, w := range omega {
			a := float64(float32(p) * w)
			row[k] = float32(math.Sin(a))
			row[half+k] = float32(math.Cos(a))
		}
	}
	return out
}

// PatchEmbed is PatchEmbed1D: Conv1d(1, D, kernel P, stride P), written as a
// reshape plus a dense layer (identical arithmetic, and it avoids GoMLX's
// even-kernel convolution gradient bug). x is [B, V]; the result [B, L, D].
func PatchEmbed(v nn.Vars, cfg Config, x *Node) *Node {
	b := x.Shape().Dimensions[0]
	patches := Reshape(x, b, cfg.NumPatches(), cfg.PatchSize)                   // [B, L, P]
	w := Reshape(v.Get("patch_embed.proj.weight"), cfg.EmbedDim, cfg.PatchSize) // [D, P]
	h := Einsum("blp,dp->bld", patches, w)
	return Add(h, ExpandLeftToRank(v.Get("patch_embed.proj.bias"), 3))
}

// posRows returns pos[0, from:, :] of a [1, L+1, D] position table as [L+1−from, D].
func posRows(pos *Node, from int) *Node {
	d := pos.Shape().Dimensions
	p := Reshape(pos, d[1], d[2])
	if from == 0 {
		return p
	}
	return Slice(p, AxisRange(from))
}

// Embed builds the encoder's input tokens for a masked pass
// (forward_encoder up to the blocks, mae_for_fmri.py:327-340): patch
// embedding plus positions, the kept patches selected in shuffled order, and
// the cls token (plus its zero position) prepended.
//
// x is [B, V]; keep is the [B, K, L] one-hot selection of a Mask (row j picks
// patch ids_shuffle[j]). The result is [B, 1+K, D].
func Embed(v nn.Vars, cfg Config, x, keep *Node) *Node {
	h := Add(PatchEmbed(v, cfg, x), ExpandAxes(posRows(v.Get("pos_embed"), 1), 0)) // [B, L, D]
	h = Einsum("bkl,bld->bkd", keep, h)                                            // [B, K, D]
	b, d := h.Shape().Dimensions[0], cfg.EmbedDim
	cls := Add(v.Get("cls_token"), Reshape(Slice(posRows(v.Get("pos_embed"), 0), AxisRange(0, 1)), 1, 1, d))
	cls = BroadcastToDims(cls, b, 1, d)
	return Concatenate([]*Node{cls, h}, 1)
}

// EncodeBlocks is the masked encoder before its final LayerNorm: Embed, then
// the Depth transformer blocks. Phase 2 inserts its cross-attention stack
// between this and EncoderNorm (MAEforFMRICross.forward_encoder,
// mae_for_fmri.py:893-926). Shapes as Encode.
func EncodeBlocks(v nn.Vars, cfg Config, x, keep *Node) *Node {
	return Blocks(v, cfg, Embed(v, cfg, x, keep))
}

// Blocks applies the encoder's transformer blocks to tokens [B, N, D].
func Blocks(v nn.Vars, cfg Config, h *Node) *Node {
	for i := range cfg.Depth {
		h = nn.FastTimmBlock(v.In("blocks.%d", i), h, cfg.NumHeads)
	}
	return h
}

// EncoderNorm is the encoder's final LayerNorm ("norm").
func EncoderNorm(v nn.Vars, cfg Config, h *Node) *Node {
	return nn.LayerNorm(v.In("norm"), h, cfg.LayerNormEps)
}

// Encode is forward_encoder (mae_for_fmri.py:327-347): x [B, V] and the keep
// selection [B, K, L] of a Mask give the latent [B, 1+K, D] after the final
// LayerNorm, cls token first, kept tokens in shuffled (ascending-noise) order.
func Encode(v nn.Vars, cfg Config, x, keep *Node) *Node {
	return EncoderNorm(v, cfg, EncodeBlocks(v, cfg, x, keep))
}

// EncodeNoMask is the LDM stage's fmri_encoder (global_pool=False,
// mae_for_fmri.py:1032-1042; cad-spec §4.4): patch embedding plus
// pos_embed[:, 1:], no cls token, no masking, the blocks and the final norm.
// x is [B, V]; the result is [B, L, D]. It reads pos_embed, patch_embed.*,
// blocks.* and norm.* only.
func EncodeNoMask(v nn.Vars, cfg Config, x *Node) *Node {
	h := Add(PatchEmbed(v, cfg, x), ExpandAxes(posRows(v.Get("pos_embed"), 1), 0))
	return EncoderNorm(v, cfg, Blocks(v, cfg, h))
}

// Decode is forward_decoder (mae_for_fmri.py:349-373): the latent [B, 1+K, D]
// is projected to the decoder width, the kept tokens are put back at their
// patches and mask_token fills the removed ones (the un-shuffle, as a product
// with the transposed keep selection), decoder positions are added, then the
// decoder blocks, decoder_norm and decoder_pred. The result is the prediction
// at every patch, [B, L, P] (cls removed).
func Decode(v nn.Vars, cfg Config, latent, keep *Node) *Node {
	h := nn.Linear(v.In("decoder_embed"), latent) // [B, 1+K, Dd]
	k := keep.Shape().Dimensions[1]
	dd := cfg.DecoderEmbedDim
	cls := Slice(h, AxisRange(), AxisRange(0, 1))             // [B, 1, Dd]
	kept := Slice(h, AxisRange(), AxisRange(1, 1+k))          // [B, K, Dd]
	tokens := Einsum("bkl,bkd->bld", keep, kept)              // kept tokens at their patches
	removed := OneMinus(ReduceSum(keep, 1))                   // [B, L]: 1 = removed
	fill := Mul(ExpandAxes(removed, -1), v.Get("mask_token")) // [B, L, Dd]
	h = Concatenate([]*Node{cls, Add(tokens, fill)}, 1)       // [B, 1+L, Dd]
	h = Add(h, Reshape(v.Get("decoder_pos_embed"), 1, cfg.NumPatches()+1, dd))
	for i := range cfg.DecoderDepth {
		h = nn.FastTimmBlock(v.In("decoder_blocks.%d", i), h, cfg.DecoderNumHeads)
	}
	h = nn.LayerNorm(v.In("decoder_norm"), h, cfg.LayerNormEps)
	h = nn.Linear(v.In("decoder_pred"), h) // [B, 1+L, P]
	return Slice(h, AxisRange(), AxisRange(1))
}

// Patchify reshapes x [B, V] to [B, L, P] (mae_for_fmri.py:265-276).
func Patchify(cfg Config, x *Node) *Node {
	return Reshape(x, x.Shape().Dimensions[0], cfg.NumPatches(), cfg.PatchSize)
}

// Unpatchify reshapes a prediction [B, L, P] to [B, V].
func Unpatchify(pred *Node) *Node {
	d := pred.Shape().Dimensions
	return Reshape(pred, d[0], d[1]*d[2])
}
