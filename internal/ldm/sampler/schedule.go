package sampler

import (
	"fmt"
	"math"
)

// Schedule is the diffusion noise schedule of the reference's
// DDPM.register_schedule (ddpm.py:133-185): computed in float64 as NumPy
// does, then stored as float32 buffers exactly as the reference registers
// them (torch.tensor(..., dtype=float32) rounds to nearest).
type Schedule struct {
	T int // number of diffusion steps (1000)

	// Float64 values, as make_beta_schedule and np.cumprod compute them.
	Betas64         []float64
	AlphasCumprod64 []float64

	// The float32 buffers.
	Betas                     []float32
	AlphasCumprod             []float32 // ᾱ_t
	AlphasCumprodPrev         []float32 // ᾱ_{t−1}, with ᾱ_{−1} = 1
	SqrtAlphasCumprod         []float32 // √ᾱ_t
	SqrtOneMinusAlphasCumprod []float32 // √(1−ᾱ_t)
	SqrtRecipAlphasCumprod    []float32 // √(1/ᾱ_t)
	SqrtRecipm1AlphasCumprod  []float32 // √(1/ᾱ_t − 1)
}

// The paper's schedule (cad-spec §4.1): T = 1000, linear in √β from 0.0015
// to 0.0195.
const (
	DefaultT           = 1000
	DefaultLinearStart = 0.0015
	DefaultLinearEnd   = 0.0195
)

// Default returns the paper's schedule.
func Default() *Schedule {
	s, err := Linear(DefaultT, DefaultLinearStart, DefaultLinearEnd)
	if err != nil {
		panic(err) // the constants are valid
	}
	return s
}

// Linear is make_beta_schedule("linear"): β_t = linspace(√start, √end, T)²,
// then ᾱ_t = Π_{s≤t} (1 − β_s).
func Linear(T int, start, end float64) (*Schedule, error) {
	if T < 2 {
		return nil, fmt.Errorf("schedule: T must be at least 2, got %d", T)
	}
	if !(start > 0 && end > start && end < 1) {
		return nil, fmt.Errorf("schedule: need 0 < linear_start < linear_end < 1, got %g, %g", start, end)
	}
	betas := linspace(math.Sqrt(start), math.Sqrt(end), T)
	for i, b := range betas {
		betas[i] = b * b
	}
	return FromBetas(betas)
}

// FromBetas derives every buffer from given float64 betas (given_betas).
func FromBetas(betas []float64) (*Schedule, error) {
	T := len(betas)
	for i, b := range betas {
		if !(b > 0 && b < 1) {
			return nil, fmt.Errorf("schedule: beta[%d] = %g is outside (0, 1)", i, b)
		}
	}
	s := &Schedule{T: T, Betas64: append([]float64(nil), betas...), AlphasCumprod64: make([]float64, T)}
	prod := 1.0
	for i, b := range betas {
		prod *= 1 - b // np.cumprod multiplies left to right
		s.AlphasCumprod64[i] = prod
	}
	f32 := func(f func(i int) float64) []float32 {
		out := make([]float32, T)
		for i := range out {
			out[i] = float32(f(i))
		}
		return out
	}
	ac := s.AlphasCumprod64
	s.Betas = f32(func(i int) float64 { return betas[i] })
	s.AlphasCumprod = f32(func(i int) float64 { return ac[i] })
	s.AlphasCumprodPrev = f32(func(i int) float64 {
		if i == 0 {
			return 1
		}
		return ac[i-1]
	})
	s.SqrtAlphasCumprod = f32(func(i int) float64 { return math.Sqrt(ac[i]) })
	s.SqrtOneMinusAlphasCumprod = f32(func(i int) float64 { return math.Sqrt(1 - ac[i]) })
	s.SqrtRecipAlphasCumprod = f32(func(i int) float64 { return math.Sqrt(1 / ac[i]) })
	s.SqrtRecipm1AlphasCumprod = f32(func(i int) float64 { return math.Sqrt(1/ac[i] - 1) })
	return s, nil
}

// linspace is torch.linspace in float64: the first half counts up from
// start, the second half down from end, so both ends are exact.
func linspace(start, end float64, n int) []float64 {
	out := make([]float64, n)
	step := (end - start) / float64(n-1)
	half := n / 2
	for i := range out {
		if i < half {
			out[i] = start + step*float64(i)
		} else {
			out[i] = end - step*float64(n-1-i)
		}
	}
	return out
}

// QSample is the forward process q(x_t | x_0) of DDPM.q_sample:
// x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·noise, per item with t[i] its timestep, in
// float32 as the reference. x0 and noise hold len(t) items of equal size,
// in any layout.
func (s *Schedule) QSample(x0, noise []float32, t []int) ([]float32, error) {
	if len(x0) != len(noise) {
		return nil, fmt.Errorf("q_sample: %d latent values but %d noise values", len(x0), len(noise))
	}
	per, err := perItem(len(x0), len(t))
	if err != nil {
		return nil, fmt.Errorf("q_sample: %w", err)
	}
	out := make([]float32, len(x0))
	for i, ti := range t {
		if ti < 0 || ti >= s.T {
			return nil, fmt.Errorf("q_sample: timestep %d outside [0, %d)", ti, s.T)
		}
		a, b := s.SqrtAlphasCumprod[ti], s.SqrtOneMinusAlphasCumprod[ti]
		for k := i * per; k < (i+1)*per; k++ {
			out[k] = a*x0[k] + b*noise[k]
		}
	}
	return out, nil
}

// QSampleCoefficients returns √ᾱ_t and √(1−ᾱ_t) per item, to feed a graph
// that forms x_t itself (x_t = a·x0 + b·ε broadcast over each item).
func (s *Schedule) QSampleCoefficients(t []int) (a, b []float32, err error) {
	a, b = make([]float32, len(t)), make([]float32, len(t))
	for i, ti := range t {
		if ti < 0 || ti >= s.T {
			return nil, nil, fmt.Errorf("q_sample: timestep %d outside [0, %d)", ti, s.T)
		}
		a[i], b[i] = s.SqrtAlphasCumprod[ti], s.SqrtOneMinusAlphasCumprod[ti]
	}
	return a, b, nil
}

// EpsLoss is the training loss of LatentDiffusion.p_losses with eps
// parameterisation, l2 loss, logvar 0 and no ELBO term: the mean of
// (ε_θ − ε)² over every element. Accumulated in float64.
func EpsLoss(epsPred, noise []float32) (float64, error) {
	if len(epsPred) != len(noise) || len(noise) == 0 {
		return 0, fmt.Errorf("eps loss: %d predictions for %d noise values", len(epsPred), len(noise))
	}
	var s float64
	for i := range noise {
		d := float64(epsPred[i]) - float64(noise[i])
		s += d * d
	}
	return s / float64(len(noise)), nil
}

// perItem is the size of one of n items in a flat array of total values.
func perItem(total, n int) (int, error) {
	if n <= 0 || total%n != 0 || total == 0 {
		return 0, fmt.Errorf("%d values do not split into %d items", total, n)
	}
	return total / n, nil
}
