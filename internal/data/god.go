package data

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/npy"
)

// GOD file names inside a GOD directory (MinD-Vis data/Kamitani/npz, cad-spec
// §1.1).
const (
	GODImages     = "images_256.npz"
	GODClassIndex = "imagenet_class_index.json"
	GODTrainCSV   = "imagenet_training_label.csv"
	GODTestCSV    = "imagenet_testing_label.csv"
)

// GODOptions selects what LoadGOD reads and how it preprocesses it.
type GODOptions struct {
	// ROI is the mask key in sbj_N.npz (reference: "VC").
	ROI string
	// PatchSize is the voxel patch the data are padded to (reference: 16).
	PatchSize int
	// TestNorm is NormLiteral (the reference's behaviour, default) or
	// NormTrainStats (cad-spec §6 item 2).
	TestNorm string
	// NoImages skips images_256.npz (Phase 1 needs only fMRI): Images stay
	// nil, labels are still read.
	NoImages bool
	// NoRepeats skips arr_1 (the 1750 single test trials).
	NoRepeats bool
}

func (o GODOptions) withDefaults() GODOptions {
	if o.ROI == "" {
		o.ROI = "VC"
	}
	if o.PatchSize == 0 {
		o.PatchSize = 16
	}
	if o.TestNorm == "" {
		o.TestNorm = NormLiteral
	}
	return o
}

// GODSubjects lists the subjects (sbj_N) that have an sbj_N.npz in dir,
// sorted.
func GODSubjects(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "sbj_*.npz"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".npz"))
	}
	sort.Strings(out)
	return out, nil
}

// godSubject is one subject's data after ROI selection, before padding.
type godSubject struct {
	name        string
	file        string
	voxels      int         // ROI voxels
	train       []float64   // [nTrain, voxels]
	test        []float64   // [nTest, voxels], averaged
	repeats     [][]float64 // per test item, [R, voxels]
	imageIndex  []int       // arr_3
	rois        map[string]int
	repeatsNote string
}

// LoadGOD reads GOD subjects from dir as the reference's
// create_Kamitani_dataset (vis_dec code/dataset.py:232-311): per subject, the
// ROI columns of arr_0 (train trials) and arr_2 (test, averaged over
// repeats) are wrap-padded to a multiple of the patch size and z-scored with
// one scalar mean/std (test: see GODOptions.TestNorm); subjects are then
// wrap-padded to the longest and concatenated. Train images come from
// images_256.npz train_images via arr_3, test images are test_images in
// order; labels from imagenet_class_index.json and the label CSVs (all
// three, or none: then categories are -1 and a note says so). arr_1
// (single test trials, 35 per image) is kept per test item in
// Split.Repeats.
//
// subjects are names like "sbj_3" (or "3"); none means every sbj_*.npz in
// dir (the reference's default is all five).
func LoadGOD(dir string, subjects []string, opt GODOptions) (*Dataset, error) {
	opt = opt.withDefaults()
	if err := checkNorm(opt.TestNorm); err != nil {
		return nil, err
	}
	if opt.TestNorm == NormNone {
		return nil, errors.New("GOD test normalisation must be literal or train-stats")
	}
	if opt.PatchSize < 1 {
		return nil, fmt.Errorf("patch size %d must be positive", opt.PatchSize)
	}
	if len(subjects) == 0 {
		var err error
		if subjects, err = GODSubjects(dir); err != nil {
			return nil, err
		}
		if len(subjects) == 0 {
			return nil, fmt.Errorf("%s: no sbj_*.npz files: not a GOD directory", dir)
		}
	}
	subjects = append([]string{}, subjects...)
	for i, s := range subjects {
		if !strings.HasPrefix(s, "sbj_") {
			subjects[i] = "sbj_" + s
		}
	}
	// Labels: the class index and both CSVs, or none of them (then
	// categories are unknown, which a note says).
	trainCSV, testCSV := filepath.Join(dir, GODTrainCSV), filepath.Join(dir, GODTestCSV)
	var trainIDs, testIDs []string
	var trainLabels, testLabels []ImageLabel
	labelFiles := 0
	for _, f := range []string{GODClassIndex, GODTrainCSV, GODTestCSV} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			labelFiles++
		}
	}
	haveLabels := labelFiles > 0
	if haveLabels {
		classes, err := ReadClassIndex(filepath.Join(dir, GODClassIndex))
		if err != nil {
			return nil, err
		}
		if trainIDs, err = ReadLabelCSV(trainCSV); err != nil {
			return nil, err
		}
		if testIDs, err = ReadLabelCSV(testCSV); err != nil {
			return nil, err
		}
		li := NewLabelIndex(classes)
		if trainLabels, err = li.Labels(trainCSV, trainIDs); err != nil {
			return nil, err
		}
		if testLabels, err = li.Labels(testCSV, testIDs); err != nil {
			return nil, err
		}
	}
	// Images.
	var err error
	imgPath := filepath.Join(dir, GODImages)
	var trainImgs, testImgs *imageSet
	if !opt.NoImages {
		if trainImgs, testImgs, err = readGODImages(imgPath); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(imgPath); err != nil {
		return nil, err
	}

	ds := &Dataset{
		Source:        dir,
		ROIs:          map[string]int{},
		Normalization: opt.TestNorm,
		Subjects:      subjects,
	}
	var subs []*godSubject
	var widths []int
	var trains, tests [][]float32
	var reps [][][]float32
	for _, name := range subjects {
		s, err := readGODSubject(filepath.Join(dir, name+".npz"), name, opt)
		if err != nil {
			return nil, err
		}
		nTrain, nTest := len(s.imageIndex), len(s.test)/s.voxels
		if haveLabels && len(testIDs) != nTest {
			return nil, fmt.Errorf("%s: %d rows, but %s has %d test trials (arr_2)", testCSV, len(testIDs), s.file, nTest)
		}
		if trainImgs != nil {
			if testImgs.n != nTest {
				return nil, fmt.Errorf("%s: test_images has %d images, %s has %d test trials (arr_2)", imgPath, testImgs.n, s.file, nTest)
			}
			for i, idx := range s.imageIndex {
				if idx >= trainImgs.n {
					return nil, fmt.Errorf("%s: arr_3[%d] = %d, but %s train_images has only %d images", s.file, i, idx, imgPath, trainImgs.n)
				}
			}
		}
		for i, idx := range s.imageIndex {
			if haveLabels && idx >= len(trainIDs) {
				return nil, fmt.Errorf("%s: arr_3[%d] = %d, but %s has only %d rows", s.file, i, idx, trainCSV, len(trainIDs))
			}
		}
		tr, tt, rp, width, err := zscoreSplits(s.train, s.test, s.repeats, nTrain, nTest, s.voxels, opt.PatchSize, opt.TestNorm)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.file, err)
		}
		s.train, s.test = nil, nil // release the float64 copies
		trains = append(trains, toFloat32(tr))
		tests = append(tests, toFloat32(tt))
		rr := make([][]float32, len(rp))
		for i, r := range rp {
			rr[i] = toFloat32(r)
		}
		reps = append(reps, rr)
		widths = append(widths, width)
		subs = append(subs, s)
		ds.RawVoxels = max(ds.RawVoxels, s.voxels)
		for k, v := range s.rois {
			ds.ROIs[name+"/"+k] = v
		}
		if s.repeatsNote != "" {
			ds.Notes = append(ds.Notes, s.repeatsNote)
		}
	}
	// Multi-subject: wrap-pad every subject to the longest (dataset.py:288-290).
	v := 0
	for _, w := range widths {
		v = max(v, w)
	}
	ds.Voxels = v
	for si, s := range subs {
		nTrain, nTest := len(s.imageIndex), len(tests[si])/widths[si]
		ds.Train.FMRI = append(ds.Train.FMRI, WrapPadTo(trains[si], nTrain, widths[si], v)...)
		ds.Test.FMRI = append(ds.Test.FMRI, WrapPadTo(tests[si], nTest, widths[si], v)...)
		for _, r := range reps[si] {
			ds.Test.Repeats = append(ds.Test.Repeats, WrapPadTo(r, len(r)/widths[si], widths[si], v))
		}
		for _, idx := range s.imageIndex {
			lb, id := ImageLabel{Class: -1}, fmt.Sprintf("train_image_%d", idx)
			if haveLabels {
				lb, id = trainLabels[idx], trainIDs[idx]
			}
			ds.Train.StimulusID = append(ds.Train.StimulusID, id)
			ds.Train.Category = append(ds.Train.Category, lb.Class)
			ds.Train.CategoryName = append(ds.Train.CategoryName, lb.Name)
			ds.Train.Subject = append(ds.Train.Subject, s.name)
			if trainImgs != nil {
				ds.Train.Images = append(ds.Train.Images, trainImgs.image(idx)...)
			}
		}
		for i := range nTest {
			lb, id := ImageLabel{Class: -1}, fmt.Sprintf("test_image_%d", i)
			if haveLabels {
				lb, id = testLabels[i], testIDs[i]
			}
			ds.Test.StimulusID = append(ds.Test.StimulusID, id)
			ds.Test.Category = append(ds.Test.Category, lb.Class)
			ds.Test.CategoryName = append(ds.Test.CategoryName, lb.Name)
			ds.Test.Subject = append(ds.Test.Subject, s.name)
			if testImgs != nil {
				ds.Test.Images = append(ds.Test.Images, testImgs.image(i)...)
			}
		}
		ds.Train.N += nTrain
		ds.Test.N += nTest
	}
	if trainImgs != nil {
		ds.Train.H, ds.Train.W = trainImgs.h, trainImgs.w
		ds.Test.H, ds.Test.W = testImgs.h, testImgs.w
	}
	if len(ds.Test.Repeats) == 0 {
		ds.Test.Repeats = nil
	}
	ds.Name = fmt.Sprintf("GOD %s (%s)", strings.Join(subjects, ","), opt.ROI)
	if !haveLabels {
		ds.Notes = append(ds.Notes, fmt.Sprintf("%s has no %s, %s or %s: categories unknown (-1), stimulus ids are image indices",
			dir, GODClassIndex, GODTrainCSV, GODTestCSV))
	}
	if opt.TestNorm == NormLiteral {
		ds.Notes = append(ds.Notes, literalNote)
	}
	if len(subs) > 1 {
		ds.Notes = append(ds.Notes, fmt.Sprintf("subjects wrap-padded to the longest padded length %d (widths %v), as the reference does", v, widths))
	}
	return ds, nil
}

// readGODSubject reads and validates one sbj_N.npz and applies the ROI.
func readGODSubject(path, name string, opt GODOptions) (*godSubject, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	return parseGODSubject(z, name, opt)
}

// parseGODSubject reads one subject from an open sbj_N.npz archive.
func parseGODSubject(z *npy.NPZ, name string, opt GODOptions) (*godSubject, error) {
	path := z.Path()
	s := &godSubject{name: name, file: path, rois: map[string]int{}}
	a0, err := getArray(z, "arr_0", 2)
	if err != nil {
		return nil, err
	}
	a2, err := getArray(z, "arr_2", 2)
	if err != nil {
		return nil, err
	}
	a3, err := getArray(z, "arr_3", 1)
	if err != nil {
		return nil, err
	}
	nTrain, nAll := a0.Shape[0], a0.Shape[1]
	nTest := a2.Shape[0]
	if a2.Shape[1] != nAll {
		return nil, fmt.Errorf("%s: arr_0 (train) has %d voxels but arr_2 (test) has %d", path, nAll, a2.Shape[1])
	}
	if nTrain == 0 || nTest == 0 {
		return nil, fmt.Errorf("%s: arr_0 has %d rows and arr_2 %d: no trials", path, nTrain, nTest)
	}
	if a3.Shape[0] != nTrain {
		return nil, fmt.Errorf("%s: arr_3 (train image index) has %d entries but arr_0 has %d trials", path, a3.Shape[0], nTrain)
	}
	if s.imageIndex, err = indices(path, "arr_3", a3, math.MaxInt32); err != nil {
		return nil, err
	}
	mask, err := getArray(z, opt.ROI, -1)
	if err != nil {
		return nil, fmt.Errorf("%w (ROI %q)", err, opt.ROI)
	}
	cols, err := maskColumns(path, opt.ROI, mask, nAll)
	if err != nil {
		return nil, err
	}
	s.voxels = len(cols)
	// ROI sizes for reports: every other mask key, counted the same way.
	for _, k := range z.Keys() {
		if !isROIMask(k) {
			continue
		}
		if k == opt.ROI {
			s.rois[k] = len(cols)
			continue
		}
		if h, err := z.Header(k); err == nil && len(h.Shape) == 1 {
			if m, err := z.Get(k); err == nil {
				if c, err := maskColumns(path, k, m, nAll); err == nil {
					s.rois[k] = len(c)
				}
			}
		}
	}
	x0, err := numbers(path, "arr_0", a0)
	if err != nil {
		return nil, err
	}
	s.train = selectColumns(x0, nTrain, nAll, cols)
	if err := checkFinite(path, "arr_0 (train fMRI, ROI "+opt.ROI+")", s.train); err != nil {
		return nil, err
	}
	x2, err := numbers(path, "arr_2", a2)
	if err != nil {
		return nil, err
	}
	s.test = selectColumns(x2, nTest, nAll, cols)
	if err := checkFinite(path, "arr_2 (test fMRI, ROI "+opt.ROI+")", s.test); err != nil {
		return nil, err
	}
	if opt.NoRepeats {
		return s, nil
	}
	if !z.Has("arr_1") {
		s.repeatsNote = fmt.Sprintf("%s has no arr_1: no single test trials (Split.Repeats) for %s", path, name)
		return s, nil
	}
	a1, err := getArray(z, "arr_1", 2)
	if err != nil {
		return nil, err
	}
	if a1.Shape[1] != nAll {
		return nil, fmt.Errorf("%s: arr_1 (test trials) has %d voxels but arr_0 has %d", path, a1.Shape[1], nAll)
	}
	if a1.Shape[0] == 0 || a1.Shape[0]%nTest != 0 {
		return nil, fmt.Errorf("%s: arr_1 has %d test trials, not a multiple of the %d test images (arr_2)", path, a1.Shape[0], nTest)
	}
	x1, err := numbers(path, "arr_1", a1)
	if err != nil {
		return nil, err
	}
	trials := selectColumns(x1, a1.Shape[0], nAll, cols)
	if err := checkFinite(path, "arr_1 (test trials, ROI "+opt.ROI+")", trials); err != nil {
		return nil, err
	}
	var note string
	s.repeats, note = groupRepeats(trials, s.test, nTest, a1.Shape[0]/nTest, s.voxels)
	if note != "" {
		s.repeatsNote = path + ": " + note
	}
	return s, nil
}

// groupRepeats splits the single test trials ([nTest·r, v]) into one [r, v]
// block per test image. The reference implies image-major order (img0×r,
// img1×r, …: np.repeat(test_images, 35), dataset.py:445); the order whose
// per-image means reproduce arr_2 is used, and a note says when neither
// matches.
func groupRepeats(trials, avg []float64, nTest, r, v int) ([][]float64, string) {
	imageMajor := func(img, k int) int { return img*r + k }
	repeatMajor := func(img, k int) int { return k*nTest + img }
	errOf := func(row func(img, k int) int) float64 {
		var num, den float64
		for img := range nTest {
			for j := range v {
				var m float64
				for k := range r {
					m += trials[row(img, k)*v+j]
				}
				m /= float64(r)
				d := m - avg[img*v+j]
				num += d * d
				den += avg[img*v+j] * avg[img*v+j]
			}
		}
		return math.Sqrt(num / max(den, 1e-300))
	}
	order, note := imageMajor, ""
	eIM := errOf(imageMajor)
	if eIM > 1e-3 {
		if eRM := errOf(repeatMajor); eRM < 1e-3 {
			order, note = repeatMajor, fmt.Sprintf("arr_1 is in repeat-major order (its means match arr_2); grouped accordingly, %d trials per image", r)
		} else {
			note = fmt.Sprintf("the per-image means of arr_1 do not reproduce arr_2 (relative error %.3g image-major); "+
				"assumed image-major order (img0×%d, img1×%d, …) as the reference's np.repeat implies", eIM, r, r)
		}
	}
	out := make([][]float64, nTest)
	for img := range nTest {
		block := make([]float64, r*v)
		for k := range r {
			copy(block[k*v:(k+1)*v], trials[order(img, k)*v:(order(img, k)+1)*v])
		}
		out[img] = block
	}
	return out, note
}

// imageSet is an [n, h, w, 3] uint8 image array.
type imageSet struct {
	n, h, w int
	pix     []uint8
}

func (s *imageSet) image(i int) []uint8 {
	k := s.h * s.w * 3
	return s.pix[i*k : (i+1)*k]
}

func readImages(z *npy.NPZ, key string) (*imageSet, error) {
	a, err := getArray(z, key, 4)
	if err != nil {
		return nil, err
	}
	if a.Shape[3] != 3 {
		return nil, fmt.Errorf("%s: %s has shape %s, want [N, H, W, 3] RGB images", z.Path(), key, npy.ShapeString(a.Shape))
	}
	pix, err := a.Uint8()
	if err != nil {
		return nil, fmt.Errorf("%s: %s has dtype %s, want uint8 images", z.Path(), key, a.DType)
	}
	return &imageSet{n: a.Shape[0], h: a.Shape[1], w: a.Shape[2], pix: pix}, nil
}

func readGODImages(path string) (train, test *imageSet, err error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, nil, err
	}
	defer z.Close()
	if train, err = readImages(z, "train_images"); err != nil {
		return nil, nil, err
	}
	if test, err = readImages(z, "test_images"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
