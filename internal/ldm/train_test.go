package ldm

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/baseline"
	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// smallAutoencoder is an untrained f4 autoencoder, 16² images ↔ 4×4×3.
func smallAutoencoder() (autoencoder.Config, *nn.Params) {
	c := autoencoder.Config{Resolution: 16, InChannels: 3, OutChannels: 3, Ch: 32, ChMult: []int{1, 1, 1},
		NumResBlocks: 1, ZChannels: 3, EmbedDim: 3, NEmbed: 16, Beta: 0.25, Groups: 32, NormEps: 1e-6}
	return c, autoencoder.NewParams(c, 3)
}

// smallJob is a fast fine-tuning job on random pairs.
func smallJob(t *testing.T, epochs int) TuneJob {
	t.Helper()
	cfg := smallConfig(t)
	aeCfg, aePs := smallAutoencoder()
	rng := rand.New(rand.NewPCG(8, 9))
	const n, v = 20, 64
	f := make([]float32, n*v)
	for i := range f {
		f[i] = float32(rng.NormFloat64())
	}
	img := make([]uint8, n*16*16*3)
	for i := range img {
		img[i] = uint8(rng.IntN(256))
	}
	tc := DefaultTune(Preset{Name: "test", Train: TrainDefaults{BatchSize: 8, LR: 1e-3, Epochs: epochs}})
	tc.Model, tc.Trainable, tc.ValFraction, tc.CheckpointEvery, tc.Keep = cfg, TrainAll, 0.2, 1, 0
	return TuneJob{Config: tc, Params: NewParams(cfg, 4), Autoencoder: aeCfg, FirstStage: aePs,
		Pairs:   Pairs{N: n, Voxels: v, FMRI: f, Res: 16, Images: img},
		Backend: backend.Default()}
}

// metricsWithoutTimes drops the wall-clock fields of metrics.jsonl.
func metricsWithoutTimes(t *testing.T, dir string) []map[string]any {
	t.Helper()
	ms, err := rundir.ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		delete(m, "seconds")
		delete(m, "samples_per_s")
	}
	return ms
}

// TestTuneResume: a run interrupted after epoch 1 and resumed ends with the
// same parameters and metrics as an uninterrupted one; a run directory with
// checkpoints is not overwritten without Resume.
func TestTuneResume(t *testing.T) {
	dir := t.TempDir()
	whole, split := filepath.Join(dir, "whole"), filepath.Join(dir, "split")
	if _, err := Tune(context.Background(), smallJob(t, 2), whole); err != nil {
		t.Fatal(err)
	}
	if _, err := Tune(context.Background(), smallJob(t, 1), split); err != nil {
		t.Fatal(err)
	}
	if _, err := Tune(context.Background(), smallJob(t, 2), split); err == nil || !strings.Contains(err.Error(), "already holds checkpoints") {
		t.Fatalf("second run into the same directory: err = %v, want a refusal", err)
	}
	job := smallJob(t, 2)
	job.Resume = true
	res, err := Tune(context.Background(), job, split)
	if err != nil {
		t.Fatal(err)
	}
	if res.Epochs != 2 {
		t.Errorf("resumed run ended at epoch %d, want 2", res.Epochs)
	}
	a, err := LoadRun(whole, "final")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadRun(split, "final")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params.List() {
		if q := b.Params.Get(p.Name); !slices.Equal(p.Data, q.Data) {
			t.Errorf("%s differs between the whole and the resumed run", p.Name)
		}
	}
	ma, mb := metricsWithoutTimes(t, whole), metricsWithoutTimes(t, split)
	if len(ma) != 3 || len(mb) != len(ma) {
		t.Fatalf("metrics lines: whole %d, resumed %d; want 3 each (epoch 0 validation, epochs 1, 2)", len(ma), len(mb))
	}
	for i := range ma {
		for k, v := range ma[i] {
			if mb[i][k] != v {
				t.Errorf("metrics line %d %s: whole %v, resumed %v", i, k, v, mb[i][k])
			}
		}
	}
}

// cancelAfter is a context whose Err reports cancellation from its n-th call
// on; Tune asks before every step, so it interrupts a run at a chosen step.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	c.n--
	if c.n <= 0 {
		return context.Canceled
	}
	return nil
}

// TestTuneInterruptMidEpoch: a run interrupted in the middle of an epoch
// saves a checkpoint and, resumed, ends exactly as an uninterrupted run.
func TestTuneInterruptMidEpoch(t *testing.T) {
	dir := t.TempDir()
	whole, split := filepath.Join(dir, "whole"), filepath.Join(dir, "split")
	if _, err := Tune(context.Background(), smallJob(t, 2), whole); err != nil {
		t.Fatal(err)
	}
	// Err calls: Tune's start, epoch 1, its step 0, its step 1 (interrupted).
	_, err := Tune(&cancelAfter{Context: context.Background(), n: 4}, smallJob(t, 2), split)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "epoch 1 step 1") {
		t.Fatalf("interrupted run: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(split, "checkpoints", "epoch-0000-step-00001.safetensors")); err != nil {
		t.Fatalf("no mid-epoch checkpoint: %v", err)
	}
	job := smallJob(t, 2)
	job.Resume = true
	if _, err := Tune(context.Background(), job, split); err != nil {
		t.Fatal(err)
	}
	a, err := LoadRun(whole, "final")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadRun(split, "final")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Params.List() {
		if q := b.Params.Get(p.Name); !slices.Equal(p.Data, q.Data) {
			t.Errorf("%s differs between the whole and the interrupted-and-resumed run", p.Name)
		}
	}
	ma, mb := metricsWithoutTimes(t, whole), metricsWithoutTimes(t, split)
	if len(mb) != len(ma) {
		t.Fatalf("metrics lines: whole %d, resumed %d", len(ma), len(mb))
	}
	for i := range ma {
		for k, v := range ma[i] {
			if mb[i][k] != v {
				t.Errorf("metrics line %d %s: whole %v, resumed %v", i, k, v, mb[i][k])
			}
		}
	}
}

// TestTuneCancel: a cancelled context stops the run with an error wrapping
// context.Canceled.
func TestTuneCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Tune(ctx, smallJob(t, 2), t.TempDir())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestTuneRejectsBadInput: mismatched sizes are errors naming the problem.
func TestTuneRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*TuneJob)
		want   string
	}{
		{"voxels", func(j *TuneJob) { j.Pairs.Voxels = 32; j.Pairs.FMRI = j.Pairs.FMRI[:20*32] }, "voxels"},
		{"resolution", func(j *TuneJob) { j.Pairs.Res = 8; j.Pairs.Images = j.Pairs.Images[:20*8*8*3] }, "autoencoder wants"},
		{"short fMRI", func(j *TuneJob) { j.Pairs.FMRI = j.Pairs.FMRI[:10] }, "fMRI values"},
		{"batch", func(j *TuneJob) { j.Config.BatchSize = 0 }, "BatchSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := smallJob(t, 1)
			tc.mutate(&job)
			_, err := Tune(context.Background(), job, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestReconstructDeterministic: the same seed gives the same samples; the
// outputs have the documented layout; the ground truth goes through the
// reference's uint8 path.
func TestReconstructDeterministic(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig(t)
	aeCfg, aePs := smallAutoencoder()
	m := &Model{Config: cfg, Params: NewParams(cfg, 2), FirstStage: aePs, Run: RunConfig{Autoencoder: aeCfg}}
	// Give the zero-initialised output layers weights, so ε is not 0.
	for _, p := range m.Params.List() {
		if strings.HasSuffix(p.Name, "out.2.weight") || strings.HasSuffix(p.Name, "out_layers.3.weight") {
			for i := range p.Data {
				p.Data[i] = 0.05 * float32(i%7-3)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const n, side = 3, 32 // stimuli at twice the model's resolution
	items := TestItems{N: n, Voxels: 64, FMRI: make([]float32, n*64), H: side, W: side, Images: make([]uint8, n*side*side*3),
		IDs: []string{"a/1", "b", "c"}}
	for i := range items.FMRI {
		items.FMRI[i] = float32(rng.NormFloat64())
	}
	for i := range items.Images {
		items.Images[i] = uint8(rng.IntN(256))
	}
	for _, sampler := range []string{"ddim", "plms"} {
		t.Run(sampler, func(t *testing.T) {
			rc := ReconstructConfig{Samples: 2, Steps: 4, Sampler: sampler, Guidance: 1, Seed: 5, Batch: 4}
			var runs [][]uint8
			for k := range 2 {
				out := filepath.Join(dir, sampler, string(rune('a'+k)))
				if _, err := Reconstruct(context.Background(), m, items, rc, out, backend.Default(), nil); err != nil {
					t.Fatal(err)
				}
				s, err := evaluate.ReadSamples(filepath.Join(out, "samples.npz"))
				if err != nil {
					t.Fatal(err)
				}
				if s.N != n || s.S != 2 || s.H != 16 || s.W != 16 {
					t.Fatalf("samples [%d, 1+%d, %d, %d], want [%d, 3, 16, 16]", s.N, s.S, s.H, s.W, n)
				}
				runs = append(runs, s.Data)
				for _, f := range []string{"grid.png", "reconstruct.json", "items/000_a1_gt.png", "items/002_c_s2.png"} {
					if _, err := os.Stat(filepath.Join(out, f)); err != nil {
						t.Error(err)
					}
				}
			}
			if !slices.Equal(runs[0], runs[1]) {
				t.Error("two runs with the same seed differ")
			}
		})
	}
}

// TestLoadRunErrors: broken run directories give errors naming the file.
func TestLoadRunErrors(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if _, err := Tune(context.Background(), smallJob(t, 1), run); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(run, "config.json")
	good, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		config string
		ckpt   string
		want   string
	}{
		{"no run", "", "", "config.json"},
		{"bad json", "{", "", "config.json"},
		{"other stage", `{"stage": "autoencoder"}`, "", "not an LDM tune run"},
		{"latent mismatch", strings.Replace(string(good), `"image_size": 4,`, `"image_size": 8,`, 1), "", "latents"},
		{"missing checkpoint", string(good), "epoch-0099", "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := run
			if tc.config != "" {
				d = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, "config.json"), []byte(tc.config), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if tc.name == "no run" {
				d = filepath.Join(dir, "nothing")
			}
			_, err := LoadRun(d, tc.ckpt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestTuneScaleByStd: with ScaleByStd the run's config.json records
// 1/std of the training latents as the scale factor, and a resumed run
// keeps it.
func TestTuneScaleByStd(t *testing.T) {
	job := smallJob(t, 1)
	job.Config.Model.ScaleByStd = true
	dir := t.TempDir()
	if _, err := Tune(context.Background(), job, dir); err != nil {
		t.Fatal(err)
	}
	var rc RunConfig
	if err := rundir.ReadJSON(dir, "config.json", &rc); err != nil {
		t.Fatal(err)
	}
	_, z := trainLatents(t, job)
	want := 1 / stdOf(z)
	if got := rc.Tune.Model.ScaleFactor; math.Abs(got-want) > 1e-6*want {
		t.Errorf("scale_factor %g, want 1/std = %g", got, want)
	}
	job2 := smallJob(t, 2)
	job2.Config.Model.ScaleByStd, job2.Resume = true, true
	if _, err := Tune(context.Background(), job2, dir); err != nil {
		t.Fatalf("resume: %v", err)
	}
}

// TestReconstructFromInit: Strength < 1 needs an initial image per item
// (refused without), runs with them, records the strength, and a strength
// outside [0, 1] is refused. The walk itself is tested in sampler
// (TestPartialWalk).
func TestReconstructFromInit(t *testing.T) {
	cfg := smallConfig(t)
	aeCfg, aePs := smallAutoencoder()
	m := &Model{Config: cfg, Params: NewParams(cfg, 2), FirstStage: aePs, Run: RunConfig{Autoencoder: aeCfg}}
	const n, side = 2, 16
	items := TestItems{N: n, Voxels: 64, FMRI: make([]float32, n*64), H: side, W: side, Images: make([]uint8, n*side*side*3)}
	rc := ReconstructConfig{Samples: 2, Steps: 10, Sampler: "ddim", Guidance: 1, Seed: 5, Strength: 0.5}
	if _, err := Reconstruct(context.Background(), m, items, rc, t.TempDir(), backend.Default(), nil); err == nil ||
		!strings.Contains(err.Error(), "initial image") {
		t.Fatalf("no initial images: got %v", err)
	}
	items.Init, items.InitH, items.InitW = make([]uint8, n*8*8*3), 8, 8
	for i := range items.Init {
		items.Init[i] = uint8(40 * (i % 5))
	}
	out := t.TempDir()
	res, err := Reconstruct(context.Background(), m, items, rc, out, backend.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Config.Strength != 0.5 {
		t.Errorf("reconstruct.json strength %g", res.Config.Strength)
	}
	rc.Strength = 1.5
	if err := rc.Validate(1000); err == nil {
		t.Error("strength 1.5 accepted")
	}
}

// TestTuneRidgeConcat: with RidgeConcat the UNet takes twice the latent
// channels; Tune stores the ridge map fitted on the training items (not the
// validation ones) in fixed parameters that training leaves alone, and the
// tuned run samples, with and without guidance.
func TestTuneRidgeConcat(t *testing.T) {
	job := smallJob(t, 1)
	p, err := LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	p.UNet, p.CondDim, p.RidgeConcat = job.Config.Model.UNet, job.Config.Model.Cond.CondDim, true
	cfg := NewConfig(p, job.Config.Model.Cond, []int{4, 4, 3})
	if cfg.UNet.InChannels != 6 || cfg.UNet.OutChannels != 3 {
		t.Fatalf("UNet channels in %d out %d, want 6 and 3", cfg.UNet.InChannels, cfg.UNet.OutChannels)
	}
	job.Config.Model, job.Config.CondDropout, job.Params = cfg, 0.2, NewParams(cfg, 4)
	dir := t.TempDir()
	if _, err := Tune(context.Background(), job, dir); err != nil {
		t.Fatal(err)
	}
	m, err := LoadRun(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config.RidgeConcat {
		t.Fatal("the run's config lost ridge_concat")
	}
	// The same fit, by hand, on the training items' latents.
	train, z := trainLatents(t, job)
	var x []float32
	for _, i := range train {
		x = append(x, job.Pairs.FMRI[i*job.Pairs.Voxels:(i+1)*job.Pairs.Voxels]...)
	}
	r, err := baseline.FitRidge(x, len(train), job.Pairs.Voxels, z, cfg.latentSize(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, b := r.Linear()
	for name, want := range map[string][]float32{"ridge.weight": w, "ridge.bias": b} {
		got := m.Params.Get(CondPrefix + name)
		if got == nil || len(got.Data) != len(want) {
			t.Fatalf("%s: missing or wrong size in the checkpoint", name)
		}
		for i := range want {
			if d := math.Abs(float64(got.Data[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%s[%d] = %g after training, the fit gives %g", name, i, got.Data[i], want[i])
			}
		}
	}
	const n, side = 2, 16
	items := TestItems{N: n, Voxels: 64, FMRI: job.Pairs.FMRI[:n*64], H: side, W: side, Images: job.Pairs.Images[:n*side*side*3]}
	for _, g := range []float64{1, 2} {
		rc := ReconstructConfig{Samples: 2, Steps: 5, Sampler: "ddim", Guidance: g, Seed: 5}
		if _, err := Reconstruct(context.Background(), m, items, rc, t.TempDir(), backend.Default(), nil); err != nil {
			t.Fatalf("guidance %g: %v", g, err)
		}
	}
}

// trainLatents returns the job's training items (its validation split
// removed) and their unaugmented latents, as Tune encodes them.
func trainLatents(t *testing.T, job TuneJob) ([]int, []float32) {
	t.Helper()
	codec, err := autoencoder.NewCodec(job.Backend, job.Autoencoder, job.FirstStage)
	if err != nil {
		t.Fatal(err)
	}
	train, _ := ValidationSplit(job.Pairs.N, job.Config.ValFraction, job.Config.Seed)
	z, err := encodePairs(codec, job.Pairs, train, Augment{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return train, z
}
