package data

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

func readNPZ(t *testing.T, p string) map[string]*npy.Array {
	t.Helper()
	m, err := npy.ReadNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func f32(t *testing.T, a *npy.Array) []float32 {
	t.Helper()
	v, err := a.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ints64(t *testing.T, a *npy.Array) []int64 {
	t.Helper()
	v, err := a.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLoadGOD checks LoadGOD against the reference preprocessing computed
// with NumPy (testdata/gen_data.py) for one and two subjects and both test
// normalisations.
func TestLoadGOD(t *testing.T) {
	exp := readNPZ(t, "testdata/god_expected.npz")
	trainClass := ints64(t, exp["train_class_by_row"])
	testClass := ints64(t, exp["test_class"])
	imgs := readNPZ(t, "testdata/god/images_256.npz")
	trainPix, _ := imgs["train_images"].Uint8()
	testPix, _ := imgs["test_images"].Uint8()
	for _, tc := range []struct {
		key      string
		subjects []string
	}{{"one", []string{"sbj_1"}}, {"two", []string{"sbj_1", "2"}}} {
		for _, mode := range []string{NormLiteral, NormTrainStats} {
			t.Run(tc.key+"/"+mode, func(t *testing.T) {
				ds, err := LoadGOD("testdata/god", tc.subjects, GODOptions{TestNorm: mode})
				if err != nil {
					t.Fatal(err)
				}
				if err := ds.Validate(); err != nil {
					t.Fatal(err)
				}
				wantTrain := exp[tc.key+"/"+mode+"/train"]
				if ds.Voxels != wantTrain.Shape[1] || ds.Voxels%16 != 0 {
					t.Fatalf("Voxels = %d, want %d", ds.Voxels, wantTrain.Shape[1])
				}
				near(t, "train", ds.Train.FMRI, f32(t, wantTrain), 1e-5, 1e-6)
				near(t, "test", ds.Test.FMRI, f32(t, exp[tc.key+"/"+mode+"/test"]), 1e-5, 1e-6)
				var reps []float32
				for _, r := range ds.Test.Repeats {
					reps = append(reps, r...)
				}
				near(t, "repeats", reps, f32(t, exp[tc.key+"/"+mode+"/repeats"]), 1e-5, 1e-6)
				// Labels, stimulus ids and images follow arr_3.
				row := 0
				for _, s := range tc.subjects {
					name := s
					if !strings.HasPrefix(name, "sbj_") {
						name = "sbj_" + name
					}
					for _, idx := range ints64(t, exp[name+"/arr_3"]) {
						if ds.Train.Category[row] != int(trainClass[idx]) || ds.Train.Subject[row] != name {
							t.Fatalf("train row %d: class %d subject %s, want %d %s", row, ds.Train.Category[row], ds.Train.Subject[row], trainClass[idx], name)
						}
						k := 8 * 8 * 3
						if !slices.Equal(ds.Train.Image(row), trainPix[int(idx)*k:(int(idx)+1)*k]) {
							t.Fatalf("train row %d: wrong image", row)
						}
						if !strings.HasPrefix(ds.Train.StimulusID[row], fmt.Sprint(StimulusOffsetMust(ds.Train.StimulusID[row]))) {
							t.Fatalf("stimulus id %q", ds.Train.StimulusID[row])
						}
						row++
					}
				}
				for i := range ds.Test.N {
					if ds.Test.Category[i] != int(testClass[i%3]) {
						t.Errorf("test %d: class %d, want %d", i, ds.Test.Category[i], testClass[i%3])
					}
					if !slices.Equal(ds.Test.Image(i), testPix[(i%3)*192:(i%3+1)*192]) {
						t.Errorf("test %d: wrong image", i)
					}
				}
				if ds.Train.StimulusID[0] == "" || ds.Test.StimulusID[0] != "1491361.000011" {
					t.Errorf("stimulus ids %q, %q", ds.Train.StimulusID[0], ds.Test.StimulusID[0])
				}
				if ds.Test.CategoryName[0] != "tiger shark" {
					t.Errorf("test category name %q", ds.Test.CategoryName[0])
				}
				hasNote := slices.ContainsFunc(ds.Notes, func(n string) bool { return strings.Contains(n, "§6 item 2") })
				if hasNote != (mode == NormLiteral) {
					t.Errorf("literal note present = %v for %s: %v", hasNote, mode, ds.Notes)
				}
				if ds.ROIs["sbj_1/VC"] != 19 || ds.ROIs["sbj_1/V1"] != 5 {
					t.Errorf("ROIs = %v", ds.ROIs)
				}
			})
		}
	}
}

// StimulusOffsetMust is StimulusOffset for tests.
func StimulusOffsetMust(id string) int {
	n, err := StimulusOffset(id)
	if err != nil {
		panic(err)
	}
	return n
}

func TestLoadGODOptions(t *testing.T) {
	ds, err := LoadGOD("testdata/god", nil, GODOptions{NoImages: true, NoRepeats: true})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.Images != nil || ds.Test.Repeats != nil || !reflect.DeepEqual(ds.Subjects, []string{"sbj_1", "sbj_2"}) {
		t.Errorf("images %d, repeats %d, subjects %v", len(ds.Train.Images), len(ds.Test.Repeats), ds.Subjects)
	}
	if ds.Train.N != 18 || ds.Test.N != 6 {
		t.Errorf("N = %d/%d", ds.Train.N, ds.Test.N)
	}
	if _, err := LoadGOD("testdata/god", []string{"sbj_1"}, GODOptions{TestNorm: "bogus"}); err == nil {
		t.Error("bad TestNorm accepted")
	}
}

func TestLoadHCP(t *testing.T) {
	exp := readNPZ(t, "testdata/hcp_expected.npz")
	ds, err := LoadHCP("testdata/hcp", HCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	want := exp["all"]
	if ds.Voxels != want.Shape[1] || ds.Train.N != want.Shape[0] || ds.Test.N != 0 {
		t.Fatalf("shape [%d, %d] test %d, want %v", ds.Train.N, ds.Voxels, ds.Test.N, want.Shape)
	}
	near(t, "hcp", ds.Train.FMRI, f32(t, want), 1e-5, 1e-6)
	if ds.Train.Images != nil || ds.ROIs["s100/V2"] != 4 {
		t.Errorf("images %v ROIs %v", ds.Train.Images != nil, ds.ROIs)
	}
	// One file, and held-out subjects.
	one, err := LoadHCP("testdata/hcp/s100/HCP_visual_voxel.npz", HCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "hcp s100", one.Train.FMRI, f32(t, exp["s100"]), 1e-5, 1e-6)
	held, err := LoadHCP("testdata/hcp", HCPOptions{HoldOut: []string{"s200"}})
	if err != nil {
		t.Fatal(err)
	}
	if held.Train.N != 3 || held.Test.N != 3 || held.Test.Subject[0] != "s200" {
		t.Errorf("hold-out: train %d test %d", held.Train.N, held.Test.N)
	}
	if _, err := LoadHCP("testdata/hcp", HCPOptions{Subjects: []string{"nobody"}}); err == nil {
		t.Error("unknown subject accepted")
	}
}

func TestLoadBOLD5000(t *testing.T) {
	exp := readNPZ(t, "testdata/bold5000_expected.npz")
	ds, err := LoadBOLD5000("testdata/bold5000", "CSI1", BOLD5000Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	near(t, "train", ds.Train.FMRI, f32(t, exp["train"]), 1e-5, 1e-6)
	near(t, "test", ds.Test.FMRI, f32(t, exp["test"]), 1e-5, 1e-6)
	ti, _ := exp["test_img"].Uint8()
	tr, _ := exp["train_img"].Uint8()
	if !slices.Equal(ds.Test.Images, ti) || !slices.Equal(ds.Train.Images, tr) {
		t.Error("images differ from the reference pairing")
	}
	if !reflect.DeepEqual(ds.Test.StimulusID, []string{"img01.jpg", "img05.jpg"}) {
		t.Errorf("test ids %v", ds.Test.StimulusID)
	}
	if len(ds.Test.Repeats[0]) != 3*ds.Voxels || len(ds.Test.Repeats[1]) != 2*ds.Voxels {
		t.Errorf("repeat counts %d, %d", len(ds.Test.Repeats[0])/ds.Voxels, len(ds.Test.Repeats[1])/ds.Voxels)
	}
	// Phase-2 style: no normalisation, no padding.
	raw, err := LoadBOLD5000("testdata/bold5000", "CSI1", BOLD5000Options{Normalize: NormNone, NoPad: true, NoImages: true})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Voxels != 23 || raw.Train.Images != nil {
		t.Errorf("raw voxels %d", raw.Voxels)
	}
}

// niftiSummary compares data with the nibabel summary saved by
// gen_nifti.py: sums, NaN count and sampled values.
func niftiSummary(t *testing.T, exp map[string]*npy.Array, key string, data []float32) {
	t.Helper()
	st, _ := exp[key+"/stats"].Float64()
	idx := ints64(t, exp[key+"/idx"])
	val := f32(t, exp[key+"/val"])
	if len(data) != int(st[3]) {
		t.Fatalf("%s: %d values, want %v", key, len(data), st[3])
	}
	var sum, sq float64
	nan := 0
	for _, v := range data {
		if math.IsNaN(float64(v)) {
			nan++
			continue
		}
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	if math.Abs(sum-st[0]) > 1e-5*math.Abs(st[0])+1e-3 || math.Abs(sq-st[1]) > 1e-5*st[1]+1e-3 || nan != int(st[2]) {
		t.Errorf("%s: sum %v sumsq %v nan %d; nibabel %v", key, sum, sq, nan, st)
	}
	for i, k := range idx {
		g, w := data[k], val[i]
		if !(g == w || math.IsNaN(float64(g)) && math.IsNaN(float64(w))) && math.Abs(float64(g-w)) > 1e-5*math.Abs(float64(w)) {
			t.Fatalf("%s[%d] = %v, nibabel %v", key, k, g, w)
		}
	}
}

func TestReadNIfTI(t *testing.T) {
	exp := readNPZ(t, "testdata/nifti/nifti_expected.npz")
	tests := []struct {
		file    string
		version int
		dtype   string
		big     bool
		tr      float64
	}{
		{"functional.nii", 1, "int16", false, 2},
		{"example_nifti2.nii.gz", 2, "int16", false, 2000},
		{"standard.nii.gz", 1, "uint8", false, 0},
		{"resampled_anat_moved.nii", 1, "float32", true, 0},
		{"be_int16.nii", 1, "int16", true, 1.5},
		{"f64_ext.nii", 1, "float64", false, 0},
		{"n2_be.nii", 2, "float32", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			n, err := ReadNIfTI(filepath.Join("testdata/nifti", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if n.Version != tt.version || n.DataTypeName != tt.dtype || n.BigEndian != tt.big || math.Abs(n.TR-tt.tr) > 1e-9 {
				t.Errorf("version %d dtype %s big %v TR %v", n.Version, n.DataTypeName, n.BigEndian, n.TR)
			}
			if s, ok := exp[tt.file+"/shape"]; ok {
				want := ints64(t, s)
				for i, d := range want {
					if n.Dims[i] != int(d) {
						t.Errorf("dims %v, want %v", n.Dims, want)
					}
				}
			}
			niftiSummary(t, exp, tt.file, n.Data)
		})
	}
}

func TestLoadNIfTIMasked(t *testing.T) {
	exp := readNPZ(t, "testdata/nifti/nifti_expected.npz")
	x, T, V, err := LoadNIfTIMasked("testdata/nifti/functional.nii", "testdata/nifti/mask_functional.nii.gz")
	if err != nil {
		t.Fatal(err)
	}
	shape := ints64(t, exp["functional_masked/shape"])
	if T != int(shape[0]) || V != int(shape[1]) {
		t.Fatalf("T, V = %d, %d; want %v", T, V, shape)
	}
	niftiSummary(t, exp, "functional_masked", x)
	// As a dataset through Open.
	ds, err := Open("testdata/nifti/functional.nii", Options{Mask: "testdata/nifti/mask_functional.nii.gz"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != T || ds.Voxels%16 != 0 || ds.RawVoxels != V {
		t.Errorf("dataset %d×%d raw %d", ds.Train.N, ds.Voxels, ds.RawVoxels)
	}
}

func TestDetectOpen(t *testing.T) {
	tests := []struct {
		path string
		kind string
		n    int // train items
	}{
		{"testdata/god", KindGOD, 18},
		{"testdata/god/sbj_2.npz", KindGOD, 9},
		{"testdata/hcp", KindHCP, 6},
		{"testdata/hcp/s100/HCP_visual_voxel.npz", KindHCP, 3},
		{"testdata/bold5000", KindBOLD5000, 6},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			k, err := Detect(tt.path)
			if err != nil || k != tt.kind {
				t.Fatalf("Detect = %q, %v; want %s", k, err, tt.kind)
			}
			ds, err := Open(tt.path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Train.N != tt.n {
				t.Errorf("%d train items, want %d", ds.Train.N, tt.n)
			}
		})
	}
}

func TestConcatAndFit(t *testing.T) {
	hcp, err := LoadHCP("testdata/hcp", HCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	god, err := LoadGOD("testdata/god", []string{"sbj_2"}, GODOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := Concat(hcp, god)
	if err != nil {
		t.Fatal(err)
	}
	if err := all.Validate(); err != nil {
		t.Fatal(err)
	}
	v := max(hcp.Voxels, god.Voxels)
	if all.Voxels != v || all.Train.N != hcp.Train.N+god.Train.N || all.Train.Images != nil {
		t.Errorf("concat: %d voxels (want %d), %d items, images %v", all.Voxels, v, all.Train.N, all.Train.Images != nil)
	}
	// The HCP rows were wrap-padded: column j equals column j mod V.
	row := all.Train.Row(0, all.Voxels)
	orig := hcp.Train.Row(0, hcp.Voxels)
	for j := range row {
		if row[j] != orig[j%hcp.Voxels] {
			t.Fatalf("column %d not wrap-padded", j)
		}
	}
	if all.Test.Images == nil || all.Test.N != god.Test.N {
		t.Errorf("test split: %d items, images %v", all.Test.N, all.Test.Images != nil)
	}
	if err := god.WrapPadTo(40); err != nil {
		t.Fatal(err)
	}
	if err := god.Validate(); err != nil || god.Voxels != 40 {
		t.Errorf("after WrapPadTo(40): %d voxels, %v", god.Voxels, err)
	}
}

// TestLoadGODWithoutLabels: a GOD directory without any label file loads
// with unknown categories and a note; with only some of them it fails.
func TestLoadGODWithoutLabels(t *testing.T) {
	dir := godCopy(t)
	for _, f := range []string{GODClassIndex, GODTrainCSV, GODTestCSV} {
		os.Remove(filepath.Join(dir, f))
	}
	ds, err := LoadGOD(dir, []string{"sbj_1"}, GODOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.Validate(); err != nil {
		t.Fatal(err)
	}
	if ds.Train.Category[0] != -1 || !strings.HasPrefix(ds.Train.StimulusID[0], "train_image_") {
		t.Errorf("category %d id %q", ds.Train.Category[0], ds.Train.StimulusID[0])
	}
	if !slices.ContainsFunc(ds.Notes, func(n string) bool { return strings.Contains(n, "categories unknown") }) {
		t.Errorf("no note: %v", ds.Notes)
	}
}
