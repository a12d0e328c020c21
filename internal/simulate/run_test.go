package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/stats"
)

// hashTree returns the SHA-256 of every file under dir, by relative path.
func hashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDeterminism: the same seed gives byte-identical files whatever the
// number of goroutines; another seed changes the data.
func TestDeterminism(t *testing.T) {
	for _, design := range []Design{DesignGOD, DesignHCP, DesignMiyawaki} {
		t.Run(string(design), func(t *testing.T) {
			cfg := TinyConfig()
			cfg.Design, cfg.Subjects = design, 2
			if design == DesignMiyawaki {
				cfg.MiyawakiTrain = 20
			}
			run := func(seed uint64, workers int) map[string]string {
				c := cfg
				c.Seed, c.Workers = seed, workers
				dir := t.TempDir()
				if _, err := Run(context.Background(), c, dir, nil); err != nil {
					t.Fatal(err)
				}
				return hashTree(t, dir)
			}
			a, b, c := run(1, 2), run(1, 1), run(2, 2)
			if len(a) < 5 {
				t.Fatalf("only %d files written", len(a))
			}
			for name, h := range a {
				if b[name] != h {
					t.Errorf("%s differs between two runs with seed 1 (2 workers vs 1)", name)
				}
			}
			// The data must change with the seed (the Miyawaki labels and
			// class index are fixed, so those may not).
			for name, h := range a {
				data := strings.HasPrefix(filepath.Base(name), "sbj_") || strings.HasSuffix(name, "images_256.npz") || strings.HasSuffix(name, "HCP_visual_voxel.npz")
				if data && c[name] == h {
					t.Errorf("%s is the same with seeds 1 and 2", name)
				}
			}
		})
	}
}

// TestGODFiles checks the written GOD layout against the loader's semantics
// (cad-spec §1.1) by reading the files back with npy.
func TestGODFiles(t *testing.T) {
	cfg := TinyConfig()
	cfg.Subjects = 2
	dir := t.TempDir()
	sum, err := Run(context.Background(), cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	nTrain, nTest, R := cfg.TrainCategories*cfg.ImagesPerCategory, cfg.TestCategories, cfg.TestRepeats
	imgs, err := npy.ReadNPZ(filepath.Join(dir, "images_256.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if s := imgs["train_images"].Shape; !equalInts(s, []int{nTrain, 256, 256, 3}) || imgs["train_images"].DType != npy.Uint8 {
		t.Errorf("train_images %v %s, want [%d 256 256 3] uint8", s, imgs["train_images"].DType, nTrain)
	}
	if s := imgs["test_images"].Shape; !equalInts(s, []int{nTest, 256, 256, 3}) {
		t.Errorf("test_images %v, want [%d 256 256 3]", s, nTest)
	}
	for k := 1; k <= 2; k++ {
		z, err := npy.ReadNPZ(filepath.Join(dir, sum.Subjects[k-1].Name+".npz"))
		if err != nil {
			t.Fatal(err)
		}
		V := z["arr_0"].Shape[1]
		want := map[string][]int{"arr_0": {nTrain, V}, "arr_1": {nTest * R, V}, "arr_2": {nTest, V}, "arr_3": {nTrain}}
		for key, shape := range want {
			if !equalInts(z[key].Shape, shape) {
				t.Errorf("%s %v, want %v", key, z[key].Shape, shape)
			}
		}
		a1, _ := z["arr_1"].Float64()
		a2, _ := z["arr_2"].Float64()
		for i := 0; i < nTest; i++ {
			for v := 0; v < V; v++ {
				m := 0.0
				for r := 0; r < R; r++ {
					m += a1[(i*R+r)*V+v]
				}
				m /= float64(R)
				if math.Abs(m-a2[i*V+v]) > 1e-5*(1+math.Abs(m)) {
					t.Fatalf("arr_2[%d,%d] = %v, mean of its %d arr_1 rows %v", i, v, a2[i*V+v], R, m)
				}
			}
		}
		order, _ := z["arr_3"].Int64()
		seen := make([]bool, nTrain)
		for _, o := range order {
			seen[o] = true
		}
		for i, s := range seen {
			if !s {
				t.Errorf("arr_3 never shows training image %d", i)
			}
		}
		masks := map[string][]bool{}
		for _, m := range MaskNames {
			b, err := z[m].Bool()
			if err != nil || len(b) != V {
				t.Fatalf("mask %s: %v (len %d, want %d)", m, err, len(b), V)
			}
			masks[m] = b
		}
		outside := 0
		for v := 0; v < V; v++ {
			lvc := masks["V1"][v] || masks["V2"][v] || masks["V3"][v] || masks["hV4"][v]
			hvc := masks["LOC"][v] || masks["FFA"][v] || masks["PPA"][v]
			if masks["LVC"][v] != lvc || masks["HVC"][v] != hvc || masks["VC"][v] != (lvc || hvc) {
				t.Fatalf("voxel %d: LVC/HVC/VC masks are not the unions of the ROIs", v)
			}
			if !masks["VC"][v] {
				outside++
			}
		}
		if outside == 0 {
			t.Error("no voxels outside VC: ROI selection would not matter")
		}
	}
	// Labels: class index in Keras form, CSV ids whose integer part is an
	// offset in the index.
	var classes map[string][]string
	b, _ := os.ReadFile(filepath.Join(dir, "imagenet_class_index.json"))
	if err := json.Unmarshal(b, &classes); err != nil {
		t.Fatal(err)
	}
	offsets := map[string]bool{}
	for _, v := range classes {
		if len(v) != 2 || !strings.HasPrefix(v[0], "n") || len(v[0]) != 9 {
			t.Errorf("class entry %v, want [wnid, description]", v)
		}
		offsets[strings.TrimLeft(v[0][1:], "0")] = true
	}
	for _, f := range []string{"imagenet_training_label.csv", "imagenet_testing_label.csv"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if want := map[bool]int{true: nTrain, false: nTest}[strings.Contains(f, "training")]; len(lines) != want {
			t.Errorf("%s: %d rows, want %d", f, len(lines), want)
		}
		for _, l := range lines {
			id := strings.Split(l, ",")[0]
			off, num, ok := strings.Cut(id, ".")
			if !ok || len(num) != 6 || !offsets[off] {
				t.Errorf("%s: stimulus id %q, want OFFSET.NNNNNN with a known offset", f, id)
			}
		}
	}
}

// TestReadCeiling reads the ceiling back and checks its invariants: the
// chance levels, accuracies between chance and 1 and falling with n.
func TestReadCeiling(t *testing.T) {
	cfg := TinyConfig()
	dir := t.TempDir()
	if _, err := Run(context.Background(), cfg, dir, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sbj_1", "1"} {
		c, err := ReadCeiling(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "sbj_1" || c.Repeats != cfg.TestRepeats || c.TestImages != cfg.TestCategories {
			t.Errorf("ceiling %+v", c)
		}
		prev := 1.0
		for _, w := range c.Identification {
			if w.Chance != 1/float64(w.N) || !(w.Expected > w.Chance && w.Expected <= prev) {
				t.Errorf("%d-way: %+v", w.N, w)
			}
			prev = w.Expected
		}
		if _, ok := c.At(50); ok {
			t.Error("a 50-way entry with only 10 test images")
		}
	}
	if _, err := ReadCeiling(dir, "sbj_9"); err == nil || !strings.Contains(err.Error(), "sbj_1") {
		t.Errorf("missing subject: error %v, want one listing sbj_1", err)
	}
	if _, err := ReadCeiling(t.TempDir(), "1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no ceiling.json: error %v, want not-exist", err)
	}
	bad := filepath.Join(t.TempDir(), "ceiling.json")
	os.WriteFile(bad, []byte(`{"subjects":[{"subject":"sbj_1","identification":[{"n":2,"accuracy":1.5}]}]}`), 0o644)
	if _, err := ReadCeilingFile(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("accuracy 1.5: error %v, want one naming the file", err)
	}
}

// FuzzReadCeilingFile: never panics; what it accepts has valid entries.
func FuzzReadCeilingFile(f *testing.F) {
	b, err := os.ReadFile("testdata/ceiling/ceiling.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"subjects":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		p := filepath.Join(t.TempDir(), "ceiling.json")
		if err := os.WriteFile(p, in, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ReadCeilingFile(p)
		if err != nil {
			return
		}
		for _, s := range c.Subjects {
			for _, w := range s.Identification {
				if w.N < 2 || w.Accuracy < 0 || w.Accuracy > 1 {
					t.Fatalf("accepted invalid entry %+v", w)
				}
			}
		}
	})
}

// TestHCPSeries: the HCP files hold z-scored V1–V4 series with the
// temporal smoothness of BOLD and retinotopic correlations.
func TestHCPSeries(t *testing.T) {
	cfg := TinyConfig()
	cfg.Design, cfg.Subjects, cfg.HCPFrames = DesignHCP, 1, 300
	pool, err := MakeHCPPool(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := SimulateHCPSubject(context.Background(), cfg, pool, 1)
	if err != nil {
		t.Fatal(err)
	}
	T := h.Frames
	v1 := h.Series["V1"]
	n := h.Counts["V1"]
	col := func(j int) []float64 {
		c := make([]float64, T)
		for t := range c {
			c[t] = v1[t*n+j]
		}
		return c
	}
	var lag1 []float64
	for j := 0; j < n; j++ {
		c := col(j)
		m, s := meanSD(c)
		if math.Abs(m) > 1e-9 || math.Abs(s*math.Sqrt(float64(T-1)/float64(T))-1) > 1e-9 {
			t.Fatalf("voxel %d: mean %g, sd %g, want z-scored", j, m, s)
		}
		lag1 = append(lag1, stats.Pearson(c[1:], c[:T-1]))
	}
	sort.Float64s(lag1)
	// Pairs of V1 voxels with near and far pRFs.
	var idx []int
	for v, r := range h.ROI {
		if r == ROIV1 {
			idx = append(idx, v)
		}
	}
	var near, far []float64
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			d := math.Hypot(h.PRFX[idx[a]]-h.PRFX[idx[b]], h.PRFY[idx[a]]-h.PRFY[idx[b]])
			if h.inImage(idx[a]) < 0.5 || h.inImage(idx[b]) < 0.5 {
				continue
			}
			if d < 1 {
				near = append(near, stats.Pearson(col(a), col(b)))
			} else if d > 6 {
				far = append(far, stats.Pearson(col(a), col(b)))
			}
		}
	}
	mn, _ := meanSD(near)
	mf, _ := meanSD(far)
	t.Logf("V1: %d voxels, median lag-1 autocorrelation %.2f; mean correlation of pRFs < 1° apart %.3f (%d pairs), > 6° apart %.3f (%d)",
		n, lag1[len(lag1)/2], mn, len(near), mf, len(far))
	if lag1[len(lag1)/2] < 0.3 {
		t.Errorf("median lag-1 autocorrelation %.2f, want BOLD-like smoothness (≥ 0.3)", lag1[len(lag1)/2])
	}
	if !(mn > mf+0.05) {
		t.Errorf("near-pRF correlation %.3f not above far-pRF correlation %.3f", mn, mf)
	}
	for _, roi := range HCPROINames {
		if h.Counts[roi.Name] == 0 || len(h.Series[roi.Name]) != T*h.Counts[roi.Name] {
			t.Errorf("%s: %d voxels, %d values", roi.Name, h.Counts[roi.Name], len(h.Series[roi.Name]))
		}
	}
}

// TestMiyawakiDecoding: a linear decoder of the 100 patches, trained on
// random patterns, reads held-out random patterns better in the centre of
// the field than at its edge (cortical magnification; Miyawaki et al. 2008)
// and tells the test figures apart.
func TestMiyawakiDecoding(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Design, cfg.MiyawakiRepeats = DesignMiyawaki, 8
	ctx := context.Background()
	st, err := MakeMiyawakiStimuli(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := SimulateGODSubject(ctx, cfg, st, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	nTrain, nTest, nFit := len(g.Order), len(st.Test), 380
	lvc := g.ROIIndex("LVC")
	x := columns(g.Train, nTrain, g.V, lvc)
	m, s := standardize(x[:nFit*len(lvc)], nFit, len(lvc))
	applyScale(x[nFit*len(lvc):], len(lvc), m, s)
	xt := columns(g.TestMean, nTest, g.V, lvc)
	applyScale(xt, len(lvc), m, s)
	y := make([]float64, 0, nTrain*100)
	for _, img := range g.Order {
		for _, p := range st.TrainPatterns[img*100 : (img+1)*100] {
			y = append(y, float64(p))
		}
	}
	// One sparse decoder per patch (Miyawaki et al. decode each patch
	// from a selected set of voxels): the voxels whose training trials
	// correlate best with the patch, then a ridge on them.
	const keep = 40
	nHeld := nTrain - nFit
	held := make([]float64, nHeld*100)
	pred := make([]float64, nTest*100)
	yc := append([]float64(nil), y[:nFit*100]...)
	standardize(yc, nFit, 100)
	target := make([]float64, nFit)
	for p := 0; p < 100; p++ {
		for i := range target {
			target[i] = yc[i*100+p]
		}
		type scored struct {
			k int
			r float64
		}
		var rs []scored
		col := make([]float64, nFit)
		for k := range lvc {
			for i := range col {
				col[i] = x[i*len(lvc)+k]
			}
			rs = append(rs, scored{k, stats.Pearson(col, target)})
		}
		sort.Slice(rs, func(a, b int) bool { return rs[a].r > rs[b].r })
		sel := make([]int, keep)
		for i := range sel {
			sel[i] = rs[i].k
		}
		pick := func(src []float64, n int) []float64 {
			out := make([]float64, n*keep)
			for i := 0; i < n; i++ {
				for j, k := range sel {
					out[i*keep+j] = src[i*len(lvc)+k]
				}
			}
			return out
		}
		w, err := ridge(pick(x, nFit), nFit, keep, target, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range predict(pick(x[nFit*len(lvc):], nHeld), nHeld, keep, w, 1) {
			held[i*100+p] = v
		}
		for i, v := range predict(pick(xt, nTest), nTest, keep, w, 1) {
			pred[i*100+p] = v
		}
	}
	// Held-out random patterns (single trials): accuracy by region.
	var centre, edge [2]int
	for i := 0; i < nTrain-nFit; i++ {
		for p := 0; p < 100; p++ {
			ok := 0
			if (held[i*100+p] > 0) == (y[(nFit+i)*100+p] == 1) {
				ok = 1
			}
			r, c := p/10, p%10
			if r >= 3 && r <= 6 && c >= 3 && c <= 6 {
				centre[0] += ok
				centre[1]++
			}
			if r == 0 || r == 9 || c == 0 || c == 9 {
				edge[0] += ok
				edge[1]++
			}
		}
	}
	acc := func(a [2]int) float64 { return float64(a[0]) / float64(a[1]) }
	// Figures (means of repeats): is each decoded pattern closer to its
	// own figure than to another (pairwise identification)?
	truth := make([]float64, nTest*100)
	for i, p := range st.TestPatterns {
		truth[i] = float64(p)
	}
	pair := pairwiseIdentification(pred, truth, nTest, 100)
	se := math.Sqrt(0.25 / float64(edge[1]))
	t.Logf("held-out random patterns: centre patches %.3f, edge patches %.3f (SE %.3f); figures: pairwise identification %.3f (chance 0.5)",
		acc(centre), acc(edge), se, pair)
	if acc(centre) < acc(edge)+3*se || acc(centre) < 0.6 {
		t.Errorf("centre accuracy %.3f, want ≥ 0.6 and above the edge's %.3f by 3 SE", acc(centre), acc(edge))
	}
	if pair < 0.7 {
		t.Errorf("figure pairwise identification %.3f, want ≥ 0.7", pair)
	}
}
