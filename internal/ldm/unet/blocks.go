package unet

import (
	"math"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// Activations are NHWC ([B, H, W, C]); weights keep PyTorch's layouts so the
// reference state dict imports unchanged.

// TimestepEmbedding is the sinusoidal embedding of integer timesteps t [B]
// (any float dtype): [cos(t·f) | sin(t·f)] with f_i = exp(−ln(1e4)·i/half),
// i < half = dim/2, zero-padded when dim is odd (util.py:151-171). The
// frequencies are rounded as PyTorch computes them in float32, so large t
// match the reference to the last bits. Result [B, dim].
func TimestepEmbedding(t *Node, dim int) *Node {
	half := dim / 2
	freqs := make([]float32, half)
	negLog := float32(-math.Log(10000))
	for i := range freqs {
		a := negLog * float32(i) / float32(half) // float32 arithmetic, as torch
		freqs[i] = float32(math.Exp(float64(a)))
	}
	g := t.Graph()
	b := t.Shape().Dimensions[0]
	f := ConvertDType(Const(g, freqs), t.DType())
	args := Mul(Reshape(t, b, 1), Reshape(f, 1, half)) // [B, half]
	emb := Concatenate([]*Node{Cos(args), Sin(args)}, 1)
	if dim%2 == 1 {
		emb = Concatenate([]*Node{emb, Zeros(g, shapes.Make(t.DType(), b, 1))}, 1)
	}
	return emb
}

// TimeEmbed is time_embed: Linear(mc→4mc), SiLU, Linear(4mc→4mc), applied to
// the sinusoidal embedding tEmb [B, mc].
func TimeEmbed(v nn.Vars, tEmb *Node) *Node {
	return nn.Linear(v.In("2"), nn.SiLU(nn.Linear(v.In("0"), tEmb)))
}

// declareTimeEmbed declares time_embed.{0,2}.
func declareTimeEmbed(in nn.Init, mc, ted int) {
	in.Linear("0", mc, ted, true, nn.InitTorchDefault)
	in.Linear("2", ted, ted, true, nn.InitTorchDefault)
}

// conv1x1Tokens is a Conv1d with kernel 1 whose channels are the token axis:
// weight [O, L, 1] applied to x [B, L, D] gives [B, O, D] (+ bias [O]).
func conv1x1Tokens(v nn.Vars, x *Node) *Node {
	w := v.Get("weight")
	wd := w.Shape().Dimensions
	w2 := Reshape(w, wd[0], wd[1])
	y := Einsum("ol,bld->bod", w2, x)
	if v.Has("bias") {
		y = Add(y, Reshape(v.Get("bias"), 1, wd[0], 1))
	}
	return y
}

// TimeCondition is MinD-Vis's time_embed_condtion (sic, the reference's
// spelling) for global_pool=False: Conv1d(L→L/2,1), Conv1d(L/2→1,1) over the
// context's token axis, then Linear(context→4mc). context [B, L, ctx] →
// [B, 1, 4mc], added (squeezed) to the time embedding
// (openaimodel.py:524-529, 744-747).
func TimeCondition(v nn.Vars, context *Node) *Node {
	h := conv1x1Tokens(v.In("0"), context)
	h = conv1x1Tokens(v.In("1"), h)
	return nn.Linear(v.In("2"), h)
}

// declareTimeCondition declares time_embed_condtion.{0,1,2} with PyTorch's
// default init (the reference creates them fresh; strict=False keeps them).
func declareTimeCondition(in nn.Init, ctxLen, ctxDim, ted int) {
	mid := ctxLen / 2
	declareConv1d(in.In("0"), ctxLen, mid)
	declareConv1d(in.In("1"), mid, 1)
	in.Linear("2", ctxDim, ted, true, nn.InitTorchDefault)
}

// declareConv1d declares a kernel-1 Conv1d weight [out, in, 1] and bias with
// PyTorch's default init.
func declareConv1d(in nn.Init, inCh, outCh int) {
	in.KaimingUniform("weight", outCh, inCh, 1)
	in.Uniform("bias", 1/math.Sqrt(float64(inCh)), outCh)
}

// ResBlock is the UNet residual block (openaimodel.py ResBlock, no
// scale-shift norm, no up/down): GN→SiLU→conv3×3; + Linear(SiLU(emb));
// GN→SiLU→(dropout 0)→conv3×3; plus the skip (identity or 1×1 conv).
// x [B, H, W, Cin], emb [B, E] → [B, H, W, Cout].
func ResBlock(v nn.Vars, x, emb *Node, groups int, eps float64) *Node {
	h := nn.SiLU(nn.GroupNorm(v.In("in_layers.0"), x, groups, eps))
	h = nn.Conv2D(v.In("in_layers.2"), h, 1, nn.Same(1))
	e := nn.Linear(v.In("emb_layers.1"), nn.SiLU(emb)) // [B, Cout]
	b, c := e.Shape().Dimensions[0], e.Shape().Dimensions[1]
	h = Add(h, Reshape(e, b, 1, 1, c))
	h = nn.SiLU(nn.GroupNorm(v.In("out_layers.0"), h, groups, eps))
	h = nn.Conv2D(v.In("out_layers.3"), h, 1, nn.Same(1))
	skip := x
	if v.Has("skip_connection.weight") {
		skip = nn.Conv2D(v.In("skip_connection"), x, 1, nn.Padding{})
	}
	return Add(skip, h)
}

// declareResBlock mirrors ResBlock; out_layers.3 is zero-initialised
// (zero_module), everything else uses PyTorch's defaults.
func declareResBlock(in nn.Init, inCh, outCh, embDim int) {
	in.In("in_layers.0").Ones("weight", inCh)
	in.In("in_layers.0").Zeros("bias", inCh)
	in.Conv2D("in_layers.2", inCh, outCh, 3, true, false)
	in.Linear("emb_layers.1", embDim, outCh, true, nn.InitTorchDefault)
	in.In("out_layers.0").Ones("weight", outCh)
	in.In("out_layers.0").Zeros("bias", outCh)
	in.Conv2D("out_layers.3", outCh, outCh, 3, true, true)
	if inCh != outCh {
		in.Conv2D("skip_connection", inCh, outCh, 1, true, false)
	}
}

// CrossAttention is attention.py CrossAttention: q from x [B, N, D], k and v
// from context [B, M, Dc] (x itself when context is nil), no q/k/v bias,
// scale d_head^-½, then to_out.0 (Linear with bias). Result [B, N, D].
func CrossAttention(v nn.Vars, x, context *Node, heads int) *Node {
	if context == nil {
		context = x
	}
	q := nn.SplitHeads(nn.Linear(v.In("to_q"), x), heads)
	k := nn.SplitHeads(nn.Linear(v.In("to_k"), context), heads)
	val := nn.SplitHeads(nn.Linear(v.In("to_v"), context), heads)
	return nn.Linear(v.In("to_out.0"), nn.MergeHeads(nn.Attention(q, k, val)))
}

func declareCrossAttention(in nn.Init, dim, ctxDim int) {
	in.Linear("to_q", dim, dim, false, nn.InitTorchDefault)
	in.Linear("to_k", ctxDim, dim, false, nn.InitTorchDefault)
	in.Linear("to_v", ctxDim, dim, false, nn.InitTorchDefault)
	in.Linear("to_out.0", dim, dim, true, nn.InitTorchDefault)
}

// GEGLUFeedForward is FeedForward(dim, glu=True, mult=4): proj = Linear(dim,
// 2·4dim) split into (a, gate), a·GELU(gate) with exact GELU, then
// Linear(4dim, dim) (net.0.proj, net.2). x [..., dim].
func GEGLUFeedForward(v nn.Vars, x *Node) *Node {
	h := nn.Linear(v.In("net.0.proj"), x)
	last := h.Rank() - 1
	inner := h.Shape().Dimensions[last] / 2
	a := SliceAxis(h, last, AxisRange(0, inner))
	gate := SliceAxis(h, last, AxisRange(inner, 2*inner))
	return nn.Linear(v.In("net.2"), Mul(a, nn.GELU(gate)))
}

func declareGEGLU(in nn.Init, dim int) {
	inner := 4 * dim
	in.Linear("net.0.proj", dim, 2*inner, true, nn.InitTorchDefault)
	in.Linear("net.2", inner, dim, true, nn.InitTorchDefault)
}

// TransformerBlock is BasicTransformerBlock: self-attention, cross-attention
// to the context, GEGLU feed-forward, each pre-LayerNorm and residual.
func TransformerBlock(v nn.Vars, x, context *Node, heads int, lnEps float64) *Node {
	x = Add(x, CrossAttention(v.In("attn1"), nn.LayerNorm(v.In("norm1"), x, lnEps), nil, heads))
	x = Add(x, CrossAttention(v.In("attn2"), nn.LayerNorm(v.In("norm2"), x, lnEps), context, heads))
	return Add(x, GEGLUFeedForward(v.In("ff"), nn.LayerNorm(v.In("norm3"), x, lnEps)))
}

func declareTransformerBlock(in nn.Init, dim, ctxDim int) {
	declareCrossAttention(in.In("attn1"), dim, dim)
	declareGEGLU(in.In("ff"), dim)
	declareCrossAttention(in.In("attn2"), dim, ctxDim)
	in.LayerNorm("norm1", dim)
	in.LayerNorm("norm2", dim)
	in.LayerNorm("norm3", dim)
}

// SpatialTransformer is attention.py SpatialTransformer: GroupNorm (eps
// 1e-6), 1×1 proj_in, depth transformer blocks over the H·W tokens, 1×1
// proj_out (zero-initialised), plus the input. x [B, H, W, C].
func SpatialTransformer(v nn.Vars, cfg Config, x, context *Node) *Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	y := nn.GroupNorm(v.In("norm"), x, cfg.NormGroups, cfg.STGroupNormEps)
	y = nn.Conv2D(v.In("proj_in"), y, 1, nn.Padding{})
	y = Reshape(y, b, h*w, c) // NHWC makes 'b c h w -> b (h w) c' a reshape
	for i := range cfg.Depth {
		y = TransformerBlock(v.In("transformer_blocks.%d", i), y, context, cfg.NumHeads, cfg.LayerNormEps)
	}
	y = nn.Conv2D(v.In("proj_out"), Reshape(y, b, h, w, c), 1, nn.Padding{})
	return Add(y, x)
}

func declareSpatialTransformer(in nn.Init, cfg Config, ch int) {
	in.In("norm").Ones("weight", ch)
	in.In("norm").Zeros("bias", ch)
	in.Conv2D("proj_in", ch, ch, 1, true, false)
	for i := range cfg.Depth {
		declareTransformerBlock(in.In("transformer_blocks.%d", i), ch, cfg.ContextDim)
	}
	in.Conv2D("proj_out", ch, ch, 1, true, true)
}
