package simulate

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/visdec/visdec/internal/stats"
)

// The literature tests share one simulated GOD design: the full 150×8
// training and 50×35 test layout, rendered at 64 pixels (the features see 64
// pixels anyway) with 1,500 voxels per subject, two subjects, at half the
// default noise. At the default noise, tuned so that the 50-way ceiling of
// a 4,500-voxel subject lies near 0.8, single voxels and single trials
// carry little: pRF recovery and single-trial category decoding pass for
// some seeds only (measured on seeds 1–3: pRF error 0.93°, 1.90°, 1.39°;
// 10-way categories 0.17, 0.14, 0.16). Kay et al. (2008) and Haxby et al.
// (2001) had cleaner data; half the noise makes the checks hold with
// margin on every seed tried (1–3).
var shared struct {
	once sync.Once
	cfg  Config
	st   *Stimuli
	subj []*GODSubject
	err  error
}

func literatureConfig() Config {
	cfg := DefaultConfig()
	cfg.ImageSize = 64
	cfg.Voxels = 1500
	cfg.Subjects = 2
	cfg.CeilingDraws = 20
	cfg.NoiseScale = 0.5
	return cfg
}

func literatureFixture(t *testing.T) (Config, *Stimuli, []*GODSubject) {
	t.Helper()
	shared.once.Do(func() {
		shared.cfg = literatureConfig()
		ctx := context.Background()
		shared.st, shared.err = MakeGODStimuli(ctx, shared.cfg, nil)
		if shared.err != nil {
			return
		}
		for k := 1; k <= shared.cfg.Subjects; k++ {
			g, err := SimulateGODSubject(ctx, shared.cfg, shared.st, k, nil)
			if err != nil {
				shared.err = err
				return
			}
			shared.subj = append(shared.subj, g)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.cfg, shared.st, shared.subj
}

// columns copies the given columns of a row-major [n, v] matrix.
func columns(x []float32, n, v int, idx []int) []float64 {
	out := make([]float64, n*len(idx))
	for i := 0; i < n; i++ {
		for k, j := range idx {
			out[i*len(idx)+k] = float64(x[i*v+j])
		}
	}
	return out
}

// standardize z-scores each column in place with the statistics of the
// first n rows and returns them, so other matrices can be scaled alike.
func standardize(x []float64, n, p int) (mean, sd []float64) {
	mean, sd = make([]float64, p), make([]float64, p)
	for j := 0; j < p; j++ {
		m, m2 := 0.0, 0.0
		for i := 0; i < n; i++ {
			m += x[i*p+j]
			m2 += x[i*p+j] * x[i*p+j]
		}
		m /= float64(n)
		mean[j], sd[j] = m, math.Sqrt(math.Max(m2/float64(n)-m*m, 1e-12))
	}
	applyScale(x, p, mean, sd)
	return mean, sd
}

func applyScale(x []float64, p int, mean, sd []float64) {
	for i := 0; i < len(x)/p; i++ {
		for j := 0; j < p; j++ {
			x[i*p+j] = (x[i*p+j] - mean[j]) / sd[j]
		}
	}
}

// ridge fits y [n, q] from standardized x [n, p]: W = (XᵀX + λI)⁻¹XᵀY
// with λ = relLambda·tr(XᵀX)/n, solved in the primal form when p ≤ n and in
// the dual form, W = Xᵀ(XXᵀ + λI)⁻¹Y, otherwise. It returns W [p, q].
func ridge(x []float64, n, p int, y []float64, q int, relLambda float64) ([]float64, error) {
	if p <= n {
		return ridgePrimal(x, n, p, y, q, relLambda)
	}
	k := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := 0.0
			xi, xj := x[i*p:(i+1)*p], x[j*p:(j+1)*p]
			for t := range xi {
				s += xi[t] * xj[t]
			}
			k[i*n+j], k[j*n+i] = s, s
		}
	}
	tr := 0.0
	for i := 0; i < n; i++ {
		tr += k[i*n+i]
	}
	for i := 0; i < n; i++ {
		k[i*n+i] += relLambda * tr / float64(n)
	}
	if err := cholesky(k, n); err != nil {
		return nil, fmt.Errorf("ridge: %w", err)
	}
	w := make([]float64, p*q)
	col := make([]float64, n)
	for c := 0; c < q; c++ {
		for i := 0; i < n; i++ {
			col[i] = y[i*q+c]
		}
		forwardSolve(k, n, col)
		backSolveT(k, n, col)
		for i := 0; i < n; i++ {
			a := col[i]
			for t := 0; t < p; t++ {
				w[t*q+c] += x[i*p+t] * a
			}
		}
	}
	return w, nil
}

func ridgePrimal(x []float64, n, p int, y []float64, q int, relLambda float64) ([]float64, error) {
	a := make([]float64, p*p)
	xty := make([]float64, p*q)
	for i := 0; i < n; i++ {
		xi, yi := x[i*p:(i+1)*p], y[i*q:(i+1)*q]
		for r, xr := range xi {
			row := a[r*p : r*p+r+1]
			for c := range row {
				row[c] += xr * xi[c]
			}
			out := xty[r*q : (r+1)*q]
			for c, yc := range yi {
				out[c] += xr * yc
			}
		}
	}
	tr := 0.0
	for r := 0; r < p; r++ {
		tr += a[r*p+r]
		for c := 0; c < r; c++ {
			a[c*p+r] = a[r*p+c]
		}
	}
	for r := 0; r < p; r++ {
		a[r*p+r] += relLambda * tr / float64(n)
	}
	if err := cholesky(a, p); err != nil {
		return nil, fmt.Errorf("ridge: %w", err)
	}
	w := make([]float64, p*q)
	col := make([]float64, p)
	for c := 0; c < q; c++ {
		for r := 0; r < p; r++ {
			col[r] = xty[r*q+c]
		}
		forwardSolve(a, p, col)
		backSolveT(a, p, col)
		for r := 0; r < p; r++ {
			w[r*q+c] = col[r]
		}
	}
	return w, nil
}

// backSolveT solves Lᵀ·x = b in place for lower-triangular L.
func backSolveT(l []float64, n int, b []float64) {
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// predict returns x [m, p] · w [p, q].
func predict(x []float64, m, p int, w []float64, q int) []float64 {
	out := make([]float64, m*q)
	for i := 0; i < m; i++ {
		for t := 0; t < p; t++ {
			a := x[i*p+t]
			for c := 0; c < q; c++ {
				out[i*q+c] += a * w[t*q+c]
			}
		}
	}
	return out
}

// pairwiseIdentification is the fraction of (i, j≠i) pairs in which
// prediction i correlates better with truth i than with truth j.
func pairwiseIdentification(pred, truth []float64, n, q int) float64 {
	c := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			c[i*n+j] = stats.Pearson(pred[i*q:(i+1)*q], truth[j*q:(j+1)*q])
		}
	}
	ok := 0
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j && c[i*n+i] > c[i*n+j] {
				ok++
			}
		}
	}
	return float64(ok) / float64(n*(n-1))
}
