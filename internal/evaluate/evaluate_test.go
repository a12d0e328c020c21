package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
)

// synthSamples makes n random ground truths and sets reconstructions: the
// ground truth plus uniform noise of ±noise (clipped), or, when noise < 0,
// unrelated random images.
func synthSamples(n, sets, h, w, noise int, seed uint64) *Samples {
	rng := rand.New(rand.NewPCG(seed, 2))
	img := h * w * 3
	data := make([]uint8, 0, n*(1+sets)*img)
	for i := 0; i < n; i++ {
		gt := make([]uint8, img)
		// Smooth-ish images: a random colour per 4×4 block, so SSIM has structure.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < 3; c++ {
					gt[(y*w+x)*3+c] = uint8((int(y/4*7+x/4*13+c*5)*int(i+3) + rng.IntN(40)) % 256)
				}
			}
		}
		data = append(data, gt...)
		for s := 0; s < sets; s++ {
			for k := range gt {
				v := rng.IntN(256)
				if noise >= 0 {
					v = min(max(int(gt[k])+rng.IntN(2*noise+1)-noise, 0), 255)
				}
				data = append(data, uint8(v))
			}
		}
	}
	s, err := NewSamples(data, n, sets, h, w)
	if err != nil {
		panic(err)
	}
	s.Source = "synthetic"
	return s
}

// meanClassifier is a stand-in classifier: 60 classes by mean brightness,
// with the mean colour as features.
type meanClassifier struct{}

func (meanClassifier) Name() string    { return "mean brightness" }
func (meanClassifier) NumClasses() int { return 60 }
func (meanClassifier) Classify(_ context.Context, images []uint8, n, h, w int) (probs, feats [][]float32, err error) {
	sz := h * w * 3
	for i := 0; i < n; i++ {
		var rgb [3]float64
		for k, v := range images[i*sz : (i+1)*sz] {
			rgb[k%3] += float64(v)
		}
		m := (rgb[0] + rgb[1] + rgb[2]) / float64(sz)
		p := make([]float32, 60)
		var z float64
		for c := range p {
			e := math.Exp(-math.Abs(m-float64(c)*256/60) / 3)
			p[c] = float32(e)
			z += e
		}
		for c := range p {
			p[c] /= float32(z)
		}
		probs = append(probs, p)
		feats = append(feats, []float32{float32(rgb[0]), float32(rgb[1]), float32(rgb[2]), float32(m)})
	}
	return probs, feats, nil
}

// TestEvaluate checks Evaluate end to end on synthetic samples: good
// reconstructions identify well above chance, unrelated ones near chance;
// every metric has its chance level, a confidence interval holding the
// value, per-set values, and the labels the report needs.
func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	o := DefaultOptions()
	o.Bootstrap, o.IdentifyTrials, o.NWay.Trials = 200, 200, 200
	o.Classifier = meanClassifier{}
	good, err := Evaluate(ctx, synthSamples(12, 3, 16, 16, 30, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := Evaluate(ctx, synthSamples(12, 3, 16, 16, -1, 2), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"pairwise_mse", "pairwise_pcc", "pairwise_ssim", "identify_pixel_2way", "identify_pixel_10way"} {
		g, b := good.Metric(key), bad.Metric(key)
		if g == nil || b == nil {
			t.Fatalf("metric %s missing", key)
		}
		if g.Value < 0.9 {
			t.Errorf("%s on good reconstructions = %.3f, want ≥ 0.9", key, g.Value)
		}
		if math.Abs(b.Value-b.Chance) > 0.25 {
			t.Errorf("%s on unrelated images = %.3f, want near chance %.3f", key, b.Value, b.Chance)
		}
	}
	want := map[string]string{
		"pairwise_mse_literal": "literal", "pairwise_mse": "correct",
		"top1_class": "mean over sets", "top1_class_max": "max over sets",
	}
	for key, label := range want {
		m := good.Metric(key)
		if m == nil {
			t.Fatalf("metric %s missing", key)
		}
		if m.Label != label {
			t.Errorf("%s label %q, want %q", key, m.Label, label)
		}
	}
	if m := good.Metric("top1_class"); m.Chance != 1.0/50 || m.Value < 0.5 {
		t.Errorf("top1_class = %.3f (chance %.3f), want ≥ 0.5 and chance 1/50", m.Value, m.Chance)
	}
	if mx, mn := good.Metric("top1_class_max"), good.Metric("top1_class"); mx.Value < mn.Value {
		t.Errorf("max over sets %.3f < mean over sets %.3f", mx.Value, mn.Value)
	}
	for _, m := range good.Metrics {
		if len(m.PerSet) != 3 || len(m.PerItem) != 12 {
			t.Errorf("%s: %d per-set and %d per-item values, want 3 and 12", m.Key, len(m.PerSet), len(m.PerItem))
		}
		if !(m.CILow <= m.Value && m.Value <= m.CIHigh) || m.Chance <= 0 {
			t.Errorf("%s: value %.4f outside its interval [%.4f, %.4f] or chance %v", m.Key, m.Value, m.CILow, m.CIHigh, m.Chance)
		}
	}
	if good.Metric("identify_pixel_50way") != nil || !strings.Contains(strings.Join(good.Notes, " "), "50-way identification") {
		t.Errorf("50-way identification with 12 items: want it skipped with a note, notes %q", good.Notes)
	}

	again, err := Evaluate(ctx, synthSamples(12, 3, 16, 16, 30, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range again.Metrics {
		if m.Value != good.Metrics[i].Value || m.CILow != good.Metrics[i].CILow {
			t.Errorf("%s not reproducible: %v [%v] vs %v [%v]", m.Key, m.Value, m.CILow, good.Metrics[i].Value, good.Metrics[i].CILow)
		}
	}
}

// TestNWayTrialsApproachExpectation checks the seeded trials against the
// exact expectation within sampling error, for classification and for
// identification.
func TestNWayTrialsApproachExpectation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const classes, n, trials = 100, 8, 4000
	probs := [][][]float32{make([][]float32, n)}
	gt := make([]int, n)
	for i := range probs[0] {
		p := make([]float32, classes)
		for c := range p {
			p[c] = rng.Float32()
		}
		probs[0][i], gt[i] = p, rng.IntN(classes)
	}
	for _, k := range []int{1, 3} {
		r, err := NWayTop1(probs, gt, NWayConfig{Ways: 20, TopK: k, Trials: trials, Seed: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range gt {
			got, want := r.PerItem[0][i], r.Expected[0][i]
			if se := math.Sqrt(want*(1-want)/trials) + 1e-9; math.Abs(got-want) > 4*se+1e-3 {
				t.Errorf("top-%d item %d: trials %.4f, expectation %.4f (±%.4f)", k, i, got, want, se)
			}
		}
	}
	sim := [][][]float64{make([][]float64, 30)}
	for i := range sim[0] {
		sim[0][i] = make([]float64, 30)
		for j := range sim[0][i] {
			sim[0][i][j] = rng.Float64()
		}
	}
	r, err := Identify(sim, false, IdentifyConfig{Ways: 10, Trials: trials, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range sim[0] {
		got, want := r.PerItem[0][i], r.Expected[0][i]
		if se := math.Sqrt(want*(1-want)/trials) + 1e-9; math.Abs(got-want) > 4*se+1e-3 {
			t.Errorf("identification item %d: trials %.4f, expectation %.4f", i, got, want)
		}
	}
}

func TestDrawDistractors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	buf, perm := make([]int, 9), make([]int, 9)
	for trial := 0; trial < 200; trial++ {
		DrawDistractors(rng, 4, 10, buf, perm)
		seen := map[int]bool{}
		for _, c := range buf {
			if c == 4 || c < 0 || c >= 10 || seen[c] {
				t.Fatalf("draw %v: want 9 distinct classes of 0..9 without 4", buf)
			}
			seen[c] = true
		}
	}
}

func TestBootstrapCI(t *testing.T) {
	// A constant score has a zero-width interval; a spread one brackets its mean.
	flat := [][]float64{{0.5, 0.5, 0.5, 0.5}}
	if lo, hi := BootstrapCI(flat, MeanOverSets, 100, 0.95, 1); lo != 0.5 || hi != 0.5 {
		t.Errorf("constant scores: interval [%v, %v], want [0.5, 0.5]", lo, hi)
	}
	spread := [][]float64{{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}}
	lo, hi := BootstrapCI(spread, MeanOverSets, 2000, 0.95, 1)
	if !(lo < 0.5 && hi > 0.5 && lo > 0.2 && hi < 0.8) {
		t.Errorf("0/1 scores: interval [%v, %v], want about 0.5 ± 0.22", lo, hi)
	}
	// Max over sets is at least the best set's resampled mean.
	two := [][]float64{{0, 0, 0, 0}, {1, 1, 1, 1}}
	if lo, hi := BootstrapCI(two, MaxOverSets, 100, 0.95, 1); lo != 1 || hi != 1 {
		t.Errorf("max over sets: interval [%v, %v], want [1, 1]", lo, hi)
	}
}

func TestReadSamplesErrors(t *testing.T) {
	dir := t.TempDir()
	good := synthSamples(3, 2, 8, 8, 10, 1)
	path := filepath.Join(dir, "ok.npz")
	if err := WriteSamples(path, good); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSamples(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 3 || s.S != 2 || s.H != 8 || string(s.Data) != string(good.Data) {
		t.Errorf("round trip: N=%d S=%d H=%d, want 3 2 8 and equal bytes", s.N, s.S, s.H)
	}
	if err := s.CheckExpected(3, 3); err == nil || !strings.Contains(err.Error(), "fewer than the 3") {
		t.Errorf("CheckExpected(3, 3) = %v, want fewer-samples error", err)
	}
	if err := s.CheckExpected(50, 0); err == nil || !strings.Contains(err.Error(), "test set has 50") {
		t.Errorf("CheckExpected(50, 0) = %v, want item-count error", err)
	}
	flat := synthSamples(3, 1, 8, 8, 10, 1)
	for i := 0; i < flat.N; i++ {
		clear(flat.GT(i))
	}
	cases := []struct {
		name, want string
		write      func(string) error
	}{
		{"rank", "rank 4", func(p string) error { return writeRaw(p, "samples", good.Data[:3*3*8*8*3], 3, 3, 8, 8*3) }},
		{"only ground truth", "1 image per item", func(p string) error { return writeRaw(p, "samples", good.Data[:3*8*8*3], 3, 1, 8, 8, 3) }},
		{"channels", "RGB", func(p string) error { return writeRaw(p, "samples", good.Data[:3*3*8*8*3], 3, 3, 8, 24, 1) }},
		{"no ground truth", "no ground truth", func(p string) error { return WriteSamples(p, flat) }},
		{"wrong key", `no array "samples"`, func(p string) error { return writeTwo(p) }},
		{"not npz", "not a valid .npz", func(p string) error { return writeFile(p, "hello") }},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".npz")
			if err := tt.write(p); err != nil {
				t.Fatal(err)
			}
			_, err := ReadSamples(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("ReadSamples = %v, want an error naming %s and saying %q", err, p, tt.want)
			}
		})
	}
}

// TestEvaluateLPIPS runs the LPIPS path with random small-channel weights:
// noisy copies identify better than unrelated images, and images too small
// for AlexNet are skipped with a note.
func TestEvaluateLPIPS(t *testing.T) {
	ctx := context.Background()
	m, err := NewLPIPS(backend.Default(), AlexChannels{4, 6, 8, 6, 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Bootstrap, o.IdentifyTrials, o.LPIPS = 50, 50, m
	good, err := Evaluate(ctx, synthSamples(6, 1, 32, 32, 20, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := Evaluate(ctx, synthSamples(6, 1, 32, 32, -1, 2), o)
	if err != nil {
		t.Fatal(err)
	}
	g, b := good.Metric("pairwise_lpips"), bad.Metric("pairwise_lpips")
	if g == nil || b == nil || g.Value <= b.Value || g.Reference != "summary/pair-wise_psm" {
		t.Fatalf("pairwise_lpips: good %+v, unrelated %+v; want good > unrelated, reference key summary/pair-wise_psm", g, b)
	}
	small, err := Evaluate(ctx, synthSamples(3, 1, 16, 16, 20, 1), o)
	if err != nil {
		t.Fatal(err)
	}
	if small.Metric("pairwise_lpips") != nil || !strings.Contains(strings.Join(small.Notes, " "), "LPIPS skipped") {
		t.Errorf("16×16 images: want LPIPS skipped with a note, notes %q", small.Notes)
	}
}
