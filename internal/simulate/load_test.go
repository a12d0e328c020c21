package simulate_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/simulate"
)

// TestDefaultDesignLoads: the default design (rendered at 64 pixels to save
// time; the files are 256×256 either way) read through the GOD loader, the
// path a user's data takes, gives 1,200 training and 50 test items with 35
// repeats each, and labels for all of them.
func TestDefaultDesignLoads(t *testing.T) {
	cfg := simulate.DefaultConfig()
	cfg.ImageSize = 64
	dir := t.TempDir()
	if _, err := simulate.Run(context.Background(), cfg, dir, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := data.LoadGOD(dir, []string{"sbj_1"}, data.GODOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 1200 || ds.Test.N != 50 {
		t.Fatalf("loaded %d train and %d test items, want 1200 and 50", ds.Train.N, ds.Test.N)
	}
	if len(ds.Test.Repeats) != 50 || len(ds.Test.Repeats[0]) != 35*ds.Voxels {
		t.Errorf("test repeats: %d items of %d values, want 50 of 35×%d", len(ds.Test.Repeats), len(ds.Test.Repeats[0]), ds.Voxels)
	}
	if ds.Train.H != 256 || ds.Train.W != 256 {
		t.Errorf("images %d×%d, want 256×256", ds.Train.H, ds.Train.W)
	}
	cats := map[int]bool{}
	for _, c := range ds.Train.Category {
		if c < 0 {
			t.Fatal("a training item without a category")
		}
		cats[c] = true
	}
	for _, c := range ds.Test.Category {
		if cats[c] {
			t.Errorf("test category %d also in training: GOD's test categories are novel", c)
		}
	}
	if len(cats) != 150 {
		t.Errorf("%d training categories, want 150", len(cats))
	}
	z, err := npy.ReadNPZ(filepath.Join(dir, "sbj_1.npz"))
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := z["VC"].Bool()
	n := 0
	for _, in := range vc {
		if in {
			n++
		}
	}
	if ds.RawVoxels != n || n < 3000 || n > 6000 {
		t.Errorf("loader sees %d VC voxels, the mask has %d; want about 4,500", ds.RawVoxels, n)
	}
	c, err := simulate.ReadCeiling(dir, "sbj_1")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range c.Identification {
		t.Logf("%d-way ceiling %.3f (expected %.3f ± %.3f), chance %.3f", w.N, w.Accuracy, w.Expected, w.ExpectedSD, w.Chance)
		if !(w.Accuracy > w.Chance && w.Accuracy < 1) && w.N == 50 {
			t.Errorf("50-way ceiling %.3f, want between chance and 1", w.Accuracy)
		}
	}
}

// TestHCPLoads: the hcp design read through the HCP loader.
func TestHCPLoads(t *testing.T) {
	cfg := simulate.TinyConfig()
	cfg.Design, cfg.Subjects, cfg.HCPFrames = simulate.DesignHCP, 2, 200
	dir := t.TempDir()
	sum, err := simulate.Run(context.Background(), cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.LoadHCP(dir, data.HCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Subjects) != 2 {
		t.Errorf("loader found subjects %v, want 2", ds.Subjects)
	}
	// The loader averages windows of 10 frames: 200 frames give 20 rows.
	if ds.Train.N != 2*20 {
		t.Errorf("%d rows, want 40 (2 subjects × 200/10 windows)", ds.Train.N)
	}
	for _, s := range sum.Subjects {
		z, err := npy.ReadNPZ(filepath.Join(dir, s.Name, "HCP_visual_voxel.npz"))
		if err != nil {
			t.Fatal(err)
		}
		for _, roi := range []string{"V1", "V2", "V3", "V4"} {
			a := z[roi]
			if a == nil || a.DType != npy.Float64 || len(a.Shape) != 2 || a.Shape[0] != 200 || a.Shape[1] != s.ROIs[roi] {
				t.Fatalf("%s %s: %+v, want (200, %d) float64", s.Name, roi, a, s.ROIs[roi])
			}
			x, _ := a.Float64()
			m := 0.0
			for i := 0; i < 200; i++ {
				m += x[i*a.Shape[1]]
			}
			if math.Abs(m/200) > 1e-9 {
				t.Errorf("%s %s voxel 0 has mean %g, want z-scored", s.Name, roi, m/200)
			}
		}
	}
}

// TestMiyawakiLoads: the miyawaki design is a GOD-layout directory.
func TestMiyawakiLoads(t *testing.T) {
	cfg := simulate.TinyConfig()
	cfg.Design = simulate.DesignMiyawaki
	dir := t.TempDir()
	if _, err := simulate.Run(context.Background(), cfg, dir, nil); err != nil {
		t.Fatal(err)
	}
	ds, err := data.LoadGOD(dir, nil, data.GODOptions{ROI: "LVC"})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != cfg.MiyawakiTrain || ds.Test.N != 10 {
		t.Errorf("loaded %d train and %d test items, want %d and 10", ds.Train.N, ds.Test.N, cfg.MiyawakiTrain)
	}
	truth, err := npy.ReadNPZ(filepath.Join(dir, "truth", "stimuli.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if s := truth["test_patterns"].Shape; len(s) != 3 || s[0] != 10 || s[1] != 10 || s[2] != 10 {
		t.Errorf("test_patterns %v, want [10 10 10]", s)
	}
}
