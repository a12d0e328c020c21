package autoencoder

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// The networks follow dc_ldm/modules/diffusionmodules/model.py (Encoder,
// Decoder, ResnetBlock, AttnBlock, Downsample, Upsample) with NHWC
// activations; parameters keep the reference's names and PyTorch layouts.
// Every block is dtype-agnostic, so the gradient tests run it in float64.

// swish is the reference's nonlinearity, x·σ(x).
func swish(x *Node) *Node { return nn.SiLU(x) }

// norm is the reference's Normalize: GroupNorm(groups, eps, affine).
func norm(v nn.Vars, cfg Config, x *Node) *Node { return nn.GroupNorm(v, x, cfg.Groups, cfg.NormEps) }

// ResnetBlock is x' + conv2(swish(norm2(conv1(swish(norm1(x)))))), with x'
// the 1×1 nin_shortcut of x when the channel count changes (temb_channels 0
// and dropout 0 in the first stage). x is [B, H, W, Cin]; the result has the
// channels of conv1.
func ResnetBlock(v nn.Vars, cfg Config, x *Node) *Node {
	h := swish(norm(v.In("norm1"), cfg, x))
	h = nn.Conv2D(v.In("conv1"), h, 1, nn.Same(1))
	h = swish(norm(v.In("norm2"), cfg, h))
	h = nn.Conv2D(v.In("conv2"), h, 1, nn.Same(1))
	if v.Has("nin_shortcut.weight") {
		x = nn.Conv2D(v.In("nin_shortcut"), x, 1, nn.Padding{})
	}
	return Add(x, h)
}

// declareResnetBlock mirrors ResnetBlock.
func declareResnetBlock(in nn.Init, cfg Config, inCh, outCh int) {
	in.LayerNorm("norm1", inCh) // GroupNorm affine: weight 1, bias 0
	in.Conv2D("conv1", inCh, outCh, 3, true, false)
	in.LayerNorm("norm2", outCh)
	in.Conv2D("conv2", outCh, outCh, 3, true, false)
	if inCh != outCh {
		in.Conv2D("nin_shortcut", inCh, outCh, 1, true, false)
	}
}

// AttnBlock is single-head self-attention over all H·W positions with 1×1
// q/k/v/proj_out convolutions and scale C^-½, added to its input.
func AttnBlock(v nn.Vars, cfg Config, x *Node) *Node {
	d := x.Shape().Dimensions
	b, hh, ww, c := d[0], d[1], d[2], d[3]
	h := norm(v.In("norm"), cfg, x)
	q := Reshape(nn.Conv2D(v.In("q"), h, 1, nn.Padding{}), b, hh*ww, c)
	k := Reshape(nn.Conv2D(v.In("k"), h, 1, nn.Padding{}), b, hh*ww, c)
	val := Reshape(nn.Conv2D(v.In("v"), h, 1, nn.Padding{}), b, hh*ww, c)
	w := MulScalar(Einsum("bic,bjc->bij", q, k), 1/math.Sqrt(float64(c)))
	w = Softmax(w, -1)
	h = Reshape(Einsum("bij,bjc->bic", w, val), b, hh, ww, c)
	return Add(x, nn.Conv2D(v.In("proj_out"), h, 1, nn.Padding{}))
}

// declareAttnBlock mirrors AttnBlock.
func declareAttnBlock(in nn.Init, ch int) {
	in.LayerNorm("norm", ch)
	for _, n := range []string{"q", "k", "v", "proj_out"} {
		in.Conv2D(n, ch, ch, 1, true, false)
	}
}

// Downsample halves H and W: zero padding of one row at the bottom and one
// column at the right (F.pad (0,1,0,1)), then a 3×3 stride-2 convolution.
func Downsample(v nn.Vars, x *Node) *Node {
	return nn.Conv2D(v.In("conv"), x, 2, nn.Padding{Bottom: 1, Right: 1})
}

// Upsample doubles H and W by nearest-neighbour repetition, then applies a
// 3×3 convolution.
func Upsample(v nn.Vars, x *Node) *Node {
	return nn.Conv2D(v.In("conv"), nn.UpsampleNearest2x(x), 1, nn.Same(1))
}

// Encoder maps images x [B, H, W, InChannels] to [B, H/f, W/f, ZChannels]
// (Encoder.forward, double_z false).
func Encoder(v nn.Vars, cfg Config, x *Node) *Node {
	h := nn.Conv2D(v.In("conv_in"), x, 1, nn.Same(1))
	res := cfg.Resolution
	for level := range cfg.ChMult {
		lv := v.In("down.%d", level)
		for i := 0; i < cfg.NumResBlocks; i++ {
			h = ResnetBlock(lv.In("block.%d", i), cfg, h)
			if cfg.attnAt(res) {
				h = AttnBlock(lv.In("attn.%d", i), cfg, h)
			}
		}
		if level != len(cfg.ChMult)-1 {
			h = Downsample(lv.In("downsample"), h)
			res /= 2
		}
	}
	h = mid(v.In("mid"), cfg, h)
	h = swish(norm(v.In("norm_out"), cfg, h))
	return nn.Conv2D(v.In("conv_out"), h, 1, nn.Same(1))
}

// Decoder maps [B, h, w, ZChannels] to images [B, h·f, w·f, OutChannels]
// (Decoder.forward; give_pre_end and tanh_out false).
func Decoder(v nn.Vars, cfg Config, z *Node) *Node {
	h := nn.Conv2D(v.In("conv_in"), z, 1, nn.Same(1))
	h = mid(v.In("mid"), cfg, h)
	res := cfg.LatentSize()
	for level := len(cfg.ChMult) - 1; level >= 0; level-- {
		lv := v.In("up.%d", level)
		for i := 0; i <= cfg.NumResBlocks; i++ {
			h = ResnetBlock(lv.In("block.%d", i), cfg, h)
			if cfg.attnAt(res) {
				h = AttnBlock(lv.In("attn.%d", i), cfg, h)
			}
		}
		if level != 0 {
			h = Upsample(lv.In("upsample"), h)
			res *= 2
		}
	}
	h = swish(norm(v.In("norm_out"), cfg, h))
	return nn.Conv2D(v.In("conv_out"), h, 1, nn.Same(1))
}

// mid is the middle section: ResnetBlock, AttnBlock, ResnetBlock.
func mid(v nn.Vars, cfg Config, h *Node) *Node {
	h = ResnetBlock(v.In("block_1"), cfg, h)
	h = AttnBlock(v.In("attn_1"), cfg, h)
	return ResnetBlock(v.In("block_2"), cfg, h)
}

// Encode is VQModelInterface.encode: quant_conv(Encoder(x)), the
// un-quantised latent. x is [B, H, W, InChannels] in [-1, 1]; the result is
// [B, H/f, W/f, EmbedDim]. These are the latents the diffusion model learns
// (scale_factor 1).
func Encode(v nn.Vars, cfg Config, x *Node) *Node {
	return nn.Conv2D(v.In("quant_conv"), Encoder(v.In("encoder"), cfg, x), 1, nn.Padding{})
}

// Decode is VQModelInterface.decode: the latent is first snapped to its
// nearest codebook vectors (not with Continuous), then post_quant_conv and
// the Decoder give [B, H, W, OutChannels] in about [-1, 1].
func Decode(v nn.Vars, cfg Config, z *Node) *Node {
	if cfg.Continuous {
		return DecodeNoQuant(v, cfg, z)
	}
	q := Quantize(v, cfg, z)
	return DecodeNoQuant(v, cfg, q.ZQ)
}

// DecodeNoQuant is decode(z, force_not_quantize=True): post_quant_conv and
// the Decoder without snapping z to the codebook.
func DecodeNoQuant(v nn.Vars, cfg Config, z *Node) *Node {
	return Decoder(v.In("decoder"), cfg, nn.Conv2D(v.In("post_quant_conv"), z, 1, nn.Padding{}))
}

// Declare declares every parameter of the model in the reference's
// state_dict order (encoder, decoder, quantize, quant_conv,
// post_quant_conv), with PyTorch's default initialisation and the
// codebook drawn from U(±1/NEmbed) as VectorQuantizer does.
func Declare(in nn.Init, cfg Config) {
	declareEncoder(in.In("encoder"), cfg)
	declareDecoder(in.In("decoder"), cfg)
	in.Uniform("quantize.embedding.weight", 1/float64(cfg.NEmbed), cfg.NEmbed, cfg.EmbedDim)
	in.Conv2D("quant_conv", cfg.ZChannels, cfg.EmbedDim, 1, true, false)
	in.Conv2D("post_quant_conv", cfg.EmbedDim, cfg.ZChannels, 1, true, false)
}

// NewParams declares a freshly initialised model, seeded.
func NewParams(cfg Config, seed uint64) *nn.Params {
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, seed), cfg)
	return ps
}

func declareEncoder(in nn.Init, cfg Config) {
	in.Conv2D("conv_in", cfg.InChannels, cfg.Ch, 3, true, false)
	res := cfg.Resolution
	blockIn := cfg.Ch
	for level, m := range cfg.ChMult {
		lv := in.In("down.%d", level)
		blockOut := cfg.Ch * m
		for i := 0; i < cfg.NumResBlocks; i++ {
			declareResnetBlock(lv.In("block.%d", i), cfg, blockIn, blockOut)
			blockIn = blockOut
			if cfg.attnAt(res) {
				declareAttnBlock(lv.In("attn.%d", i), blockIn)
			}
		}
		if level != len(cfg.ChMult)-1 {
			lv.Conv2D("downsample.conv", blockIn, blockIn, 3, true, false)
			res /= 2
		}
	}
	declareMid(in.In("mid"), cfg, blockIn)
	in.LayerNorm("norm_out", blockIn)
	in.Conv2D("conv_out", blockIn, cfg.ZChannels, 3, true, false)
}

func declareDecoder(in nn.Init, cfg Config) {
	levels := len(cfg.ChMult)
	blockIn := cfg.Ch * cfg.ChMult[levels-1]
	in.Conv2D("conv_in", cfg.ZChannels, blockIn, 3, true, false)
	declareMid(in.In("mid"), cfg, blockIn)
	// The reference builds the levels from the lowest resolution up and
	// prepends them, so its state_dict lists up.0 first; declare in that
	// order, with the channel counts it computes going up.
	type level struct{ in, out, res int }
	plan := make([]level, levels)
	res := cfg.LatentSize()
	for l := levels - 1; l >= 0; l-- {
		plan[l] = level{in: blockIn, out: cfg.Ch * cfg.ChMult[l], res: res}
		blockIn = cfg.Ch * cfg.ChMult[l]
		if l != 0 {
			res *= 2
		}
	}
	for l, p := range plan {
		lv := in.In("up.%d", l)
		ch := p.in
		for i := 0; i <= cfg.NumResBlocks; i++ {
			declareResnetBlock(lv.In("block.%d", i), cfg, ch, p.out)
			ch = p.out
			if cfg.attnAt(p.res) {
				declareAttnBlock(lv.In("attn.%d", i), ch)
			}
		}
		if l != 0 {
			lv.Conv2D("upsample.conv", ch, ch, 3, true, false)
		}
	}
	in.LayerNorm("norm_out", cfg.Ch*cfg.ChMult[0])
	in.Conv2D("conv_out", cfg.Ch*cfg.ChMult[0], cfg.OutChannels, 3, true, false)
}

func declareMid(in nn.Init, cfg Config, ch int) {
	declareResnetBlock(in.In("block_1"), cfg, ch, ch)
	declareAttnBlock(in.In("attn_1"), ch)
	declareResnetBlock(in.In("block_2"), cfg, ch, ch)
}
