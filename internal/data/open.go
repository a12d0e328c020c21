package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/visdec/visdec/internal/npy"
)

// Dataset kinds Detect recognises.
const (
	KindGOD      = "god"
	KindHCP      = "hcp"
	KindBOLD5000 = "bold5000"
	KindNIfTI    = "nifti"
)

// Options configures Open for every kind; only the part matching the
// detected kind is used.
type Options struct {
	// Subjects selects subjects: GOD "sbj_3" (or "3"), HCP subject
	// directory names, or the BOLD5000 subject ("CSI1"; the first is used).
	// Empty: every GOD/HCP subject, BOLD5000 CSI1.
	Subjects []string
	GOD      GODOptions
	HCP      HCPOptions
	BOLD5000 BOLD5000Options
	// Mask is the NIfTI mask volume used with a .nii/.nii.gz BOLD file.
	Mask string
	// PatchSize for NIfTI data (default 16).
	PatchSize int
}

var sbjFile = regexp.MustCompile(`^sbj_[^/]+\.npz$`)

// Detect says which kind of dataset path is: a GOD directory (sbj_*.npz
// beside images_256.npz) or one sbj_N.npz, an HCP directory
// (<subject>/HCP_visual_voxel.npz) or file, a BOLD5000 root, or a NIfTI
// file.
func Detect(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	base := filepath.Base(path)
	if !st.IsDir() {
		switch {
		case strings.HasSuffix(base, ".nii") || strings.HasSuffix(base, ".nii.gz"):
			return KindNIfTI, nil
		case sbjFile.MatchString(base):
			return KindGOD, nil
		case base == HCPFile:
			return KindHCP, nil
		case strings.HasSuffix(base, ".npz"):
			z, err := npy.OpenNPZ(path)
			if err != nil {
				return "", err
			}
			defer z.Close()
			keys := z.Keys()
			if hcpLike(keys) {
				return KindHCP, nil
			}
			if slices.Contains(keys, "arr_0") && slices.Contains(keys, "arr_3") {
				return KindGOD, nil
			}
			return "", fmt.Errorf("%s: an npz that is neither a GOD subject (arr_0..arr_3) nor HCP (V1..V4) file (keys %s)", path, strings.Join(keys, ", "))
		}
		return "", fmt.Errorf("%s: not a dataset file (want a GOD/HCP .npz or a .nii/.nii.gz)", path)
	}
	if m, _ := filepath.Glob(filepath.Join(path, "sbj_*.npz")); len(m) > 0 {
		return KindGOD, nil
	}
	if _, err := os.Stat(filepath.Join(path, BOLD5000Betas)); err == nil {
		return KindBOLD5000, nil
	}
	if m, _ := filepath.Glob(filepath.Join(path, "*", HCPFile)); len(m) > 0 {
		return KindHCP, nil
	}
	if _, err := os.Stat(filepath.Join(path, HCPFile)); err == nil {
		return KindHCP, nil
	}
	return "", fmt.Errorf("%s: not a dataset directory (no sbj_*.npz for GOD, */%s for HCP, or %s for BOLD5000)", path, HCPFile, BOLD5000Betas)
}

// Open reads any supported dataset at path (see Detect), so every command
// can take --data X for GOD, HCP, BOLD5000 or the user's own NIfTI + mask.
func Open(path string, opt Options) (*Dataset, error) {
	kind, err := Detect(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindGOD:
		dir, subjects := path, opt.Subjects
		if st, _ := os.Stat(path); !st.IsDir() {
			dir = filepath.Dir(path)
			if len(subjects) == 0 {
				subjects = []string{strings.TrimSuffix(filepath.Base(path), ".npz")}
			}
		}
		return LoadGOD(dir, subjects, opt.GOD)
	case KindHCP:
		h := opt.HCP
		if len(opt.Subjects) > 0 {
			h.Subjects = opt.Subjects
		}
		return LoadHCP(path, h)
	case KindBOLD5000:
		sub := ""
		if len(opt.Subjects) > 0 {
			sub = opt.Subjects[0]
		}
		return LoadBOLD5000(path, sub, opt.BOLD5000)
	case KindNIfTI:
		return openNIfTIDataset(path, opt)
	}
	return nil, fmt.Errorf("%s: unsupported dataset kind %s", path, kind)
}

// openNIfTIDataset turns a BOLD image and a mask into a train-only dataset:
// masked voxels wrap-padded to the patch size and z-scored with one scalar
// mean/std, like the reference's other loaders.
func openNIfTIDataset(path string, opt Options) (*Dataset, error) {
	if opt.Mask == "" {
		return nil, fmt.Errorf("%s: a NIfTI image needs a mask volume (--mask)", path)
	}
	p := opt.PatchSize
	if p == 0 {
		p = 16
	}
	x, t, v, err := LoadNIfTIMasked(path, opt.Mask)
	if err != nil {
		return nil, err
	}
	padded, width := PadToPatch(x, t, v, p)
	mean, std := Stats(padded)
	if err := Normalize(padded, mean, std); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".gz"), ".nii")
	ds := &Dataset{
		Name:          "NIfTI " + name,
		Source:        path,
		Voxels:        width,
		RawVoxels:     v,
		ROIs:          map[string]int{filepath.Base(opt.Mask): v},
		Normalization: "per-subject",
		Subjects:      []string{name},
		Notes:         []string{"NIfTI volumes used as individual samples, masked, wrap-padded and z-scored; no images or test split"},
	}
	ds.Train = Split{N: t, FMRI: padded}
	for i := range t {
		ds.Train.StimulusID = append(ds.Train.StimulusID, fmt.Sprintf("vol%d", i))
		ds.Train.Category = append(ds.Train.Category, -1)
		ds.Train.CategoryName = append(ds.Train.CategoryName, "")
		ds.Train.Subject = append(ds.Train.Subject, name)
	}
	return ds, nil
}

// Concat joins datasets (e.g. HCP and GOD for Phase 1, or several
// subjects): every part is wrap-padded to the longest V (the reference's
// pad_to_length, vis_dec code/dataset.py:143-153), then rows are
// concatenated per split. Images are kept when every part has images of
// one size; otherwise they are dropped and a note says so.
func Concat(parts ...*Dataset) (*Dataset, error) {
	if len(parts) == 0 {
		return nil, errors.New("concat: no datasets")
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	out := &Dataset{ROIs: map[string]int{}}
	var names, sources []string
	norms := map[string]bool{}
	for _, p := range parts {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("concat: %w", err)
		}
		out.Voxels = max(out.Voxels, p.Voxels)
		out.RawVoxels = max(out.RawVoxels, p.RawVoxels)
		names = append(names, p.Name)
		sources = append(sources, p.Source)
		norms[p.Normalization] = true
		for k, v := range p.ROIs {
			out.ROIs[k] = v
		}
		out.Subjects = append(out.Subjects, p.Subjects...)
		out.Notes = append(out.Notes, p.Notes...)
	}
	out.Name = strings.Join(names, " + ")
	out.Source = strings.Join(sources, ", ")
	if len(norms) == 1 {
		out.Normalization = parts[0].Normalization
	} else {
		out.Normalization = "mixed"
	}
	for _, which := range []func(*Dataset) *Split{
		func(d *Dataset) *Split { return &d.Train },
		func(d *Dataset) *Split { return &d.Test },
	} {
		dst := which(out)
		h, w, imagesOK := -1, -1, true
		for _, p := range parts {
			s := which(p)
			if s.N == 0 {
				continue
			}
			if s.Images == nil {
				imagesOK = false
			} else if h < 0 {
				h, w = s.H, s.W
			} else if s.H != h || s.W != w {
				imagesOK = false
			}
		}
		for _, p := range parts {
			s := which(p)
			if s.N == 0 {
				continue
			}
			dst.FMRI = append(dst.FMRI, WrapPadTo(s.FMRI, s.N, p.Voxels, out.Voxels)...)
			if imagesOK {
				dst.Images = append(dst.Images, s.Images...)
			}
			dst.StimulusID = append(dst.StimulusID, s.StimulusID...)
			dst.Category = append(dst.Category, s.Category...)
			dst.CategoryName = append(dst.CategoryName, s.CategoryName...)
			dst.Subject = append(dst.Subject, s.Subject...)
			dst.N += s.N
		}
		hasRepeats := false
		for _, p := range parts {
			if which(p).Repeats != nil {
				hasRepeats = true
			}
		}
		if hasRepeats {
			for _, p := range parts {
				s := which(p)
				for i := range s.N {
					var r []float32
					if s.Repeats != nil {
						r = WrapPadTo(s.Repeats[i], len(s.Repeats[i])/p.Voxels, p.Voxels, out.Voxels)
					}
					dst.Repeats = append(dst.Repeats, r)
				}
			}
		}
		if imagesOK && h >= 0 {
			dst.H, dst.W = h, w
		} else if h >= 0 {
			out.Notes = append(out.Notes, "concat: images dropped because not every part has images of one size (fMRI-only use)")
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("concat: parts wrap-padded to the longest length %d", out.Voxels))
	return out, nil
}

// WrapPadTo fits the dataset to target voxels: wrap-padding when shorter,
// truncating when longer, as Phase 2 fits data to its checkpoint's length
// (vis_dec phase2_finetune_cross.py:215-224). Repeats are fitted too.
func (d *Dataset) WrapPadTo(target int) error {
	if target < 1 {
		return fmt.Errorf("%s: cannot fit to %d voxels", d.Name, target)
	}
	if target == d.Voxels {
		return nil
	}
	for _, s := range []*Split{&d.Train, &d.Test} {
		s.FMRI = WrapPadTo(s.FMRI, s.N, d.Voxels, target)
		for i, r := range s.Repeats {
			if r != nil {
				s.Repeats[i] = WrapPadTo(r, len(r)/d.Voxels, d.Voxels, target)
			}
		}
	}
	verb := "wrap-padded"
	if target < d.Voxels {
		verb = "truncated"
	}
	d.Notes = append(d.Notes, fmt.Sprintf("fMRI %s from %d to %d voxels", verb, d.Voxels, target))
	d.Voxels = target
	return nil
}

// Validate checks the dataset's invariants: every per-item slice has N
// entries, FMRI is [N, V], images are [N, H, W, 3], repeats are whole
// [R, V] blocks, and no fMRI value is NaN or Inf.
func (d *Dataset) Validate() error {
	if d.Voxels < 1 {
		return fmt.Errorf("%s: %d voxels", d.Name, d.Voxels)
	}
	for _, sp := range []struct {
		name string
		s    *Split
	}{{"train", &d.Train}, {"test", &d.Test}} {
		s := sp.s
		if len(s.FMRI) != s.N*d.Voxels {
			return fmt.Errorf("%s: %s fMRI has %d values, want %d×%d", d.Name, sp.name, len(s.FMRI), s.N, d.Voxels)
		}
		if s.Images != nil && len(s.Images) != s.N*s.H*s.W*3 {
			return fmt.Errorf("%s: %s has %d image bytes for %d images of %d×%d×3 (image count ≠ fMRI count)", d.Name, sp.name, len(s.Images), s.N, s.H, s.W)
		}
		for _, l := range []struct {
			what string
			n    int
		}{{"stimulus ids", len(s.StimulusID)}, {"categories", len(s.Category)}, {"category names", len(s.CategoryName)}, {"subjects", len(s.Subject)}} {
			if l.n != s.N {
				return fmt.Errorf("%s: %s has %d %s for %d items", d.Name, sp.name, l.n, l.what, s.N)
			}
		}
		if s.Repeats != nil {
			if len(s.Repeats) != s.N {
				return fmt.Errorf("%s: %s has repeats for %d of %d items", d.Name, sp.name, len(s.Repeats), s.N)
			}
			for i, r := range s.Repeats {
				if len(r)%d.Voxels != 0 {
					return fmt.Errorf("%s: %s item %d repeats have %d values, not a multiple of %d", d.Name, sp.name, i, len(r), d.Voxels)
				}
			}
		}
		if err := checkFinite(d.Name, sp.name+" fMRI", s.FMRI); err != nil {
			return err
		}
	}
	return nil
}
