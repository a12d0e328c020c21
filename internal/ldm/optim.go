package ldm

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
)

// stepper is what Tune needs from an optimizer: nn.Trainer, or dupTrainer
// when the reference's duplicated parameter listing is reproduced.
type stepper interface {
	Step(lr float64, inputs ...*tensors.Tensor) (nn.StepResult, error)
	Steps() int
	Sync()
	State() nn.OptimizerState
	SetState(nn.OptimizerState) error
	Tensors() []*tensors.Tensor
}

func newStepper(backend compute.Backend, ps *nn.Params, cfg TuneConfig) (stepper, error) {
	opt := nn.AdamW{Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps, WeightDecay: cfg.WeightDecay}
	fn := lossFn(cfg.Model, cfg.FreezeEncoder)
	if !cfg.DuplicateNorm2 {
		return nn.NewTrainer(backend, ps, nn.StepConfig{Opt: opt, ClipNorm: cfg.ClipNorm}, fn)
	}
	return newDupTrainer(backend, ps, opt, cfg.ClipNorm, fn, duplicatedInReference)
}

// dupTrainer reproduces what torch does when a parameter appears twice in an
// optimizer's parameter list, as the fMRI encoder's blocks.*.norm2 do in the
// reference (cad-spec §6 item 24; ddpm.py:1413-1425):
//
//   - Lightning's clip_grad_norm_ over the listed parameters counts the
//     gradient of such a parameter twice in the global norm, and scales it
//     by the clip coefficient twice (once per listing, in place);
//   - torch 1.12 AdamW (_single_tensor_adamw) then updates it twice in the
//     same step with the same gradient, sharing one state, so its step
//     counter advances by two: at iteration k the updates use steps 2k−1
//     and 2k, each with its own bias corrections and weight decay.
//
// Everything else is exactly nn.Trainer's update. Parameters listed once
// behave as there.
type dupTrainer struct {
	backend   compute.Backend
	params    *nn.Params
	opt       nn.AdamW
	clip      float64
	fn        nn.LossFn
	trainable []*nn.Param
	frozen    []*nn.Param
	twice     []bool
	pt, ft    []*tensors.Tensor
	m, v      []*tensors.Tensor
	step      int // iterations taken (the once-listed parameters' AdamW step)
	exec      *Exec
	dirty     bool
}

func newDupTrainer(backend compute.Backend, ps *nn.Params, opt nn.AdamW, clip float64, fn nn.LossFn, twice func(string) bool) (*dupTrainer, error) {
	t := &dupTrainer{backend: backend, params: ps, opt: opt, clip: clip, fn: fn}
	for _, p := range ps.List() {
		if p.Frozen {
			t.frozen = append(t.frozen, p)
			t.ft = append(t.ft, p.Tensor())
			continue
		}
		t.trainable = append(t.trainable, p)
		t.twice = append(t.twice, twice(p.Name))
		t.pt = append(t.pt, p.Tensor())
		t.m = append(t.m, nn.HostTensor(make([]float32, p.Size()), p.Shape...))
		t.v = append(t.v, nn.HostTensor(make([]float32, p.Size()), p.Shape...))
	}
	if len(t.trainable) == 0 {
		return nil, fmt.Errorf("ldm: no trainable parameters")
	}
	exec, err := NewExec(backend, t.build)
	if err != nil {
		return nil, err
	}
	t.exec = exec.WithName("tune_step_dup")
	return t, nil
}

// The scalar inputs: decay factor 1−lr·wd, then (step size, √(1−β2^s)) for
// the single update at step k and for the two updates at 2k−1 and 2k.
const dupScalars = 7

func (t *dupTrainer) names() []string {
	out := make([]string, 0, len(t.trainable)+len(t.frozen))
	for _, p := range t.trainable {
		out = append(out, p.Name)
	}
	for _, p := range t.frozen {
		out = append(out, p.Name)
	}
	return out
}

func (t *dupTrainer) build(g *Graph, in []*Node) []*Node {
	n, f := len(t.trainable), len(t.frozen)
	params := in[:n]
	all := append(append([]*Node{}, params...), in[n:n+f]...)
	for i := n; i < len(all); i++ {
		all[i] = StopGradient(all[i])
	}
	ms, vs := in[n+f:2*n+f], in[2*n+f:3*n+f]
	sc := in[3*n+f : 3*n+f+dupScalars]
	loss, extras := t.fn(nn.NewVars(g, t.names(), all), in[3*n+f+dupScalars:])
	grads := Gradient(loss, params...)

	var sq *Node
	for i, gr := range grads {
		s := ReduceAllSum(Square(gr))
		if t.twice[i] {
			s = MulScalar(s, 2) // listed twice in the clipped parameter list
		}
		if sq == nil {
			sq = s
		} else {
			sq = Add(sq, s)
		}
	}
	norm := Sqrt(sq)
	if t.clip > 0 {
		coef := Min(Div(nn.ScalarF32(g, t.clip), AddScalar(norm, 1e-6)), nn.ScalarF32(g, 1))
		for i := range grads {
			grads[i] = Mul(grads[i], coef)
			if t.twice[i] {
				grads[i] = Mul(grads[i], coef) // scaled in place once per listing
			}
		}
	}
	o := t.opt
	update := func(p, m, v, gr, stepSize, bc2 *Node) (*Node, *Node, *Node) {
		if o.WeightDecay != 0 {
			p = Mul(p, sc[0])
		}
		m = Add(MulScalar(m, float32(o.Beta1)), MulScalar(gr, float32(1-o.Beta1)))
		v = Add(MulScalar(v, float32(o.Beta2)), MulScalar(Square(gr), float32(1-o.Beta2)))
		denom := AddScalar(Div(Sqrt(v), bc2), float32(o.Eps))
		return Sub(p, Mul(stepSize, Div(m, denom))), m, v
	}
	out := append([]*Node{loss}, extras...)
	out = append(out, norm)
	newP, newM, newV := make([]*Node, n), make([]*Node, n), make([]*Node, n)
	for i := range params {
		p, m, v := params[i], ms[i], vs[i]
		if t.twice[i] {
			p, m, v = update(p, m, v, grads[i], sc[3], sc[4])
			p, m, v = update(p, m, v, grads[i], sc[5], sc[6])
		} else {
			p, m, v = update(p, m, v, grads[i], sc[1], sc[2])
		}
		newP[i], newM[i], newV[i] = p, m, v
	}
	out = append(out, newP...)
	out = append(out, newM...)
	return append(out, newV...)
}

// adamScalars returns AdamW's step size lr/(1−β1^s) and √(1−β2^s).
func adamScalars(o nn.AdamW, lr float64, s int) (*tensors.Tensor, *tensors.Tensor) {
	bc1 := 1 - math.Pow(o.Beta1, float64(s))
	bc2 := 1 - math.Pow(o.Beta2, float64(s))
	return tensors.FromScalar(float32(lr / bc1)), tensors.FromScalar(float32(math.Sqrt(bc2)))
}

// Step runs one training step at learning rate lr.
func (t *dupTrainer) Step(lr float64, inputs ...*tensors.Tensor) (nn.StepResult, error) {
	n := len(t.trainable)
	k := t.step + 1
	args := make([]any, 0, 3*n+len(t.ft)+dupScalars+len(inputs))
	donate := func(xs []*tensors.Tensor) error {
		for _, x := range xs {
			d, err := DonateTensorBuffer(x, t.backend, 0)
			if err != nil {
				return err
			}
			args = append(args, d)
		}
		return nil
	}
	if err := donate(t.pt); err != nil {
		return nn.StepResult{}, err
	}
	for _, x := range t.ft {
		args = append(args, x)
	}
	if err := donate(t.m); err != nil {
		return nn.StepResult{}, err
	}
	if err := donate(t.v); err != nil {
		return nn.StepResult{}, err
	}
	s1, b1 := adamScalars(t.opt, lr, k)
	s2a, b2a := adamScalars(t.opt, lr, 2*k-1)
	s2b, b2b := adamScalars(t.opt, lr, 2*k)
	args = append(args, tensors.FromScalar(float32(1-lr*t.opt.WeightDecay)), s1, b1, s2a, b2a, s2b, b2b)
	for _, x := range inputs {
		args = append(args, x)
	}
	outs, err := t.exec.Call(args...)
	if err != nil {
		return nn.StepResult{}, fmt.Errorf("training step: %w", err)
	}
	nExtras := len(outs) - 2 - 3*n
	res := nn.StepResult{Loss: float64(nn.ToFloat32(outs[0])[0]), Extras: outs[1 : 1+nExtras],
		GradNorms: []float64{float64(nn.ToFloat32(outs[1+nExtras])[0])}}
	rest := outs[2+nExtras:]
	copy(t.pt, rest[:n])
	copy(t.m, rest[n:2*n])
	copy(t.v, rest[2*n:])
	t.step = k
	t.dirty = true
	return res, nil
}

// Steps is the number of iterations taken.
func (t *dupTrainer) Steps() int { return t.step }

// Sync copies the device parameter values to the host Params.
func (t *dupTrainer) Sync() {
	if !t.dirty {
		return
	}
	for i, p := range t.trainable {
		copy(p.Data, nn.ToFloat32(t.pt[i]))
	}
	t.dirty = false
}

// State copies the optimizer state to the host. Step counts iterations;
// the twice-listed parameters have taken 2·Step AdamW steps.
func (t *dupTrainer) State() nn.OptimizerState {
	s := nn.OptimizerState{Step: t.step, M: map[string][]float32{}, V: map[string][]float32{}}
	for i, p := range t.trainable {
		s.M[p.Name] = nn.ToFloat32(t.m[i])
		s.V[p.Name] = nn.ToFloat32(t.v[i])
	}
	return s
}

// SetState restores the optimizer state and re-reads the host parameters.
func (t *dupTrainer) SetState(s nn.OptimizerState) error {
	for i, p := range t.trainable {
		m, okM := s.M[p.Name]
		v, okV := s.V[p.Name]
		if !okM || !okV || len(m) != p.Size() || len(v) != p.Size() {
			return fmt.Errorf("optimizer state lacks or mis-sizes %s", p.Name)
		}
		t.m[i] = nn.HostTensor(m, p.Shape...)
		t.v[i] = nn.HostTensor(v, p.Shape...)
		t.pt[i] = p.Tensor()
	}
	for i, p := range t.frozen {
		t.ft[i] = p.Tensor()
	}
	t.step, t.dirty = s.Step, false
	return nil
}

// Tensors returns the current parameter values in Params order.
func (t *dupTrainer) Tensors() []*tensors.Tensor {
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
