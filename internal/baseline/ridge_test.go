package baseline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/visdec/visdec/internal/stats"
)

func synth(rng *rand.Rand, n, v, p int, w []float64, noise float64) (x, y []float32) {
	x = make([]float32, n*v)
	y = make([]float32, n*p)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			x[i*v+j] = float32(rng.NormFloat64())
		}
		for k := 0; k < p; k++ {
			s := 0.0
			for j := 0; j < v; j++ {
				s += float64(x[i*v+j]) * w[j*p+k]
			}
			y[i*p+k] = float32(s + noise*rng.NormFloat64() + 3)
		}
	}
	return
}

// TestLOOMatchesBruteForce checks the closed-form leave-one-out error against
// refitting without each item in turn.
// Both ways of computing the residual norms are covered: fewer outputs than
// items (rows of M Z) and more (through the Gram matrix).
func TestLOOMatchesBruteForce(t *testing.T) {
	for _, d := range []struct{ n, v, p int }{{15, 25, 2}, {6, 25, 10}} {
		t.Run(fmt.Sprintf("n%d_p%d", d.n, d.p), func(t *testing.T) { checkLOOBruteForce(t, d.n, d.v, d.p) })
	}
}

func checkLOOBruteForce(t *testing.T, n, v, p int) {
	rng := rand.New(rand.NewPCG(1, 1))
	w := make([]float64, v*p)
	for i := range w {
		w[i] = rng.NormFloat64() * 0.3
	}
	x, y := synth(rng, n, v, p, w, 0.5)
	rel := []float64{0.5}
	r, err := FitRidge(x, n, v, y, p, rel)
	if err != nil {
		t.Fatal(err)
	}
	_, loo := r.LOOCurve()
	// Brute force on the same standardised inputs (scales from all n items,
	// as the closed form uses them).
	lam := r.Lambda()
	xs := make([][]float64, n)
	for i := range xs {
		xs[i] = make([]float64, v)
		for j := 0; j < v; j++ {
			xs[i][j] = (float64(x[i*v+j]) - r.xMean[j]) / r.xScale[j]
		}
	}
	total := 0.0
	looPred := r.LeaveOneOut()
	for out := 0; out < n; out++ {
		// Refit on the n−1 remaining items with an unpenalised intercept
		// (centre inputs and targets by their means), dual solve, predict.
		idx := []int{}
		for i := 0; i < n; i++ {
			if i != out {
				idx = append(idx, i)
			}
		}
		m := len(idx)
		mu := make([]float64, v)
		for _, i := range idx {
			for j := range mu {
				mu[j] += xs[i][j] / float64(m)
			}
		}
		xc := make([][]float64, n)
		for i := range xc {
			xc[i] = make([]float64, v)
			for j := range mu {
				xc[i][j] = xs[i][j] - mu[j]
			}
		}
		a := make([][]float64, m)
		for i := range a {
			a[i] = make([]float64, m)
			for j := range a[i] {
				a[i][j] = dot(xc[idx[i]], xc[idx[j]])
				if i == j {
					a[i][j] += lam
				}
			}
		}
		for k := 0; k < p; k++ {
			ym := 0.0
			for _, i := range idx {
				ym += float64(y[i*p+k]) / float64(m)
			}
			b := make([]float64, m)
			for i := range b {
				b[i] = float64(y[idx[i]*p+k]) - ym
			}
			alpha := solve(a, b)
			pred := ym
			for i := range idx {
				pred += alpha[i] * dot(xc[out], xc[idx[i]])
			}
			e := float64(y[out*p+k]) - pred
			total += e * e
			if got := float64(looPred[out*p+k]); math.Abs(got-pred) > 1e-4*math.Max(1, math.Abs(pred)) {
				t.Errorf("item %d output %d: LeaveOneOut %g, refit without it %g", out, k, got, pred)
			}
		}
	}
	want := total / float64(n*p)
	if math.Abs(loo[0]-want) > 1e-6*math.Max(1, want) {
		t.Errorf("closed-form LOO %g, brute force %g", loo[0], want)
	}
}

// TestLinearMatchesPredict checks the primal form against the dual one.
func TestLinearMatchesPredict(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	n, v, p := 20, 30, 3
	w := make([]float64, v*p)
	for i := range w {
		w[i] = rng.NormFloat64() * 0.3
	}
	x, y := synth(rng, n, v, p, w, 0.3)
	r, err := FitRidge(x, n, v, y, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	xt, _ := synth(rng, 5, v, p, w, 0.3)
	want, err := r.Predict(xt, 5)
	if err != nil {
		t.Fatal(err)
	}
	lw, lb := r.Linear()
	for i := 0; i < 5; i++ {
		for k := 0; k < p; k++ {
			got := float64(lb[k])
			for j := 0; j < v; j++ {
				got += float64(xt[i*v+j]) * float64(lw[j*p+k])
			}
			if d := math.Abs(got - float64(want[i*p+k])); d > 1e-4 {
				t.Errorf("item %d output %d: x·W+b = %g, Predict %g", i, k, got, want[i*p+k])
			}
		}
	}
}

func TestRidgeRecoversLinearMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	n, v, p := 300, 400, 6
	w := make([]float64, v*p)
	for i := range w {
		if rng.Float64() < 0.1 {
			w[i] = rng.NormFloat64()
		}
	}
	x, y := synth(rng, n, v, p, w, 1)
	xt, yt := synth(rng, 100, v, p, w, 1)
	r, err := FitRidge(x, n, v, y, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := r.Predict(xt, 100)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < p; k++ {
		a, b := make([]float64, 100), make([]float64, 100)
		for i := 0; i < 100; i++ {
			a[i], b[i] = float64(pred[i*p+k]), float64(yt[i*p+k])
		}
		if c := stats.Pearson(a, b); c < 0.6 {
			t.Errorf("output %d: held-out correlation %.3f, want ≥ 0.6 (λ=%g)", k, c, r.Lambda())
		}
	}
	// Pure-noise targets: the chosen λ must be large (shrink to the mean).
	yn := make([]float32, n)
	for i := range yn {
		yn[i] = float32(rng.NormFloat64())
	}
	rn, err := FitRidge(x, n, v, yn, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	lams, _ := rn.LOOCurve()
	if rn.Lambda() < lams[len(lams)/2] {
		t.Errorf("noise targets chose λ=%g, want one of the larger values %v", rn.Lambda(), lams[len(lams)/2:])
	}
}

func TestRidgeErrors(t *testing.T) {
	if _, err := FitRidge([]float32{1, 2}, 2, 1, []float32{1, 2}, 1, nil); err == nil {
		t.Error("2 items: want an error")
	}
	if _, err := FitRidge(make([]float32, 10), 5, 2, make([]float32, 4), 1, nil); err == nil {
		t.Error("mismatched sizes: want an error")
	}
	if _, err := FitRidge(make([]float32, 10), 5, 2, make([]float32, 5), 1, nil); err == nil {
		t.Error("constant inputs: want an error")
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// solve does Gaussian elimination with partial pivoting (test helper).
func solve(a [][]float64, b []float64) []float64 {
	n := len(b)
	m := make([][]float64, n)
	for i := range m {
		m[i] = append(append([]float64{}, a[i]...), b[i])
	}
	for c := 0; c < n; c++ {
		piv := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		m[c], m[piv] = m[piv], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x
}
