package fmrimae

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
)

// Metrics are the objective's terms averaged over a data set.
type Metrics struct {
	N             int     // samples
	Loss          float64 // weighted total
	Mask          float64 // masked-patch MSE
	SelfContrast  float64 // InfoNCE(P_A, x), in-batch negatives
	CrossContrast float64 // InfoNCE(P_A, P_B)
	Corr          float64 // mean per-sample Pearson r of the full reconstruction and the input
}

// Evaluator computes Metrics with a compiled inference graph.
type Evaluator struct {
	fwd *nn.Forward
	cfg Config
	w   LossWeights
}

// NewEvaluator compiles the objective (lazily, per batch size) over the
// parameters of ps.
func NewEvaluator(backend compute.Backend, ps *nn.Params, cfg Config, w LossWeights) (*Evaluator, error) {
	fwd, err := nn.NewForward(backend, ps.Names(), func(v nn.Vars, in []*Node) []*Node {
		var keepB *Node
		if len(in) > 2 {
			keepB = in[2]
		}
		t := Objective(v, cfg, w, in[0], in[1], keepB)
		return append([]*Node{t.Total}, termExtras(t)...)
	})
	if err != nil {
		return nil, err
	}
	return &Evaluator{fwd: fwd, cfg: cfg, w: w}, nil
}

// Evaluate runs the objective over s in batches of batch rows, with masks
// drawn from seed alone, so successive evaluations of a run see the same
// masks and are comparable. params are in Params order (nn.ParamTensors or
// Trainer.Tensors). Batch terms are weighted by batch size; the InfoNCE
// terms depend on the batch composition, as in training.
func (e *Evaluator) Evaluate(params []*tensors.Tensor, s Samples, batch int, seed uint64) (Metrics, error) {
	if s.V != e.cfg.NumVoxels {
		return Metrics{}, fmt.Errorf("evaluation data has %d voxels, the model %d", s.V, e.cfg.NumVoxels)
	}
	tc := TrainConfig{Model: e.cfg, Loss: e.w}
	var m Metrics
	for lo, i := 0, 0; lo < s.N; lo, i = lo+batch, i+1 {
		b := min(batch, s.N-lo)
		in, err := batchInputs(newRNG(seed, streamVal+uint64(i)), tc, s.FMRI[lo*s.V:(lo+b)*s.V], b)
		if err != nil {
			return m, err
		}
		args := make([]any, len(in))
		for j, t := range in {
			args[j] = t
		}
		outs, err := e.fwd.Run(params, args...)
		if err != nil {
			return m, err
		}
		v := nn.Scalars(outs)
		w := float64(b)
		m.Loss += w * v[0]
		m.Mask += w * v[1]
		m.SelfContrast += w * v[2]
		m.CrossContrast += w * v[3]
		m.Corr += w * v[4]
		m.N += b
	}
	if m.N > 0 {
		n := float64(m.N)
		m.Loss, m.Mask, m.SelfContrast, m.CrossContrast, m.Corr = m.Loss/n, m.Mask/n, m.SelfContrast/n, m.CrossContrast/n, m.Corr/n
	}
	return m, nil
}
