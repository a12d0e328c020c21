package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

func addFiles(f *testing.F, pattern string) {
	f.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		f.Fatalf("no seed files %s", pattern)
	}
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzNIfTI: the NIfTI reader returns an image or an error, never panics,
// and never returns fewer values than its header promises.
func FuzzNIfTI(f *testing.F) {
	for _, p := range []string{"be_int16.nii", "f64_ext.nii", "n2_be.nii", "standard.nii.gz", "mask_functional.nii.gz", "resampled_anat_moved.nii"} {
		b, err := os.ReadFile(filepath.Join("testdata/nifti", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, r, err := NewNIfTIReader(bytes.NewReader(b), "fuzz.nii")
		if err != nil {
			return
		}
		if err := n.ReadData(r); err != nil {
			return
		}
		if len(n.Data) != n.Volume()*n.Volumes() {
			t.Fatalf("%d values for dims %v", len(n.Data), n.Dims)
		}
	})
}

// FuzzLabelCSV: GOD label CSVs parse or fail cleanly; every id has an
// offset.
func FuzzLabelCSV(f *testing.F) {
	addFiles(f, "testdata/god/*.csv")
	f.Add([]byte("\"1518878.005958\",x\n\n1.2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseLabelCSV(b)
		if err != nil {
			return
		}
		for _, id := range ids {
			if _, err := StimulusOffset(id); err != nil {
				t.Fatalf("accepted id %q: %v", id, err)
			}
		}
	})
}

// FuzzClassIndex: imagenet_class_index.json parses or fails cleanly, and
// labelling with it never panics.
func FuzzClassIndex(f *testing.F) {
	addFiles(f, "testdata/god/*.json")
	f.Add([]byte(`{"0": ["n1", "a"], "1": ["n2", "n3", "b"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cls, err := ParseClassIndex(b)
		if err != nil {
			return
		}
		li := NewLabelIndex(cls)
		_, _ = li.Labels("x.csv", []string{"1.1", "2.000001", "3"})
	})
}

// FuzzNameList: BOLD5000 name lists.
func FuzzNameList(f *testing.F) {
	addFiles(f, "testdata/bold5000/BOLD5000_Stimuli/Scene_Stimuli/*.txt")
	f.Add([]byte("a.jpg # c\n\n rep_b.png\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := ParseNameList(b)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" {
				t.Fatal("empty name accepted")
			}
		}
	})
}

// FuzzGODSubject: a sbj_N.npz archive (any bytes) is read and validated
// without panicking; what it accepts has consistent sizes.
func FuzzGODSubject(f *testing.F) {
	addFiles(f, "testdata/god/sbj_*.npz")
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := npy.NewNPZ(bytes.NewReader(b), int64(len(b)), "fuzz.npz")
		if err != nil {
			return
		}
		s, err := parseGODSubject(z, "sbj_1", GODOptions{}.withDefaults())
		if err != nil {
			return
		}
		if s.voxels < 1 || len(s.train) != len(s.imageIndex)*s.voxels || len(s.test)%s.voxels != 0 {
			t.Fatalf("inconsistent subject: %d voxels, %d train values for %d trials", s.voxels, len(s.train), len(s.imageIndex))
		}
	})
}

// FuzzImgDict: BOLD5000's img_dict.npy (an object array with a pickled
// dict) decodes or fails cleanly.
func FuzzImgDict(f *testing.F) {
	addFiles(f, "testdata/bold5000/BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/img_dict.npy")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := npy.Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		m, err := DecodeImgDict(a)
		if err != nil {
			return
		}
		for k, v := range m {
			if v == nil {
				t.Fatalf("nil image %q", k)
			}
		}
	})
}
