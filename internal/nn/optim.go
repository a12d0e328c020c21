package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// AdamW holds torch.optim.AdamW's settings. Weight decay is decoupled
// (p ← p·(1−lr·wd)) and skipped for parameters marked NoDecay.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
}

// LossFn builds a training objective: the scalar loss and any extra outputs to
// report (their values are returned by Step, computed before the update).
type LossFn func(v Vars, inputs []*Node) (loss *Node, extras []*Node)

// StepConfig describes one optimizer step.
type StepConfig struct {
	Opt AdamW
	// ClipNorm clips the global L2 norm of the gradients (torch
	// clip_grad_norm_: g·min(1, c/(‖g‖+1e-6))); 0 disables clipping.
	ClipNorm float64
	// ClipGroups splits the trainable parameters into groups clipped
	// separately (phase 2 clips each model on its own). A parameter goes to
	// the first group whose function accepts its name; nil means one group.
	ClipGroups []func(name string) bool
}

// StepResult is what one training step reports.
type StepResult struct {
	Loss      float64
	Extras    []*tensors.Tensor
	GradNorms []float64 // one per clip group, before clipping
}

// Trainer owns the device copies of a parameter set and its AdamW moments and
// runs compiled training steps. One graph takes every parameter and moment as
// an input (donated, so buffers are reused) and returns the updated values.
type Trainer struct {
	backend   compute.Backend
	params    *Params
	cfg       StepConfig
	fn        LossFn
	trainable []*Param
	frozen    []*Param
	groupOf   []int
	nGroups   int
	pt, ft    []*tensors.Tensor // trainable and frozen parameter values
	m, v      []*tensors.Tensor
	step      int // AdamW steps taken
	exec      *Exec
	dirty     bool // device values newer than host Params
}

// NewTrainer prepares training of ps under fn. Moments start at zero.
func NewTrainer(backend compute.Backend, ps *Params, cfg StepConfig, fn LossFn) (*Trainer, error) {
	t := &Trainer{backend: backend, params: ps, cfg: cfg, fn: fn}
	t.nGroups = max(1, len(cfg.ClipGroups))
	for _, p := range ps.List() {
		if p.Frozen {
			t.frozen = append(t.frozen, p)
			t.ft = append(t.ft, p.Tensor())
			continue
		}
		g := 0
		if len(cfg.ClipGroups) > 0 {
			g = -1
			for i, accept := range cfg.ClipGroups {
				if accept(p.Name) {
					g = i
					break
				}
			}
			if g < 0 {
				return nil, fmt.Errorf("nn: trainable parameter %s is in no clip group", p.Name)
			}
		}
		t.trainable = append(t.trainable, p)
		t.groupOf = append(t.groupOf, g)
		t.pt = append(t.pt, p.Tensor())
		t.m = append(t.m, tensors.FromFlatDataAndDimensions(make([]float32, p.Size()), p.Shape...))
		t.v = append(t.v, tensors.FromFlatDataAndDimensions(make([]float32, p.Size()), p.Shape...))
	}
	if len(t.trainable) == 0 {
		return nil, fmt.Errorf("nn: no trainable parameters")
	}
	exec, err := NewExec(backend, t.buildStep)
	if err != nil {
		return nil, err
	}
	t.exec = exec.WithName("train_step")
	return t, nil
}

// Steps is the number of optimizer steps taken (AdamW's t).
func (t *Trainer) Steps() int { return t.step }

// Params returns the parameter set; call Sync first to see trained values.
func (t *Trainer) Params() *Params { return t.params }

// names of trainable then frozen parameters, the order of the graph inputs.
func (t *Trainer) allNames() []string {
	names := make([]string, 0, len(t.trainable)+len(t.frozen))
	for _, p := range t.trainable {
		names = append(names, p.Name)
	}
	for _, p := range t.frozen {
		names = append(names, p.Name)
	}
	return names
}

const numScalars = 4 // lr·wd decay factor, step size, √(bias correction 2), unused slot for symmetry

func (t *Trainer) buildStep(g *Graph, in []*Node) []*Node {
	n, f := len(t.trainable), len(t.frozen)
	params := in[:n]
	frozen := in[n : n+f]
	ms := in[n+f : 2*n+f]
	vs := in[2*n+f : 3*n+f]
	sc := in[3*n+f : 3*n+f+numScalars]
	batch := in[3*n+f+numScalars:]
	decay, stepSize, bc2sqrt := sc[0], sc[1], sc[2]

	all := append(append([]*Node{}, params...), frozen...)
	for i := n; i < len(all); i++ {
		all[i] = StopGradient(all[i])
	}
	vars := NewVars(g, t.allNames(), all)
	loss, extras := t.fn(vars, batch)
	grads := Gradient(loss, params...)

	// Global-norm clipping per group, as torch.nn.utils.clip_grad_norm_.
	norms := make([]*Node, t.nGroups)
	for gi := range norms {
		var sq *Node
		for i, gr := range grads {
			if t.groupOf[i] != gi {
				continue
			}
			s := ReduceAllSum(Square(gr))
			if sq == nil {
				sq = s
			} else {
				sq = Add(sq, s)
			}
		}
		if sq == nil {
			sq = ScalarF32(g, 0)
		}
		norms[gi] = Sqrt(sq)
	}
	if t.cfg.ClipNorm > 0 {
		coefs := make([]*Node, t.nGroups)
		for gi, nrm := range norms {
			c := Div(ScalarF32(g, t.cfg.ClipNorm), AddScalar(nrm, 1e-6))
			coefs[gi] = Min(c, ScalarF32(g, 1))
		}
		for i := range grads {
			grads[i] = Mul(grads[i], coefs[t.groupOf[i]])
		}
	}

	o := t.cfg.Opt
	out := []*Node{loss}
	out = append(out, extras...)
	out = append(out, norms...)
	newP := make([]*Node, n)
	newM := make([]*Node, n)
	newV := make([]*Node, n)
	for i, p := range params {
		gr := grads[i]
		if !t.trainable[i].NoDecay && o.WeightDecay != 0 {
			p = Mul(p, decay)
		}
		m := Add(MulScalar(ms[i], float32(o.Beta1)), MulScalar(gr, float32(1-o.Beta1)))
		v := Add(MulScalar(vs[i], float32(o.Beta2)), MulScalar(Square(gr), float32(1-o.Beta2)))
		denom := AddScalar(Div(Sqrt(v), bc2sqrt), float32(o.Eps))
		newP[i] = Sub(p, Mul(stepSize, Div(m, denom)))
		newM[i], newV[i] = m, v
	}
	out = append(out, newP...)
	out = append(out, newM...)
	return append(out, newV...)
}

// Step runs one training step at learning rate lr on the batch inputs.
func (t *Trainer) Step(lr float64, inputs ...*tensors.Tensor) (StepResult, error) {
	n := len(t.trainable)
	o := t.cfg.Opt
	stepNum := t.step + 1
	bc1 := 1 - math.Pow(o.Beta1, float64(stepNum))
	bc2 := 1 - math.Pow(o.Beta2, float64(stepNum))
	args := make([]any, 0, 3*n+len(t.ft)+numScalars+len(inputs))
	for _, group := range [][]*tensors.Tensor{t.pt} {
		for _, x := range group {
			d, err := DonateTensorBuffer(x, t.backend, 0)
			if err != nil {
				return StepResult{}, err
			}
			args = append(args, d)
		}
	}
	for _, x := range t.ft {
		args = append(args, x)
	}
	for _, group := range [][]*tensors.Tensor{t.m, t.v} {
		for _, x := range group {
			d, err := DonateTensorBuffer(x, t.backend, 0)
			if err != nil {
				return StepResult{}, err
			}
			args = append(args, d)
		}
	}
	args = append(args,
		tensors.FromScalar(float32(1-lr*o.WeightDecay)),
		tensors.FromScalar(float32(lr/bc1)),
		tensors.FromScalar(float32(math.Sqrt(bc2))),
		tensors.FromScalar(float32(0)))
	for _, x := range inputs {
		args = append(args, x)
	}
	outs, err := t.exec.Call(args...)
	if err != nil {
		return StepResult{}, fmt.Errorf("training step: %w", err)
	}
	nExtras := len(outs) - 1 - t.nGroups - 3*n
	res := StepResult{Loss: scalarValue(outs[0])}
	res.Extras = outs[1 : 1+nExtras]
	for _, x := range outs[1+nExtras : 1+nExtras+t.nGroups] {
		res.GradNorms = append(res.GradNorms, scalarValue(x))
	}
	rest := outs[1+nExtras+t.nGroups:]
	copy(t.pt, rest[:n])
	copy(t.m, rest[n:2*n])
	copy(t.v, rest[2*n:])
	t.step = stepNum
	t.dirty = true
	return res, nil
}

func scalarValue(x *tensors.Tensor) float64 {
	switch x.DType() {
	case dtypes.Float32:
		return float64(tensors.MustCopyFlatData[float32](x)[0])
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)[0]
	}
	panic(fmt.Sprintf("nn: scalar of dtype %s", x.DType()))
}

// Sync copies the device parameter values back into the host Params.
func (t *Trainer) Sync() {
	if !t.dirty {
		return
	}
	for i, p := range t.trainable {
		copy(p.Data, tensors.MustCopyFlatData[float32](t.pt[i]))
	}
	t.dirty = false
}

// Tensors returns the current parameter values in Params order, for a Forward.
func (t *Trainer) Tensors() []*tensors.Tensor {
	byName := map[string]*tensors.Tensor{}
	for i, p := range t.trainable {
		byName[p.Name] = t.pt[i]
	}
	for i, p := range t.frozen {
		byName[p.Name] = t.ft[i]
	}
	out := make([]*tensors.Tensor, 0, len(byName))
	for _, p := range t.params.List() {
		out = append(out, byName[p.Name])
	}
	return out
}

// OptimizerState is AdamW's state, for checkpoints.
type OptimizerState struct {
	Step int
	M, V map[string][]float32
}

// State copies the optimizer state to the host.
func (t *Trainer) State() OptimizerState {
	s := OptimizerState{Step: t.step, M: map[string][]float32{}, V: map[string][]float32{}}
	for i, p := range t.trainable {
		s.M[p.Name] = tensors.MustCopyFlatData[float32](t.m[i])
		s.V[p.Name] = tensors.MustCopyFlatData[float32](t.v[i])
	}
	return s
}

// SetState restores the optimizer state and re-reads the parameter values
// from the host Params (call after loading a checkpoint into them).
func (t *Trainer) SetState(s OptimizerState) error {
	for i, p := range t.trainable {
		m, okM := s.M[p.Name]
		v, okV := s.V[p.Name]
		if !okM || !okV || len(m) != p.Size() || len(v) != p.Size() {
			return fmt.Errorf("optimizer state lacks or mis-sizes %s", p.Name)
		}
		t.m[i] = tensors.FromFlatDataAndDimensions(append([]float32(nil), m...), p.Shape...)
		t.v[i] = tensors.FromFlatDataAndDimensions(append([]float32(nil), v...), p.Shape...)
		t.pt[i] = p.Tensor()
	}
	for i, p := range t.frozen {
		t.ft[i] = p.Tensor()
	}
	t.step = s.Step
	t.dirty = false
	return nil
}

// Forward is a compiled inference function over a parameter set.
type Forward struct {
	exec  *Exec
	names []string
}

// NewForward compiles fn lazily (per input shapes) over parameters names.
func NewForward(backend compute.Backend, names []string, fn func(v Vars, inputs []*Node) []*Node) (*Forward, error) {
	f := &Forward{names: names}
	exec, err := NewExec(backend, func(g *Graph, in []*Node) []*Node {
		return fn(NewVars(g, names, in[:len(names)]), in[len(names):])
	})
	if err != nil {
		return nil, err
	}
	f.exec = exec
	return f, nil
}

// Run evaluates with params (in the order of names) and inputs.
func (f *Forward) Run(params []*tensors.Tensor, inputs ...any) ([]*tensors.Tensor, error) {
	if len(params) != len(f.names) {
		return nil, fmt.Errorf("nn: Forward wants %d parameters, got %d", len(f.names), len(params))
	}
	args := make([]any, 0, len(params)+len(inputs))
	for _, p := range params {
		args = append(args, p)
	}
	args = append(args, inputs...)
	return f.exec.Call(args...)
}

// ParamTensors makes fresh tensors of every parameter, in Params order.
func ParamTensors(ps *Params) []*tensors.Tensor {
	out := make([]*tensors.Tensor, ps.Len())
	for i, p := range ps.List() {
		out[i] = p.Tensor()
	}
	return out
}

// WarmupCosine is the reference's per-iteration schedule (sc_mbm/utils.py
// adjust_learning_rate): linear warm-up lr·e/warmup for e < warmup, then a
// half-cycle cosine down to minLR at total. epoch is fractional
// (iteration/iterations_per_epoch + epoch).
func WarmupCosine(lr, minLR, warmup, total, epoch float64) float64 {
	if epoch < warmup {
		return lr * epoch / warmup
	}
	if total <= warmup {
		return lr
	}
	return minLR + (lr-minLR)*0.5*(1+math.Cos(math.Pi*(epoch-warmup)/(total-warmup)))
}
