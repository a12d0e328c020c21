package fmrimae

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// optimFixtureConfig is the "config" object of an optim fixture.
type optimFixtureConfig struct {
	Betas         []float64 `json:"betas"`
	Eps           float64   `json:"eps"`
	WeightDecay   float64   `json:"weight_decay"`
	ClipGrad      float64   `json:"clip_grad"`
	BaseLR        float64   `json:"base_lr"`
	MinLR         float64   `json:"min_lr"`
	WarmupEpochs  float64   `json:"warmup_epochs"`
	NumEpoch      float64   `json:"num_epoch"`
	Epoch         float64   `json:"epoch"`
	Iter          float64   `json:"iter"`
	ItersPerEpoch float64   `json:"iters_per_epoch"`
}

// TestParityOptim compares nn.Trainer with every optim fixture: two steps
// of AdamW (betas, eps, decoupled weight decay skipped for 1-D parameters
// and biases), global-norm clipping and the warm-up/cosine learning rate.
//
// Two runs per fixture. "reference-gradients" feeds the reference's own
// step-1 and step-2 gradients (a loss linear in the parameters, Σ g·p, has
// exactly that gradient), so it tests the optimizer alone: gradient norms,
// parameters, moments and updates must match for every element. "objective"
// trains on the phase-1 objective end to end, with the model inputs of the
// fmri_mae fixture of the same name; there, elements whose gradient is at
// float-rounding level cannot be pinned by the fixture (see checkUpdate).
func TestParityOptim(t *testing.T) {
	parity.ForEach(t, "optim", "", func(t *testing.T, f *parity.Fixture) {
		var oc optimFixtureConfig
		if err := f.Config(&oc); err != nil {
			t.Fatal(err)
		}
		mf, err := parity.Load(filepath.Join(filepath.Dir(f.Dir), "fmri_mae", f.Name+".npz"))
		if err != nil {
			t.Fatalf("optim fixture %s needs its fmri_mae inputs: %v", f.Name, err)
		}
		fc, _ := fixtureModel(t, mf, "param/")
		cfg, w := fc.model(), fc.weights()
		checkParamGroups(t, f, loadFixtureParams(t, f, "param/", cfg))

		// Learning rates: the schedule table and the two steps' values.
		ep64, _ := f.Array(t, "in/lr_table_epochs").Float64()
		table := make([]float64, len(ep64))
		for i, e := range ep64 {
			table[i] = nn.WarmupCosine(oc.BaseLR, oc.MinLR, oc.WarmupEpochs, oc.NumEpoch, e)
		}
		f.Check64(t, "out/lr_table", table)
		lrs := []float64{
			nn.WarmupCosine(oc.BaseLR, oc.MinLR, oc.WarmupEpochs, oc.NumEpoch, oc.Epoch+oc.Iter/oc.ItersPerEpoch),
			nn.WarmupCosine(oc.BaseLR, oc.MinLR, oc.WarmupEpochs, oc.NumEpoch, oc.Epoch+(oc.Iter+1)/oc.ItersPerEpoch),
		}
		f.Check64(t, "out/lr", lrs[:1])
		f.Check64(t, "out/lr2", lrs[1:])
		stepCfg := nn.StepConfig{
			Opt:      nn.AdamW{Beta1: oc.Betas[0], Beta2: oc.Betas[1], Eps: oc.Eps, WeightDecay: oc.WeightDecay},
			ClipNorm: oc.ClipGrad,
		}

		t.Run("reference-gradients", func(t *testing.T) {
			ps := loadFixtureParams(t, f, "param/", cfg)
			var names []string
			for _, p := range ps.List() {
				if !p.Frozen {
					names = append(names, p.Name)
				}
			}
			tr, err := nn.NewTrainer(backend.Default(), ps, stepCfg, func(v nn.Vars, in []*Node) (*Node, []*Node) {
				var loss *Node
				for i, name := range names {
					term := ReduceAllSum(Mul(v.Get(name), in[i]))
					if loss == nil {
						loss = term
					} else {
						loss = Add(loss, term)
					}
				}
				return loss, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			gradInputs := func(prefix string) []*tensors.Tensor {
				out := make([]*tensors.Tensor, len(names))
				for i, name := range names {
					out[i] = tensors.FromFlatDataAndDimensions(f.F32(t, prefix+name), f.Shape(t, prefix+name)...)
				}
				return out
			}
			twoSteps(t, f, oc, ps, tr, lrs, [2][]*tensors.Tensor{gradInputs("grad/"), gradInputs("grad2/")}, true, nil)
		})

		t.Run("objective", func(t *testing.T) {
			ps := loadFixtureParams(t, f, "param/", cfg)
			ma, mb := fixtureMasks(t, mf, cfg)
			xs := mf.Shape(t, "in/x")
			x := tensors.FromFlatDataAndDimensions(mf.F32(t, "in/x"), xs[0], xs[len(xs)-1])

			// Clipped gradients: our gradient times our clip coefficient.
			grads := objectiveGrads(t, cfg, w, ps, x, ma, mb)
			norm := 0.0
			for _, g := range grads {
				for _, v := range g {
					norm += float64(v) * float64(v)
				}
			}
			norm = math.Sqrt(norm)
			f.Check64(t, "out/grad_norm", []float64{norm})
			coef := float32(math.Min(1, float64(float32(oc.ClipGrad)/float32(norm+1e-6))))
			f.Check(t, "out/clip_coef", []float32{coef})
			for name, g := range grads {
				c := make([]float32, len(g))
				for i, v := range g {
					c[i] = v * coef
				}
				f.Check(t, "out/grad_clipped/"+name, c)
			}

			tr, err := nn.NewTrainer(backend.Default(), ps, stepCfg, func(v nn.Vars, in []*Node) (*Node, []*Node) {
				return Objective(v, cfg, w, in[0], in[1], in[2]).Total, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			in := []*tensors.Tensor{x, ma.KeepTensor(), mb.KeepTensor()}
			twoSteps(t, f, oc, ps, tr, lrs, [2][]*tensors.Tensor{in, in}, false, func() {
				// The gradient at the step-1 parameters, before clipping.
				for name, g := range objectiveGrads(t, cfg, w, ps, x, ma, mb) {
					f.Check(t, "grad2/"+name, g)
				}
			})
		})
	})
}

// twoSteps runs two training steps with the given inputs and compares
// gradient norms, parameters and moments after each with the fixture.
// exact: the gradients are the reference's own, so every element is
// compared, updates included; otherwise checkUpdate's rules apply.
// beforeStep2, if set, runs between the steps (on synced parameters).
func twoSteps(t *testing.T, f *parity.Fixture, oc optimFixtureConfig, ps *nn.Params, tr *nn.Trainer,
	lrs []float64, inputs [2][]*tensors.Tensor, exact bool, beforeStep2 func()) {
	t.Helper()
	noisy := map[string][]bool{} // per parameter: elements not pinned by the fixture so far
	for step, s := range []struct {
		grad, norm, param, avg, avg2 string
	}{
		{"grad/", "out/grad_norm", "out/param/", "out/exp_avg/", "out/exp_avg_sq/"},
		{"grad2/", "out/grad_norm2", "out/param2/", "out/exp_avg2/", "out/exp_avg_sq2/"},
	} {
		if step > 0 && beforeStep2 != nil {
			beforeStep2()
		}
		before := ps.Clone()
		res, err := tr.Step(lrs[step], inputs[step]...)
		if err != nil {
			t.Fatal(err)
		}
		f.Check64(t, s.norm, res.GradNorms)
		tr.Sync()
		st := tr.State()
		unpinned := 0
		for _, p := range ps.List() {
			if p.Frozen {
				f.Check(t, s.param+p.Name, p.Data)
				if _, ok := st.M[p.Name]; ok {
					t.Errorf("frozen %s has optimizer state", p.Name)
				}
				continue
			}
			wd := oc.WeightDecay
			if p.NoDecay {
				wd = 0
			}
			unpinned += checkUpdate(t, f, s.param, s.grad, p.Name, before.Get(p.Name).Data, p.Data, lrs[step], wd, exact, noisy)
			f.Check(t, s.avg+p.Name, st.M[p.Name])
			f.Check(t, s.avg2+p.Name, st.V[p.Name])
		}
		if !exact {
			t.Logf("step %d: lr %.6g, grad norm %.6g, loss %.6g; %d elements with a reference gradient within its tolerance of 0 checked against the AdamW bound only",
				step+1, lrs[step], res.GradNorms[0], res.Loss, unpinned)
		}
	}
}

// checkParamGroups compares our weight-decay groups (nn.Params NoDecay)
// with the fixture's timm add_weight_decay groups.
func checkParamGroups(t *testing.T, f *parity.Fixture, ps *nn.Params) {
	t.Helper()
	var groups []struct {
		WeightDecay float64  `json:"weight_decay"`
		Params      []string `json:"params"`
	}
	raw, ok := f.Meta["param_groups"]
	if !ok {
		return
	}
	if err := json.Unmarshal(raw, &groups); err != nil {
		t.Fatalf("param_groups: %v", err)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		for _, name := range g.Params {
			p := ps.Get(name)
			switch {
			case p == nil:
				t.Errorf("param group names unknown parameter %s", name)
			case p.Frozen:
				t.Errorf("frozen %s is in an optimizer group", name)
			case p.NoDecay != (g.WeightDecay == 0):
				t.Errorf("%s: NoDecay = %v, reference weight decay %g", name, p.NoDecay, g.WeightDecay)
			}
			seen[name] = true
		}
	}
	for _, p := range ps.List() {
		if !p.Frozen && !seen[p.Name] {
			t.Errorf("trainable %s is in no reference param group", p.Name)
		}
	}
}

// checkUpdate compares a parameter after an AdamW step with the fixture:
// its value (paramPrefix+name, under that key's tolerance) and, when exact,
// also its update after − before (rtol 1e-3, atol 1e-9 plus one float32 ulp
// of the parameter, as the optim fixture's tolerance_note asks: the updates
// are ~lr, far below the parameters' own atol).
//
// Without exact (our own gradients), elements whose reference gradient
// (gradPrefix+name) lies within that gradient's own tolerance of zero are not
// pinned by the fixture: AdamW divides by √v + eps, so a gradient of
// float-rounding size (e.g. the key bias of attention, whose true gradient
// is exactly 0) still moves the parameter by up to ±lr, in a direction set by
// rounding. There only the AdamW bound |update| ≤ 1.1·lr + lr·wd·|p| is
// checked; noisy carries such elements from step to step (AdamW's moments
// remember the noise). It returns how many there were.
func checkUpdate(t *testing.T, f *parity.Fixture, paramPrefix, gradPrefix, name string, before, after []float32,
	lr, wd float64, exact bool, noisy map[string][]bool) int {
	t.Helper()
	key, gradKey := paramPrefix+name, gradPrefix+name
	want, err := f.Array(t, key).Float64()
	if err != nil {
		t.Fatal(err)
	}
	grad, err := f.Array(t, gradKey).Float64()
	if err != nil {
		t.Fatal(err)
	}
	_, grtol, gatol := f.Tolerance(gradKey)
	_, rtol, atol := f.Tolerance(key)
	const drtol, datol = 1e-3, 1e-9
	if noisy[name] == nil {
		noisy[name] = make([]bool, len(after))
	}
	unpinned, bad := 0, 0
	for i := range after {
		got, b := float64(after[i]), float64(before[i])
		if !exact && math.Abs(grad[i]) <= gatol+grtol*math.Abs(grad[i]) {
			noisy[name][i] = true
		}
		if noisy[name][i] {
			unpinned++
			if math.Abs(got-b) > 1.1*lr+lr*wd*math.Abs(b) {
				t.Errorf("%s[%d]: update %.3g exceeds the AdamW bound at lr %.3g", key, i, got-b, lr)
			}
			continue
		}
		dGot, dWant := got-b, want[i]-b
		ulp := float64(math.Nextafter32(float32(math.Abs(want[i])), math.MaxFloat32)) - math.Abs(want[i])
		if math.Abs(got-want[i]) > atol+rtol*math.Abs(want[i]) || exact && math.Abs(dGot-dWant) > datol+ulp+drtol*math.Abs(dWant) {
			if bad == 0 {
				t.Errorf("%s[%d]: got %.9g (update %.6g), want %.9g (update %.6g); reference gradient %.3g",
					key, i, got, dGot, want[i], dWant, grad[i])
			}
			bad++
		}
	}
	if bad > 1 {
		t.Errorf("%s: %d of %d values out of tolerance", key, bad, len(after))
	}
	return unpinned
}

// objectiveGrads evaluates the gradient of the objective's total with
// respect to every trainable parameter.
func objectiveGrads(t *testing.T, cfg Config, w LossWeights, ps *nn.Params, x *tensors.Tensor, ma, mb Mask) map[string][]float32 {
	t.Helper()
	var names []string
	for _, p := range ps.List() {
		if !p.Frozen {
			names = append(names, p.Name)
		}
	}
	fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
		nodes := make([]*Node, len(names))
		for i, n := range names {
			nodes[i] = v.Get(n)
		}
		return Gradient(Objective(v, cfg, w, in[0], in[1], in[2]).Total, nodes...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := fwd.Run(nn.ParamTensors(ps), x, ma.KeepTensor(), mb.KeepTensor())
	if err != nil {
		t.Fatal(err)
	}
	g := map[string][]float32{}
	for i, n := range names {
		g[n] = nn.ToFloat32(outs[i])
	}
	return g
}
