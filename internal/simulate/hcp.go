package simulate

import (
	"context"
	"fmt"
	"io"
	"math"
	"path/filepath"

	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/progress"
)

// The HCP design: visual-cortex time series for phase-1 pre-training, in the
// layout of the reference's preprocessed HCP files (cad-spec §1.3,
// data/HCP/preprocess_hcp.py): <subject>/HCP_visual_voxel.npz with keys V1,
// V2, V3, V4, each (frames, voxels) float64, every voxel z-scored over time
// as hcp_utils.normalize does.
//
// HCP REST1 has no stimulus. The simulated subject watches a stream of
// procedural images instead (a new one every 2–6 s), which gives the series
// the retinotopic correlation structure of visual cortex; the same feature
// channels also fluctuate spontaneously (slow AR(1) latents read through the
// pRFs). The neural drive is convolved with a double-gamma HRF (SPM
// canonical: peak 6 s, undershoot 16 s, ratio 1/6; Glover 1999) whose
// latency varies per subject (±12%) and voxel (±5%), sampled at TR 0.72 s,
// plus AR(1) thermal noise, slow physiological factors and drift.

const (
	hcpTR       = 0.72   // seconds
	hcpPool     = 300    // images in the stream's pool, shared by subjects
	hcpHRFLen   = 32.0   // seconds of HRF kept
	hcpRhoSlow  = 0.95   // AR(1) of physiological factors per frame
	hcpRhoFeat  = 0.8    // AR(1) of spontaneous feature / category latents
	hcpRhoNoise = 0.3    // AR(1) of thermal noise
	hcpDrift    = 0.5    // drift amplitude relative to thermal noise
	hcpGain     = 1.5    // weight of the stimulus-driven term
	firstHCPID  = 100000 // subject k is named firstHCPID+k, like HCP's six-digit ids
)

// HCPROINames are the keys of HCP_visual_voxel.npz with the ROI codes they
// hold (hV4 is HCP-MMP's V4).
var HCPROINames = []struct {
	Name string
	Code int
}{{"V1", ROIV1}, {"V2", ROIV2}, {"V3", ROIV3}, {"V4", ROIhV4}}

// HCPSubject is one simulated HCP subject.
type HCPSubject struct {
	*Subject
	ID string
	// Series maps V1..V4 to [frames, n_roi] z-scored time series.
	Series map[string][]float64
	Counts map[string]int
	Frames int
	// Sequence is the pool image shown at each frame.
	Sequence []int
	// HRFScale is each voxel's HRF time scale (1 = SPM canonical).
	HRFScale []float64
}

// MakeHCPPool renders the image pool the HCP subjects watch (at the
// feature grid's size; these images are never written).
func MakeHCPPool(ctx context.Context, cfg Config) ([]*Stimulus, error) {
	src := NewProceduralSource(cfg.Seed, 200).(*proceduralSource)
	r := newRand(cfg.Seed, streamHCP)
	pool := make([]*Stimulus, hcpPool)
	cats := make([]int, hcpPool)
	for i := range cats {
		cats[i] = r.IntN(len(src.cats))
	}
	parallel(hcpPool, cfg.workers(), func(i int) {
		if ctx.Err() != nil {
			return
		}
		c := src.cats[cats[i]]
		img := RenderProcedural(c, NewInstance(cfg.Seed, c, 5000+i), GridSize)
		pool[i] = &Stimulus{Features: ComputeFeatures(img, GridSize), Embedding: make([]float64, embedDim)}
	})
	return pool, ctx.Err()
}

// spmHRF is the SPM canonical haemodynamic response at time t seconds
// (difference of gamma densities with shapes 6 and 16, scale 1, ratio 1/6).
func spmHRF(t float64) float64 {
	if t <= 0 {
		return 0
	}
	g := func(t, k float64) float64 {
		lg, _ := math.Lgamma(k)
		return math.Exp((k-1)*math.Log(t) - t - lg)
	}
	return g(t, 6) - g(t, 16)/6
}

// SimulateHCPSubject simulates subject index (1-based) for cfg.HCPFrames
// frames, watching a stream drawn from pool.
func SimulateHCPSubject(ctx context.Context, cfg Config, pool []*Stimulus, index int) (*HCPSubject, error) {
	sp := defaultSpec(cfg, index, true)
	s, err := newSubject(sp)
	if err != nil {
		return nil, err
	}
	T, V := cfg.HCPFrames, s.V
	h := &HCPSubject{Subject: s, ID: fmt.Sprint(firstHCPID + index), Frames: T, Series: map[string][]float64{}, Counts: map[string]int{}}
	r := newRand(cfg.Seed, streamHCP, uint64(index))
	// The stream: a new image every 3–8 frames (2–6 s).
	h.Sequence = make([]int, T)
	for t := 0; t < T; {
		img, dur := r.IntN(len(pool)), 3+r.IntN(6)
		for k := 0; k < dur && t < T; k++ {
			h.Sequence[t] = img
			t++
		}
	}
	used := map[int]bool{}
	for _, i := range h.Sequence {
		used[i] = true
	}
	resp := make(map[int][]float64, len(used))
	for i := range pool {
		if used[i] {
			resp[i] = make([]float64, V)
		}
	}
	keys := make([]int, 0, len(resp))
	for i := range pool {
		if used[i] {
			keys = append(keys, i)
		}
	}
	parallel(len(keys), cfg.workers(), func(k int) { s.Response(pool[keys[k]], resp[keys[k]]) })
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// HRFs: a subject latency scale and a voxel jitter.
	subjScale := 1 + 0.12*r.NormFloat64()
	h.HRFScale = make([]float64, V)
	taps := int(math.Ceil(hcpHRFLen / hcpTR))
	hrf := make([]float64, V*taps)
	for v := 0; v < V; v++ {
		sc := math.Max(0.6, subjScale*(1+0.05*r.NormFloat64()))
		h.HRFScale[v] = sc
		sum := 0.0
		for k := 0; k < taps; k++ {
			x := spmHRF(float64(k) * hcpTR / sc)
			hrf[v*taps+k] = x
			sum += x
		}
		for k := 0; k < taps; k++ {
			hrf[v*taps+k] /= sum
		}
	}
	// Latent noise processes: AR(1) per factor column.
	n := s.Noise
	ns := cfg.NoiseScale
	rho := make([]float64, n.K)
	for k := range rho {
		rho[k] = hcpRhoFeat
		if k < n.GroupStart[1] {
			rho[k] = hcpRhoSlow
		}
	}
	// The latent factors evolve together (one AR(1) path per column);
	// each voxel's thermal noise and drift then come from its own stream,
	// so voxels can be filled in parallel and the result does not depend
	// on the number of goroutines.
	z := make([]float64, T*n.K)
	for k := 0; k < n.K; k++ {
		z[k] = r.NormFloat64()
	}
	for t := 1; t < T; t++ {
		for k := 0; k < n.K; k++ {
			z[t*n.K+k] = rho[k]*z[(t-1)*n.K+k] + math.Sqrt(1-rho[k]*rho[k])*r.NormFloat64()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bold := make([]float64, T*V)
	parallel(V, cfg.workers(), func(v int) {
		vr := newRand(cfg.Seed, streamHCP, uint64(index), 1, uint64(v))
		period, phase := uniform(vr, 120, 600), uniform(vr, 0, 2*math.Pi)
		thermal := vr.NormFloat64()
		cols, vals := n.row(v)
		for t := 0; t < T; t++ {
			thermal = hcpRhoNoise*thermal + math.Sqrt(1-hcpRhoNoise*hcpRhoNoise)*vr.NormFloat64()
			x := n.Diag[v] * (thermal + hcpDrift*math.Cos(2*math.Pi*float64(t)*hcpTR/period+phase))
			zt := z[t*n.K : (t+1)*n.K]
			for p, c := range cols {
				x += vals[p] * zt[c]
			}
			bold[t*V+v] = ns * x
		}
	})
	// Add the HRF-convolved stimulus drive.
	parallel(V, cfg.workers(), func(v int) {
		base := s.Baseline[v]
		for t := 0; t < T; t++ {
			acc := 0.0
			for k := 0; k < taps && k <= t; k++ {
				acc += hrf[v*taps+k] * (resp[h.Sequence[t-k]][v] - base)
			}
			bold[t*V+v] += hcpGain * acc
		}
	})
	// z-score each voxel over time and split by ROI.
	for _, roi := range HCPROINames {
		var idx []int
		for v, c := range s.ROI {
			if c == roi.Code {
				idx = append(idx, v)
			}
		}
		out := make([]float64, T*len(idx))
		for j, v := range idx {
			m, m2 := 0.0, 0.0
			for t := 0; t < T; t++ {
				x := bold[t*V+v]
				m += x
				m2 += x * x
			}
			m /= float64(T)
			sd := math.Sqrt(math.Max(m2/float64(T)-m*m, 0))
			if sd == 0 {
				sd = 1
			}
			for t := 0; t < T; t++ {
				out[t*len(idx)+j] = (bold[t*V+v] - m) / sd
			}
		}
		h.Series[roi.Name] = out
		h.Counts[roi.Name] = len(idx)
	}
	return h, nil
}

// writeHCP simulates and writes every HCP subject.
func writeHCP(ctx context.Context, cfg Config, dir string, log io.Writer, sum *Summary) error {
	pool, err := MakeHCPPool(ctx, cfg)
	if err != nil {
		return err
	}
	bar := progress.New(log, "hcp subjects", cfg.Subjects)
	for k := 1; k <= cfg.Subjects; k++ {
		h, err := SimulateHCPSubject(ctx, cfg, pool, k)
		if err != nil {
			return fmt.Errorf("hcp subject %d: %w", k, err)
		}
		var arrays []npy.Named
		for _, roi := range HCPROINames {
			arrays = append(arrays, npy.Named{Name: roi.Name, Array: npy.FromFloat64(h.Series[roi.Name], h.Frames, h.Counts[roi.Name])})
		}
		path := filepath.Join(dir, h.ID, "HCP_visual_voxel.npz")
		if err := mkdirFor(path); err != nil {
			return err
		}
		if err := npy.WriteNPZFile(path, arrays, false); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		seq := make([]int64, len(h.Sequence))
		for i, x := range h.Sequence {
			seq[i] = int64(x)
		}
		truth := append(subjectTruth(h.Subject, nil, nil, 0, 0),
			npy.Named{Name: "hrf_scale", Array: npy.FromFloat64(h.HRFScale, h.V)},
			npy.Named{Name: "stream", Array: npy.FromInt64(seq, len(seq))})
		tpath := filepath.Join(dir, "truth", "hcp_"+h.ID+".npz")
		if err := mkdirFor(tpath); err != nil {
			return err
		}
		if err := npy.WriteNPZFile(tpath, truth, true); err != nil {
			return fmt.Errorf("write %s: %w", tpath, err)
		}
		sum.Files = append(sum.Files, path, tpath)
		sum.Subjects = append(sum.Subjects, SubjectSummary{Name: h.ID, Voxels: h.V, ROIs: h.Counts})
		bar.Update(k, h.ID)
	}
	return nil
}
