package crossmodal

import (
	"strings"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// This file is the image MAE: Hugging Face ViTMAEForPreTraining as vis_dec
// copies it (code/sc_mbm/mae_for_image.py), with the reference's additions
// for Phase 2: vit.encoder.cross_map_in and the vit.encoder.layer_cross stack
// run after the encoder layers when fMRI support is given. Parameters carry
// the Hugging Face state_dict names, so facebook/vit-mae-base imports 1:1.

// DeclareImageMAE declares the image MAE under in. cross adds the Phase-2
// modules (cross_map_in and c.CrossLayers layer_cross); a plain MAE for
// pre-training omits them. Initialisation follows HF _init_weights: Linear
// and Conv2d weights N(0, 0.02²) (post_init overrides the patch embedding's
// xavier init), zero biases, LayerNorm 1/0, cls and mask tokens N(0, 0.02²),
// fixed 2-D sin-cos positions.
func DeclareImageMAE(in nn.Init, c ImageConfig, cross bool) {
	l := c.NumPatches()
	emb := in.In("vit.embeddings")
	emb.Normal("cls_token", 0.02, 1, 1, c.Hidden)
	emb.Add("position_embeddings", []int{1, l + 1, c.Hidden}, nn.SinCos2D(c.Hidden, c.Grid(), true)).Frozen = true
	emb.Normal("patch_embeddings.projection.weight", 0.02, c.Hidden, c.Channels, c.PatchSize, c.PatchSize)
	emb.Zeros("patch_embeddings.projection.bias", c.Hidden)
	enc := in.In("vit.encoder")
	for i := 0; i < c.Layers; i++ {
		nn.DeclareHFLayer(enc.In("layer.%d", i), c.encoderLayer(), nn.InitNormal02)
	}
	if cross {
		enc.Linear("cross_map_in", c.SupportDim, c.Hidden, true, nn.InitNormal02)
		for i := 0; i < c.CrossLayers; i++ {
			DeclareCrossLayer(enc.In("layer_cross.%d", i), c.encoderLayer(), nn.InitNormal02)
		}
	}
	in.LayerNorm("vit.layernorm", c.Hidden)
	dec := in.In("decoder")
	dec.Normal("mask_token", 0.02, 1, 1, c.DecoderHidden)
	dec.Add("decoder_pos_embed", []int{1, l + 1, c.DecoderHidden}, nn.SinCos2D(c.DecoderHidden, c.Grid(), true)).Frozen = true
	dec.Linear("decoder_embed", c.Hidden, c.DecoderHidden, true, nn.InitNormal02)
	for i := 0; i < c.DecoderLayers; i++ {
		nn.DeclareHFLayer(dec.In("decoder_layers.%d", i), c.decoderLayer(), nn.InitNormal02)
	}
	dec.LayerNorm("decoder_norm", c.DecoderHidden)
	dec.Linear("decoder_pred", c.DecoderHidden, c.PatchDim(), true, nn.InitNormal02)
}

// Patchify cuts pixels [B, C, H, W] into patches [B, L, p·p·C], patches in
// row-major grid order, each patch channel-last (einsum nchpwq->nhwpqc), as
// ViTMAEForPreTraining.patchify does.
func Patchify(c ImageConfig, pixels *Node) *Node {
	b, p, g := pixels.Shape().Dimensions[0], c.PatchSize, c.Grid()
	x := Reshape(pixels, b, c.Channels, g, p, g, p)    // n c h p w q
	x = TransposeAllDims(x, 0, 2, 4, 3, 5, 1)          // n h w p q c
	return Reshape(x, b, c.NumPatches(), c.PatchDim()) // [B, L, p·p·C]
}

// ImageEmbed is ViTMAEEmbeddings: patch embedding plus positions, masking,
// then the cls token first. pixels is [B, C, H, W] (ImageNet-normalised);
// keep is the one-hot [B, K, L] of the kept tokens in shuffled order
// (fmrimae.Mask.KeepTensor), or nil to keep all tokens in order. The result is
// [B, 1+K, Hidden].
func ImageEmbed(v nn.Vars, c ImageConfig, pixels, keep *Node) *Node {
	e := v.In("vit.embeddings")
	b, l := pixels.Shape().Dimensions[0], c.NumPatches()
	// The Conv2d with kernel = stride = p is a Linear over each patch; its
	// [Hidden, C, p, p] weight is reordered to the channel-last patch layout.
	w := TransposeAllDims(e.Get("patch_embeddings.projection.weight"), 0, 2, 3, 1)
	w = Reshape(w, c.Hidden, c.PatchDim())
	x := DotGeneral(Patchify(c, pixels), []int{2}, nil, w, []int{1}, nil) // [B, L, Hidden]
	x = Add(x, ExpandLeftToRank(e.Get("patch_embeddings.projection.bias"), 3))
	pos := Reshape(e.Get("position_embeddings"), l+1, c.Hidden)
	x = Add(x, ExpandLeftToRank(Slice(pos, AxisRange(1)), 3))
	if keep != nil {
		x = Einsum("bkl,bld->bkd", keep, x)
	}
	cls := Add(Reshape(e.Get("cls_token"), 1, c.Hidden), Slice(pos, AxisRange(0, 1)))
	cls = BroadcastToDims(Reshape(cls, 1, 1, c.Hidden), b, 1, c.Hidden)
	return Concatenate([]*Node{cls, x}, 1)
}

// ImageLayers runs the encoder's self-attention layers (frozen in Phase 2).
func ImageLayers(v nn.Vars, c ImageConfig, x *Node) *Node {
	for i := 0; i < c.Layers; i++ {
		x = nn.HFLayer(v.In("vit.encoder.layer.%d", i), x, c.encoderLayer())
	}
	return x
}

// ImageSupportMap is vit.encoder.cross_map_in: fMRI tokens [B, Nf, SupportDim]
// to the image width [B, Nf, Hidden], the keys and values of every layer_cross.
func ImageSupportMap(v nn.Vars, support *Node) *Node {
	return nn.Linear(v.In("vit.encoder.cross_map_in"), support)
}

// ImageCross runs the layer_cross stack: image tokens query the mapped fMRI
// support. There is no outer residual on the image side (unlike the fMRI
// side, §3.3).
func ImageCross(v nn.Vars, c ImageConfig, x, mapped *Node) *Node {
	for i := 0; i < c.CrossLayers; i++ {
		x = CrossLayer(v.In("vit.encoder.layer_cross.%d", i), x, mapped, c.encoderLayer())
	}
	return x
}

// ImageEncode is the whole image encoder (ViTMAEModel): embed, layers, the
// cross stack when support [B, Nf, SupportDim] is non-nil, and vit.layernorm.
// The result is last_hidden_state [B, 1+K, Hidden].
func ImageEncode(v nn.Vars, c ImageConfig, pixels, keep, support *Node) *Node {
	x := ImageLayers(v, c, ImageEmbed(v, c, pixels, keep))
	if support != nil {
		x = ImageCross(v, c, x, ImageSupportMap(v, support))
	}
	return nn.LayerNorm(v.In("vit.layernorm"), x, c.LayerNormEps)
}

// ImageDecode is ViTMAEDecoder: decoder_embed, mask tokens at the removed
// positions and the kept tokens put back in order, positions, the decoder
// layers, decoder_norm (eps 1e-5) and decoder_pred, cls dropped. latent is
// [B, 1+K, Hidden] and keep [B, K, L] the mask's selection (nil when all
// tokens are present in order). The result is the pixel prediction
// [B, L, p·p·C].
func ImageDecode(v nn.Vars, c ImageConfig, latent, keep *Node) *Node {
	d := v.In("decoder")
	x := nn.Linear(d.In("decoder_embed"), latent)
	if keep != nil {
		x = Unshuffle(x, keep, d.Get("mask_token"))
	}
	x = Add(x, d.Get("decoder_pos_embed"))
	for i := 0; i < c.DecoderLayers; i++ {
		x = nn.HFLayer(d.In("decoder_layers.%d", i), x, c.decoderLayer())
	}
	x = nn.LayerNorm(d.In("decoder_norm"), x, decoderNormEps)
	x = nn.Linear(d.In("decoder_pred"), x)
	return Slice(x, AxisRange(), AxisRange(1)) // drop the cls token
}

// Unshuffle turns encoder tokens [B, 1+K, D] (cls, then the kept tokens in
// shuffled order) into [B, 1+L, D] in the original order, with the mask
// token [1, 1, D] at every removed position: MAE's cat + gather(ids_restore),
// with the positions taken from the keep selection [B, K, L].
func Unshuffle(x, keep, maskToken *Node) *Node {
	cls := Slice(x, AxisRange(), AxisRange(0, 1))
	kept := Einsum("bkl,bkd->bld", keep, Slice(x, AxisRange(), AxisRange(1)))
	removed := OneMinus(ReduceSum(keep, 1)) // [B, L]: 1 = removed
	return Concatenate([]*Node{cls, Add(kept, Mul(InsertAxes(removed, -1), maskToken))}, 1)
}

// SetAlignTrainable marks which image-MAE parameters (named prefix+HF name)
// Phase 2 trains, as load_model_image does (phase2_finetune_cross.py:139-151):
// every vit.* parameter is frozen except vit.encoder.cross_map_in and
// vit.encoder.layer_cross.*; the whole decoder trains, decoder_pos_embed
// included (the reference switches requires_grad on for every decoder
// parameter, so the sin-cos table is learned from then on).
func SetAlignTrainable(ps *nn.Params, prefix string) {
	for _, p := range ps.List() {
		name, ok := strings.CutPrefix(p.Name, prefix)
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(name, "vit.encoder.cross_map_in."), strings.HasPrefix(name, "vit.encoder.layer_cross."):
			p.Frozen = false
		case strings.HasPrefix(name, "vit."):
			p.Frozen = true
		case strings.HasPrefix(name, "decoder."):
			p.Frozen = false
		}
	}
}
