package sampler

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// EpsFn is the denoising model: given x_t ([B, …] flat, float32, any layout)
// and each item's timestep t ([B]), it returns ε_θ(x_t, t) with x's length.
// The caller closes over the conditioning, and typically runs ONE compiled
// UNet graph whose timestep is an input. It must not modify or keep x.
type EpsFn func(x []float32, t []int) ([]float32, error)

// Options configures a sampling run.
type Options struct {
	// Steps is S, the number of sampler steps (reference: 250).
	Steps int
	// Discretize picks the timesteps: "uniform" (the default, as the
	// reference) or "quad".
	Discretize string
	// Eta is DDIM's η: 0 is deterministic; 1 gives DDPM-like variance.
	// PLMS requires 0, as the reference does.
	Eta float64
	// Noise draws DDIM's per-step noise when Eta > 0 (required then).
	Noise *rand.Rand
	// OnStep, if set, sees every iteration's values (they must not be
	// modified); tests and progress bars use it.
	OnStep func(Step)
	// Strength, in (0, 1), starts the walk part-way down (img2img, as
	// Stable Diffusion's: the last round(Strength·n) of the n timesteps):
	// the start x is then a noised initial latent (NoiseTo at StartT), not
	// pure noise. 0 and 1 walk the whole list, as the reference.
	Strength float64
}

// keep is the number of timesteps of n that a walk with this strength
// visits (at least 1).
func keep(n int, strength float64) int {
	if strength <= 0 || strength >= 1 {
		return n
	}
	return max(1, min(n, int(math.Round(strength*float64(n)))))
}

// StartT is the timestep a walk with these options starts from: the one
// an initial latent is noised to (NoiseTo) for Options.Strength < 1.
func StartT(s *Schedule, opt Options) (int, error) {
	taus, err := Timesteps(opt.Discretize, opt.Steps, s.T)
	if err != nil {
		return 0, err
	}
	return taus[keep(len(taus), opt.Strength)-1], nil
}

// NoiseTo is q(x_t | x_0): √ᾱ_t·x0 + √(1−ᾱ_t)·noise (stochastic_encode
// without its own generator). noise has x0's length.
func NoiseTo(s *Schedule, x0, noise []float32, t int) ([]float32, error) {
	if t < 0 || t >= s.T || len(noise) != len(x0) {
		return nil, fmt.Errorf("NoiseTo: t=%d of %d, %d noise values for %d", t, s.T, len(noise), len(x0))
	}
	a, b := s.SqrtAlphasCumprod[t], s.SqrtOneMinusAlphasCumprod[t]
	out := make([]float32, len(x0))
	for i := range x0 {
		out[i] = a*x0[i] + b*noise[i]
	}
	return out, nil
}

// Step is one sampler iteration.
type Step struct {
	I      int       // iteration, 0 … n−1
	Of     int       // n, the number of iterations
	Index  int       // position in the timestep list, n−1−I
	T      int       // timestep τ
	X      []float32 // x after the step (x_prev)
	PredX0 []float32 // the step's prediction of x_0
	Eps    []float32 // ε_θ(x, τ) as the model returned it
}

// Timesteps is make_ddim_timesteps: for "uniform", range(0, T, T/S) + 1 (so
// S = 250 gives 1, 5, …, 997); for "quad", floor(linspace(0, √(0.8T), S)²)
// + 1. Like the reference, uniform yields more than S steps when S does not
// divide T (S = 400 gives 500), and a list reaching t = T is an error (S =
// 300 would index ᾱ[1000]; the reference fails there as well). The list
// ascends; samplers walk it down.
func Timesteps(method string, S, T int) ([]int, error) {
	if S <= 0 || S > T {
		return nil, fmt.Errorf("sampler steps must be in [1, %d], got %d", T, S)
	}
	var out []int
	switch method {
	case "", "uniform":
		c := T / S
		for t := 0; t < T; t += c {
			out = append(out, t+1)
		}
	case "quad":
		stop := math.Sqrt(float64(T) * .8)
		step := stop / float64(S-1)
		for i := 0; i < S; i++ {
			v := float64(i) * step // np.linspace: i·step, the end exact
			if i == S-1 {
				v = stop
			}
			if S == 1 {
				v = 0
			}
			out = append(out, int(v*v)+1)
		}
	default:
		return nil, fmt.Errorf("unknown timestep discretisation %q (want uniform or quad)", method)
	}
	if last := out[len(out)-1]; last >= T {
		return nil, fmt.Errorf("%d %s steps reach timestep %d, beyond the schedule's %d", S, method, last, T-1)
	}
	return out, nil
}

// ddimParams holds make_ddim_sampling_parameters' values per timestep
// position, float32 as the reference's buffers.
type ddimParams struct {
	taus                   []int
	a, aPrev, sigma, sqrt1 []float32 // ᾱ_τ, ᾱ_prev, σ, √(1−ᾱ_τ)
}

// DDIMParameters returns, for each timestep position, ᾱ_τ, ᾱ_prev (ᾱ of the
// previous position; ᾱ_0 for the first, as the reference), σ =
// η·√((1−ᾱ_prev)/(1−ᾱ_τ)·(1−ᾱ_τ/ᾱ_prev)) and √(1−ᾱ_τ) (computed in float32 like
// np.sqrt(1. − ddim_alphas) on the float32 tensor).
func DDIMParameters(s *Schedule, taus []int, eta float64) (a, aPrev, sigma, sqrtOneMinusA []float32) {
	n := len(taus)
	a, aPrev, sigma, sqrtOneMinusA = make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i, t := range taus {
		a[i] = s.AlphasCumprod[t]
		if i == 0 {
			aPrev[i] = s.AlphasCumprod[0]
		} else {
			aPrev[i] = s.AlphasCumprod[taus[i-1]]
		}
		at, ap := float64(a[i]), float64(aPrev[i])
		sigma[i] = float32(eta * math.Sqrt((1-ap)/(1-at)*(1-at/ap)))
		sqrtOneMinusA[i] = float32(math.Sqrt(float64(1 - a[i])))
	}
	return
}

func newParams(s *Schedule, opt Options) (*ddimParams, error) {
	taus, err := Timesteps(opt.Discretize, opt.Steps, s.T)
	if err != nil {
		return nil, err
	}
	p := &ddimParams{taus: taus}
	p.a, p.aPrev, p.sigma, p.sqrt1 = DDIMParameters(s, taus, opt.Eta)
	// A partial walk drops the top of the list; ᾱ_prev of the positions
	// kept still refers to the positions below them.
	k := keep(len(taus), opt.Strength)
	p.taus, p.a, p.aPrev, p.sigma, p.sqrt1 = p.taus[:k], p.a[:k], p.aPrev[:k], p.sigma[:k], p.sqrt1[:k]
	return p, nil
}

// update is get_x_prev_and_pred_x0 (plms.py:190-205, ddim.py:186-203) in
// float32: pred_x0 = (x − √(1−ᾱ_τ)·ε)/√ᾱ_τ, then
// x_prev = √ᾱ_prev·pred_x0 + √(1−ᾱ_prev−σ²)·ε + σ·noise.
func (p *ddimParams) update(x, eps []float32, index int, noise *rand.Rand) (xPrev, predX0 []float32) {
	a, ap, sig, s1 := p.a[index], p.aPrev[index], p.sigma[index], p.sqrt1[index]
	sqrtA := float32(math.Sqrt(float64(a)))
	sqrtAP := float32(math.Sqrt(float64(ap)))
	dirCoef := float32(math.Sqrt(float64(1 - ap - sig*sig)))
	xPrev, predX0 = make([]float32, len(x)), make([]float32, len(x))
	for i := range x {
		p0 := (x[i] - s1*eps[i]) / sqrtA
		predX0[i] = p0
		xPrev[i] = sqrtAP*p0 + dirCoef*eps[i]
		if sig != 0 {
			xPrev[i] += sig * float32(noise.NormFloat64())
		}
	}
	return xPrev, predX0
}

func full(b, t int) []int {
	out := make([]int, b)
	for i := range out {
		out[i] = t
	}
	return out
}

func callEps(eps EpsFn, x []float32, b, t int) ([]float32, error) {
	e, err := eps(x, full(b, t))
	if err != nil {
		return nil, fmt.Errorf("ε model at t=%d: %w", t, err)
	}
	if len(e) != len(x) {
		return nil, fmt.Errorf("ε model at t=%d returned %d values for %d", t, len(e), len(x))
	}
	return e, nil
}

func checkStart(xT []float32, batch int) error {
	if batch <= 0 || len(xT) == 0 || len(xT)%batch != 0 {
		return fmt.Errorf("sampler: %d start values do not split into a batch of %d", len(xT), batch)
	}
	return nil
}

// PLMS runs the reference's default sampler (PLMSSampler.plms_sampling,
// plms.py:134-236) from x_T ([batch, …]): at the first step a pseudo
// improved-Euler step (ε averaged with ε at the DDIM-predicted next x and
// the next timestep), then Adams–Bashforth multistep combinations of the
// last 2, 3 and 4 ε. It calls eps S+1 times for S steps and returns x_0.
func PLMS(ctx context.Context, s *Schedule, xT []float32, batch int, eps EpsFn, opt Options) ([]float32, error) {
	if opt.Eta != 0 {
		return nil, fmt.Errorf("PLMS: eta must be 0, got %g", opt.Eta)
	}
	if err := checkStart(xT, batch); err != nil {
		return nil, err
	}
	p, err := newParams(s, opt)
	if err != nil {
		return nil, fmt.Errorf("PLMS: %w", err)
	}
	n := len(p.taus)
	x := append([]float32(nil), xT...)
	var old [][]float32 // the last (at most 3) raw ε, oldest first
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("PLMS step %d of %d: %w", i, n, err)
		}
		index := n - 1 - i
		t, tNext := p.taus[index], p.taus[max(index-1, 0)]
		e, err := callEps(eps, x, batch, t)
		if err != nil {
			return nil, fmt.Errorf("PLMS step %d of %d: %w", i, n, err)
		}
		var ePrime []float32
		switch len(old) {
		case 0: // pseudo improved Euler (2nd order)
			xTmp, _ := p.update(x, e, index, nil)
			eNext, err := callEps(eps, xTmp, batch, tNext)
			if err != nil {
				return nil, fmt.Errorf("PLMS step %d of %d: %w", i, n, err)
			}
			ePrime = combine(e, func(k int) float32 { return (e[k] + eNext[k]) / 2 })
		case 1: // 2nd-order Adams–Bashforth
			o1 := old[0]
			ePrime = combine(e, func(k int) float32 { return (3*e[k] - o1[k]) / 2 })
		case 2: // 3rd order
			o1, o2 := old[1], old[0]
			ePrime = combine(e, func(k int) float32 { return (23*e[k] - 16*o1[k] + 5*o2[k]) / 12 })
		default: // 4th order
			o1, o2, o3 := old[2], old[1], old[0]
			ePrime = combine(e, func(k int) float32 { return (55*e[k] - 59*o1[k] + 37*o2[k] - 9*o3[k]) / 24 })
		}
		xPrev, predX0 := p.update(x, ePrime, index, nil)
		old = append(old, e)
		if len(old) > 3 {
			old = old[1:]
		}
		x = xPrev
		if opt.OnStep != nil {
			opt.OnStep(Step{I: i, Of: n, Index: index, T: t, X: x, PredX0: predX0, Eps: e})
		}
	}
	return x, nil
}

func combine(e []float32, f func(k int) float32) []float32 {
	out := make([]float32, len(e))
	for k := range out {
		out[k] = f(k)
	}
	return out
}

// DDIM runs DDIMSampler.ddim_sampling (ddim.py:120-203) from x_T with η =
// opt.Eta: one ε call per step; with η > 0 each step adds σ·N(0, I) from
// opt.Noise. Returns x_0.
func DDIM(ctx context.Context, s *Schedule, xT []float32, batch int, eps EpsFn, opt Options) ([]float32, error) {
	if opt.Eta < 0 {
		return nil, fmt.Errorf("DDIM: eta must be ≥ 0, got %g", opt.Eta)
	}
	if opt.Eta > 0 && opt.Noise == nil {
		return nil, fmt.Errorf("DDIM: eta %g > 0 needs a noise source", opt.Eta)
	}
	if err := checkStart(xT, batch); err != nil {
		return nil, err
	}
	p, err := newParams(s, opt)
	if err != nil {
		return nil, fmt.Errorf("DDIM: %w", err)
	}
	n := len(p.taus)
	x := append([]float32(nil), xT...)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("DDIM step %d of %d: %w", i, n, err)
		}
		index := n - 1 - i
		t := p.taus[index]
		e, err := callEps(eps, x, batch, t)
		if err != nil {
			return nil, fmt.Errorf("DDIM step %d of %d: %w", i, n, err)
		}
		xPrev, predX0 := p.update(x, e, index, opt.Noise)
		x = xPrev
		if opt.OnStep != nil {
			opt.OnStep(Step{I: i, Of: n, Index: index, T: t, X: x, PredX0: predX0, Eps: e})
		}
	}
	return x, nil
}

// Guided is classifier-free guidance, an extension the paper does not use
// (the reference samples with unconditional_guidance_scale 1, cad-spec
// §4.6): ε = ε(x,t,∅) + scale·(ε(x,t,c) − ε(x,t,∅)). With scale 1 it is
// cond itself and the unconditional model is never called, as in the
// reference.
func Guided(cond, uncond EpsFn, scale float64) EpsFn {
	if scale == 1 || uncond == nil {
		return cond
	}
	return func(x []float32, t []int) ([]float32, error) {
		ec, err := cond(x, t)
		if err != nil {
			return nil, err
		}
		eu, err := uncond(x, t)
		if err != nil {
			return nil, fmt.Errorf("unconditional ε: %w", err)
		}
		return CombineGuidance(ec, eu, scale)
	}
}

// CombineGuidance forms eu + scale·(ec − eu) in float32, for a caller that
// evaluates both halves in one doubled batch as the reference does.
func CombineGuidance(ec, eu []float32, scale float64) ([]float32, error) {
	if len(ec) != len(eu) {
		return nil, fmt.Errorf("guidance: %d conditional and %d unconditional values", len(ec), len(eu))
	}
	s := float32(scale)
	out := make([]float32, len(ec))
	for i := range out {
		out[i] = eu[i] + s*(ec[i]-eu[i])
	}
	return out, nil
}

// NewRNG returns the host generator for a seed; stream separates uses
// (initial noise, DDIM noise, training timesteps) so that they never
// overlap.
func NewRNG(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// Normal draws n standard-normal float32 values, e.g. x_T.
func Normal(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}
