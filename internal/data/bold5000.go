package data

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/pyobj"
)

// BOLD5000 paths below the dataset root (MinD-Vis data/BOLD5000, cad-spec §1.2).
const (
	BOLD5000Betas        = "BOLD5000_GLMsingle_ROI_betas/py"
	BOLD5000ImgDict      = "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/img_dict.npy"
	BOLD5000RepeatedList = "BOLD5000_Stimuli/Scene_Stimuli/repeated_stimuli_113_list.txt"
	BOLD5000Lists        = "BOLD5000_Stimuli/Stimuli_Presentation_Lists"
)

// BOLD5000ROIs is the reference's ROI order (vis_dec code/dataset.py:567).
var BOLD5000ROIs = []string{"EarlyVis", "LOC", "OPA", "PPA", "RSC"}

// BOLD5000Options selects how LoadBOLD5000 preprocesses.
type BOLD5000Options struct {
	// PatchSize is the voxel patch (reference: 16).
	PatchSize int
	// Normalize is NormLiteral (default: the LDM-stage loader's scalar
	// z-score over all trials, test trials included, dataset.py:588),
	// NormTrainStats (statistics of the train trials only) or NormNone (the
	// Phase-2 loader, do_normalize=False, dataset.py:862-863).
	Normalize string
	// NoPad skips the patch padding, as the Phase-2 loader does; Voxels
	// is then the raw count, which Phase 2 wrap-pads or truncates to its
	// checkpoint's length (Dataset.WrapPadTo).
	NoPad bool
	// ROIs overrides the ROI list (default BOLD5000ROIs).
	ROIs []string
	// NoImages skips img_dict.npy (about 1 GB).
	NoImages bool
}

// LoadBOLD5000 reads one BOLD5000 subject (CSI1..CSI4) as M's
// create_BOLD5000_dataset (mind-vis code/dataset.py:390-451; not V's copy,
// whose dataset truncates to fmri[:10], cad-spec §6 item 8): the GLMsingle
// ROI betas of every ROI and hemisphere are concatenated (for each ROI in
// order, the sorted file names containing the subject and the ROI), trial k
// pairs with the k-th name of the presentation lists ("rep_" stripped); test
// items are the 113 repeated images, each the mean over all its
// presentations with the image of the first; train is every other trial.
func LoadBOLD5000(root, subject string, opt BOLD5000Options) (*Dataset, error) {
	if opt.PatchSize == 0 {
		opt.PatchSize = 16
	}
	if opt.Normalize == "" {
		opt.Normalize = NormLiteral
	}
	if err := checkNorm(opt.Normalize); err != nil {
		return nil, err
	}
	rois := opt.ROIs
	if len(rois) == 0 {
		rois = BOLD5000ROIs
	}
	if subject == "" {
		subject = "CSI1"
	}
	betaDir := filepath.Join(root, BOLD5000Betas)
	entries, err := os.ReadDir(betaDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".npy") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	ds := &Dataset{
		Name:          fmt.Sprintf("BOLD5000 %s", subject),
		Source:        root,
		ROIs:          map[string]int{},
		Normalization: opt.Normalize,
		Subjects:      []string{subject},
	}
	var x []float64
	trials, v := -1, 0
	var cols [][]float64
	var widths []int
	for _, roi := range rois {
		found := false
		for _, n := range names {
			// Substring matches, exactly as the reference (dataset.py:583-587).
			if !strings.Contains(n, subject) || !strings.Contains(n, roi) {
				continue
			}
			found = true
			p := filepath.Join(betaDir, n)
			a, err := npy.ReadFile(p)
			if err != nil {
				return nil, err
			}
			if len(a.Shape) != 2 {
				return nil, fmt.Errorf("%s: shape %s, want [trials, voxels]", p, npy.ShapeString(a.Shape))
			}
			if trials >= 0 && a.Shape[0] != trials {
				return nil, fmt.Errorf("%s: %d trials, the subject's other ROI files have %d", p, a.Shape[0], trials)
			}
			trials = a.Shape[0]
			f, err := numbers(p, "betas", a)
			if err != nil {
				return nil, err
			}
			if err := checkFinite(p, "betas", f); err != nil {
				return nil, err
			}
			cols = append(cols, f)
			widths = append(widths, a.Shape[1])
			v += a.Shape[1]
			ds.ROIs[strings.TrimSuffix(n, ".npy")] = a.Shape[1]
		}
		if !found {
			return nil, fmt.Errorf("%s: no beta file for subject %s and ROI %s", betaDir, subject, roi)
		}
	}
	if v == 0 || trials <= 0 {
		return nil, fmt.Errorf("%s: subject %s has no voxels or no trials", betaDir, subject)
	}
	x = make([]float64, trials*v)
	off := 0
	for i, c := range cols {
		w := widths[i]
		for r := range trials {
			copy(x[r*v+off:r*v+off+w], c[r*w:(r+1)*w])
		}
		off += w
	}
	cols = nil
	ds.RawVoxels = v

	stim, err := presentationList(filepath.Join(root, BOLD5000Lists, subject))
	if err != nil {
		return nil, err
	}
	if len(stim) != trials {
		return nil, fmt.Errorf("%s: the presentation lists name %d trials, the beta files have %d", filepath.Join(root, BOLD5000Lists, subject), len(stim), trials)
	}
	repeated, err := readNameList(filepath.Join(root, BOLD5000RepeatedList))
	if err != nil {
		return nil, err
	}
	// Split: test items are the repeated images present for this subject,
	// in the list's order (CSI4 lacks some, dataset.py:596).
	where := map[string][]int{}
	for i, n := range stim {
		where[n] = append(where[n], i)
	}
	isTest := make([]bool, trials)
	var testIdx [][]int
	var testNames []string
	for _, n := range repeated {
		idx := where[n]
		if len(idx) == 0 {
			continue
		}
		testIdx = append(testIdx, idx)
		testNames = append(testNames, n)
		for _, i := range idx {
			isTest[i] = true
		}
	}
	if len(testIdx) == 0 {
		return nil, fmt.Errorf("%s: none of the repeated images appears in %s's presentation lists", filepath.Join(root, BOLD5000RepeatedList), subject)
	}
	var trainIdx []int
	for i := range trials {
		if !isTest[i] {
			trainIdx = append(trainIdx, i)
		}
	}

	// Pad and normalise (before splitting, as the reference).
	width := v
	if !opt.NoPad {
		x, width = PadToPatch(x, trials, v, opt.PatchSize)
	} else {
		ds.Notes = append(ds.Notes, "BOLD5000 read without patch padding (Phase-2 loader): Voxels is not a multiple of the patch size")
	}
	switch opt.Normalize {
	case NormLiteral:
		mean, std := Stats(x)
		if err := Normalize(x, mean, std); err != nil {
			return nil, fmt.Errorf("%s: %w", betaDir, err)
		}
		ds.Notes = append(ds.Notes, "BOLD5000 z-scored with the statistics of all trials, test trials included, as the reference's LDM-stage loader (cad-spec §6 item 8)")
	case NormTrainStats:
		tr := make([]float64, 0, len(trainIdx)*width)
		for _, i := range trainIdx {
			tr = append(tr, x[i*width:(i+1)*width]...)
		}
		mean, std := Stats(tr)
		if err := Normalize(x, mean, std); err != nil {
			return nil, fmt.Errorf("%s: %w", betaDir, err)
		}
	}
	ds.Voxels = width

	var imgs map[string]*npy.Array
	imgPath := filepath.Join(root, BOLD5000ImgDict)
	if !opt.NoImages {
		if imgs, err = ReadImgDict(imgPath); err != nil {
			return nil, err
		}
	}
	h, w := -1, -1
	image := func(name string) ([]uint8, error) {
		a, ok := imgs[name]
		if !ok {
			return nil, fmt.Errorf("%s: no image %q (named by the presentation lists)", imgPath, name)
		}
		if len(a.Shape) != 3 || a.Shape[2] != 3 || a.DType != npy.Uint8 {
			return nil, fmt.Errorf("%s: image %q has shape %s dtype %s, want [H, W, 3] uint8", imgPath, name, npy.ShapeString(a.Shape), a.DType)
		}
		if h < 0 {
			h, w = a.Shape[0], a.Shape[1]
		} else if a.Shape[0] != h || a.Shape[1] != w {
			return nil, fmt.Errorf("%s: image %q is %d×%d, others are %d×%d", imgPath, name, a.Shape[0], a.Shape[1], h, w)
		}
		return a.Data.([]uint8), nil
	}
	for _, i := range trainIdx {
		ds.Train.FMRI = append(ds.Train.FMRI, toFloat32(x[i*width:(i+1)*width])...)
		ds.Train.StimulusID = append(ds.Train.StimulusID, stim[i])
		if imgs != nil {
			im, err := image(stim[i])
			if err != nil {
				return nil, err
			}
			ds.Train.Images = append(ds.Train.Images, im...)
		}
	}
	for k, idx := range testIdx {
		mean := make([]float64, width)
		rep := make([]float32, 0, len(idx)*width)
		for _, i := range idx {
			row := x[i*width : (i+1)*width]
			for j, val := range row {
				mean[j] += val
			}
			rep = append(rep, toFloat32(row)...)
		}
		for j := range mean {
			mean[j] /= float64(len(idx))
		}
		ds.Test.FMRI = append(ds.Test.FMRI, toFloat32(mean)...)
		ds.Test.Repeats = append(ds.Test.Repeats, rep)
		ds.Test.StimulusID = append(ds.Test.StimulusID, testNames[k])
		if imgs != nil {
			im, err := image(stim[idx[0]])
			if err != nil {
				return nil, err
			}
			ds.Test.Images = append(ds.Test.Images, im...)
		}
	}
	for _, sp := range []*Split{&ds.Train, &ds.Test} {
		sp.N = len(sp.StimulusID)
		for range sp.N {
			sp.Subject = append(sp.Subject, subject)
			sp.Category = append(sp.Category, -1)
			sp.CategoryName = append(sp.CategoryName, "")
		}
		if imgs != nil {
			sp.H, sp.W = h, w
		}
	}
	return ds, nil
}

// presentationList reads a subject's presentation lists: the sorted
// session directories, in each the sorted *.txt files, one image name per
// trial, a leading "rep_" removed (get_stimuli_list, mind-vis
// code/dataset.py:366-385).
func presentationList(dir string) ([]string, error) {
	sessions, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sessions { // os.ReadDir sorts by name
		if !s.IsDir() {
			continue
		}
		runs, err := os.ReadDir(filepath.Join(dir, s.Name()))
		if err != nil {
			return nil, err
		}
		for _, r := range runs {
			if !strings.HasSuffix(r.Name(), ".txt") {
				continue
			}
			names, err := readNameList(filepath.Join(dir, s.Name(), r.Name()))
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				out = append(out, strings.TrimPrefix(n, "rep_"))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no presentation lists (<session>/*.txt)", dir)
	}
	return out, nil
}

// readNameList reads a text file of names as np.loadtxt(dtype=str) does for
// one column: one name per non-empty line, '#' comments dropped. A line with
// several fields is an error (names with spaces would be split).
func readNameList(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	names, err := ParseNameList(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return names, nil
}

// ParseNameList parses the content of a BOLD5000 name list (see
// readNameList).
func ParseNameList(b []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(s)
		switch len(f) {
		case 0:
			continue
		case 1:
			out = append(out, f[0])
		default:
			return nil, fmt.Errorf("line %d: %d fields, want one image name", line, len(f))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadImgDict reads BOLD5000's img_dict.npy: an object array holding a
// pickled dict {image name: uint8 [H, W, 3] array}. The pickle is decoded
// as data only (internal/pyobj); nothing is executed.
func ReadImgDict(path string) (map[string]*npy.Array, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := DecodeImgDict(a)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// DecodeImgDict decodes the array of an img_dict.npy file.
func DecodeImgDict(a *npy.Array) (map[string]*npy.Array, error) {
	if a.DType != npy.Object {
		return nil, fmt.Errorf("dtype %s, want an object array holding a dict", a.DType)
	}
	v, _, err := pyobj.Decode(a.Pickle, pyobj.Options{})
	if err != nil {
		return nil, err
	}
	if oa, ok := v.(*pyobj.ObjectArray); ok && len(oa.Items) == 1 {
		v = oa.Items[0]
	}
	d, ok := v.(*pyobj.Dict)
	if !ok {
		return nil, fmt.Errorf("holds %T, want a dict of images", v)
	}
	out := make(map[string]*npy.Array, d.Len())
	for i, k := range d.Keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("key %v is not a string", k)
		}
		arr, ok := d.Values[i].(*npy.Array)
		if !ok {
			return nil, fmt.Errorf("entry %q is %T, not an array", name, d.Values[i])
		}
		out[name] = arr
	}
	return out, nil
}
