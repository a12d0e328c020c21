// Package baseline holds the reference points every reconstruction is measured
// against: a ridge-regression decoder from fMRI to image pixels (or to any other
// target, such as the autoencoder's latents).
//
// The ridge is solved in its dual (kernel) form, which suits fMRI (far more
// voxels than training items): with K = XXᵀ = U S Uᵀ, one eigendecomposition
// gives the solution and the exact leave-one-out error for every λ, so λ is
// chosen on the training set alone (the test set is never used for selection).
package baseline

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// DefaultLambdas is the grid searched by FitRidge when none is given: a wide
// log-spaced range, relative to the mean eigenvalue of the kernel.
var DefaultLambdas = []float64{1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3, 10, 30, 100}

// Ridge is a fitted multi-output ridge regression y ≈ (x−μx)/σx · W + μy.
type Ridge struct {
	v, p       int
	xMean      []float64
	xScale     []float64
	yMean      []float64
	xTrain     *mat.Dense // standardized training inputs [N, V]
	alpha      *mat.Dense // dual coefficients [N, P]
	lambda     float64
	looByLabda []float64 // mean leave-one-out squared error per grid λ
	grid       []float64
	loo        []float32 // leave-one-out predictions at the chosen λ [N, P]
}

// FitRidge fits targets y [n, p] from inputs x [n, v] (row-major). Inputs are
// standardised per column with training statistics. λ is chosen from
// relLambdas (multiples of the kernel's mean eigenvalue; DefaultLambdas when
// nil) by the exact leave-one-out error summed over outputs.
func FitRidge(x []float32, n, v int, y []float32, p int, relLambdas []float64) (*Ridge, error) {
	if n < 3 {
		return nil, fmt.Errorf("ridge: need at least 3 training items, got %d", n)
	}
	if len(x) != n*v || len(y) != n*p {
		return nil, fmt.Errorf("ridge: x has %d values for %d×%d, y has %d for %d×%d", len(x), n, v, len(y), n, p)
	}
	if relLambdas == nil {
		relLambdas = DefaultLambdas
	}
	r := &Ridge{v: v, p: p, xMean: make([]float64, v), xScale: make([]float64, v), yMean: make([]float64, p)}
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			r.xMean[j] += float64(x[i*v+j])
		}
		for j := 0; j < p; j++ {
			r.yMean[j] += float64(y[i*p+j])
		}
	}
	for j := range r.xMean {
		r.xMean[j] /= float64(n)
	}
	for j := range r.yMean {
		r.yMean[j] /= float64(n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			d := float64(x[i*v+j]) - r.xMean[j]
			r.xScale[j] += d * d
		}
	}
	for j := range r.xScale {
		s := math.Sqrt(r.xScale[j] / float64(n))
		if s < 1e-12 || math.IsNaN(s) {
			s = 1 // a constant voxel carries nothing; keep it at zero
		}
		r.xScale[j] = s
	}
	xs := mat.NewDense(n, v, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < v; j++ {
			xs.Set(i, j, (float64(x[i*v+j])-r.xMean[j])/r.xScale[j])
		}
	}
	yc := mat.NewDense(n, p, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			yc.Set(i, j, float64(y[i*p+j])-r.yMean[j])
		}
	}
	var k mat.SymDense
	k.SymOuterK(1, xs)
	var eig mat.EigenSym
	if !eig.Factorize(&k, true) {
		return nil, errors.New("ridge: eigendecomposition of the kernel failed")
	}
	s := eig.Values(nil)
	for i := range s {
		if s[i] < 0 {
			s[i] = 0 // round-off
		}
	}
	var u mat.Dense
	eig.VectorsTo(&u)
	var z mat.Dense // Uᵀ Yc [n, p]
	z.Mul(u.T(), yc)
	// Each λ needs the squared norms of the residual rows r_i: through the
	// Gram matrix Z Zᵀ (n³ per λ) when there are more outputs than items,
	// else directly as rows of M Z (n²·p per λ).
	useGram := p > n
	var gram mat.Dense // Z Zᵀ [n, n]
	if useGram {
		gram.Mul(&z, z.T())
	}
	meanEig := 0.0
	for _, e := range s {
		meanEig += e
	}
	meanEig /= float64(n)
	if meanEig == 0 {
		return nil, errors.New("ridge: all inputs are constant")
	}
	r.grid = make([]float64, len(relLambdas))
	r.looByLabda = make([]float64, len(relLambdas))
	best := math.Inf(1)
	m := mat.NewDense(n, n, nil)
	var mg mat.Dense
	for li, rel := range relLambdas {
		lam := rel * meanEig
		r.grid[li] = lam
		// Residuals r_i = U_i diag(λ/(s+λ)) Z. The model has an unpenalised
		// intercept (the centring), so its hat matrix is H_c + 11ᵀ/n and
		// 1−h_i = Σ_k U_ik² λ/(s_k+λ) − 1/n (rows of U have unit norm; summed
		// this way because 1 − Σ U² s/(s+λ) cancels for small λ). Without the
		// 1/n term the centring leaks the left-out item and small λ looks
		// perfect when v > n.
		for i := 0; i < n; i++ {
			for kk := 0; kk < n; kk++ {
				m.Set(i, kk, u.At(i, kk)*lam/(s[kk]+lam))
			}
		}
		if useGram {
			mg.Mul(m, &gram)
		} else {
			mg.Mul(m, &z)
		}
		loo := 0.0
		for i := 0; i < n; i++ {
			var res2 float64
			if useGram {
				res2 = mat.Dot(mg.RowView(i), m.RowView(i))
			} else {
				res2 = mat.Dot(mg.RowView(i), mg.RowView(i))
			}
			oneMinusH := mat.Dot(u.RowView(i), m.RowView(i)) - 1/float64(n)
			loo += res2 / (oneMinusH * oneMinusH)
		}
		loo /= float64(n * p)
		r.looByLabda[li] = loo
		if loo < best {
			best, r.lambda = loo, lam
		}
	}
	// Leave-one-out predictions at the chosen λ: ŷ₋ᵢ = yᵢ − rᵢ/(1−hᵢ), with
	// the residuals and leverages of the loop above.
	for i := 0; i < n; i++ {
		for kk := 0; kk < n; kk++ {
			m.Set(i, kk, u.At(i, kk)*r.lambda/(s[kk]+r.lambda))
		}
	}
	var resid mat.Dense // [n, p]
	resid.Mul(m, &z)
	r.loo = make([]float32, n*p)
	for i := 0; i < n; i++ {
		oneMinusH := mat.Dot(u.RowView(i), m.RowView(i)) - 1/float64(n)
		for j := 0; j < p; j++ {
			r.loo[i*p+j] = float32(float64(y[i*p+j]) - resid.At(i, j)/oneMinusH)
		}
	}
	// α = U diag(1/(s+λ)) Z.
	for i := 0; i < n; i++ {
		for kk := 0; kk < n; kk++ {
			m.Set(i, kk, u.At(i, kk)/(s[kk]+r.lambda))
		}
	}
	r.alpha = new(mat.Dense)
	r.alpha.Mul(m, &z)
	r.xTrain = xs
	return r, nil
}

// Lambda is the chosen regularisation (absolute).
func (r *Ridge) Lambda() float64 { return r.lambda }

// LOOCurve returns the λ grid and the mean leave-one-out squared error at each.
func (r *Ridge) LOOCurve() (lambdas, errs []float64) {
	return append([]float64{}, r.grid...), append([]float64{}, r.looByLabda...)
}

// LeaveOneOut returns each training item's prediction by the ridge fitted
// (at the chosen λ) without that item, [N, P]: test-like predictions for
// the training items, for a model that is trained on ridge outputs (the
// standardisation statistics still include the item, a negligible leak).
func (r *Ridge) LeaveOneOut() []float32 { return append([]float32(nil), r.loo...) }

// Linear returns the fitted map in primal form, y = x·W + b, with W [V, P]
// (row-major) and b [P]: the same function as Predict, for evaluating
// inside a model graph.
func (r *Ridge) Linear() (w, b []float32) {
	var wd mat.Dense // Xsᵀ α [V, P]
	wd.Mul(r.xTrain.T(), r.alpha)
	w = make([]float32, r.v*r.p)
	bias := append([]float64(nil), r.yMean...)
	for j := 0; j < r.v; j++ {
		for k := 0; k < r.p; k++ {
			c := wd.At(j, k) / r.xScale[j]
			w[j*r.p+k] = float32(c)
			bias[k] -= r.xMean[j] * c
		}
	}
	b = make([]float32, r.p)
	for k := range b {
		b[k] = float32(bias[k])
	}
	return w, b
}

// Predict maps inputs x [n, v] to outputs [n, p].
func (r *Ridge) Predict(x []float32, n int) ([]float32, error) {
	if len(x) != n*r.v {
		return nil, fmt.Errorf("ridge: predict wants %d×%d inputs, got %d values", n, r.v, len(x))
	}
	xs := mat.NewDense(n, r.v, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < r.v; j++ {
			xs.Set(i, j, (float64(x[i*r.v+j])-r.xMean[j])/r.xScale[j])
		}
	}
	var kt mat.Dense // [n, N]
	kt.Mul(xs, r.xTrain.T())
	var out mat.Dense
	out.Mul(&kt, r.alpha)
	res := make([]float32, n*r.p)
	for i := 0; i < n; i++ {
		for j := 0; j < r.p; j++ {
			res[i*r.p+j] = float32(out.At(i, j) + r.yMean[j])
		}
	}
	return res, nil
}
