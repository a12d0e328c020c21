package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/evaluate"
)

// TestTuneReconstructCommands runs the LDM stage through the command line on
// a simulated GOD directory: a one-epoch phase-1 run for the fMRI encoder,
// the small autoencoder of internal/ldm/testdata, `visdec tune` (refusing to
// overwrite, then resuming), `visdec reconstruct`, and usage errors.
func TestTuneReconstructCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small model")
	}
	dir := t.TempDir()
	runCmd := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	god, p1, out := filepath.Join(dir, "god"), filepath.Join(dir, "p1"), filepath.Join(dir, "ldm")
	ae := filepath.Join("..", "..", "internal", "ldm", "testdata", "ae16")
	if code, _, stderr := runCmd("simulate", "--out", god, "--tiny", "--seed", "3"); code != 0 {
		t.Fatalf("simulate exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCmd(append([]string{"pretrain", "--data", god, "--out", p1, "--epochs", "1"}, tinyPretrainFlags...)...); code != 0 {
		t.Fatalf("pretrain exit %d: %s", code, stderr)
	}
	tune := []string{"tune", "--pretrained", p1, "--autoencoder", ae, "--data", god, "--subject", "sbj_1",
		"--preset", "tiny", "--epochs", "1", "--batch", "16", "--out", out}
	code, stdout, stderr := runCmd(tune...)
	if code != 0 {
		t.Fatalf("tune exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "1 epochs") || !strings.Contains(stdout, "validation") {
		t.Errorf("tune summary %q", stdout)
	}
	if code, _, stderr := runCmd(tune...); code != 1 || !strings.Contains(stderr, "already holds checkpoints") {
		t.Errorf("tune into a finished run: exit %d, %q; want 1 and a refusal", code, stderr)
	}
	tune = append(tune, "--epochs", "2", "--resume") // the last --epochs wins
	if code, stdout, stderr := runCmd(tune...); code != 0 || !strings.Contains(stdout, "2 epochs") {
		t.Errorf("resume: exit %d, %q\n%s", code, stdout, stderr)
	}

	rec := filepath.Join(dir, "rec")
	code, stdout, stderr = runCmd("reconstruct", "--run", out, "--out", rec, "--samples", "2", "--steps", "2",
		"--sampler", "ddim", "--limit", "3", "--batch", "6")
	if code != 0 {
		t.Fatalf("reconstruct exit %d\n%s", code, stderr)
	}
	s, err := evaluate.ReadSamples(filepath.Join(rec, "samples.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 3 || s.S != 2 || s.H != 16 || s.W != 16 {
		t.Errorf("samples.npz: N=%d S=%d %d×%d, want 3, 2, 16×16", s.N, s.S, s.H, s.W)
	}
	if !strings.Contains(stdout, "3 items × 2 samples") {
		t.Errorf("reconstruct summary %q", stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tune", "--data", god}, "required"},
		{[]string{"tune", "--data", god, "--pretrained", p1, "--out", out}, "--autoencoder"},
		{[]string{"tune", "--data", god, "--pretrained", p1, "--autoencoder", ae, "--out", out, "--preset", "huge"}, "unknown LDM preset"},
		{[]string{"tune", "--data", god, "--pretrained", p1, "--autoencoder", ae, "--out", out, "--trainable", "some"}, "--trainable"},
		{[]string{"reconstruct", "--out", rec}, "required"},
		{[]string{"reconstruct", "--run", out, "--out", rec, "--sampler", "euler"}, "Sampler"},
		{[]string{"reconstruct", "--run", out, "--out", rec, "--sampler", "plms", "--eta", "0.5"}, "Eta"},
	} {
		code, _, stderr := runCmd(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	if code, _, stderr := runCmd("reconstruct", "--run", filepath.Join(dir, "nothing"), "--out", rec); code != 1 || !strings.Contains(stderr, "config.json") {
		t.Errorf("reconstruct of a missing run: exit %d, %q", code, stderr)
	}
}
