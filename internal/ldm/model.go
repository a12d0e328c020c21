package ldm

import (
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
	return unet.Forward(v.In("model.diffusion_model"), cfg.UNet, xt, t, ctx)
}

// EpsFromContext is the UNet alone, for sampling: the context is computed
// once per item and reused at every step. Its output is ε̂, or x̂0 when the
// model predicts x0.
func EpsFromContext(v nn.Vars, cfg Config, xt, t, context *Node) *Node {
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
	return LossWithContext(v, cfg, z0, noise, t, sqrtAlphaBar, sqrtOneMinus, ctx)
}

// LossWithContext is Loss with the context [B, SeqLen, CondDim] given.
func LossWithContext(v nn.Vars, cfg Config, z0, noise, t, sqrtAlphaBar, sqrtOneMinus, context *Node) LossOutputs {
	b := z0.Shape().Dimensions[0]
	a := Reshape(sqrtAlphaBar, b, 1, 1, 1)
	s := Reshape(sqrtOneMinus, b, 1, 1, 1)
	xt := Add(Mul(a, z0), Mul(s, noise))
	out := EpsFromContext(v, cfg, xt, t, context)
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
		switch which {
		case TrainAll:
			p.Frozen = false
		default:
			p.Frozen = !inReferenceSet(p.Name)
		}
	}
}

// duplicatedInReference reports whether the reference lists the parameter
// twice in its optimizer (cad-spec §6 item 24): the fMRI encoder's
// blocks.*.norm2, reached both through cond_stage_model.parameters() and
// through the "norm2" name filter.
func duplicatedInReference(name string) bool {
	return strings.HasPrefix(name, CondPrefix) && strings.Contains(name, "norm2")
}
