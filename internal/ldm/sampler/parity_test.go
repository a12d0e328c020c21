package sampler

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/visdec/visdec/internal/parity"
)

type fixtureConfig struct {
	Batch       int     `json:"batch"`
	Timesteps   int     `json:"timesteps"`
	Schedule    string  `json:"beta_schedule"`
	LinearStart float64 `json:"linear_start"`
	LinearEnd   float64 `json:"linear_end"`
	S           int     `json:"S"`
	Eta         float64 `json:"eta"`
	Discretize  string  `json:"ddim_discretize"`
	Guidance    float64 `json:"unconditional_guidance_scale"`
}

func ints(t *testing.T, f *parity.Fixture, key string) []int {
	t.Helper()
	v, err := f.Array(t, key).Int64()
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func f32s(v []int) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func loadSchedule(t *testing.T, f *parity.Fixture) (*Schedule, fixtureConfig) {
	t.Helper()
	var fc fixtureConfig
	if err := f.Config(&fc); err != nil {
		t.Fatal(err)
	}
	if fc.Schedule != "linear" {
		t.Fatalf("fixture schedule %q; only linear is implemented", fc.Schedule)
	}
	s, err := Linear(fc.Timesteps, fc.LinearStart, fc.LinearEnd)
	if err != nil {
		t.Fatal(err)
	}
	return s, fc
}

// TestScheduleParity checks the schedule buffers (float64 and float32), the
// timesteps and the per-step DDIM/PLMS coefficients.
func TestScheduleParity(t *testing.T) {
	parity.ForEach(t, "schedule_sampler", "", func(t *testing.T, f *parity.Fixture) {
		s, fc := loadSchedule(t, f)
		f.Check64(t, "out/betas_f64", s.Betas64)
		f.Check64(t, "out/alphas_cumprod_f64", s.AlphasCumprod64)
		for key, got := range map[string][]float32{
			"out/betas":                         s.Betas,
			"out/alphas_cumprod":                s.AlphasCumprod,
			"out/alphas_cumprod_prev":           s.AlphasCumprodPrev,
			"out/sqrt_alphas_cumprod":           s.SqrtAlphasCumprod,
			"out/sqrt_one_minus_alphas_cumprod": s.SqrtOneMinusAlphasCumprod,
			"out/sqrt_recip_alphas_cumprod":     s.SqrtRecipAlphasCumprod,
			"out/sqrt_recipm1_alphas_cumprod":   s.SqrtRecipm1AlphasCumprod,
		} {
			f.Check(t, key, got)
		}
		taus, err := Timesteps(fc.Discretize, fc.S, fc.Timesteps)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/timesteps", f32s(taus))
		a, aPrev, sigma, s1 := DDIMParameters(s, taus, fc.Eta)
		f.Check(t, "out/plms_a_t", a)
		f.Check(t, "out/plms_a_prev", aPrev)
		f.Check(t, "out/plms_sqrt_one_minus_a_t", s1)
		for i, v := range sigma {
			if fc.Eta == 0 && v != 0 {
				t.Errorf("sigma[%d] = %g with eta 0", i, v)
			}
		}
	})
}

// replay is an EpsFn that returns recorded ε for each call in order, and
// records the x and t it was called with.
type replay struct {
	eps        [][]float32
	xs         []float32
	ts         []int
	calls      int
	perCallLen int
}

func (r *replay) fn(x []float32, t []int) ([]float32, error) {
	if r.calls >= len(r.eps) {
		return nil, fmt.Errorf("ε model called %d times; the fixture recorded %d calls", r.calls+1, len(r.eps))
	}
	if len(x) != r.perCallLen {
		return nil, fmt.Errorf("call %d: x has %d values, want %d", r.calls, len(x), r.perCallLen)
	}
	r.xs = append(r.xs, x...)
	r.ts = append(r.ts, t...)
	e := r.eps[r.calls]
	r.calls++
	return append([]float32(nil), e...), nil
}

func split(v []float32, n int) [][]float32 {
	per := len(v) / n
	out := make([][]float32, n)
	for i := range out {
		out[i] = v[i*per : (i+1)*per]
	}
	return out
}

// TestPLMSParity replays the reference's recorded ε calls through PLMS: the
// x and t of every model call, every step's raw ε, pred_x0 and x_prev, and
// the final latent must match.
func TestPLMSParity(t *testing.T) {
	parity.ForEach(t, "schedule_sampler", "", func(t *testing.T, f *parity.Fixture) {
		s, fc := loadSchedule(t, f)
		if fc.Guidance != 1 {
			t.Fatalf("fixture uses guidance %g; the replay covers guidance 1", fc.Guidance)
		}
		xT := f.F32(t, "in/x_T")
		b := f.Shape(t, "in/x_T")[0]
		nCalls := f.Shape(t, "out/plms_model_eps")[0]
		r := &replay{eps: split(f.F32(t, "out/plms_model_eps"), nCalls), perCallLen: len(xT)}
		var stepT, stepIndex []int
		var eps, predX0, xs []float32
		x0, err := PLMS(context.Background(), s, xT, b, r.fn, Options{
			Steps: fc.S, Discretize: fc.Discretize, Eta: fc.Eta,
			OnStep: func(st Step) {
				stepT = append(stepT, st.T)
				stepIndex = append(stepIndex, st.Index)
				eps = append(eps, st.Eps...)
				predX0 = append(predX0, st.PredX0...)
				xs = append(xs, st.X...)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.calls != nCalls {
			t.Fatalf("ε model called %d times, the reference %d", r.calls, nCalls)
		}
		f.Check(t, "out/plms_model_t", f32s(r.ts))
		f.Check(t, "out/plms_model_x", r.xs)
		f.Check(t, "out/plms_step_t", f32s(stepT))
		f.Check(t, "out/plms_step_index", f32s(stepIndex))
		f.Check(t, "out/plms_eps_steps", eps)
		f.Check(t, "out/plms_pred_x0_steps", predX0)
		f.Check(t, "out/plms_x_steps", xs)
		f.Check(t, "out/x0_plms", x0)
	})
}

// TestDDIMParity replays DDIM (η from the fixture, 0). The fixture records
// pred_x0 and x after each step but not ε, so ε_k is recovered from the
// step's input x and pred_x0: ε = (x − √ᾱ_τ·pred_x0)/√(1−ᾱ_τ). The sampler
// must then reproduce x_prev = √ᾱ_prev·pred_x0 + √(1−ᾱ_prev)·ε, which checks
// the timestep order and both ᾱ per step. The first recovered ε is also
// compared with the PLMS run's first recorded ε (same model, x_T and t).
func TestDDIMParity(t *testing.T) {
	parity.ForEach(t, "schedule_sampler", "", func(t *testing.T, f *parity.Fixture) {
		s, fc := loadSchedule(t, f)
		xT := f.F32(t, "in/x_T")
		b := f.Shape(t, "in/x_T")[0]
		n := f.Shape(t, "out/ddim_x_steps")[0]
		pred := split(f.F32(t, "out/ddim_pred_x0_steps"), n)
		xsRef := split(f.F32(t, "out/ddim_x_steps"), n)
		taus, err := Timesteps(fc.Discretize, fc.S, fc.Timesteps)
		if err != nil {
			t.Fatal(err)
		}
		if len(taus) != n {
			t.Fatalf("%d timesteps, the fixture has %d DDIM steps", len(taus), n)
		}
		a, _, _, _ := DDIMParameters(s, taus, fc.Eta)
		recovered := make([][]float32, n)
		for k := 0; k < n; k++ {
			in := xT
			if k > 0 {
				in = xsRef[k-1]
			}
			at := float64(a[n-1-k])
			e := make([]float32, len(in))
			for i := range e {
				e[i] = float32((float64(in[i]) - math.Sqrt(at)*float64(pred[k][i])) / math.Sqrt(1-at))
			}
			recovered[k] = e
		}
		first := split(f.F32(t, "out/plms_model_eps"), f.Shape(t, "out/plms_model_eps")[0])[0]
		for i := range first {
			if d := math.Abs(float64(first[i] - recovered[0][i])); d > 1e-3*(1+math.Abs(float64(first[i]))) {
				t.Fatalf("recovered DDIM ε[0][%d] = %g, PLMS's first ε %g", i, recovered[0][i], first[i])
			}
		}
		r := &replay{eps: recovered, perCallLen: len(xT)}
		var predX0, xs []float32
		var ts []int
		x0, err := DDIM(context.Background(), s, xT, b, r.fn, Options{
			Steps: fc.S, Discretize: fc.Discretize, Eta: fc.Eta,
			OnStep: func(st Step) {
				predX0 = append(predX0, st.PredX0...)
				xs = append(xs, st.X...)
				ts = append(ts, st.T)
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, tt := range ts {
			if want := taus[n-1-k]; tt != want {
				t.Errorf("DDIM step %d at t=%d, want %d", k, tt, want)
			}
		}
		for i, tt := range r.ts {
			if want := taus[n-1-i/b]; tt != want {
				t.Errorf("DDIM model call %d item %d at t=%d, want %d", i/b, i%b, tt, want)
				break
			}
		}
		f.Check(t, "out/ddim_pred_x0_steps", predX0)
		f.Check(t, "out/ddim_x_steps", xs)
		f.Check(t, "out/x0_ddim", x0)
	})
}

// TestTrainingPiecesParity checks q_sample (x_noisy) and the ε-prediction
// loss given the reference UNet's eps_pred.
func TestTrainingPiecesParity(t *testing.T) {
	parity.ForEach(t, "schedule_sampler", "", func(t *testing.T, f *parity.Fixture) {
		s, _ := loadSchedule(t, f)
		tt := ints(t, f, "in/t_train")
		noise := f.F32(t, "in/noise")
		xNoisy, err := s.QSample(f.F32(t, "in/z0"), noise, tt)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/x_noisy", xNoisy)
		loss, err := EpsLoss(f.F32(t, "out/eps_pred"), noise)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/p_loss", []float32{float32(loss)})
	})
}
