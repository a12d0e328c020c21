package simulate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// smallNoise builds a random low-rank plus diagonal noise model.
func smallNoise(seed uint64, v, k int) *Noise {
	r := rand.New(rand.NewPCG(seed, 1))
	L := make([]float64, v*k)
	for i := range L {
		if r.Float64() < 0.6 {
			L[i] = r.NormFloat64()
		}
	}
	diag, idio, locked := make([]float64, v), make([]float64, v), make([]float64, k)
	for i := range diag {
		diag[i] = 0.5 + r.Float64()
		idio[i] = 0.3 * r.Float64()
	}
	for i := range locked {
		locked[i] = r.Float64()
	}
	return newNoise(v, k, L, diag, locked, idio, []string{"all"}, []int{0, k}, 0)
}

// denseCov is L·diag(col)·Lᵀ + diag(d) over idx.
func denseCov(n *Noise, idx []int, col, d []float64) []float64 {
	m := len(idx)
	c := make([]float64, m*m)
	for a, va := range idx {
		for b, vb := range idx {
			s := 0.0
			for k := 0; k < n.K; k++ {
				s += n.Factors[va*n.K+k] * col[k] * n.Factors[vb*n.K+k]
			}
			if a == b {
				s += d[va]
			}
			c[a*m+b] = s
		}
	}
	return c
}

// solveDense solves A·x = b by Gaussian elimination with partial pivoting.
func solveDense(a []float64, n int, b []float64) []float64 {
	a = append([]float64(nil), a...)
	x := append([]float64(nil), b...)
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r*n+c]) > math.Abs(a[p*n+c]) {
				p = r
			}
		}
		for k := 0; k < n; k++ {
			a[c*n+k], a[p*n+k] = a[p*n+k], a[c*n+k]
		}
		x[c], x[p] = x[p], x[c]
		for r := c + 1; r < n; r++ {
			f := a[r*n+c] / a[c*n+c]
			for k := c; k < n; k++ {
				a[r*n+k] -= f * a[c*n+k]
			}
			x[r] -= f * x[c]
		}
	}
	for r := n - 1; r >= 0; r-- {
		for k := r + 1; k < n; k++ {
			x[r] -= a[r*n+k] * x[k]
		}
		x[r] /= a[r*n+r]
	}
	return x
}

// TestWhitenerMatchesDenseInverse: the Woodbury distances equal xᵀΣ⁻¹x
// computed with the dense covariance, for single trials and means.
func TestWhitenerMatchesDenseInverse(t *testing.T) {
	tests := []struct {
		name    string
		v, k    int
		repeats int
		scale   float64
		subset  bool
	}{
		{"single trial", 30, 5, 1, 1, false},
		{"mean of 35", 30, 5, 35, 1, false},
		{"subset, scaled", 40, 8, 10, 2.5, true},
		{"more factors than voxels", 12, 20, 3, 1, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := smallNoise(uint64(i)+1, tt.v, tt.k)
			var idx []int
			for v := 0; v < tt.v; v++ {
				if !tt.subset || v%3 != 0 {
					idx = append(idx, v)
				}
			}
			col, d := n.MeanCovariance(tt.repeats, tt.scale)
			w, err := n.NewWhitener(idx, col, d)
			if err != nil {
				t.Fatal(err)
			}
			cov := denseCov(n, idx, col, d)
			r := rand.New(rand.NewPCG(9, uint64(i)))
			for trial := 0; trial < 5; trial++ {
				x, y := make([]float64, tt.v), make([]float64, tt.v)
				for j := range x {
					x[j], y[j] = r.NormFloat64(), r.NormFloat64()
				}
				ax, bx := w.Project(x)
				ay, by := w.Project(y)
				got := w.Dist2(ax, bx, ay, by)
				diff := make([]float64, len(idx))
				for j, v := range idx {
					diff[j] = x[v] - y[v]
				}
				sol := solveDense(cov, len(idx), diff)
				want := 0.0
				for j := range diff {
					want += diff[j] * sol[j]
				}
				if math.Abs(got-want) > 1e-9*math.Abs(want) {
					t.Errorf("distance %v, dense %v", got, want)
				}
			}
		})
	}
}

// TestNoiseSampleMoments: trial samples have the covariance the likelihood
// assumes, including the locked part shared by repeats.
func TestNoiseSampleMoments(t *testing.T) {
	n := smallNoise(3, 6, 3)
	const draws = 40000
	r := rand.New(rand.NewPCG(5, 5))
	// Two repeats of the same stimulus: their covariance is the locked part.
	var sumA, sumAB [6 * 6]float64
	a, b := make([]float64, 6), make([]float64, 6)
	for d := 0; d < draws; d++ {
		st := n.DrawStimulus(r)
		clear(a)
		clear(b)
		n.Sample(st, r, 1, a)
		n.Sample(st, r, 1, b)
		for i := 0; i < 6; i++ {
			for j := 0; j < 6; j++ {
				sumA[i*6+j] += a[i] * a[j]
				sumAB[i*6+j] += a[i] * b[j]
			}
		}
	}
	col1, d1 := n.MeanCovariance(1, 1)
	full := denseCov(n, []int{0, 1, 2, 3, 4, 5}, col1, d1)
	lockedCol := append([]float64(nil), n.Locked...)
	lockedD := make([]float64, 6)
	for i := range lockedD {
		lockedD[i] = n.LockedDiag[i] * n.LockedDiag[i]
	}
	locked := denseCov(n, []int{0, 1, 2, 3, 4, 5}, lockedCol, lockedD)
	for i := 0; i < 36; i++ {
		gotFull, gotLocked := sumA[i]/draws, sumAB[i]/draws
		tol := 0.04 * math.Sqrt(full[i/6*7]*full[i%6*7]) // ~4 SE of a covariance estimate
		if math.Abs(gotFull-full[i]) > tol || math.Abs(gotLocked-locked[i]) > tol {
			t.Errorf("cov[%d,%d]: trial %.3f want %.3f; between repeats %.3f want %.3f", i/6, i%6, gotFull, full[i], gotLocked, locked[i])
		}
	}
}

// TestCandidateSetSurvival checks the exact average over candidate sets
// against enumerating every set.
func TestCandidateSetSurvival(t *testing.T) {
	var subsets func(pop, k, start int, cur []int, f func([]int))
	subsets = func(pop, k, start int, cur []int, f func([]int)) {
		if len(cur) == k {
			f(cur)
			return
		}
		for i := start; i < pop; i++ {
			subsets(pop, k, i+1, append(cur, i), f)
		}
	}
	for pop := 1; pop <= 8; pop++ {
		for beaten := 0; beaten <= pop; beaten++ {
			for k := 0; k <= pop; k++ {
				ok, all := 0, 0
				subsets(pop, k, 0, nil, func(s []int) {
					all++
					for _, x := range s {
						if x < beaten { // the first `beaten` candidates beat the true one
							return
						}
					}
					ok++
				})
				want := float64(ok) / float64(all)
				if got := candidateSetSurvival(pop, beaten, k); math.Abs(got-want) > 1e-12 {
					t.Errorf("candidateSetSurvival(%d, %d, %d) = %v, enumeration gives %v", pop, beaten, k, got, want)
				}
			}
		}
	}
}

// TestCeilingDrawsMatchVoxelSpace: the Gram-matrix shortcut of the ceiling
// gives the same accuracy as drawing averaged responses in voxel space and
// ranking them with the whitener.
func TestCeilingDrawsMatchVoxelSpace(t *testing.T) {
	const v, k, m, repeats = 60, 6, 12, 4
	n := smallNoise(11, v, k)
	r := rand.New(rand.NewPCG(12, 12))
	means := make([][]float64, m)
	for i := range means {
		means[i] = make([]float64, v)
		for j := range means[i] {
			means[i][j] = 0.09 * r.NormFloat64()
		}
	}
	idx := make([]int, v)
	for i := range idx {
		idx[i] = i
	}
	col, d := n.MeanCovariance(repeats, 1)
	w, err := n.NewWhitener(idx, col, d)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := make([][]float64, m), make([][]float64, m)
	for i := range means {
		ma[i], mb[i] = w.Project(means[i])
	}
	gram := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			gram[i*m+j] = w.Dot(ma[i], mb[i], ma[j], mb[j])
		}
	}
	ways := []int{2, 5, 12}
	const draws = 3000
	fast, err := drawAccuracies(gram, m, ways, draws, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	slow := make([][]float64, len(ways))
	obs := make([]float64, v)
	for dd := 0; dd < draws; dd++ {
		beaten := make([]int, m)
		for i := 0; i < m; i++ {
			copy(obs, means[i])
			st := n.DrawStimulus(r)
			mean := make([]float64, v)
			for rep := 0; rep < repeats; rep++ {
				one := make([]float64, v)
				n.Sample(st, r, 1, one)
				for j := range mean {
					mean[j] += one[j] / repeats
				}
			}
			for j := range obs {
				obs[j] += mean[j]
			}
			oa, ob := w.Project(obs)
			own := w.Dist2(oa, ob, ma[i], mb[i])
			for j := 0; j < m; j++ {
				if j != i && w.Dist2(oa, ob, ma[j], mb[j]) < own {
					beaten[i]++
				}
			}
		}
		for q, acc := range waysAccuracy(beaten, ways) {
			slow[q] = append(slow[q], acc)
		}
	}
	for q, n := range ways {
		f, _ := meanSD(fast[q])
		s, sd := meanSD(slow[q])
		se := sd / math.Sqrt(draws) * math.Sqrt2
		t.Logf("%d-way: Gram draws %.4f, voxel-space draws %.4f (SE %.4f)", n, f, s, se)
		if math.Abs(f-s) > 5*se+1e-3 {
			t.Errorf("%d-way: Gram draws %.4f, voxel-space draws %.4f, differ by more than 5 SE", n, f, s)
		}
	}
}
