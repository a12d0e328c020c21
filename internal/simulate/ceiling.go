package simulate

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CeilingWays are the candidate-set sizes the ceiling is reported for.
var CeilingWays = []int{2, 10, 50}

// NWay is the ideal observer's n-way identification accuracy.
type NWay struct {
	N      int     `json:"n"`
	Chance float64 `json:"chance"` // 1/n
	// Accuracy is on the written test set (arr_2): the probability, over
	// uniformly random sets of n−1 distractors among the other test
	// images, that the true image has the highest likelihood. It is
	// computed exactly (the limit of infinitely many random candidate
	// sets): with kᵢ images more likely than the true one for item i,
	// the item's accuracy is C(N−1−kᵢ, n−1)/C(N−1, n−1).
	Accuracy float64 `json:"accuracy"`
	// Expected and ExpectedSD are the mean and standard deviation of that
	// accuracy over fresh noise draws of the averaged test responses (the
	// ceiling of this subject and stimulus set, without the luck of one
	// draw).
	Expected   float64 `json:"expected"`
	ExpectedSD float64 `json:"expected_sd"`
	// SingleTrial is the expected accuracy from one unaveraged trial.
	SingleTrial float64 `json:"single_trial"`
}

// Reliability summarises the voxels' split-half reliabilities.
type Reliability struct {
	MedianVC      float64            `json:"median_vc"`
	MedianByROI   map[string]float64 `json:"median_by_roi"`
	FractionAbove map[string]float64 `json:"fraction_above"` // thresholds 0.1, 0.3, 0.5 over VC
	// MedianSpearmanBrownVC is the median corrected to all repeats.
	MedianSpearmanBrownVC float64 `json:"median_spearman_brown_vc"`
}

// Ceiling is the ideal observer's accuracy for one subject.
type Ceiling struct {
	Subject    string  `json:"subject"`
	Voxels     string  `json:"voxels"` // the ROI the observer reads ("VC")
	NVoxels    int     `json:"n_voxels"`
	TestImages int     `json:"test_images"`
	Repeats    int     `json:"repeats"`
	NoiseScale float64 `json:"noise_scale"`
	// Identification holds one entry per n in CeilingWays that the test
	// set can support (n ≤ test images).
	Identification []NWay      `json:"identification"`
	Reliability    Reliability `json:"reliability"`
}

// At returns the entry for n-way identification.
func (c *Ceiling) At(n int) (NWay, bool) {
	for _, w := range c.Identification {
		if w.N == n {
			return w, true
		}
	}
	return NWay{}, false
}

// CeilingFile is the content of truth/ceiling.json.
type CeilingFile struct {
	Design   Design    `json:"design"`
	Seed     uint64    `json:"seed"`
	Method   string    `json:"method"`
	Subjects []Ceiling `json:"subjects"`
}

const ceilingMethod = "ideal observer over the VC voxels: the mean of R test repeats given image j is Gaussian with mean the true noiseless " +
	"response to j and covariance Σ_locked + Σ_trial/R (stimulus-locked variability repeats with the image, trial noise averages out); " +
	"candidates are ranked by log-likelihood (Mahalanobis distance by the Woodbury identity on the low-rank + diagonal covariance). " +
	"accuracy: on the written arr_2, averaged exactly over all random candidate sets; expected: mean over fresh draws of the test set; " +
	"single_trial: expected accuracy from one unaveraged trial"

// computeCeiling evaluates the ideal observer on a subject's test set.
func computeCeiling(cfg Config, g *GODSubject) (*Ceiling, error) {
	s := g.Subject
	vc := s.VCIndex()
	nTest, V, R := len(g.TestSignal)/s.V, s.V, g.Repeats
	c := &Ceiling{Subject: s.Name, Voxels: "VC", NVoxels: len(vc), TestImages: nTest, Repeats: R, NoiseScale: cfg.NoiseScale}
	var ways []int
	for _, n := range CeilingWays {
		if n <= nTest {
			ways = append(ways, n)
		}
	}
	if cfg.NoiseScale == 0 {
		// Noiseless: every distinct image is identified.
		for _, n := range ways {
			c.Identification = append(c.Identification, NWay{N: n, Chance: 1 / float64(n), Accuracy: 1, Expected: 1, SingleTrial: 1})
		}
		c.Reliability = summariseReliability(s, g.SplitHalf, g.SpearmanBrown)
		return c, nil
	}
	col, d := s.Noise.MeanCovariance(R, cfg.NoiseScale)
	w, err := s.Noise.NewWhitener(vc, col, d)
	if err != nil {
		return nil, err
	}
	col1, d1 := s.Noise.MeanCovariance(1, cfg.NoiseScale)
	w1, err := s.Noise.NewWhitener(vc, col1, d1)
	if err != nil {
		return nil, err
	}
	// Whitened forms of the candidate means μⱼ and the written averages ȳᵢ.
	ma, mb := make([][]float64, nTest), make([][]float64, nTest)
	ma1, mb1 := make([][]float64, nTest), make([][]float64, nTest)
	oa, ob := make([][]float64, nTest), make([][]float64, nTest)
	obs := make([]float64, V)
	for i := 0; i < nTest; i++ {
		mu := g.TestSignal[i*V : (i+1)*V]
		ma[i], mb[i] = w.Project(mu)
		ma1[i], mb1[i] = w1.Project(mu)
		for v := range obs {
			obs[v] = float64(g.TestMean[i*V+v])
		}
		oa[i], ob[i] = w.Project(obs)
	}
	beaten := make([]int, nTest)
	for i := 0; i < nTest; i++ {
		own := w.Dist2(oa[i], ob[i], ma[i], mb[i])
		for j := 0; j < nTest; j++ {
			if j != i && w.Dist2(oa[i], ob[i], ma[j], mb[j]) < own {
				beaten[i]++
			}
		}
	}
	written := waysAccuracy(beaten, ways)

	// Fresh draws. With Q = Σ⁻¹ and G = M·Q·Mᵀ the Gram matrix of the
	// means, the distance of ȳᵢ = μᵢ + ε to μⱼ exceeds its distance to μᵢ
	// by Gᵢᵢ − 2Gᵢⱼ + Gⱼⱼ − 2(uⱼ − uᵢ), where u = M·Q·ε ~ N(0, G); so a
	// draw of the whole test set needs only 50-dimensional normals.
	gram := func(w *Whitener, a, b [][]float64) []float64 {
		g := make([]float64, nTest*nTest)
		for i := 0; i < nTest; i++ {
			for j := 0; j <= i; j++ {
				d := w.Dot(a[i], b[i], a[j], b[j])
				g[i*nTest+j], g[j*nTest+i] = d, d
			}
		}
		return g
	}
	avg, err := drawAccuracies(gram(w, ma, mb), nTest, ways, cfg.CeilingDraws, newRand(cfg.Seed, streamCeiling, uint64(s.Index), 1))
	if err != nil {
		return nil, err
	}
	one, err := drawAccuracies(gram(w1, ma1, mb1), nTest, ways, cfg.CeilingDraws, newRand(cfg.Seed, streamCeiling, uint64(s.Index), 2))
	if err != nil {
		return nil, err
	}
	for k, n := range ways {
		m, sd := meanSD(avg[k])
		m1, _ := meanSD(one[k])
		c.Identification = append(c.Identification, NWay{
			N: n, Chance: 1 / float64(n), Accuracy: written[k],
			Expected: m, ExpectedSD: sd, SingleTrial: m1,
		})
	}
	c.Reliability = summariseReliability(s, g.SplitHalf, g.SpearmanBrown)
	return c, nil
}

// waysAccuracy turns, per test item, the number of other candidates more
// likely than the true one into the mean n-way accuracy for each n.
func waysAccuracy(beaten []int, ways []int) []float64 {
	out := make([]float64, len(ways))
	for k, n := range ways {
		for _, b := range beaten {
			out[k] += candidateSetSurvival(len(beaten)-1, b, n-1)
		}
		out[k] /= float64(len(beaten))
	}
	return out
}

// drawAccuracies simulates draws of the whole test set from the Gram matrix
// G of the means and returns, per n, the accuracy of each draw.
func drawAccuracies(g []float64, n int, ways []int, draws int, r *rand.Rand) ([][]float64, error) {
	// G is a Gram matrix, positive semi-definite; a tiny ridge makes the
	// Cholesky factor exist when two means coincide.
	l := append([]float64(nil), g...)
	tr := 0.0
	for i := 0; i < n; i++ {
		tr += g[i*n+i]
	}
	for i := 0; i < n; i++ {
		l[i*n+i] += 1e-10*tr/float64(n) + 1e-300
	}
	if err := cholesky(l, n); err != nil {
		return nil, err
	}
	out := make([][]float64, len(ways))
	z, u := make([]float64, n), make([]float64, n)
	beaten := make([]int, n)
	for d := 0; d < draws; d++ {
		for i := 0; i < n; i++ {
			for k := range z {
				z[k] = r.NormFloat64()
			}
			for a := 0; a < n; a++ {
				s := 0.0
				for b := 0; b <= a; b++ {
					s += l[a*n+b] * z[b]
				}
				u[a] = s
			}
			beaten[i] = 0
			for j := 0; j < n; j++ {
				if j != i && g[i*n+i]-2*g[i*n+j]+g[j*n+j]-2*(u[j]-u[i]) < 0 {
					beaten[i]++
				}
			}
		}
		for k, acc := range waysAccuracy(beaten, ways) {
			out[k] = append(out[k], acc)
		}
	}
	return out, nil
}

func meanSD(x []float64) (float64, float64) {
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return m, math.Sqrt(s / float64(max(1, len(x)-1)))
}

// candidateSetSurvival is the probability that a uniformly random set of
// k distractors out of pop avoids all `beaten` marked ones:
// C(pop−beaten, k)/C(pop, k).
func candidateSetSurvival(pop, beaten, k int) float64 {
	if k > pop-beaten {
		return 0
	}
	p := 1.0
	for i := 0; i < k; i++ {
		p *= float64(pop-beaten-i) / float64(pop-i)
	}
	return p
}

func summariseReliability(s *Subject, r, sb []float64) Reliability {
	med := func(idx []int, x []float64) float64 {
		var v []float64
		for _, i := range idx {
			if !math.IsNaN(x[i]) {
				v = append(v, x[i])
			}
		}
		if len(v) == 0 {
			return math.NaN()
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	finite := func(x float64) float64 {
		if math.IsNaN(x) {
			return 0 // JSON has no NaN; only a voxel set without variance gets here
		}
		return x
	}
	vc := s.VCIndex()
	out := Reliability{MedianVC: finite(med(vc, r)), MedianSpearmanBrownVC: finite(med(vc, sb)), MedianByROI: map[string]float64{}, FractionAbove: map[string]float64{}}
	for _, name := range MaskNames {
		if m := med(s.ROIIndex(name), r); !math.IsNaN(m) {
			out.MedianByROI[name] = m
		}
	}
	for _, th := range []float64{0.1, 0.3, 0.5} {
		n := 0
		for _, i := range vc {
			if r[i] > th {
				n++
			}
		}
		out.FractionAbove[fmt.Sprintf("%.1f", th)] = float64(n) / float64(max(1, len(vc)))
	}
	return out
}

// ReadCeiling reads the ideal-observer ceiling of one subject from a
// simulation's output directory (dir/truth/ceiling.json). subject is
// "sbj_1" or "1".
func ReadCeiling(dir, subject string) (*Ceiling, error) {
	path := filepath.Join(dir, "truth", "ceiling.json")
	f, err := ReadCeilingFile(path)
	if err != nil {
		return nil, err
	}
	want := subject
	if !strings.HasPrefix(want, "sbj_") {
		want = "sbj_" + want
	}
	var names []string
	for i := range f.Subjects {
		if f.Subjects[i].Subject == want {
			return &f.Subjects[i], nil
		}
		names = append(names, f.Subjects[i].Subject)
	}
	return nil, fmt.Errorf("%s: no subject %q (have %s)", path, subject, strings.Join(names, ", "))
}

// ReadCeilingFile reads and checks a ceiling.json.
func ReadCeilingFile(path string) (*CeilingFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f CeilingFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range f.Subjects {
		for _, w := range s.Identification {
			if w.N < 2 || !(w.Accuracy >= 0 && w.Accuracy <= 1) || !(w.Expected >= 0 && w.Expected <= 1) {
				return nil, fmt.Errorf("%s: subject %s: invalid %d-way entry (accuracy %g, expected %g)", path, s.Subject, w.N, w.Accuracy, w.Expected)
			}
		}
	}
	return &f, nil
}
