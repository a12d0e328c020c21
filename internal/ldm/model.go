package ldm

import (
	"fmt"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/ldm/unet"
	"github.com/visdec/visdec/internal/nn"
)

// Parameter-name prefixes of the LDM, as in the reference's LatentDiffusion
// state dict (and the CompVis model.ckpt "state_dict"). The first stage
// (first_stage_model.*) is kept apart, in the autoencoder's own run.
const (
	UNetPrefix = "model.diffusion_model."
	CondPrefix = "cond_stage_model."
)

// Declare declares the trainable LDM: the UNet under "model.diffusion_model."
// and the conditioning model under "cond_stage_model.", seeded.
func Declare(in nn.Init, cfg Config) {
	unet.Declare(in.In("model.diffusion_model"), cfg.UNet)
	DeclareCond(in.In("cond_stage_model"), cfg.Cond)
	if cfg.RidgeConcat {
		// Set by Tune from a closed-form fit (SetRidge), never trained.
		in.Zeros("cond_stage_model.ridge.weight", cfg.Cond.Encoder.NumVoxels, cfg.latentSize()).Frozen = true
		in.Zeros("cond_stage_model.ridge.bias", cfg.latentSize()).Frozen = true
	}
}

// SetRidge stores a fitted fMRI → latent ridge map (w [V, h·w·c], b
// [h·w·c]) in the parameters of a model with RidgeConcat.
func SetRidge(ps *nn.Params, w, b []float32) error {
	pw, pb := ps.Get(CondPrefix+"ridge.weight"), ps.Get(CondPrefix+"ridge.bias")
	if pw == nil || pb == nil {
		return fmt.Errorf("ldm: the model has no ridge parameters (RidgeConcat is off)")
	}
	if len(w) != len(pw.Data) || len(b) != len(pb.Data) {
		return fmt.Errorf("ldm: ridge map of %d+%d values, the model wants %v and %v", len(w), len(b), pw.Shape, pb.Shape)
	}
	copy(pw.Data, w)
	copy(pb.Data, b)
	return nil
}

// RidgeLatent is the ridge's latent-shaped guess for fMRI [B, V]:
// fmri·W + b reshaped to [B, h, w, c] (RidgeConcat).
func RidgeLatent(v nn.Vars, cfg Config, fmri *Node) *Node {
	r := v.In("cond_stage_model.ridge")
	y := Add(MatMul(fmri, r.Get("weight")), ExpandDims(r.Get("bias"), 0))
	h := cfg.UNet.ImageSize
	return Reshape(y, fmri.Shape().Dimensions[0], h, h, cfg.latentChannels())
}

// NewParams declares a freshly initialised LDM.
func NewParams(cfg Config, seed uint64) *nn.Params {
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, seed), cfg)
	return ps
}

// Eps is the ε-model: the conditioning of fmri [B, V] and the UNet on the
// noisy latents xt [B, h, w, c] at timesteps t [B] (floats). It returns
// ε̂ [B, h, w, c] (apply_model, ddpm.py:1033-1048).
func Eps(v nn.Vars, cfg Config, xt, t, fmri *Node) *Node {
	ctx := Condition(v.In("cond_stage_model"), cfg.Cond, fmri)
	var concat *Node
	if cfg.RidgeConcat {
		concat = RidgeLatent(v, cfg, fmri)
	}
	return EpsFromContext(v, cfg, xt, t, ctx, concat)
}

// EpsFromContext is the UNet alone, for sampling: the context is computed
// once per item and reused at every step. concat [B, h, w, c] is the
// ridge's guess appended to xt with RidgeConcat (nil otherwise). Its output
// is ε̂, or x̂0 when the model predicts x0.
func EpsFromContext(v nn.Vars, cfg Config, xt, t, context, concat *Node) *Node {
	if cfg.RidgeConcat {
		xt = Concatenate([]*Node{xt, concat}, -1)
	}
	return unet.Forward(v.In("model.diffusion_model"), cfg.UNet, xt, t, context)
}

// LossOutputs are the training objective and its intermediates.
type LossOutputs struct {
	Loss    *Node // mean((ε̂ − ε)²) (x0: mean((x̂0 − z0)²)), a scalar
	PerItem *Node // the same mean per item [B]
	XNoisy  *Node // q_sample(z0, t, ε) [B, h, w, c]
	EpsHat  *Node // the UNet's output: ε̂ (x0: x̂0) [B, h, w, c]
}

// Loss is p_losses with ε-parameterisation and the reference's settings
// (l2, logvar 0, ELBO weight 0; ddpm.py:1069-1102): x_t = √ᾱ_t·z0 +
// √(1−ᾱ_t)·ε, loss = mean((ε̂(x_t, t, c(fmri)) − ε)²). z0 and noise are
// [B, h, w, c]; t, sqrtAlphaBar (√ᾱ_t) and sqrtOneMinus (√(1−ᾱ_t)) are [B],
// looked up on the host from the float32 schedule buffers as
// extract_into_tensor does.
func Loss(v nn.Vars, cfg Config, z0, noise, t, sqrtAlphaBar, sqrtOneMinus, fmri *Node) LossOutputs {
	ctx := Condition(v.In("cond_stage_model"), cfg.Cond, fmri)
	var concat *Node
	if cfg.RidgeConcat {
		concat = RidgeLatent(v, cfg, fmri)
	}
	return LossWithContext(v, cfg, z0, noise, t, sqrtAlphaBar, sqrtOneMinus, ctx, concat)
}

// LossWithContext is Loss with the context [B, SeqLen, CondDim] (and, with
// RidgeConcat, the concatenated guess [B, h, w, c]) given.
func LossWithContext(v nn.Vars, cfg Config, z0, noise, t, sqrtAlphaBar, sqrtOneMinus, context, concat *Node) LossOutputs {
	b := z0.Shape().Dimensions[0]
	a := Reshape(sqrtAlphaBar, b, 1, 1, 1)
	s := Reshape(sqrtOneMinus, b, 1, 1, 1)
	xt := Add(Mul(a, z0), Mul(s, noise))
	out := EpsFromContext(v, cfg, xt, t, context, concat)
	target := noise
	if cfg.predictsX0() {
		target = z0
	}
	sq := Square(Sub(out, target))
	return LossOutputs{Loss: ReduceAllMean(sq), PerItem: ReduceMean(sq, 1, 2, 3), XNoisy: xt, EpsHat: out}
}

// Trainable selects which parameters the fine-tuning updates.
type Trainable string

const (
	// TrainReference is the reference's set (train_cond_stage_only,
	// ddpm.py:1413-1425): every conditioning parameter, plus every UNet
	// parameter whose name contains "attn2", "time_embed_condtion" or
	// "norm2" (cross-attention, the LayerNorm before it, the
	// time-conditioning head).
	TrainReference Trainable = "reference"
	// TrainAll trains the whole UNet and the conditioning model (needed when
	// the UNet does not start from a pretrained LDM).
	TrainAll Trainable = "all"
)

// inReferenceSet is the reference's name filter.
func inReferenceSet(name string) bool {
	return strings.HasPrefix(name, CondPrefix) ||
		strings.Contains(name, "attn2") || strings.Contains(name, "time_embed_condtion") || strings.Contains(name, "norm2")
}

// SetTrainable marks the parameters outside the selected set as frozen and
// clears every NoDecay flag: the reference's torch.optim.AdamW gets one
// parameter group with weight decay 0.01 for all, biases and norms included.
func SetTrainable(ps *nn.Params, which Trainable) {
	for _, p := range ps.List() {
		p.NoDecay = false
		if fixedParam(p.Name) {
			p.Frozen = true
			continue
		}
		switch which {
		case TrainAll:
			p.Frozen = false
		default:
			p.Frozen = !inReferenceSet(p.Name)
		}
	}
}

// fixedParam reports whether a parameter is set outside training and never
// updated: the latent statistics (CondConfig.Standardize) and the ridge map
// (RidgeConcat).
func fixedParam(name string) bool {
	return name == CondPrefix+"latent_mean" || name == CondPrefix+"latent_std" || strings.HasPrefix(name, CondPrefix+"ridge.")
}

// duplicatedInReference reports whether the reference lists the parameter
// twice in its optimizer (cad-spec §6 item 24): the fMRI encoder's
// blocks.*.norm2, reached both through cond_stage_model.parameters() and
// through the "norm2" name filter.
func duplicatedInReference(name string) bool {
	return strings.HasPrefix(name, CondPrefix) && strings.Contains(name, "norm2")
}
