package unet

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// Declare declares every UNet parameter under in, named exactly as the
// reference UNetModel's state dict (in the LDM checkpoint they sit under
// "model.diffusion_model."), with the reference's initialisation: PyTorch
// defaults, and zeros for the zero_module'd output convolutions.
func Declare(in nn.Init, cfg Config) {
	p := cfg.plan()
	ted := cfg.TimeEmbedDim()
	declareTimeEmbed(in.In("time_embed"), cfg.ModelChannels, ted)
	if cfg.UseTimeCond {
		declareTimeCondition(in.In("time_embed_condtion"), cfg.ContextLen, cfg.ContextDim, ted)
	}
	for i, blk := range p.input {
		declareBlock(in.In("input_blocks.%d", i), cfg, blk)
	}
	declareBlock(in.In("middle_block"), cfg, p.middle)
	for i, blk := range p.output {
		declareBlock(in.In("output_blocks.%d", i), cfg, blk)
	}
	o := in.In("out")
	o.In("0").Ones("weight", p.outCh)
	o.In("0").Zeros("bias", p.outCh)
	o.Conv2D("2", cfg.ModelChannels, cfg.OutChannels, 3, true, true)
}

func declareBlock(in nn.Init, cfg Config, blk []layer) {
	for j, l := range blk {
		sub := in.In("%d", j)
		switch l.kind {
		case convIn:
			in.Conv2D(fmt.Sprint(j), l.in, l.out, 3, true, false)
		case resBlock:
			declareResBlock(sub, l.in, l.out, cfg.TimeEmbedDim())
		case spatialTransformer:
			declareSpatialTransformer(sub, cfg, l.in)
		case downsample:
			sub.Conv2D("op", l.in, l.out, 3, true, false)
		case upsample:
			sub.Conv2D("conv", l.in, l.out, 3, true, false)
		}
	}
}

func applyBlock(v nn.Vars, cfg Config, blk []layer, h, emb, context *Node) *Node {
	for j, l := range blk {
		sub := v.In("%d", j)
		switch l.kind {
		case convIn:
			h = nn.Conv2D(sub, h, 1, nn.Same(1))
		case resBlock:
			h = ResBlock(sub, h, emb, cfg.NormGroups, cfg.GroupNormEps)
		case spatialTransformer:
			h = SpatialTransformer(sub, cfg, h, context)
		case downsample:
			h = nn.Conv2D(sub.In("op"), h, 2, nn.Same(1))
		case upsample:
			h = nn.Conv2D(sub.In("conv"), nn.UpsampleNearest2x(h), 1, nn.Same(1))
		}
	}
	return h
}

// Outputs are the UNet's result and the intermediates the parity fixtures
// hold.
type Outputs struct {
	TEmb    *Node // sinusoidal timestep embedding [B, mc]
	EmbTime *Node // time_embed(t_emb) [B, 4mc]
	EmbCond *Node // time_embed_condtion(context) [B, 1, 4mc]; nil without time conditioning
	Eps     *Node // the prediction [B, H, W, out]
}

// Forward is UNetModel.forward (openaimodel.py:720-761) for the
// cross-attention LDM: x [B, H, W, in] (NHWC), t [B] timesteps as floats,
// context [B, L, ctx]. It returns ε̂ [B, H, W, out].
func Forward(v nn.Vars, cfg Config, x, t, context *Node) *Node {
	return ForwardAll(v, cfg, x, t, context).Eps
}

// ForwardAll is Forward returning the intermediates too.
func ForwardAll(v nn.Vars, cfg Config, x, t, context *Node) Outputs {
	var o Outputs
	p := cfg.plan()
	o.TEmb = TimestepEmbedding(t, cfg.ModelChannels)
	o.EmbTime = TimeEmbed(v.In("time_embed"), o.TEmb)
	emb := o.EmbTime
	if cfg.UseTimeCond {
		o.EmbCond = TimeCondition(v.In("time_embed_condtion"), context)
		d := o.EmbCond.Shape().Dimensions
		emb = Add(emb, Reshape(o.EmbCond, d[0], d[2]))
	}
	h := x
	hs := make([]*Node, 0, len(p.input))
	for i, blk := range p.input {
		h = applyBlock(v.In("input_blocks.%d", i), cfg, blk, h, emb, context)
		hs = append(hs, h)
	}
	h = applyBlock(v.In("middle_block"), cfg, p.middle, h, emb, context)
	for i, blk := range p.output {
		skip := hs[len(hs)-1]
		hs = hs[:len(hs)-1]
		h = Concatenate([]*Node{h, skip}, 3) // th.cat([h, skip], dim=1) in NCHW
		h = applyBlock(v.In("output_blocks.%d", i), cfg, blk, h, emb, context)
	}
	h = nn.SiLU(nn.GroupNorm(v.In("out.0"), h, cfg.NormGroups, cfg.GroupNormEps))
	o.Eps = nn.Conv2D(v.In("out.2"), h, 1, nn.Same(1))
	return o
}
