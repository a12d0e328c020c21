package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/npy"
)

// writeEvalSamples writes a samples.npz of n items with sets noisy copies of
// random 8×8 ground truths.
func writeEvalSamples(t *testing.T, path string, n, sets int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0))
	var data []uint8
	for i := 0; i < n; i++ {
		gt := make([]uint8, 8*8*3)
		for k := range gt {
			gt[k] = uint8(rng.IntN(256))
		}
		data = append(data, gt...)
		for s := 0; s < sets; s++ {
			for _, v := range gt {
				data = append(data, uint8(min(int(v)+rng.IntN(80), 255)))
			}
		}
	}
	s, err := evaluate.NewSamples(data, n, sets, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := evaluate.WriteSamples(path, s); err != nil {
		t.Fatal(err)
	}
}

// TestEvalCommand runs `visdec eval` on good samples (with a baseline and a
// ceiling) and checks its files, then on corrupt and mismatched inputs,
// which must exit 1 with one line naming the problem.
func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "samples.npz")
	writeEvalSamples(t, good, 6, 2, 1)
	base := filepath.Join(dir, "baseline.npz")
	writeEvalSamples(t, base, 6, 1, 2)
	ceil := filepath.Join(dir, "ceiling.json")
	if err := os.WriteFile(ceil, []byte(`{"identify_pixel_2way": 0.97}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "eval")
	var stdout, stderr bytes.Buffer
	code := run([]string{"eval", "--samples", good, "--out", out, "--baseline", base, "--ceiling", ceil,
		"--bootstrap", "50", "--identify-trials", "50", "--expect-samples", "2"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("eval exit %d, stderr:\n%s", code, stderr.String())
	}
	for _, f := range []string{"metrics.json", "metrics.csv", "report.html", "grid.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(stdout.String(), "pairwise_mse_literal") {
		t.Errorf("stdout lacks the metric summary:\n%s", stdout.String())
	}
	csv, _ := os.ReadFile(filepath.Join(out, "metrics.csv"))
	if !strings.Contains(string(csv), ",0.97,") {
		t.Errorf("metrics.csv lacks the ceiling value 0.97:\n%s", csv)
	}

	rank4 := filepath.Join(dir, "rank4.npz")
	if err := npy.WriteNPZFile(rank4, []npy.Named{{Name: "samples", Array: npy.FromUint8(make([]uint8, 2*3*8*24), 2, 3, 8, 24)}}, false); err != nil {
		t.Fatal(err)
	}
	noGT := filepath.Join(dir, "nogt.npz")
	if err := npy.WriteNPZFile(noGT, []npy.Named{{Name: "samples", Array: npy.FromUint8(make([]uint8, 2*2*8*8*3), 2, 2, 8, 8, 3)}}, false); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.npz")
	if err := os.WriteFile(corrupt, []byte("PK\x03\x04 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	godDir := filepath.Join(dir, "god")
	if err := os.MkdirAll(godDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteNPZFile(filepath.Join(godDir, "images_256.npz"), []npy.Named{{Name: "test_images", Array: npy.FromUint8(make([]uint8, 5*8*8*3), 5, 8, 8, 3)}}, false); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		args []string
		want string
	}{
		{"wrong rank", []string{"--samples", rank4}, "rank 4"},
		{"no ground truth", []string{"--samples", noGT}, "no ground truth"},
		{"corrupt", []string{"--samples", corrupt}, "not a valid .npz"},
		{"missing file", []string{"--samples", filepath.Join(dir, "absent.npz")}, "no such file"},
		{"fewer samples", []string{"--samples", good, "--expect-samples", "5"}, "fewer than the 5 asked for"},
		{"item count", []string{"--samples", good, "--data", godDir}, "has 5 test images"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"eval", "--out", filepath.Join(dir, "bad")}, tt.args...)
			code := run(args, &stdout, &stderr)
			msg := stderr.String()
			if code != 1 || !strings.Contains(msg, tt.want) || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line containing %q", code, msg, tt.want)
			}
		})
	}
	t.Run("simulation ceiling", func(t *testing.T) {
		sim := filepath.Join(dir, "sim")
		if err := os.MkdirAll(filepath.Join(sim, "truth"), 0o755); err != nil {
			t.Fatal(err)
		}
		ceiling := `{"subjects": [{"subject": "sbj_2", "identification": [{"n": 2, "chance": 0.5, "accuracy": 0.93, "expected": 0.9}]}]}`
		if err := os.WriteFile(filepath.Join(sim, "truth", "ceiling.json"), []byte(ceiling), 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		out := filepath.Join(dir, "eval-sim")
		code := run([]string{"eval", "--samples", good, "--out", out, "--ceiling", sim, "--subject", "2", "--bootstrap", "20", "--identify-trials", "20"}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
		}
		b, _ := os.ReadFile(filepath.Join(out, "report.html"))
		if !strings.Contains(string(b), "ceiling: ideal observer (sbj_2)") || !strings.Contains(string(b), "<td>0.9300</td>") {
			t.Errorf("report.html lacks the simulation's ceiling column or its 2-way value 0.93")
		}
	})
	t.Run("train classifier", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		clf := filepath.Join(dir, "classifier")
		code := run([]string{"eval", "--samples", good, "--out", filepath.Join(dir, "eval2"), "--bootstrap", "20", "--identify-trials", "20",
			"--trials", "20", "--train-classifier", "procedural", "--classifier", clf, "--classifier-categories", "6",
			"--classifier-images", "4", "--classifier-render", "16", "--classifier-epochs", "1"}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
		}
		b, _ := os.ReadFile(filepath.Join(dir, "eval2", "metrics.json"))
		for _, want := range []string{`"top1_class_max"`, `uses 6 ways, not 50`, "held-out"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics.json lacks %q", want)
			}
		}
		if !evaluate.IsCategoryClassifierDir(clf) {
			t.Errorf("%s holds no trained classifier", clf)
		}
	})
	var so, se bytes.Buffer
	if code := run([]string{"eval", "--out", out}, &so, &se); code != 2 {
		t.Errorf("eval without --samples: exit %d, want 2 (usage)", code)
	}
}
