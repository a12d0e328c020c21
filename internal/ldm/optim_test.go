package ldm

import (
	"math"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
)

// quadratic is a loss with a known gradient: Σ_p w_p·Σ(p − target)², the
// targets given as the batch input in parameter order.
func quadratic(weights []float64) nn.LossFn {
	return func(v nn.Vars, in []*Node) (*Node, []*Node) {
		var loss *Node
		for i, name := range []string{"a.norm2.weight", "b.weight"} {
			d := Sub(v.Get(name), in[i])
			term := MulScalar(ReduceAllSum(Square(d)), weights[i])
			if loss == nil {
				loss = term
			} else {
				loss = Add(loss, term)
			}
		}
		return loss, nil
	}
}

func quadParams() *nn.Params {
	ps := nn.NewParams()
	ps.Add("a.norm2.weight", []int{3}, []float32{0.5, -1, 2})
	ps.Add("b.weight", []int{2, 2}, []float32{1, 2, -3, 0.25})
	for _, p := range ps.List() {
		p.NoDecay = false
	}
	return ps
}

var quadTargets = [][]float32{{1, 1, 1}, {0, 0, 0, 0}}

func quadInputs() []*tensors.Tensor {
	return []*tensors.Tensor{nn.HostTensor(quadTargets[0], 3), nn.HostTensor(quadTargets[1], 2, 2)}
}

// TestDupTrainerOnceMatchesTrainer: with every parameter listed once, the
// duplicate-aware step is nn.Trainer's step.
func TestDupTrainerOnceMatchesTrainer(t *testing.T) {
	opt := nn.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	w := []float64{3, 1}
	a, b := quadParams(), quadParams()
	tr, err := nn.NewTrainer(backend.Default(), a, nn.StepConfig{Opt: opt, ClipNorm: 0.5}, quadratic(w))
	if err != nil {
		t.Fatal(err)
	}
	dt, err := newDupTrainer(backend.Default(), b, opt, 0.5, quadratic(w), func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r1, err := tr.Step(0.1, quadInputs()...)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := dt.Step(0.1, quadInputs()...)
		if err != nil {
			t.Fatal(err)
		}
		if r1.Loss != r2.Loss || r1.GradNorms[0] != r2.GradNorms[0] {
			t.Errorf("loss/norm %v/%v vs %v/%v", r1.Loss, r1.GradNorms, r2.Loss, r2.GradNorms)
		}
	}
	tr.Sync()
	dt.Sync()
	for _, p := range a.List() {
		q := b.Get(p.Name)
		for i := range p.Data {
			if p.Data[i] != q.Data[i] {
				t.Errorf("%s[%d]: trainer %v, dup trainer %v", p.Name, i, p.Data[i], q.Data[i])
			}
		}
	}
}

// TestDupTrainerMatchesTorchSemantics checks the twice-listed update against
// a float64 model of what torch does with a parameter listed twice: counted
// twice in clip_grad_norm_'s norm, scaled twice, and two AdamW updates with
// the same gradient and a shared step counter.
func TestDupTrainerMatchesTorchSemantics(t *testing.T) {
	opt := nn.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	w := []float64{3, 1}
	const lr, clip = 0.1, 0.5
	ps := quadParams()
	dt, err := newDupTrainer(backend.Default(), ps, opt, clip, quadratic(w), func(n string) bool { return strings.Contains(n, "norm2") })
	if err != nil {
		t.Fatal(err)
	}
	// The float64 model.
	type state struct {
		p, m, v []float64
		step    int
		twice   bool
	}
	var st []*state
	for i, p := range quadParams().List() {
		s := &state{twice: i == 0}
		for _, x := range p.Data {
			s.p = append(s.p, float64(x))
		}
		s.m, s.v = make([]float64, len(s.p)), make([]float64, len(s.p))
		st = append(st, s)
	}
	for range 4 {
		if _, err := dt.Step(lr, quadInputs()...); err != nil {
			t.Fatal(err)
		}
		grads := make([][]float64, len(st))
		sq := 0.0
		for i, s := range st {
			for k, x := range s.p {
				g := 2 * w[i] * (x - float64(quadTargets[i][k]))
				grads[i] = append(grads[i], g)
				if s.twice {
					sq += 2 * g * g
				} else {
					sq += g * g
				}
			}
		}
		coef := math.Min(1, clip/(math.Sqrt(sq)+1e-6))
		for i, s := range st {
			listings := 1
			if s.twice {
				listings = 2
			}
			for k := range grads[i] {
				grads[i][k] *= math.Pow(coef, float64(listings))
			}
			for range listings {
				s.step++
				bc1 := 1 - math.Pow(opt.Beta1, float64(s.step))
				bc2 := 1 - math.Pow(opt.Beta2, float64(s.step))
				for k, g := range grads[i] {
					s.p[k] *= 1 - lr*opt.WeightDecay
					s.m[k] = opt.Beta1*s.m[k] + (1-opt.Beta1)*g
					s.v[k] = opt.Beta2*s.v[k] + (1-opt.Beta2)*g*g
					s.p[k] -= lr / bc1 * s.m[k] / (math.Sqrt(s.v[k])/math.Sqrt(bc2) + opt.Eps)
				}
			}
		}
	}
	dt.Sync()
	for i, p := range ps.List() {
		for k, got := range p.Data {
			if want := st[i].p[k]; math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
				t.Errorf("%s[%d] = %.7f, torch semantics give %.7f", p.Name, k, got, want)
			}
		}
	}
	if st[0].step != 8 || dt.Steps() != 4 {
		t.Errorf("steps: twice-listed %d (want 8), iterations %d (want 4)", st[0].step, dt.Steps())
	}
}

// TestTrainableSets checks the reference's name filter and the whole-UNet
// option, that weight decay applies to every parameter, and that the
// parameters set outside training (latent statistics, the ridge map) stay
// fixed in both sets.
func TestTrainableSets(t *testing.T) {
	cfg := smallConfig(t)
	if !cfg.Cond.Standardize || !cfg.RidgeConcat {
		t.Fatal("smallConfig should standardise latents and concatenate the ridge guess (the tiny preset)")
	}
	ps := NewParams(cfg, 1)
	fixed := 0
	SetTrainable(ps, TrainReference)
	for _, p := range ps.List() {
		want := strings.HasPrefix(p.Name, CondPrefix) || strings.Contains(p.Name, "attn2") ||
			strings.Contains(p.Name, "norm2") || strings.Contains(p.Name, "time_embed_condtion")
		if fixedParam(p.Name) {
			want = false
			fixed++
		}
		if p.Frozen == want {
			t.Errorf("%s: frozen %v in the reference set", p.Name, p.Frozen)
		}
		if p.NoDecay {
			t.Errorf("%s excluded from weight decay", p.Name)
		}
	}
	if p := ps.Get(CondPrefix + "mae.pos_embed"); p == nil || p.Frozen {
		t.Errorf("the encoder's pos_embed must be trained, as in the reference")
	}
	if fixed != 4 {
		t.Errorf("%d fixed parameters, want 4 (latent_mean, latent_std, ridge.weight, ridge.bias)", fixed)
	}
	SetTrainable(ps, TrainAll)
	for _, p := range ps.List() {
		if p.Frozen != fixedParam(p.Name) {
			t.Errorf("%s: frozen %v with the whole UNet trained", p.Name, p.Frozen)
		}
	}
	n := 0
	for _, p := range ps.List() {
		if duplicatedInReference(p.Name) {
			n++
			if !strings.Contains(p.Name, ".mae.blocks.") {
				t.Errorf("%s is not an encoder block's norm2", p.Name)
			}
		}
	}
	if want := 2 * cfg.Cond.Encoder.Depth; n != want {
		t.Errorf("%d duplicated parameters, want %d (blocks.*.norm2 weight and bias)", n, want)
	}
}
