package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/parity"
	"github.com/visdec/visdec/internal/rundir"
)

// writeHCPDir writes subjects in the HCP layout the loaders read
// (<dir>/<subject>/HCP_visual_voxel.npz with V1..V4, frames × voxels,
// float64): smooth spatial maps with random time courses plus noise.
func writeHCPDir(t *testing.T, dir string, subjects, frames, perROI int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	for s := range subjects {
		var arrays []npy.Named
		for r, roi := range []string{"V1", "V2", "V3", "V4"} {
			x := make([]float64, frames*perROI)
			for f := range frames {
				a, b := rng.NormFloat64(), rng.NormFloat64()
				for v := range perROI {
					x[f*perROI+v] = a*math.Sin(float64(v+r)/3) + b*math.Cos(float64(v)/5) + 0.3*rng.NormFloat64()
				}
			}
			arrays = append(arrays, npy.Named{Name: roi, Array: &npy.Array{DType: npy.Float64, Shape: []int{frames, perROI}, Data: x}})
		}
		sub := filepath.Join(dir, fmt.Sprintf("1000%02d", s))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := npy.WriteNPZFile(filepath.Join(sub, "HCP_visual_voxel.npz"), arrays, false); err != nil {
			t.Fatal(err)
		}
	}
}

// tinyPretrainFlags make a model that trains in well under a second.
var tinyPretrainFlags = []string{"--preset", "tiny", "--embed-dim", "32", "--depth", "1", "--heads", "2",
	"--decoder-embed-dim", "16", "--decoder-depth", "1", "--decoder-heads", "2",
	"--batch", "8", "--warmup", "1", "--lr", "1e-3", "--val-fraction", "0.3", "--checkpoint-every", "1"}

// TestPretrainCommand runs `visdec pretrain` on an HCP-format directory,
// resumes the finished run, interrupts a run (exit 130 with a checkpoint),
// starts one from a reference checkpoint.pth, and checks usage errors.
func TestPretrainCommand(t *testing.T) {
	dir := t.TempDir()
	hcp := filepath.Join(dir, "hcp")
	writeHCPDir(t, hcp, 4, 100, 20) // 10 windows per subject; 80 voxels padded to 96
	runCmd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"pretrain"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	out := filepath.Join(dir, "run")
	code, stdout, stderr := runCmd(append([]string{"--data", hcp, "--out", out, "--epochs", "2"}, tinyPretrainFlags...)...)
	if code != 0 {
		t.Fatalf("pretrain exit %d\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "2 epochs") || !strings.Contains(stdout, "final.safetensors") {
		t.Errorf("summary %q", stdout)
	}
	var saved struct {
		Config      fmrimae.TrainConfig `json:"config"`
		Data        []string            `json:"data"`
		ValSubjects []string            `json:"val_subjects"`
	}
	if err := rundir.ReadJSON(out, "config.json", &saved); err != nil {
		t.Fatal(err)
	}
	if saved.Config.Model.NumVoxels != 96 || saved.Config.Model.EmbedDim != 32 || saved.Config.LossPreset != "cad" ||
		len(saved.Data) != 1 || len(saved.ValSubjects) != 1 {
		t.Errorf("config.json: %+v", saved)
	}
	if ms, err := rundir.ReadMetrics(out); err != nil || len(ms) != 2 {
		t.Errorf("metrics.jsonl: %d lines, %v", len(ms), err)
	}
	if _, err := os.Stat(filepath.Join(out, "train.log")); err != nil {
		t.Error(err)
	}

	// Resuming the finished run reports it; changing its configuration is refused.
	if code, _, stderr := runCmd("--out", out, "--resume"); code != 0 {
		t.Errorf("resume of a finished run: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runCmd("--out", out, "--resume", "--lr", "1"); code != 2 || !strings.Contains(stderr, "--lr") {
		t.Errorf("resume with --lr: exit %d, stderr %q; want 2 naming --lr", code, stderr)
	}

	// Interrupted (Ctrl-C): a checkpoint, then exit 130.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var so, se bytes.Buffer
	irun := filepath.Join(dir, "interrupted")
	err := runPretrain(ctx, append([]string{"--data", hcp, "--out", irun, "--epochs", "2"}, tinyPretrainFlags...), &so, &se)
	if code := exitCode("pretrain", err, &se); code != 130 {
		t.Errorf("interrupted run: exit %d (%v), want 130", code, err)
	}
	if p, ok := rundir.Latest(irun); !ok || !strings.Contains(filepath.Base(p), "step-") {
		t.Errorf("interrupted run left checkpoint %q", p)
	}
	if code, _, stderr := runCmd("--out", irun, "--resume"); code != 0 {
		t.Errorf("resume of the interrupted run: exit %d\n%s", code, stderr)
	}

	// From a reference phase-1 checkpoint: the architecture comes from the
	// weights and its pickled config, positions are resized to 96 voxels.
	root, err := parity.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(root, "testdata", "parity", "torch_ckpt", "phase1_small_seed1.pth")
	if _, err := os.Stat(ckpt); err == nil {
		init := filepath.Join(dir, "init")
		code, _, stderr := runCmd("--data", hcp, "--out", init, "--init-from", ckpt, "--epochs", "1", "--batch", "8", "--val-fraction", "0")
		if code != 0 {
			t.Fatalf("--init-from: exit %d\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "resized") {
			t.Errorf("--init-from did not report the position resize:\n%s", stderr)
		}
		cfg, err := fmrimae.ReadConfig(init)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Model.EmbedDim != 32 || cfg.Model.Depth != 2 || cfg.Model.NumHeads != 4 || cfg.Model.DecoderNumHeads != 2 || cfg.Model.NumVoxels != 96 {
			t.Errorf("--init-from model %+v", cfg.Model)
		}
		if code, _, stderr := runCmd("--data", hcp, "--out", filepath.Join(dir, "x"), "--init-from", ckpt, "--depth", "3"); code != 2 {
			t.Errorf("--init-from with --depth: exit %d, want 2\n%s", code, stderr)
		}
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no-out", []string{"--data", hcp}},
		{"no-data", []string{"--out", filepath.Join(dir, "y")}},
		{"bad-preset", []string{"--data", hcp, "--out", filepath.Join(dir, "z"), "--preset", "huge"}},
		{"bad-loss", []string{"--data", hcp, "--out", filepath.Join(dir, "z"), "--loss", "none"}},
	} {
		if code, _, stderr := runCmd(tc.args...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", tc.name, code, stderr)
		}
	}
	if code, _, stderr := runCmd("--data", filepath.Join(dir, "missing"), "--out", filepath.Join(dir, "m")); code != 1 || !strings.Contains(stderr, "missing") {
		t.Errorf("missing data: exit %d, stderr %q; want 1 naming the path", code, stderr)
	}
}

// TestBenchPretrain runs the benchmark on a tiny voxel count: one JSON line
// with the shapes and timings.
func TestBenchPretrain(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "pretrain", "--preset", "tiny", "--voxels", "64", "--batch", "4", "--steps", "1", "--warmup", "1"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("output %q: %v", stdout.String(), err)
	}
	for _, k := range []string{"preset", "batch", "voxels", "params", "step_s_median", "samples_per_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("bench output lacks %q: %s", k, stdout.String())
		}
	}
}
