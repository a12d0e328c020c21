package ldm

import (
	"errors"
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
)

// CondConfig describes the fMRI conditioning model, the reference's
// cond_stage_model with global_pool=False (ldm_for_fmri.py:15-44).
type CondConfig struct {
	// Encoder is the fMRI encoder's architecture (only NumVoxels, PatchSize,
	// EmbedDim, Depth, NumHeads, MLPRatio and LayerNormEps matter here).
	Encoder fmrimae.Config `json:"encoder"`
	// SeqLen is the number of context tokens after the channel mapper
	// (reference: 77, CLIP's length, which the UNet's time-conditioning head
	// also assumes).
	SeqLen int `json:"seq_len"`
	// CondDim is the context width, the UNet's context_dim (paper: 512).
	CondDim int `json:"cond_dim"`
	// Standardize z-scores every encoder output feature ([L, D]) with fixed
	// statistics of the training items before the mappers. Differs from the
	// reference (off in cin256): a small encoder's tokens are dominated by
	// their item-independent part (the positions; about 87% of the variance
	// in the tiny demo), and a UNet trained from scratch then learns to
	// ignore the context. The statistics are frozen parameters
	// (latent_mean, latent_std), so checkpoints carry them.
	Standardize bool `json:"standardize,omitempty"`
}

// Validate reports every problem, each naming the field.
func (c CondConfig) Validate() error {
	var errs []error
	if err := c.Encoder.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("cond encoder: %w", err))
	}
	if c.Encoder.PatchSize > 0 && c.Encoder.NumPatches() < 2 {
		errs = append(errs, fmt.Errorf("cond: the encoder has %d tokens; the channel mapper needs ≥ 2", c.Encoder.NumPatches()))
	}
	if c.SeqLen < 2 {
		errs = append(errs, fmt.Errorf("cond: SeqLen %d must be ≥ 2", c.SeqLen))
	}
	if c.CondDim < 1 {
		errs = append(errs, fmt.Errorf("cond: CondDim %d must be ≥ 1", c.CondDim))
	}
	return errors.Join(errs...)
}

// Parameter names, as the reference's cond_stage_model state dict:
//
//	mae.pos_embed [1, L+1, D]  mae.patch_embed.proj.{weight [D,1,P], bias}
//	mae.blocks.N.*  mae.norm.*
//	channel_mapper.0.{weight [L/2, L, 1], bias}  channel_mapper.1.{weight [77, L/2, 1], bias}
//	dim_mapper.{weight [cond, D], bias}
//
// (mae.cls_token and mae.mask_token exist in the reference but are never
// used; they are not declared, and ignored on import.)

// DeclareCond declares the conditioning model: the fMRI encoder (sin-cos
// positions, which the reference trains in this stage, see below), and the
// channel and dim mappers with PyTorch's default init.
func DeclareCond(in nn.Init, cfg CondConfig) {
	fmrimae.DeclareEncoder(in.In("mae"), cfg.Encoder)
	// The reference's fmri_encoder creates pos_embed with requires_grad=False,
	// but fLDM.finetune calls unfreeze_whole_model() before fitting and the
	// optimiser gets cond_stage_model.parameters(), so pos_embed is trained
	// in the LDM stage. We match that.
	in.Params.Get(in.Name("mae.pos_embed")).Frozen = false
	l := cfg.Encoder.NumPatches()
	declareConv1d(in.In("channel_mapper.0"), l, l/2)
	declareConv1d(in.In("channel_mapper.1"), l/2, cfg.SeqLen)
	in.Linear("dim_mapper", cfg.Encoder.EmbedDim, cfg.CondDim, true, nn.InitTorchDefault)
	if cfg.Standardize {
		in.Zeros("latent_mean", l, cfg.Encoder.EmbedDim).Frozen = true
		in.Ones("latent_std", l, cfg.Encoder.EmbedDim).Frozen = true
	}
}

// SetLatentStats stores the per-feature mean and standard deviation of
// encoder latents (rows of [L·D] values, one per training item) in the
// conditioning parameters, when the model standardises them. A feature
// that never varies keeps std 1.
func SetLatentStats(ps *nn.Params, latents []float32, n int) error {
	mean, std := ps.Get(CondPrefix+"latent_mean"), ps.Get(CondPrefix+"latent_std")
	if mean == nil || std == nil {
		return nil
	}
	d := mean.Size()
	if n < 2 || len(latents) != n*d {
		return fmt.Errorf("latent statistics: %d values for %d items of %d features", len(latents), n, d)
	}
	for j := 0; j < d; j++ {
		var s, s2 float64
		for i := 0; i < n; i++ {
			v := float64(latents[i*d+j])
			s += v
			s2 += v * v
		}
		m := s / float64(n)
		sd := math.Sqrt(math.Max(s2/float64(n)-m*m, 0))
		if sd < 1e-6 {
			sd = 1
		}
		mean.Data[j], std.Data[j] = float32(m), float32(sd)
	}
	return nil
}

// declareConv1d declares a kernel-1 Conv1d weight [out, in, 1] and bias with
// PyTorch's default init.
func declareConv1d(in nn.Init, inCh, outCh int) {
	in.KaimingUniform("weight", outCh, inCh, 1)
	in.Uniform("bias", 1/math.Sqrt(float64(inCh)), outCh)
}

// tokenConv is a kernel-1 Conv1d whose channels are the token axis: weight
// [O, L, 1] on x [B, L, D] gives [B, O, D].
func tokenConv(v nn.Vars, x *Node) *Node {
	w := v.Get("weight")
	d := w.Shape().Dimensions
	y := Einsum("ol,bld->bod", Reshape(w, d[0], d[1]), x)
	return Add(y, Reshape(v.Get("bias"), 1, d[0], 1))
}

// CondOutputs are the conditioning model's output and intermediates.
type CondOutputs struct {
	Latent  *Node // fMRI encoder output [B, L, D]
	Mapped  *Node // channel_mapper output [B, SeqLen, D]
	Context *Node // dim_mapper output, the UNet context [B, SeqLen, CondDim]
}

// Condition maps fMRI [B, V] to the cross-attention context
// [B, SeqLen, CondDim]: encoder (no cls, no masking), channel mapper
// Conv1d(L→L/2→SeqLen) over tokens without activation, Linear(D→CondDim).
func Condition(v nn.Vars, cfg CondConfig, fmri *Node) *Node {
	return ConditionAll(v, cfg, fmri).Context
}

// ConditionAll is Condition returning the intermediates too.
func ConditionAll(v nn.Vars, cfg CondConfig, fmri *Node) CondOutputs {
	o := MapLatent(v, fmrimae.EncodeNoMask(v.In("mae"), cfg.Encoder, fmri))
	return o
}

// EncodeFMRI is the conditioning model's fMRI encoder alone: fmri [B, V] →
// latent [B, L, D].
func EncodeFMRI(v nn.Vars, cfg CondConfig, fmri *Node) *Node {
	return fmrimae.EncodeNoMask(v.In("mae"), cfg.Encoder, fmri)
}

// MapLatent applies the channel and dim mappers to an encoder latent
// [B, L, D], giving the context [B, SeqLen, CondDim]. Training with a frozen
// encoder feeds it precomputed latents.
func MapLatent(v nn.Vars, latent *Node) CondOutputs {
	o := CondOutputs{Latent: latent}
	if v.Has("latent_mean") {
		latent = Div(Sub(latent, ExpandDims(v.Get("latent_mean"), 0)), ExpandDims(v.Get("latent_std"), 0))
	}
	o.Mapped = tokenConv(v.In("channel_mapper.1"), tokenConv(v.In("channel_mapper.0"), latent))
	o.Context = nn.Linear(v.In("dim_mapper"), o.Mapped)
	return o
}
