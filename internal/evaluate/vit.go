package evaluate

import (
	"context"
	"fmt"
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
)

// The reference's semantic classifier is torchvision's vit_h_14 with the
// IMAGENET1K_SWAG_E2E_V1 weights (eval_metrics.py:126-129). This is the same
// network with torchvision's parameter names (torchvision/models/
// vision_transformer.py: VisionTransformer, Encoder, EncoderBlock, MLPBlock),
// so its state dict loads unchanged.

// ViTConfig describes a torchvision VisionTransformer.
type ViTConfig struct {
	ImageSize int     // input side after resize and center crop (SWAG E2E: 518)
	PatchSize int     // conv_proj kernel and stride (14)
	Hidden    int     // embedding width (1280)
	Layers    int     // encoder blocks (32)
	Heads     int     // attention heads (16)
	MLP       int     // MLP hidden width (5120)
	Classes   int     // heads.head outputs (1000 ImageNet classes)
	LNEps     float64 // LayerNorm epsilon (torchvision: 1e-6)
	Batch     int     // images per forward pass (memory, not results)
}

// ViTH14 is vit_h_14 with the SWAG E2E weights' 518² input.
func ViTH14() ViTConfig {
	return ViTConfig{ImageSize: 518, PatchSize: 14, Hidden: 1280, Layers: 32, Heads: 16, MLP: 5120, Classes: 1000, LNEps: 1e-6, Batch: 2}
}

// Validate checks the configuration.
func (c ViTConfig) Validate() error {
	switch {
	case c.PatchSize < 1 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("vit: image size %d is not a multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.Heads < 1 || c.Hidden%c.Heads != 0:
		return fmt.Errorf("vit: hidden %d is not divisible by %d heads", c.Hidden, c.Heads)
	case c.Layers < 1 || c.MLP < 1 || c.Classes < 2 || c.Batch < 1:
		return fmt.Errorf("vit: bad config %+v", c)
	}
	return nil
}

func (c ViTConfig) tokens() int { g := c.ImageSize / c.PatchSize; return g*g + 1 }

// DeclareViT declares the parameters with torchvision's names and layouts,
// zero-filled: real use loads a state dict over them (vit_h_14 has 632M
// values, too many to draw random ones for nothing).
func DeclareViT(in nn.Init, c ViTConfig) {
	d, p := c.Hidden, c.PatchSize
	in.Zeros("conv_proj.weight", d, 3, p, p)
	in.Zeros("conv_proj.bias", d)
	in.Zeros("class_token", 1, 1, d)
	in.Zeros("encoder.pos_embedding", 1, c.tokens(), d)
	for i := 0; i < c.Layers; i++ {
		l := in.In("encoder.layers.encoder_layer_%d", i)
		l.LayerNorm("ln_1", d)
		l.Zeros("self_attention.in_proj_weight", 3*d, d)
		l.Zeros("self_attention.in_proj_bias", 3*d)
		l.Linear("self_attention.out_proj", d, d, true, nn.InitZero)
		l.LayerNorm("ln_2", d)
		l.Linear("mlp.0", d, c.MLP, true, nn.InitZero)
		l.Linear("mlp.3", c.MLP, d, true, nn.InitZero)
	}
	in.LayerNorm("encoder.ln", d)
	in.Linear("heads.head", d, c.Classes, true, nn.InitZero)
}

// ViTForward runs the network on x [B, S, S, 3] (normalised, NHWC) and
// returns the logits [B, Classes] and the class-token features after the
// final LayerNorm [B, Hidden].
func ViTForward(v nn.Vars, c ViTConfig, x *Node) (logits, feats *Node) {
	b, p, d := x.Shape().Dimensions[0], c.PatchSize, c.Hidden
	g := c.ImageSize / p
	// conv_proj with kernel = stride = patch is a per-patch linear map: cut
	// the image into patches ordered (kh, kw, channel) and multiply.
	patches := Reshape(x, b, g, p, g, p, 3)
	patches = TransposeAllAxes(patches, 0, 1, 3, 2, 4, 5) // [B, g, g, p, p, 3]
	patches = Reshape(patches, b, g*g, p*p*3)
	w := v.Get("conv_proj.weight")                             // [D, 3, p, p]
	wm := Reshape(TransposeAllAxes(w, 0, 2, 3, 1), d, p*p*3)   // [D, p·p·3]
	h := DotGeneral(patches, []int{2}, nil, wm, []int{1}, nil) // [B, g², D]
	h = Add(h, ExpandLeftToRank(v.Get("conv_proj.bias"), 3))
	cls := BroadcastToDims(v.Get("class_token"), b, 1, d)
	h = Concatenate([]*Node{cls, h}, 1) // [B, L, D], class token first
	h = Add(h, v.Get("encoder.pos_embedding"))
	for i := 0; i < c.Layers; i++ {
		h = vitBlock(v.In("encoder.layers.encoder_layer_%d", i), c, h)
	}
	h = nn.LayerNorm(v.In("encoder.ln"), h, c.LNEps)
	feats = nn.Pick(h, 1, 0) // [B, D]
	return nn.Linear(v.In("heads.head"), feats), feats
}

// vitBlock is torchvision's EncoderBlock: x + MHA(ln_1(x)), then
// x + MLP(ln_2(x)) with exact GELU.
func vitBlock(v nn.Vars, c ViTConfig, x *Node) *Node {
	dims := x.Shape().Dimensions
	b, n, d := dims[0], dims[1], dims[2]
	h := nn.LayerNorm(v.In("ln_1"), x, c.LNEps)
	// nn.MultiheadAttention: one in_proj for q, k, v (rows 0:D, D:2D, 2D:3D).
	a := v.In("self_attention")
	qkv := DotGeneral(h, []int{2}, nil, a.Get("in_proj_weight"), []int{1}, nil)
	qkv = Add(qkv, ExpandLeftToRank(a.Get("in_proj_bias"), 3))
	qkv = Reshape(qkv, b, n, 3, c.Heads, d/c.Heads)
	att := nn.Attention(nn.Pick(qkv, 2, 0), nn.Pick(qkv, 2, 1), nn.Pick(qkv, 2, 2))
	x = Add(x, nn.Linear(a.In("out_proj"), nn.MergeHeads(att)))
	h = nn.LayerNorm(v.In("ln_2"), x, c.LNEps)
	h = nn.Linear(v.In("mlp.3"), nn.GELU(nn.Linear(v.In("mlp.0"), h)))
	return Add(x, h)
}

// ViT is a loaded ViT classifier.
type ViT struct {
	cfg     ViTConfig
	name    string
	tensors []*tensors.Tensor // the weights (host Params are dropped: 2.5 GB for vit_h_14)
	fwd     *nn.Forward
}

// NewViT builds the classifier from a torchvision state dict (every
// parameter required; a "module." or "model." prefix is accepted). A nil sd
// leaves the weights zero (for tests of the plumbing only).
func NewViT(be compute.Backend, c ViTConfig, sd map[string]nn.Tensor, name string) (*ViT, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ps := nn.NewParams()
	DeclareViT(nn.NewInit(ps, 0), c)
	if sd != nil {
		if err := loadParams(ps, sd, name, "module.", "model."); err != nil {
			return nil, err
		}
	}
	fwd, err := nn.NewForward(be, ps.Names(), func(v nn.Vars, in []*Node) []*Node {
		logits, feats := ViTForward(v, c, in[0])
		return []*Node{Softmax(logits, -1), feats}
	})
	if err != nil {
		return nil, err
	}
	return &ViT{cfg: c, name: name, tensors: nn.ParamTensors(ps), fwd: fwd}, nil
}

// Name implements Classifier.
func (m *ViT) Name() string { return m.name }

// NumClasses implements Classifier.
func (m *ViT) NumClasses() int { return m.cfg.Classes }

// Preprocess applies the SWAG E2E transforms to one [h, w, 3] image: PIL
// bicubic resize of the shorter side to ImageSize, center crop, /255, then
// ImageNet mean/std (torchvision ImageClassification). The result is
// [S, S, 3] float32.
func (m *ViT) Preprocess(img []uint8, h, w int) []float32 {
	return imagenetTensor(img, h, w, m.cfg.ImageSize)
}

// imagenetTensor is torchvision's ImageClassification(crop=size,
// resize=size, BICUBIC) on a PIL image, NHWC.
func imagenetTensor(img []uint8, h, w, size int) []float32 {
	rh, rw := resizeShorter(h, w, size)
	r := PILResizeBicubic(img, h, w, rh, rw)
	top, left := centerCropOffsets(rh, rw, size, size)
	out := make([]float32, size*size*3)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			for ch := 0; ch < 3; ch++ {
				v := float32(r[((y+top)*rw+x+left)*3+ch]) / 255
				out[(y*size+x)*3+ch] = (v - imagenetMean[ch]) / imagenetStd[ch]
			}
		}
	}
	return out
}

// Classify implements Classifier.
func (m *ViT) Classify(ctx context.Context, images []uint8, n, h, w int) (probs, feats [][]float32, err error) {
	return m.run(ctx, n, func(i int) []float32 { return m.Preprocess(images[i*h*w*3:(i+1)*h*w*3], h, w) })
}

// run evaluates the network on n preprocessed inputs in fixed-size batches
// (the last one padded) so one compiled graph serves every call.
func (m *ViT) run(ctx context.Context, n int, input func(i int) []float32) (probs, feats [][]float32, err error) {
	s, bs := m.cfg.ImageSize, m.cfg.Batch
	err = batches(n, bs, func(lo, hi int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := make([]float32, 0, bs*s*s*3)
		for i := lo; i < lo+bs; i++ {
			x = append(x, input(min(i, hi-1))...)
		}
		out, err := m.fwd.Run(m.tensors, tensors.FromFlatDataAndDimensions(x, bs, s, s, 3))
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		p, f := nn.ToFloat32(out[0]), nn.ToFloat32(out[1])
		for i := 0; i < hi-lo; i++ {
			probs = append(probs, p[i*m.cfg.Classes:(i+1)*m.cfg.Classes])
			feats = append(feats, f[i*m.cfg.Hidden:(i+1)*m.cfg.Hidden])
		}
		return nil
	})
	return probs, feats, err
}

// checkFiniteProbs guards against weights that produce NaNs.
func checkFiniteProbs(name string, probs [][]float32) error {
	for i, p := range probs {
		for _, v := range p {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%s: non-finite probability for image %d", name, i)
			}
		}
	}
	return nil
}
