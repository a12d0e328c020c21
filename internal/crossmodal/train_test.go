package crossmodal

import (
	. "github.com/gomlx/gomlx/core/graph"

	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// testConfig is a very small Phase 2 for tests: 128 voxels (8 patches),
// 16×16 images in 4×4 patches, two cross layers.
func testConfig() Config {
	c := TinyConfig()
	c.FMRI = fmrimae.Config{NumVoxels: 128, PatchSize: 16, EmbedDim: 32, Depth: 2, NumHeads: 4, MLPRatio: 1,
		DecoderEmbedDim: 16, DecoderDepth: 1, DecoderNumHeads: 2, MaskRatio: 0.75, LayerNormEps: 1e-5}
	c.Image = ImageConfig{ImageSize: 16, PatchSize: 4, Channels: 3, Hidden: 32, Layers: 2, Heads: 2, Intermediate: 64,
		LayerNormEps: 1e-12, DecoderHidden: 16, DecoderLayers: 1, DecoderHeads: 2, DecoderIntermediate: 32,
		MaskRatio: 0.75, CrossLayers: 2, SupportDim: 32}
	c.LR, c.WarmupEpochs, c.Epochs, c.BatchSize = 2e-3, 0.5, 4, 16
	c.ValFraction = 0.25
	c.Seed = 7
	c.ImagePretrain = ImagePretrainConfig{Epochs: 3, LR: 3e-3, WeightDecay: 0.05, WarmupEpochs: 0.5, BatchSize: 16}
	return c
}

// synthPairs makes n (fMRI, image) pairs driven by a shared 4-d latent, in
// the GOD design's spirit (one response per seen image): each image is a
// smooth coloured pattern set by the latent, each fMRI vector a fixed random
// linear read-out of the latent plus noise, z-scored.
func synthPairs(n, voxels, size int, seed uint64) Pairs {
	rng := rand.New(rand.NewPCG(seed, 1))
	const k = 4
	a := make([]float64, voxels*k)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	p := Pairs{N: n, V: voxels, Size: size, FMRI: make([]float32, n*voxels), Images: make([]uint8, n*size*size*3)}
	for s := 0; s < n; s++ {
		var z [k]float64
		for j := range z {
			z[j] = rng.Float64()*2 - 1
		}
		for v := 0; v < voxels; v++ {
			x := 0.3 * rng.NormFloat64()
			for j := range z {
				x += a[v*k+j] * z[j]
			}
			p.FMRI[s*voxels+v] = float32(x / 2)
		}
		for i := 0; i < size; i++ {
			for j := 0; j < size; j++ {
				fi, fj := float64(i)/float64(size), float64(j)/float64(size)
				base := math.Sin(3*fi*(1+z[0])+2*z[1]) * math.Cos(3*fj*(1+z[2])+2*z[3])
				for c := 0; c < 3; c++ {
					v := 128 + 100*base*(0.6+0.4*math.Sin(float64(c)+z[c%k]))
					p.Images[((s*size+i)*size+j)*3+c] = uint8(math.Max(0, math.Min(255, v)))
				}
			}
		}
	}
	return p
}

// phase1Start pre-trains a tiny fMRI MAE on the pairs' fMRI and returns its
// weights: the Phase-1 model alignment starts from.
func phase1Start(t *testing.T, c Config, pairs Pairs) map[string]nn.Tensor {
	t.Helper()
	tc := fmrimae.DefaultTrainConfig()
	tc.Model = c.FMRI
	tc.Model.DecoderDepth = 2 // Phase 1's decoder is deeper; alignment keeps the first block
	tc.Loss = fmrimae.LossPresets["mindvis"]
	tc.Epochs, tc.Warmup, tc.BatchSize, tc.LR, tc.ValFraction, tc.CheckpointEvery = 3, 1, 16, 2e-3, 0, 0
	dir := filepath.Join(t.TempDir(), "phase1")
	s := fmrimae.Samples{N: pairs.N, V: pairs.V, FMRI: pairs.FMRI}
	if _, err := fmrimae.Train(context.Background(), tc, s, fmrimae.Samples{V: pairs.V}, fmrimae.Options{RunDir: dir, Backend: backend.Default()}); err != nil {
		t.Fatal(err)
	}
	_, ps, _, err := fmrimae.LoadEncoder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ps.StateDict()
}

// valMetric reads metric key of the metrics line for epoch.
func valMetric(t *testing.T, lines []map[string]any, epoch int, key string) float64 {
	t.Helper()
	for _, m := range lines {
		if e, _ := m["epoch"].(float64); int(e) == epoch {
			v, ok := m[key].(float64)
			if !ok {
				t.Fatalf("epoch %d has no %s: %v", epoch, key, m)
			}
			return v
		}
	}
	t.Fatalf("no metrics for epoch %d", epoch)
	return 0
}

// TestAlignLowersValidationLosses runs the whole stage small: tiny Phase-1
// pre-training, image MAE pre-training, then alignment, and checks that both
// reconstruction losses on the held-out pairs fall from the starting
// weights (epoch 0) to the end, that --select val keeps a best checkpoint,
// and that the encoder loads back with Phase-1 names.
func TestAlignLowersValidationLosses(t *testing.T) {
	c := testConfig()
	c.Select = "val"
	pairs := synthPairs(96, c.FMRI.NumVoxels, c.Image.ImageSize, 3)
	start := Start{FMRI: phase1Start(t, c, pairs)}
	run := filepath.Join(t.TempDir(), "align")
	res, err := Align(context.Background(), c, start, pairs, Options{RunDir: run, Backend: backend.Default()})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := rundir.ReadMetrics(run)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"val_fmri_loss", "val_image_loss"} {
		before, after := valMetric(t, lines, 0, key), valMetric(t, lines, c.Epochs, key)
		t.Logf("%s: %.4f → %.4f", key, before, after)
		if !(after < before) {
			t.Errorf("%s did not fall: %.4f at the start, %.4f after %d epochs", key, before, after, c.Epochs)
		}
	}
	if res.Best == "" || res.BestEpoch < 1 {
		t.Errorf("select val kept no best checkpoint: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(run, "image_mae", "checkpoints", "final.safetensors")); err != nil {
		t.Errorf("image pre-training left no final checkpoint: %v", err)
	}

	fc, ps, path, err := LoadFMRIEncoder(run)
	if err != nil {
		t.Fatal(err)
	}
	if fc != c.FMRI || path != res.Best {
		t.Errorf("LoadFMRIEncoder = %+v from %s, want %+v from %s", fc, path, c.FMRI, res.Best)
	}
	ck, err := rundir.LoadCheckpoint(res.Best)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps.List() {
		want := ck.Params[fmriPrefix+p.Name]
		if !equalF32(p.Data, want.Data) {
			t.Errorf("LoadFMRIEncoder %s differs from the checkpoint's %s%s", p.Name, fmriPrefix, p.Name)
		}
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// randomStart is an untrained fMRI MAE and a random image MAE: enough to
// exercise the training loop.
func randomStart(c Config) Start {
	f, im := nn.NewParams(), nn.NewParams()
	fmrimae.Declare(nn.NewInit(f, 1), c.FMRI)
	DeclareImageMAE(nn.NewInit(im, 2), c.Image, false)
	return Start{FMRI: f.StateDict(), Image: im.StateDict()}
}

// stripTiming drops the wall-clock metrics from metrics lines.
func stripTiming(lines []map[string]any) []map[string]any {
	for _, m := range lines {
		delete(m, "samples_per_s")
	}
	return lines
}

// TestAlignResume kills a run mid-epoch (no checkpoint, like a crash),
// resumes it from its last checkpoint, and checks that metrics and final
// weights equal an uninterrupted run's bit for bit; then it interrupts a
// run through its context, which must save a checkpoint and report
// context.Canceled.
func TestAlignResume(t *testing.T) {
	c := testConfig()
	c.Epochs, c.ImagePretrain.Epochs = 3, 0
	pairs := synthPairs(40, c.FMRI.NumVoxels, c.Image.ImageSize, 5)
	start := randomStart(c)
	be := backend.Default()

	whole := filepath.Join(t.TempDir(), "whole")
	if _, err := Align(context.Background(), c, start, pairs, Options{RunDir: whole, Backend: be}); err != nil {
		t.Fatal(err)
	}

	// Two steps per epoch: die in the middle of epoch 2 (after step 3).
	crashed := filepath.Join(t.TempDir(), "crashed")
	errCrash := errors.New("simulated crash")
	_, err := Align(context.Background(), c, start, pairs, Options{RunDir: crashed, Backend: be,
		AfterStep: func(step int) error {
			if step == 3 {
				return errCrash
			}
			return nil
		}})
	if !errors.Is(err, errCrash) {
		t.Fatalf("crash run: %v, want the simulated crash", err)
	}
	if _, err := Align(context.Background(), c, start, pairs, Options{RunDir: crashed, Backend: be}); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("rerun without resume: %v, want a refusal naming --resume", err)
	}
	if _, err := Align(context.Background(), c, Start{}, pairs, Options{RunDir: crashed, Backend: be, Resume: true}); err != nil {
		t.Fatal(err)
	}
	compareRuns(t, whole, crashed)

	// Ctrl-C: a cancelled context saves a checkpoint and resumes from it.
	stopped := filepath.Join(t.TempDir(), "stopped")
	ctx, cancel := context.WithCancel(context.Background())
	_, err = Align(ctx, c, start, pairs, Options{RunDir: stopped, Backend: be,
		AfterStep: func(step int) error {
			if step == 2 {
				cancel()
			}
			return nil
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v, want context.Canceled", err)
	}
	if p, ok := rundir.Latest(stopped); !ok || !strings.Contains(p, "step") {
		t.Fatalf("cancelled run left checkpoint %q, want a mid-epoch one", p)
	}
	if _, err := Align(context.Background(), c, Start{}, pairs, Options{RunDir: stopped, Backend: be, Resume: true}); err != nil {
		t.Fatal(err)
	}
	compareRuns(t, whole, stopped)
}

// compareRuns checks that two runs wrote the same metrics and the same
// final weights.
func compareRuns(t *testing.T, a, b string) {
	t.Helper()
	ma, err := rundir.ReadMetrics(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := rundir.ReadMetrics(b)
	if err != nil {
		t.Fatal(err)
	}
	ja, jb := metricsString(map[string]any{"m": stripTiming(ma)}), metricsString(map[string]any{"m": stripTiming(mb)})
	if ja != jb {
		t.Errorf("metrics differ:\n%s\n%s", ja, jb)
	}
	ca, err := rundir.LoadCheckpoint(filepath.Join(a, "checkpoints", "final.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := rundir.LoadCheckpoint(filepath.Join(b, "checkpoints", "final.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for name, ta := range ca.Params {
		if !equalF32(ta.Data, cb.Params[name].Data) {
			t.Errorf("final %s differs", name)
		}
	}
}

// TestAlignStopsOnNonFiniteLoss feeds an overflowing fMRI value: the run
// must stop with an error naming the non-finite loss and save nothing.
func TestAlignStopsOnNonFiniteLoss(t *testing.T) {
	c := testConfig()
	c.Epochs, c.ImagePretrain.Epochs, c.ValFraction = 1, 0, 0
	pairs := synthPairs(16, c.FMRI.NumVoxels, c.Image.ImageSize, 9)
	for i := range pairs.FMRI {
		pairs.FMRI[i] = 3e38
	}
	run := filepath.Join(t.TempDir(), "nan")
	_, err := Align(context.Background(), c, randomStart(c), pairs, Options{RunDir: run, Backend: backend.Default()})
	if err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("got %v, want a non-finite loss error", err)
	}
	if p, ok := rundir.Latest(run); ok {
		t.Errorf("a checkpoint was saved after a non-finite loss: %s", p)
	}
}

// BenchmarkAlignStep times one training step of the tiny preset (batch 16,
// 4656 voxels, 32² images) on the default backend.
func BenchmarkAlignStep(b *testing.B) {
	c := TinyConfig()
	ps := nn.NewParams()
	DeclareAlign(nn.NewInit(ps, 1), c)
	tr, err := nn.NewTrainer(backend.Default(), ps, StepConfig(c), func(v nn.Vars, in []*Node) (*Node, []*Node) {
		return alignObjective(v, c, in).Total, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	pairs := synthPairs(c.BatchSize, c.FMRI.NumVoxels, c.Image.ImageSize, 1)
	rows := make([]int, pairs.N)
	for i := range rows {
		rows[i] = i
	}
	in, err := StepInputs(newRNG(1, 1), c, pairs, rows)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tr.Step(c.LR, in...); err != nil { // compile
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Step(c.LR, in...); err != nil {
			b.Fatal(err)
		}
	}
}
