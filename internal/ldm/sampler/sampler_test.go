package sampler

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

func TestTimesteps(t *testing.T) {
	tests := []struct {
		method      string
		S           int
		wantLen     int
		first, last int
	}{
		{"uniform", 250, 250, 1, 997}, // the paper's sampler
		{"uniform", 10, 10, 1, 901},
		{"uniform", 400, 500, 1, 999}, // T/S rounds down: more steps than asked, as the reference
		{"", 1, 1, 1, 1},
		{"quad", 10, 10, 1, 801}, // floor(800) + 1
	}
	for _, tt := range tests {
		got, err := Timesteps(tt.method, tt.S, 1000)
		if err != nil {
			t.Errorf("%s S=%d: %v", tt.method, tt.S, err)
			continue
		}
		if len(got) != tt.wantLen || got[0] != tt.first || got[len(got)-1] != tt.last {
			t.Errorf("%s S=%d: %d steps %d…%d, want %d steps %d…%d", tt.method, tt.S,
				len(got), got[0], got[len(got)-1], tt.wantLen, tt.first, tt.last)
		}
		if !slices.IsSorted(got) {
			t.Errorf("%s S=%d: not ascending: %v", tt.method, tt.S, got)
		}
	}
	for _, bad := range []struct {
		method string
		S      int
	}{{"uniform", 0}, {"uniform", 1000}, {"uniform", 1001}, {"cosine", 10},
		{"uniform", 300}, // 0, 3, …, 999 plus one reaches ᾱ[1000]: the reference fails too
	} {
		if _, err := Timesteps(bad.method, bad.S, 1000); err == nil {
			t.Errorf("%s S=%d accepted", bad.method, bad.S)
		}
	}
}

func TestScheduleProperties(t *testing.T) {
	s := Default()
	if s.T != 1000 || math.Abs(s.Betas64[0]-0.0015) > 1e-15 || math.Abs(s.Betas64[999]-0.0195) > 1e-15 {
		t.Fatalf("betas %g … %g over %d steps, want 0.0015 … 0.0195 over 1000", s.Betas64[0], s.Betas64[999], s.T)
	}
	for i := 1; i < s.T; i++ {
		if !(s.AlphasCumprod64[i] < s.AlphasCumprod64[i-1]) {
			t.Fatalf("ᾱ not decreasing at %d", i)
		}
		// √β is linear: equal steps.
		d := math.Sqrt(s.Betas64[i]) - math.Sqrt(s.Betas64[i-1])
		if want := (math.Sqrt(0.0195) - math.Sqrt(0.0015)) / 999; math.Abs(d-want) > 1e-15 {
			t.Fatalf("√β step %d is %g, want %g", i, d, want)
		}
	}
	if s.AlphasCumprodPrev[0] != 1 || s.AlphasCumprodPrev[5] != s.AlphasCumprod[4] {
		t.Errorf("alphas_cumprod_prev must be [1, ᾱ_0, …]")
	}
	for _, bad := range [][3]float64{{1, 0.1, 0.2}, {1000, 0.2, 0.1}, {1000, 0, 0.1}, {1000, 0.1, 1}} {
		if _, err := Linear(int(bad[0]), bad[1], bad[2]); err == nil {
			t.Errorf("Linear(%v) accepted", bad)
		}
	}
}

// oracle is the exact ε model for a single target x0: on the deterministic
// path x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε₀ it returns ε₀, whatever the step.
func oracle(s *Schedule, x0 []float32) EpsFn {
	return func(x []float32, t []int) ([]float32, error) {
		per := len(x) / len(t)
		e := make([]float32, len(x))
		for i := range x {
			ac := float64(s.AlphasCumprod[t[i/per]])
			e[i] = float32((float64(x[i]) - math.Sqrt(ac)*float64(x0[i])) / math.Sqrt(1-ac))
		}
		return e, nil
	}
}

// TestSamplersFollowExactModel: with the exact ε of a known x0 every
// sampler stays on the deterministic path, so each step predicts x0 and the
// last x is √ᾱ_0·x0 + √(1−ᾱ_0)·ε₀ (the reference stops at ᾱ_prev = ᾱ_0, not 1).
func TestSamplersFollowExactModel(t *testing.T) {
	s := Default()
	rng := NewRNG(1, 0)
	b, per := 3, 12
	x0 := Normal(rng, b*per)
	eps0 := Normal(rng, b*per)
	taus, _ := Timesteps("uniform", 25, s.T)
	aT := float64(s.AlphasCumprod[taus[len(taus)-1]])
	xT := make([]float32, len(x0))
	for i := range xT {
		xT[i] = float32(math.Sqrt(aT)*float64(x0[i]) + math.Sqrt(1-aT)*float64(eps0[i]))
	}
	a0 := float64(s.AlphasCumprod[0])
	run := map[string]func(Options) ([]float32, error){
		"plms": func(o Options) ([]float32, error) { return PLMS(context.Background(), s, xT, b, oracle(s, x0), o) },
		"ddim": func(o Options) ([]float32, error) { return DDIM(context.Background(), s, xT, b, oracle(s, x0), o) },
	}
	for name, f := range run {
		steps := 0
		got, err := f(Options{Steps: 25, OnStep: func(st Step) {
			steps++
			for i := range x0 {
				if math.Abs(float64(st.PredX0[i]-x0[i])) > 1e-4 {
					t.Fatalf("%s step %d: pred_x0[%d] = %g, want %g", name, st.I, i, st.PredX0[i], x0[i])
				}
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if steps != 25 {
			t.Errorf("%s: %d steps, want 25", name, steps)
		}
		for i := range got {
			want := math.Sqrt(a0)*float64(x0[i]) + math.Sqrt(1-a0)*float64(eps0[i])
			if math.Abs(float64(got[i])-want) > 1e-4 {
				t.Fatalf("%s: x[%d] = %g, want %g", name, i, got[i], want)
			}
		}
	}
}

// TestPLMSCallsModelSPlusOne counts the model calls and checks the first
// two: t and t_next of the pseudo improved-Euler step.
func TestPLMSCallsModelSPlusOne(t *testing.T) {
	s := Default()
	var ts []int
	eps := func(x []float32, t []int) ([]float32, error) {
		ts = append(ts, t[0])
		return make([]float32, len(x)), nil
	}
	if _, err := PLMS(context.Background(), s, make([]float32, 8), 2, eps, Options{Steps: 50}); err != nil {
		t.Fatal(err)
	}
	if len(ts) != 51 || ts[0] != 981 || ts[1] != 961 || ts[2] != 961 || ts[50] != 1 {
		t.Errorf("calls at %v…; want 51 calls starting 981, 961, 961 and ending at 1", ts[:3])
	}
}

func TestDDIMEtaIsSeeded(t *testing.T) {
	s := Default()
	xT := Normal(NewRNG(2, 0), 16)
	zero := func(x []float32, t []int) ([]float32, error) { return make([]float32, len(x)), nil }
	run := func(seed uint64, eta float64) []float32 {
		out, err := DDIM(context.Background(), s, xT, 2, zero, Options{Steps: 10, Eta: eta, Noise: NewRNG(seed, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if !slices.Equal(run(1, 1), run(1, 1)) {
		t.Errorf("same seed, different samples")
	}
	if slices.Equal(run(1, 1), run(2, 1)) {
		t.Errorf("different seeds, same samples")
	}
	if !slices.Equal(run(1, 0), run(2, 0)) {
		t.Errorf("η = 0 must not draw noise")
	}
	if _, err := DDIM(context.Background(), s, xT, 2, zero, Options{Steps: 10, Eta: 0.5}); err == nil {
		t.Errorf("η > 0 without a noise source accepted")
	}
}

func TestGuidance(t *testing.T) {
	uncondCalls := 0
	cond := func(x []float32, t []int) ([]float32, error) { return []float32{3, 1}, nil }
	uncond := func(x []float32, t []int) ([]float32, error) { uncondCalls++; return []float32{1, 1}, nil }
	e, err := Guided(cond, uncond, 1)(nil, []int{0})
	if err != nil || !slices.Equal(e, []float32{3, 1}) || uncondCalls != 0 {
		t.Errorf("scale 1: got %v (unconditional calls %d), want the conditional ε and no call", e, uncondCalls)
	}
	e, err = Guided(cond, uncond, 2.5)(nil, []int{0})
	if err != nil || !slices.Equal(e, []float32{6, 1}) {
		t.Errorf("scale 2.5: got %v, want [6 1] = 1 + 2.5·(3 − 1)", e)
	}
}

func TestSamplerErrors(t *testing.T) {
	s := Default()
	ok := func(x []float32, t []int) ([]float32, error) { return make([]float32, len(x)), nil }
	short := func(x []float32, t []int) ([]float32, error) { return make([]float32, 1), nil }
	boom := errors.New("boom")
	failing := func(x []float32, t []int) ([]float32, error) { return nil, boom }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	x := make([]float32, 8)
	tests := []struct {
		name string
		run  func() error
		is   error
	}{
		{"plms eta", func() error { _, err := PLMS(context.Background(), s, x, 2, ok, Options{Steps: 5, Eta: 1}); return err }, nil},
		{"batch split", func() error { _, err := PLMS(context.Background(), s, x, 3, ok, Options{Steps: 5}); return err }, nil},
		{"eps length", func() error { _, err := PLMS(context.Background(), s, x, 2, short, Options{Steps: 5}); return err }, nil},
		{"eps error", func() error { _, err := DDIM(context.Background(), s, x, 2, failing, Options{Steps: 5}); return err }, boom},
		{"cancelled", func() error { _, err := PLMS(cancelled, s, x, 2, ok, Options{Steps: 5}); return err }, context.Canceled},
		{"steps", func() error { _, err := DDIM(context.Background(), s, x, 2, ok, Options{Steps: 0}); return err }, nil},
	}
	for _, tt := range tests {
		err := tt.run()
		if err == nil {
			t.Errorf("%s: no error", tt.name)
		} else if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: %v does not wrap %v", tt.name, err, tt.is)
		}
	}
	if _, err := s.QSample(make([]float32, 6), make([]float32, 6), []int{0, 1000}); err == nil {
		t.Errorf("q_sample at t = T accepted")
	}
	if _, err := s.QSample(make([]float32, 6), make([]float32, 5), []int{0, 1}); err == nil {
		t.Errorf("q_sample with mismatched noise accepted")
	}
}

// BenchmarkPLMSHostStep times the sampler's own arithmetic per step at the
// paper's size (5 samples of 3×64×64) with a free ε model.
func BenchmarkPLMSHostStep(b *testing.B) {
	s := Default()
	xT := Normal(NewRNG(1, 0), 5*3*64*64)
	zero := make([]float32, len(xT))
	eps := func(x []float32, t []int) ([]float32, error) { return zero, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PLMS(context.Background(), s, xT, 5, eps, Options{Steps: 10}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*10), "µs/step")
}

// TestPartialWalk: with Strength s a walk starts at StartT, visits the last
// round(s·n) timesteps, and with the exact model still lands on x0's
// trajectory when its start is NoiseTo(x0) at StartT.
func TestPartialWalk(t *testing.T) {
	s := Default()
	rng := NewRNG(2, 0)
	b, per := 2, 10
	x0 := Normal(rng, b*per)
	eps0 := Normal(rng, b*per)
	for _, tc := range []struct {
		strength float64
		steps    int
		startT   int
	}{{0.5, 20, 451}, {0.25, 20, 201}, {1, 20, 951}, {0, 20, 951}, {0.1, 20, 51}} {
		opt := Options{Steps: tc.steps, Strength: tc.strength}
		st, err := StartT(s, opt)
		if err != nil {
			t.Fatal(err)
		}
		if st != tc.startT {
			t.Errorf("strength %g: StartT %d, want %d", tc.strength, st, tc.startT)
		}
		xT, err := NoiseTo(s, x0, eps0, st)
		if err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func(context.Context, *Schedule, []float32, int, EpsFn, Options) ([]float32, error){"plms": PLMS, "ddim": DDIM} {
			var ts []int
			o := opt
			o.OnStep = func(step Step) { ts = append(ts, step.T) }
			got, err := f(context.Background(), s, xT, b, oracle(s, x0), o)
			if err != nil {
				t.Fatal(err)
			}
			if ts[0] != tc.startT || ts[len(ts)-1] != 1 {
				t.Errorf("%s strength %g: walked %v, want %d down to 1", name, tc.strength, ts, tc.startT)
			}
			a0 := float64(s.AlphasCumprod[0])
			for i := range got {
				want := math.Sqrt(a0)*float64(x0[i]) + math.Sqrt(1-a0)*float64(eps0[i])
				if math.Abs(float64(got[i])-want) > 1e-4 {
					t.Fatalf("%s strength %g: x[%d] = %g, want %g", name, tc.strength, i, got[i], want)
				}
			}
		}
	}
	if _, err := NoiseTo(s, x0, eps0[:3], 10); err == nil {
		t.Error("NoiseTo accepted mismatched noise")
	}
}
