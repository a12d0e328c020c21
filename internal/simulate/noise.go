package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Noise is the response variability around the encoding model, with a
// low-rank plus diagonal covariance. One trial's deviation is
//
//	ε = L·(√f ⊙ zₛ + √(1−f) ⊙ zₜ) + S·eₛ + D·e,   zₛ, zₜ ~ N(0, I_K), eₛ, e ~ N(0, I_V),
//
// where zₛ and eₛ are drawn once per stimulus and shared by all its repeats
// (stimulus-locked variability that the encoding model does not explain) and
// zₜ, e are fresh on every trial. f is each factor column's locked fraction
// and S each voxel's idiosyncratic locked standard deviation.
// The columns are spatially smooth physiological fluctuations (trial-level),
// feature-channel noise that the voxels read through their own pRFs and gains
// and category-code noise (mostly stimulus-locked: they look like a change of
// stimulus, which is what limits an ideal observer); D is each voxel's
// independent trial noise. The mean of R repeats of one stimulus therefore
// has covariance L·diag(f + (1−f)/R)·Lᵀ + S² + D²/R.
type Noise struct {
	V, K int
	// Factors is L, [V, K] row-major. Entries too small to matter are
	// exactly zero, and the samples are drawn from this same matrix.
	Factors []float64
	// Diag is D, each voxel's independent noise standard deviation.
	Diag []float64
	// Locked is f, each column's stimulus-locked variance fraction.
	Locked []float64
	// LockedDiag is S, each voxel's independent stimulus-locked standard
	// deviation.
	LockedDiag []float64
	// Groups names the factor columns: Groups[g] covers columns
	// GroupStart[g] .. GroupStart[g+1]−1.
	Groups     []string
	GroupStart []int
	// The non-zero entries of L, row by row (compressed sparse rows):
	// row i holds cols[ptr[i]:ptr[i+1]] and vals[ptr[i]:ptr[i+1]].
	ptr  []int
	cols []int32
	vals []float64
}

// newNoise wraps L and D, zeroing entries below tol·(largest |entry| of the
// row) so that sampling and the likelihood use the same sparse L.
func newNoise(v, k int, factors, diag, locked, lockedDiag []float64, groups []string, starts []int, tol float64) *Noise {
	n := &Noise{V: v, K: k, Factors: factors, Diag: diag, Locked: locked, LockedDiag: lockedDiag, Groups: groups, GroupStart: starts, ptr: make([]int, v+1)}
	for i := 0; i < v; i++ {
		row := factors[i*k : (i+1)*k]
		big := 0.0
		for _, x := range row {
			big = math.Max(big, math.Abs(x))
		}
		for j, x := range row {
			if math.Abs(x) <= tol*big || x == 0 {
				row[j] = 0
				continue
			}
			n.cols = append(n.cols, int32(j))
			n.vals = append(n.vals, x)
		}
		n.ptr[i+1] = len(n.vals)
	}
	return n
}

// row returns the non-zero columns and values of row i of L.
func (n *Noise) row(i int) ([]int32, []float64) {
	return n.cols[n.ptr[i]:n.ptr[i+1]], n.vals[n.ptr[i]:n.ptr[i+1]]
}

// NonZeros is the number of non-zero factor loadings.
func (n *Noise) NonZeros() int { return len(n.vals) }

// StimulusDraw is the stimulus-locked part of one stimulus' deviation,
// shared by all its repeats.
type StimulusDraw struct {
	z []float64 // zₛ, K factors
	e []float64 // eₛ, V voxels
}

// DrawStimulus draws one stimulus' locked deviation.
func (n *Noise) DrawStimulus(r *rand.Rand) StimulusDraw {
	d := StimulusDraw{z: make([]float64, n.K), e: make([]float64, n.V)}
	for i := range d.z {
		d.z[i] = r.NormFloat64()
	}
	for i := range d.e {
		d.e[i] = r.NormFloat64()
	}
	return d
}

// Sample adds one trial's deviation, scaled by scale, to out (length V):
// st is the stimulus' locked draw and r supplies the trial's own randomness.
func (n *Noise) Sample(st StimulusDraw, r *rand.Rand, scale float64, out []float64) {
	z := make([]float64, n.K)
	for i := range z {
		f := n.Locked[i]
		z[i] = math.Sqrt(f)*st.z[i] + math.Sqrt(1-f)*r.NormFloat64()
	}
	for i := 0; i < n.V; i++ {
		s := n.LockedDiag[i]*st.e[i] + n.Diag[i]*r.NormFloat64()
		cols, vals := n.row(i)
		for p, c := range cols {
			s += vals[p] * z[c]
		}
		out[i] += scale * s
	}
}

// MeanCovariance returns the column and per-voxel diagonal variances of the
// mean of R repeats with noise scale s: Cov = L·diag(col)·Lᵀ + diag(d).
func (n *Noise) MeanCovariance(repeats int, s float64) (col, d []float64) {
	col = make([]float64, n.K)
	for k, f := range n.Locked {
		col[k] = s * s * (f + (1-f)/float64(repeats))
	}
	d = make([]float64, n.V)
	for i := range d {
		d[i] = s * s * (n.LockedDiag[i]*n.LockedDiag[i] + n.Diag[i]*n.Diag[i]/float64(repeats))
	}
	return col, d
}

// Variance is each voxel's total noise variance (diagonal of L·Lᵀ + D²).
func (n *Noise) Variance() []float64 {
	out := make([]float64, n.V)
	for i := range out {
		s := n.Diag[i]*n.Diag[i] + n.LockedDiag[i]*n.LockedDiag[i]
		for _, x := range n.vals[n.ptr[i]:n.ptr[i+1]] {
			s += x * x
		}
		out[i] = s
	}
	return out
}

// Whitener evaluates Mahalanobis distances under
// Σ = L·diag(col)·Lᵀ + diag(d) restricted to a subset of voxels, by the
// Woodbury identity. With L' = L·diag(√col) and D' = diag(√d),
//
//	Σ⁻¹ = D'⁻² − D'⁻²L'(I + L'ᵀD'⁻²L')⁻¹L'ᵀD'⁻²,
//
// so xᵀΣ⁻¹x = ‖D'⁻¹x‖² − ‖C⁻¹L'ᵀD'⁻²x‖² with C·Cᵀ = I + L'ᵀD'⁻²L'. Only a
// K×K Cholesky factor is ever formed.
type Whitener struct {
	n    *Noise
	idx  []int // voxels used
	chol []float64
	col  []float64 // √col
	d    []float64 // √d
}

// NewWhitener prepares distances over voxels idx for the covariance
// L·diag(col)·Lᵀ + diag(d) (see MeanCovariance).
func (n *Noise) NewWhitener(idx []int, col, d []float64) (*Whitener, error) {
	if len(col) != n.K || len(d) != n.V {
		return nil, fmt.Errorf("whitener: %d column and %d diagonal variances, want %d and %d", len(col), len(d), n.K, n.V)
	}
	sd := make([]float64, n.V)
	for _, v := range idx {
		if !(d[v] > 0) {
			return nil, fmt.Errorf("whitener: voxel %d has diagonal variance %g, want > 0", v, d[v])
		}
		sd[v] = math.Sqrt(d[v])
	}
	k := n.K
	sc := make([]float64, k)
	for i, c := range col {
		if c < 0 {
			return nil, fmt.Errorf("whitener: column factor %d is %g, want ≥ 0", i, c)
		}
		sc[i] = math.Sqrt(c)
	}
	a := make([]float64, k*k)
	for i := 0; i < k; i++ {
		a[i*k+i] = 1
	}
	for _, v := range idx {
		d2 := 1 / d[v]
		cols, vals := n.row(v)
		for p, c := range cols {
			w := vals[p] * sc[c] * d2
			arow := a[int(c)*k:]
			for q := p; q < len(cols); q++ {
				arow[cols[q]] += w * vals[q] * sc[cols[q]]
			}
		}
	}
	// Columns are ascending within a row, so only the upper triangle (and
	// the diagonal) was accumulated: mirror it.
	for i := 0; i < k; i++ {
		for j := i + 1; j < k; j++ {
			s := a[i*k+j] + a[j*k+i]
			a[i*k+j], a[j*k+i] = s, s
		}
	}
	if err := cholesky(a, k); err != nil {
		return nil, fmt.Errorf("whitener: %w", err)
	}
	return &Whitener{n: n, idx: idx, chol: a, col: sc, d: sd}, nil
}

// Project maps x (length V, full voxel space) to the two parts of its
// whitened form: a = D'⁻¹x over the subset, b = C⁻¹L'ᵀD'⁻²x. The squared
// Mahalanobis norm of x is ‖a‖² − ‖b‖², and since the map is linear, the
// distance between two vectors is that of the difference of their
// projections.
func (w *Whitener) Project(x []float64) (a, b []float64) {
	k := w.n.K
	a = make([]float64, len(w.idx))
	b = make([]float64, k)
	for i, v := range w.idx {
		d := w.d[v]
		a[i] = x[v] / d
		xd := x[v] / (d * d)
		cols, vals := w.n.row(v)
		for p, c := range cols {
			b[c] += vals[p] * w.col[c] * xd
		}
	}
	forwardSolve(w.chol, k, b)
	return a, b
}

// Dist2 is the squared Mahalanobis distance between two projected vectors.
func (w *Whitener) Dist2(a1, b1, a2, b2 []float64) float64 {
	s := 0.0
	for i := range a1 {
		d := a1[i] - a2[i]
		s += d * d
	}
	for i := range b1 {
		d := b1[i] - b2[i]
		s -= d * d
	}
	return s
}

// Dot is the Σ⁻¹ inner product of two projected vectors.
func (w *Whitener) Dot(a1, b1, a2, b2 []float64) float64 {
	s := 0.0
	for i := range a1 {
		s += a1[i] * a2[i]
	}
	for i := range b1 {
		s -= b1[i] * b2[i]
	}
	return s
}

// cholesky overwrites the symmetric positive definite n×n matrix a with its
// lower Cholesky factor (upper triangle zeroed).
func cholesky(a []float64, n int) error {
	for j := 0; j < n; j++ {
		s := a[j*n+j]
		for k := 0; k < j; k++ {
			s -= a[j*n+k] * a[j*n+k]
		}
		if !(s > 0) {
			return fmt.Errorf("matrix not positive definite at pivot %d (%g)", j, s)
		}
		d := math.Sqrt(s)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
		for i := 0; i < j; i++ {
			a[i*n+j] = 0
		}
	}
	return nil
}

// forwardSolve solves L·x = b in place for lower-triangular L.
func forwardSolve(l []float64, n int, b []float64) {
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}
