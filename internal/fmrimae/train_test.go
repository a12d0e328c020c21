package fmrimae

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// testModel is a model small enough for unit tests: 16 patches of 16 voxels.
func testModel() Config {
	return Config{NumVoxels: 256, PatchSize: 16, EmbedDim: 32, Depth: 2, NumHeads: 4, MLPRatio: 1,
		DecoderEmbedDim: 16, DecoderDepth: 1, DecoderNumHeads: 2, MaskRatio: 0.75, LayerNormEps: 1e-5}
}

func testTrainConfig() TrainConfig {
	c := DefaultTrainConfig()
	c.Preset, c.Model = "test", testModel()
	c.Epochs, c.Warmup, c.BatchSize = 3, 1, 16
	c.LR = 1e-3
	c.Seed = 7
	c.ValFraction = 0.25
	c.CheckpointEvery, c.KeepCheckpoints = 1, 0
	return c
}

// hcpLike simulates HCP-design resting-state samples: subjects share a few
// spatially smooth voxel maps whose time courses vary from sample to
// sample, each subject with its own gains and noise; every subject is
// scalar z-scored as the reference's loader does (dataset.py:61-77). Masked
// patches are then predictable from the visible ones, as in real cortex.
func hcpLike(subjects, perSubject, voxels int, seed uint64) Samples {
	rng := rand.New(rand.NewPCG(seed, 99))
	const maps = 6
	basis := make([][]float64, maps)
	for k := range basis {
		freq := 0.5 + 3*rng.Float64()
		phase := 2 * math.Pi * rng.Float64()
		basis[k] = make([]float64, voxels)
		for v := range voxels {
			basis[k][v] = math.Sin(2*math.Pi*freq*float64(v)/float64(voxels) + phase)
		}
	}
	s := Samples{V: voxels}
	for sub := range subjects {
		gain := make([]float64, maps)
		for k := range gain {
			gain[k] = 0.7 + 0.6*rng.Float64()
		}
		rows := make([]float64, perSubject*voxels)
		for i := range perSubject {
			z := make([]float64, maps)
			for k := range z {
				z[k] = rng.NormFloat64()
			}
			for v := range voxels {
				x := 0.3 * rng.NormFloat64()
				for k := range maps {
					x += gain[k] * z[k] * basis[k][v]
				}
				rows[i*voxels+v] = x
			}
		}
		mean, sd := 0.0, 0.0
		for _, x := range rows {
			mean += x
		}
		mean /= float64(len(rows))
		for _, x := range rows {
			sd += (x - mean) * (x - mean)
		}
		sd = math.Sqrt(sd / float64(len(rows)))
		for _, x := range rows {
			s.FMRI = append(s.FMRI, float32((x-mean)/sd))
		}
		for range perSubject {
			s.Subject = append(s.Subject, fmt.Sprintf("sub%03d", sub))
		}
		s.N += perSubject
	}
	return s
}

// TestTrainLearnsHCPLike pre-trains the test model on simulated
// HCP-design data with whole subjects held out: the held-out masked loss
// falls and the held-out reconstruction correlation rises.
func TestTrainLearnsHCPLike(t *testing.T) {
	cfg := testTrainConfig()
	cfg.Epochs, cfg.Warmup = 8, 1
	cfg.CheckpointEvery = 0
	all := hcpLike(8, 60, cfg.Model.NumVoxels, 1)
	train, val, held, err := all.Holdout(cfg.ValFraction, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || val.N != 120 {
		t.Fatalf("held out %v (%d rows), want 2 whole subjects", held, val.N)
	}

	ps := nn.NewParams()
	Declare(nn.NewInit(ps, cfg.Seed), cfg.Model)
	ev, err := NewEvaluator(backend.Default(), ps, cfg.Model, cfg.Loss)
	if err != nil {
		t.Fatal(err)
	}
	before, err := ev.Evaluate(nn.ParamTensors(ps), val, cfg.BatchSize, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	res, err := Train(context.Background(), cfg, train, val, Options{RunDir: run, Backend: backend.Default()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out subjects %v: masked loss %.4f → %.4f, reconstruction r %.3f → %.3f",
		held, before.Mask, res.ValMask, before.Corr, res.ValCorr)
	if !(res.ValMask < 0.8*before.Mask) {
		t.Errorf("held-out masked loss %.4f → %.4f, want a fall of at least 20%%", before.Mask, res.ValMask)
	}
	if !(res.ValCorr > before.Corr+0.2) {
		t.Errorf("held-out reconstruction r %.3f → %.3f, want a rise of at least 0.2", before.Corr, res.ValCorr)
	}
	ms, err := rundir.ReadMetrics(run)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != cfg.Epochs {
		t.Fatalf("%d metrics lines, want %d", len(ms), cfg.Epochs)
	}
	for _, key := range []string{"loss", "loss_mask", "loss_sc", "loss_cc", "corr", "lr", "samples_per_s", "val_loss_mask", "val_corr"} {
		if _, ok := ms[0][key]; !ok {
			t.Errorf("metrics line lacks %q: %v", key, ms[0])
		}
	}

	// The run directory rebuilds the model for later stages.
	mc, loaded, path, err := LoadEncoder(run)
	if err != nil {
		t.Fatal(err)
	}
	if mc != cfg.Model || filepath.Base(path) != "final.safetensors" {
		t.Errorf("LoadEncoder: config %+v from %s, want %+v from final", mc, path, cfg.Model)
	}
	after, err := ev.Evaluate(nn.ParamTensors(loaded), val, cfg.BatchSize, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mask != res.ValMask || after.Corr != res.ValCorr {
		t.Errorf("reloaded model: masked loss %v, r %v; training ended with %v, %v", after.Mask, after.Corr, res.ValMask, res.ValCorr)
	}
}

// lossFields are the metrics that must not depend on timing.
var lossFields = []string{"epoch", "step", "lr", "loss", "loss_mask", "loss_sc", "loss_cc", "corr",
	"val_loss", "val_loss_mask", "val_loss_sc", "val_loss_cc", "val_corr"}

// TestResumeIdentical stops runs part-way, by a simulated crash (no
// checkpoint: resume redoes the steps since the last epoch checkpoint) and
// by cancellation (a checkpoint mid-epoch), resumes them, and compares
// parameters, optimizer state and metrics with an uninterrupted run.
func TestResumeIdentical(t *testing.T) {
	cfg := testTrainConfig()
	all := hcpLike(4, 24, cfg.Model.NumVoxels, 2)
	train, val, _, err := all.Holdout(cfg.ValFraction, cfg.Seed)
	if err != nil {
		t.Fatal(err)
	}
	be := backend.Default()
	ref := t.TempDir()
	if _, err := Train(context.Background(), cfg, train, val, Options{RunDir: ref, Backend: be}); err != nil {
		t.Fatal(err)
	}
	steps := (train.N + cfg.BatchSize - 1) / cfg.BatchSize
	kill := steps + steps/2 + 1 // in the middle of the second epoch

	crash := errors.New("simulated crash")
	for _, tc := range []struct {
		name      string
		stop      func(cancel context.CancelFunc) error
		wantErr   error
		wantCkpts string
	}{
		{"crash", func(context.CancelFunc) error { return crash }, crash, "epoch-0001"},
		{"interrupt", func(cancel context.CancelFunc) error { cancel(); return nil }, context.Canceled, fmt.Sprintf("epoch-0001-step-%06d", kill-steps)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Train(ctx, cfg, train, val, Options{RunDir: run, Backend: be, AfterStep: func(step int) error {
				if step == kill {
					return tc.stop(cancel)
				}
				return nil
			}})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("stopped run: error %v, want %v", err, tc.wantErr)
			}
			latest, ok := rundir.Latest(run)
			if !ok || filepath.Base(latest) != tc.wantCkpts+".safetensors" {
				t.Fatalf("newest checkpoint %q, want %s", latest, tc.wantCkpts)
			}
			if _, err := Train(context.Background(), cfg, train, val, Options{RunDir: run, Backend: be, Resume: true}); err != nil {
				t.Fatal(err)
			}
			compareRuns(t, ref, run)
		})
	}
}

// compareRuns checks that two finished runs hold bit-identical final
// checkpoints and the same loss metrics.
func compareRuns(t *testing.T, a, b string) {
	t.Helper()
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
			t.Errorf("parameter %s differs after resume", name)
		}
	}
	if ca.Optimizer.Step != cb.Optimizer.Step {
		t.Errorf("optimizer steps %d vs %d", ca.Optimizer.Step, cb.Optimizer.Step)
	}
	for name, m := range ca.Optimizer.M {
		if !equalF32(m, cb.Optimizer.M[name]) || !equalF32(ca.Optimizer.V[name], cb.Optimizer.V[name]) {
			t.Errorf("AdamW moments of %s differ after resume", name)
		}
	}
	ma, err := rundir.ReadMetrics(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := rundir.ReadMetrics(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ma) != len(mb) {
		t.Fatalf("%d vs %d metrics lines", len(ma), len(mb))
	}
	for i := range ma {
		for _, k := range lossFields {
			if ma[i][k] != mb[i][k] {
				t.Errorf("metrics line %d %s: %v uninterrupted, %v resumed", i, k, ma[i][k], mb[i][k])
			}
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

// TestNonFiniteStops drives the parameters to overflow with an absurd
// learning rate: training must stop with a clear error and leave the last
// good checkpoint as the newest.
func TestNonFiniteStops(t *testing.T) {
	cfg := testTrainConfig()
	cfg.LR, cfg.Warmup, cfg.WeightDecay, cfg.ClipGrad = 1e37, 0, 0, 0 // first update ≈ lr/(1−β1) = 1e38, still finite
	cfg.ValFraction = 0
	all := hcpLike(1, cfg.BatchSize, cfg.Model.NumVoxels, 3) // one step per epoch
	run := t.TempDir()
	_, err := Train(context.Background(), cfg, all, Samples{V: all.V}, Options{RunDir: run, Backend: backend.Default()})
	if err == nil || !strings.Contains(err.Error(), "non-finite loss") || !strings.Contains(err.Error(), "epoch-0001") {
		t.Fatalf("error %v, want a non-finite loss naming the last good checkpoint epoch-0001", err)
	}
	latest, ok := rundir.Latest(run)
	if !ok || filepath.Base(latest) != "epoch-0001.safetensors" {
		t.Fatalf("newest checkpoint %q, want epoch-0001", latest)
	}
	c, err := rundir.LoadCheckpoint(latest)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range c.Params {
		for _, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("checkpoint parameter %s holds %v", name, v)
			}
		}
	}
}

// TestRefusesExistingRun: a second run into a directory with checkpoints
// needs --resume, resuming a finished run reports it, and a resume with
// another configuration is refused.
func TestRefusesExistingRun(t *testing.T) {
	cfg := testTrainConfig()
	cfg.Epochs, cfg.ValFraction = 1, 0
	all := hcpLike(1, cfg.BatchSize, cfg.Model.NumVoxels, 4)
	run := t.TempDir()
	opt := Options{RunDir: run, Backend: backend.Default()}
	none := Samples{V: all.V}
	if _, err := Train(context.Background(), cfg, all, none, opt); err != nil {
		t.Fatal(err)
	}
	if _, err := Train(context.Background(), cfg, all, none, opt); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("second run into %s: error %v, want a hint to --resume", run, err)
	}
	opt.Resume = true
	res, err := Train(context.Background(), cfg, all, none, opt)
	if err != nil || res.Epochs != cfg.Epochs || filepath.Base(res.Checkpoint) != "final.safetensors" || math.IsNaN(res.Loss) {
		t.Errorf("resuming a finished run: %+v, %v; want its final result", res, err)
	}
	other := cfg
	other.LR *= 2
	if _, err := Train(context.Background(), other, all, none, opt); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Errorf("resume with another lr: error %v, want a configuration mismatch", err)
	}
	if _, err := os.Stat(filepath.Join(run, "config.json")); err != nil {
		t.Error(err)
	}
}
