package fmrimae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/visdec/visdec/internal/data"
)

// Samples are the fMRI vectors phase 1 trains on: N rows of V voxels. Only
// fMRI is used (the reference's images are zeros for HCP and unused for GOD
// unless use_nature_img_loss, which is off; cad-spec §1.3).
type Samples struct {
	N, V int
	// FMRI is [N, V] float32, row-major.
	FMRI []float32
	// Subject names each row's subject ("" when unknown); held-out
	// validation takes whole subjects when there are several.
	Subject []string
	// Sources describes where the rows came from, for config.json.
	Sources []string
}

// Row returns row i (sharing memory).
func (s Samples) Row(i int) []float32 { return s.FMRI[i*s.V : (i+1)*s.V] }

// FromDatasets collects the train fMRI of every dataset (never the test
// split) and wrap-pads each to the longest voxel count, as the reference's
// hcp_dataset does when it appends the GOD training fMRI (include_kam;
// dataset.py:143-153, cad-spec §1.3). Every voxel count must already be a
// multiple of patch (the data readers apply pad_to_patch_size).
func FromDatasets(patch int, ds ...*data.Dataset) (Samples, error) {
	if len(ds) == 0 {
		return Samples{}, fmt.Errorf("no data")
	}
	v := 0
	for _, d := range ds {
		if d.Voxels%patch != 0 {
			return Samples{}, fmt.Errorf("%s: %d voxels is not a multiple of the patch size %d", d.Source, d.Voxels, patch)
		}
		if d.Train.N == 0 {
			return Samples{}, fmt.Errorf("%s: no training fMRI", d.Source)
		}
		if len(d.Train.FMRI) != d.Train.N*d.Voxels {
			return Samples{}, fmt.Errorf("%s: train fMRI has %d values, want %d×%d", d.Source, len(d.Train.FMRI), d.Train.N, d.Voxels)
		}
		v = max(v, d.Voxels)
	}
	var s Samples
	s.V = v
	for _, d := range ds {
		for i := range d.Train.N {
			s.FMRI = append(s.FMRI, WrapPad(d.Train.Row(i, d.Voxels), v)...)
			subj := ""
			if i < len(d.Train.Subject) {
				subj = d.Train.Subject[i]
			}
			if subj == "" {
				subj = d.Name
			}
			s.Subject = append(s.Subject, subj)
		}
		s.N += d.Train.N
		s.Sources = append(s.Sources, fmt.Sprintf("%s (%s: %d train rows × %d voxels)", d.Source, d.Name, d.Train.N, d.Voxels))
	}
	return s, s.CheckFinite()
}

// WrapPad returns x extended to length n by repeating it from the start
// (np.pad mode "wrap" on the right), or truncated when longer.
func WrapPad(x []float32, n int) []float32 {
	out := make([]float32, n)
	for j := range out {
		out[j] = x[j%len(x)]
	}
	return out
}

// Resize wrap-pads or truncates every row to v voxels (phase 2 fits data to
// a checkpoint's length this way, phase2_finetune_cross.py:215-224).
func (s Samples) Resize(v int) Samples {
	if v == s.V {
		return s
	}
	out := s
	out.V = v
	out.FMRI = make([]float32, 0, s.N*v)
	for i := range s.N {
		out.FMRI = append(out.FMRI, WrapPad(s.Row(i), v)...)
	}
	return out
}

// CheckFinite reports the first NaN or Inf value.
func (s Samples) CheckFinite() error {
	for i, x := range s.FMRI {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("fMRI row %d voxel %d is %v", i/s.V, i%s.V, x)
		}
	}
	return nil
}

// subset returns the rows idx.
func (s Samples) subset(idx []int) Samples {
	out := Samples{N: len(idx), V: s.V, FMRI: make([]float32, 0, len(idx)*s.V), Sources: s.Sources}
	for _, i := range idx {
		out.FMRI = append(out.FMRI, s.Row(i)...)
		if s.Subject != nil {
			out.Subject = append(out.Subject, s.Subject[i])
		}
	}
	return out
}

// Holdout splits off a seeded validation part of about frac of the rows
// (at least one row or subject).
// With two or more subjects it holds out whole subjects (so validation
// measures generalisation to unseen people, as pre-training on HCP intends);
// otherwise random rows. frac 0 gives no validation part. The reference has
// no validation set (cad-spec §2.5); this never touches any test split.
func (s Samples) Holdout(frac float64, seed uint64) (train, val Samples, heldSubjects []string, err error) {
	if !(frac >= 0 && frac < 1) {
		return Samples{}, Samples{}, nil, fmt.Errorf("validation fraction %g must be in [0, 1)", frac)
	}
	if frac == 0 || s.N < 2 {
		return s, Samples{V: s.V}, nil, nil
	}
	rng := rand.New(rand.NewPCG(seed, streamHoldout))
	want := max(1, int(math.Round(frac*float64(s.N))))
	subjects := map[string][]int{}
	var names []string
	for i := range s.N {
		name := ""
		if s.Subject != nil {
			name = s.Subject[i]
		}
		if _, ok := subjects[name]; !ok {
			names = append(names, name)
		}
		subjects[name] = append(subjects[name], i)
	}
	held := map[int]bool{}
	if len(names) >= 2 {
		sort.Strings(names)
		rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
		for _, name := range names[:len(names)-1] { // always leave one subject to train on
			// Whole subjects, as close to the wanted count as they come.
			if n := len(subjects[name]); len(held) >= want || len(held) > 0 && len(held)+n-want > want-len(held) {
				break
			}
			heldSubjects = append(heldSubjects, name)
			for _, i := range subjects[name] {
				held[i] = true
			}
		}
		sort.Strings(heldSubjects)
	} else {
		for _, i := range rng.Perm(s.N)[:min(want, s.N-1)] {
			held[i] = true
		}
	}
	var tr, va []int
	for i := range s.N {
		if held[i] {
			va = append(va, i)
		} else {
			tr = append(tr, i)
		}
	}
	return s.subset(tr), s.subset(va), heldSubjects, nil
}
