package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoSmokeEndToEnd is the pipeline's regression guard: the whole demo
// (simulate, pretrain, align, autoencoder, tune, baseline, reconstruct,
// evaluate) through the subcommands' own code on the smoke preset (under
// 3 minutes on 2 cores). The LDM's reconstructions, sampled from noise and
// refining the ridge reconstruction, and the ridge baseline must identify
// their stimuli: pair-wise identification by PCC at least demoSmokeMargin
// above chance (0.5), with the lower end of the 95% bootstrap interval
// above chance too (measured 0.72, 0.72 and 0.85 when this was written).
func TestDemoSmokeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end pipeline (about 3 minutes)")
	}
	const demoSmokeMargin = 0.10
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := runDemo(context.Background(), []string{"--out", out, "--preset", "smoke"}, &stdout, &stderr); err != nil {
		t.Fatalf("demo: %v\n%s", err, tail(stderr.String(), 3000))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[0], "report.html") {
		t.Errorf("want a five-line summary naming the report, got:\n%s", stdout.String())
	}
	t.Logf("summary:\n%s", stdout.String())
	if _, err := os.Stat(filepath.Join(out, "eval", "report.html")); err != nil {
		t.Error(err)
	}
	var sum demoSummary
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Methods) != 3 {
		t.Fatalf("summary has %d methods, want 3 (the smoke preset has no ridge to latents)", len(sum.Methods))
	}
	for _, m := range sum.Methods {
		v, lo := m.Metrics["pairwise_pcc"], m.CILow["pairwise_pcc"]
		t.Logf("%s: pair-wise %.3f [%.3f, %.3f]", m.Name, v, lo, m.CIHigh["pairwise_pcc"])
		if v < 0.5+demoSmokeMargin || lo <= 0.5 {
			t.Errorf("%s: pair-wise identification %.3f (CI low %.3f); want ≥ %.2f and CI above chance 0.5",
				m.Name, v, lo, 0.5+demoSmokeMargin)
		}
	}

	// A second run finds every stage done and only summarises.
	stderr.Reset()
	stdout.Reset()
	if err := runDemo(context.Background(), []string{"--out", out, "--preset", "smoke"}, &stdout, &stderr); err != nil {
		t.Fatalf("demo rerun: %v", err)
	}
	if n := strings.Count(stderr.String(), "done before, skipped"); n != len(demoStages(demoPresets["smoke"], out, nil)) {
		t.Errorf("rerun skipped %d stages, want all:\n%s", n, stderr.String())
	}
}

func TestDemoBadPreset(t *testing.T) {
	err := runDemo(context.Background(), []string{"--preset", "huge", "--out", t.TempDir()}, &bytes.Buffer{}, &bytes.Buffer{})
	var u usageError
	if !errors.As(err, &u) {
		t.Errorf("got %v, want a usage error", err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
