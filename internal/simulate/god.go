package simulate

import (
	"context"
	"fmt"
	"io"

	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/stats"
)

// GODSubject is one simulated subject of a GOD-layout design: the arrays of
// its sbj_N.npz and its truth.
type GODSubject struct {
	*Subject
	// Order is arr_3: the training image (index into TrainImages) shown on
	// each training trial, in presentation order.
	Order []int
	// Train is arr_0, [NTrain, V]: one trial per training image, in
	// presentation order.
	Train []float32
	// TestTrials is arr_1, [NTest·R, V]: test image 0's R repeats, then
	// image 1's, ...
	TestTrials []float32
	// TestMean is arr_2, [NTest, V]: the mean of each image's repeats.
	TestMean []float32
	Repeats  int
	// TrainSignal and TestSignal are the noiseless responses, [N, V], in
	// image order (TrainImages, TestImages).
	TrainSignal, TestSignal []float64
	// SplitHalf is each voxel's split-half reliability over the test set:
	// the correlation across test images of the means of the odd and the
	// even repeats. SpearmanBrown corrects it to the full R repeats.
	SplitHalf, SpearmanBrown []float64
	Ceiling                  *Ceiling
}

// defaultSpec returns the subject spec of a design with the default noise
// amplitudes.
func defaultSpec(cfg Config, index int, earlyOnly bool) subjectSpec {
	sp := subjectSpec{
		seed: cfg.Seed, index: index, voxels: cfg.Voxels, nonVisual: cfg.NonVisual,
		earlyOnly: earlyOnly, fov: fieldOfView,
		physio: defaultPhysio, feature: defaultFeature, category: defaultCategory, thermal: defaultThermal,
		locked: defaultLocked, idio: defaultIdio,
	}
	if cfg.Design == DesignMiyawaki {
		m := miyawakiNoise
		sp.physio, sp.feature, sp.category, sp.thermal, sp.idio = m*sp.physio, m*sp.feature, m*sp.category, m*sp.thermal, m*sp.idio
	}
	return sp
}

// fieldOfView is the visual angle spanned by the images (GOD: 12°).
const fieldOfView = 12.0

// SimulateGODSubject simulates subject index (1-based) viewing st.
func SimulateGODSubject(ctx context.Context, cfg Config, st *Stimuli, index int, log io.Writer) (*GODSubject, error) {
	log = orDiscard(log)
	s, err := newSubject(defaultSpec(cfg, index, false))
	if err != nil {
		return nil, err
	}
	g := &GODSubject{Subject: s, Repeats: cfg.repeats()}
	w := cfg.workers()
	g.TrainSignal = s.Responses(st.TrainStim, w)
	g.TestSignal = s.Responses(st.TestStim, w)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nTrain, nTest, R, V := len(st.TrainStim), len(st.TestStim), g.Repeats, s.V
	g.Order = newRand(cfg.Seed, streamDesign, 10, uint64(index)).Perm(nTrain)
	g.Train = make([]float32, nTrain*V)
	g.TestTrials = make([]float32, nTest*R*V)
	bar := progress.New(log, s.Name+" trials", nTrain+nTest*R)
	trials := nTrain + nTest*R
	// Stimulus-locked draws: one per image, shared by its repeats.
	lockedTrain := make([]StimulusDraw, nTrain)
	for i := range lockedTrain {
		lockedTrain[i] = s.Noise.DrawStimulus(newRand(cfg.Seed, streamStimulusNoise, uint64(index), 0, uint64(i)))
	}
	lockedTest := make([]StimulusDraw, nTest)
	for i := range lockedTest {
		lockedTest[i] = s.Noise.DrawStimulus(newRand(cfg.Seed, streamStimulusNoise, uint64(index), 1, uint64(i)))
	}
	parallel(trials, w, func(t int) {
		if ctx.Err() != nil {
			return
		}
		row := make([]float64, V)
		var dst []float32
		var zs StimulusDraw
		if t < nTrain {
			img := g.Order[t]
			copy(row, g.TrainSignal[img*V:(img+1)*V])
			dst = g.Train[t*V : (t+1)*V]
			zs = lockedTrain[img]
		} else {
			i := (t - nTrain) / R
			copy(row, g.TestSignal[i*V:(i+1)*V])
			dst = g.TestTrials[(t-nTrain)*V : (t-nTrain+1)*V]
			zs = lockedTest[i]
		}
		// Train and test trials have separate streams, so the test trials do
		// not depend on the number of training trials.
		tr := newRand(cfg.Seed, streamTrialNoise, uint64(index), 0, uint64(t))
		if t >= nTrain {
			tr = newRand(cfg.Seed, streamTrialNoise, uint64(index), 1, uint64(t-nTrain))
		}
		s.Noise.Sample(zs, tr, cfg.NoiseScale, row)
		for v, x := range row {
			dst[v] = float32(x)
		}
		if t%64 == 0 {
			bar.Update(t, "")
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bar.Update(trials, "")
	g.TestMean = make([]float32, nTest*V)
	for i := 0; i < nTest; i++ {
		for v := 0; v < V; v++ {
			sum := 0.0
			for k := 0; k < R; k++ {
				sum += float64(g.TestTrials[((i*R)+k)*V+v])
			}
			g.TestMean[i*V+v] = float32(sum / float64(R))
		}
	}
	g.SplitHalf, g.SpearmanBrown = splitHalf(g.TestTrials, nTest, R, V)
	g.Ceiling, err = computeCeiling(cfg, g)
	if err != nil {
		return nil, fmt.Errorf("%s: ceiling: %w", s.Name, err)
	}
	return g, nil
}

// splitHalf returns each voxel's correlation, across test images, between
// the mean of the even-numbered and of the odd-numbered repeats, and its
// Spearman-Brown correction 2r/(1+r). Voxels without variance get NaN.
func splitHalf(trials []float32, nTest, R, V int) (r, sb []float64) {
	r, sb = make([]float64, V), make([]float64, V)
	a, b := make([]float64, nTest), make([]float64, nTest)
	for v := 0; v < V; v++ {
		for i := 0; i < nTest; i++ {
			var sa, sbb float64
			var na, nb int
			for k := 0; k < R; k++ {
				x := float64(trials[(i*R+k)*V+v])
				if k%2 == 0 {
					sa += x
					na++
				} else {
					sbb += x
					nb++
				}
			}
			a[i], b[i] = sa/float64(na), sbb/float64(nb)
		}
		r[v] = stats.Pearson(a, b)
		sb[v] = 2 * r[v] / (1 + r[v])
	}
	return r, sb
}

// VCIndex lists the subject's visual-cortex voxels (any ROI).
func (s *Subject) VCIndex() []int {
	var out []int
	for v, r := range s.ROI {
		if r != ROINone {
			out = append(out, v)
		}
	}
	return out
}

// ROIIndex lists the voxels of the named ROI or union (V1, V2, V3, hV4,
// LOC, FFA, PPA, LVC, HVC, VC).
func (s *Subject) ROIIndex(name string) []int {
	m := s.ROIMask(name)
	var out []int
	for v, in := range m {
		if in {
			out = append(out, v)
		}
	}
	return out
}

// MaskNames are the ROI mask keys of sbj_N.npz, in file order.
var MaskNames = []string{"V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA", "LVC", "HVC", "VC"}

// ROIMask returns the boolean mask over all voxels for an ROI name (nil for
// an unknown name).
func (s *Subject) ROIMask(name string) []bool {
	var in func(r int) bool
	switch name {
	case "LVC":
		in = early
	case "HVC":
		in = func(r int) bool { return r >= ROILOC }
	case "VC":
		in = func(r int) bool { return r != ROINone }
	default:
		code := -1
		for c, n := range ROINames {
			if n == name && c != ROINone {
				code = c
			}
		}
		if code < 0 {
			return nil
		}
		in = func(r int) bool { return r == code }
	}
	m := make([]bool, s.V)
	for v, r := range s.ROI {
		m[v] = in(r)
	}
	return m
}
