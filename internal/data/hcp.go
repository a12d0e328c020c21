package data

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/npy"
)

// HCPFile is the per-subject file name of the HCP visual-cortex data
// (vis_dec data/HCP/preprocess_hcp.py:40-46).
const HCPFile = "HCP_visual_voxel.npz"

// HCPROIs are the arrays of HCPFile, concatenated in this order for the
// "VC" ROI (vis_dec code/dataset.py:135).
var HCPROIs = []string{"V1", "V2", "V3", "V4"}

// HCPOptions selects what LoadHCP reads and how.
type HCPOptions struct {
	// ROI is "VC" (V1..V4 concatenated; reference default) or one key of
	// the file.
	ROI string
	// PatchSize is the voxel patch (reference: 16).
	PatchSize int
	// WindowSeconds is the averaging window t (reference: 8 s) and
	// AssumedTR the frame time the reference assumes (0.75 s; HCP's real
	// TR is 0.72 s, cad-spec §6 item 5): frames per window =
	// floor(t / TR) = 10.
	WindowSeconds, AssumedTR float64
	// Subjects restricts the subjects read (directory names); empty reads
	// every subject found.
	Subjects []string
	// HoldOut lists subjects placed in the Test split (for validation);
	// the rest form Train.
	HoldOut []string
	// MaxSubjects caps the number of subjects read (0: no cap), taken in
	// sorted order.
	MaxSubjects int
}

func (o HCPOptions) withDefaults() HCPOptions {
	if o.ROI == "" {
		o.ROI = "VC"
	}
	if o.PatchSize == 0 {
		o.PatchSize = 16
	}
	if o.WindowSeconds == 0 {
		o.WindowSeconds = 8
	}
	if o.AssumedTR == 0 {
		o.AssumedTR = 0.75
	}
	return o
}

// HCPSubjectFiles finds <dir>/<subject>/HCP_visual_voxel.npz files, sorted
// by subject. path may also be one such file.
func HCPSubjectFiles(path string) (subjects, files []string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.IsDir() {
		return []string{filepath.Base(filepath.Dir(path))}, []string{path}, nil
	}
	m, err := filepath.Glob(filepath.Join(path, "*", HCPFile))
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(m)
	for _, f := range m {
		subjects = append(subjects, filepath.Base(filepath.Dir(f)))
		files = append(files, f)
	}
	if len(files) == 0 {
		if _, err := os.Stat(filepath.Join(path, HCPFile)); err == nil {
			return []string{filepath.Base(path)}, []string{filepath.Join(path, HCPFile)}, nil
		}
		return nil, nil, fmt.Errorf("%s: no */%s files: not an HCP directory", path, HCPFile)
	}
	return subjects, files, nil
}

// LoadHCP reads HCP resting-state visual-cortex data as the reference's
// hcp_dataset (vis_dec code/dataset.py:121-178, process_voxel_ts :61-77):
// per subject, V1..V4 are concatenated, the 1200 frames are split into
// floor(1200/10) = 120 consecutive windows with np.array_split semantics and
// averaged, wrap-padded to a multiple of the patch size and z-scored with
// one scalar mean/std per subject. Subjects are wrap-padded to the longest
// length. There are no images. dir is a directory of subject directories,
// one subject directory, or one HCP_visual_voxel.npz.
func LoadHCP(dir string, opt HCPOptions) (*Dataset, error) {
	opt = opt.withDefaults()
	if opt.PatchSize < 1 || opt.WindowSeconds <= 0 || opt.AssumedTR <= 0 {
		return nil, fmt.Errorf("bad HCP options: patch %d, window %gs, TR %gs", opt.PatchSize, opt.WindowSeconds, opt.AssumedTR)
	}
	frames := int(math.Floor(opt.WindowSeconds / opt.AssumedTR))
	if frames < 1 {
		return nil, fmt.Errorf("window of %gs is shorter than one %gs frame", opt.WindowSeconds, opt.AssumedTR)
	}
	subjects, files, err := HCPSubjectFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(opt.Subjects) > 0 {
		want := map[string]bool{}
		for _, s := range opt.Subjects {
			want[s] = true
		}
		var s2, f2 []string
		for i, s := range subjects {
			if want[s] {
				s2, f2 = append(s2, s), append(f2, files[i])
				delete(want, s)
			}
		}
		for s := range want {
			return nil, fmt.Errorf("%s: no HCP subject %q", dir, s)
		}
		subjects, files = s2, f2
	}
	if opt.MaxSubjects > 0 && len(files) > opt.MaxSubjects {
		subjects, files = subjects[:opt.MaxSubjects], files[:opt.MaxSubjects]
	}
	held := map[string]bool{}
	for _, s := range opt.HoldOut {
		held[s] = true
	}
	ds := &Dataset{
		Name:          fmt.Sprintf("HCP %d subjects (%s)", len(subjects), opt.ROI),
		Source:        dir,
		ROIs:          map[string]int{},
		Normalization: "per-subject",
		Subjects:      subjects,
	}
	type part struct {
		name  string
		rows  int
		width int
		x     []float32
		test  bool
	}
	var parts []part
	for i, f := range files {
		x, rows, raw, rois, err := readHCPSubject(f, opt.ROI, frames, opt.PatchSize)
		if err != nil {
			return nil, err
		}
		_, width := PadToPatch([]float32{}, 0, raw, opt.PatchSize)
		parts = append(parts, part{subjects[i], rows, width, x, held[subjects[i]]})
		ds.RawVoxels = max(ds.RawVoxels, raw)
		for k, v := range rois {
			if len(files) == 1 {
				ds.ROIs[k] = v
			} else {
				ds.ROIs[subjects[i]+"/"+k] = v
			}
		}
		delete(held, subjects[i])
	}
	for s := range held {
		return nil, fmt.Errorf("%s: held-out HCP subject %q not found", dir, s)
	}
	widths := map[int]bool{}
	for _, p := range parts {
		ds.Voxels = max(ds.Voxels, p.width)
		widths[p.width] = true
	}
	if len(widths) > 1 {
		// The reference concatenates without padding, which needs equal
		// lengths; padding keeps every subject.
		ds.Notes = append(ds.Notes, fmt.Sprintf("HCP subjects have different padded lengths; all wrap-padded to %d", ds.Voxels))
	}
	for _, p := range parts {
		sp := &ds.Train
		if p.test {
			sp = &ds.Test
		}
		sp.FMRI = append(sp.FMRI, WrapPadTo(p.x, p.rows, p.width, ds.Voxels)...)
		for range p.rows {
			sp.Subject = append(sp.Subject, p.name)
			sp.StimulusID = append(sp.StimulusID, "")
			sp.Category = append(sp.Category, -1)
			sp.CategoryName = append(sp.CategoryName, "")
		}
		sp.N += p.rows
	}
	ds.Notes = append(ds.Notes, fmt.Sprintf("HCP frames averaged in windows of %d frames (floor(%gs / %gs), the reference's assumed TR; HCP's real TR is 0.72 s, cad-spec §6 item 5)",
		frames, opt.WindowSeconds, opt.AssumedTR))
	return ds, nil
}

// readHCPSubject reads one HCP_visual_voxel.npz and returns its processed
// windows ([rows, width] float32, padded and z-scored), the raw voxel count
// and the ROI sizes.
func readHCPSubject(path, roi string, frames, patch int) ([]float32, int, int, map[string]int, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	defer z.Close()
	keys := []string{roi}
	if roi == "VC" && !z.Has("VC") {
		keys = HCPROIs
	}
	rois := map[string]int{}
	var arrays [][]float64
	var widths []int
	t := -1
	for _, k := range keys {
		a, err := getArray(z, k, 2)
		if err != nil {
			return nil, 0, 0, nil, err
		}
		if t >= 0 && a.Shape[0] != t {
			return nil, 0, 0, nil, fmt.Errorf("%s: %s has %d frames, %s has %d", path, k, a.Shape[0], keys[0], t)
		}
		t = a.Shape[0]
		x, err := numbers(path, k, a)
		if err != nil {
			return nil, 0, 0, nil, err
		}
		if err := checkFinite(path, k, x); err != nil {
			return nil, 0, 0, nil, err
		}
		arrays = append(arrays, x)
		widths = append(widths, a.Shape[1])
		rois[k] = a.Shape[1]
	}
	v := 0
	for _, w := range widths {
		v += w
	}
	if v == 0 {
		return nil, 0, 0, nil, fmt.Errorf("%s: ROI %s has no voxels", path, roi)
	}
	// Concatenate along voxels.
	all := make([]float64, t*v)
	off := 0
	for i, x := range arrays {
		w := widths[i]
		for r := range t {
			copy(all[r*v+off:r*v+off+w], x[r*w:(r+1)*w])
		}
		off += w
	}
	sections := t / frames
	if sections < 1 {
		return nil, 0, 0, nil, fmt.Errorf("%s: %d frames are fewer than one %d-frame window", path, t, frames)
	}
	win := WindowMeans(all, t, v, sections)
	padded, _ := PadToPatch(win, sections, v, patch)
	mean, std := Stats(padded)
	if err := Normalize(padded, mean, std); err != nil {
		return nil, 0, 0, nil, fmt.Errorf("%s: %w", path, err)
	}
	return toFloat32(padded), sections, v, rois, nil
}

// WindowMeans splits the t rows of x ([t, v]) into sections consecutive
// chunks as np.array_split does (the first t mod sections chunks have one
// row more) and returns each chunk's column means ([sections, v]).
func WindowMeans(x []float64, t, v, sections int) []float64 {
	out := make([]float64, sections*v)
	each, extra := t/sections, t%sections
	row := 0
	for s := range sections {
		n := each
		if s < extra {
			n++
		}
		dst := out[s*v : (s+1)*v]
		for r := row; r < row+n; r++ {
			for j, val := range x[r*v : (r+1)*v] {
				dst[j] += val
			}
		}
		for j := range dst {
			dst[j] /= float64(n)
		}
		row += n
	}
	return out
}

// hcpLike reports whether an npz (by its keys) looks like an HCP file.
func hcpLike(keys []string) bool {
	have := map[string]bool{}
	for _, k := range keys {
		have[k] = true
	}
	for _, k := range HCPROIs {
		if !have[k] {
			return false
		}
	}
	return !have["arr_0"] && !strings.Contains(strings.Join(keys, ","), "train_images")
}
