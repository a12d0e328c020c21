package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/data"
)

// TestSimulateCommand runs a tiny simulation through the command line and
// reads it back with the GOD loader.
func TestSimulateCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sim")
	code, out, errOut := runCmd(t, "simulate", "--out", dir, "--seed", "3", "--tiny", "--subjects", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"sbj_1.npz", "sbj_2.npz", "images_256.npz", "ceiling.json", "ideal-observer identification", "2-way", "10-way", "split-half reliability"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "render train") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	ds, err := data.LoadGOD(dir, []string{"sbj_2"}, data.GODOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 80 || ds.Test.N != 10 {
		t.Errorf("loaded %d train and %d test items, want the tiny design's 80 and 10", ds.Train.N, ds.Test.N)
	}
}

// TestSimulateUsage: bad command lines exit 2 with a message.
func TestSimulateUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"simulate"}, "--out is required"},
		{"bad design", []string{"simulate", "--out", dir, "--design", "nsd"}, "Design"},
		{"bad image size", []string{"simulate", "--out", dir, "--image-size", "100"}, "ImageSize"},
		{"extra argument", []string{"simulate", "--out", dir, "extra"}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and a message with %q", code, errOut, tt.want)
			}
		})
	}
	code, _, errOut := runCmd(t, "simulate", "--out", dir, "--stimuli", filepath.Join(dir, "missing"))
	if code != 1 || !strings.Contains(errOut, "missing") {
		t.Errorf("missing stimuli folder: exit %d, stderr %q; want 1 naming the folder", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "sbj_1.npz")); err == nil {
		t.Error("a failed run left sbj_1.npz behind")
	}
}
