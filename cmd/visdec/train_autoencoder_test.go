package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/ldm/autoencoder"
)

// writeAEImages writes n small PNG pictures (colour ramps) into dir.
func writeAEImages(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		img := image.NewRGBA(image.Rect(0, 0, 20, 24))
		for y := 0; y < 24; y++ {
			for x := 0; x < 20; x++ {
				img.Set(x, y, color.RGBA{uint8(12 * x), uint8(10*y + 20*i), uint8(30 * i), 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "img"+string(rune('a'+i))+".png"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrainAutoencoderUsage(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{},
		{"--images", dir, "--data", dir},
		{"--images", dir, "--size", "huge"},
		{"--images", dir, "--ch-mult", "1,x"},
		{"--images", dir, "--recon", "lpips"},
		{"--images", dir, "--ch", "40"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"train-autoencoder"}, args...), &out, &errb); code != 2 {
			t.Errorf("train-autoencoder %v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
}

// TestTrainAutoencoderCommand runs the command end to end on a folder of
// pictures with a miniature model, and loads the result.
func TestTrainAutoencoderCommand(t *testing.T) {
	imgs, runDir := t.TempDir(), filepath.Join(t.TempDir(), "ae")
	writeAEImages(t, imgs, 5)
	var out, errb bytes.Buffer
	args := []string{"train-autoencoder", "--images", imgs, "--out", runDir, "--size", "tiny",
		"--resolution", "16", "--ch-mult", "1,2", "--codes", "8", "--epochs", "1", "--batch", "2"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "autoencoder trained: "+runDir) {
		t.Errorf("stdout %q lacks the summary", out.String())
	}
	cfg, ps, err := autoencoder.Load(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Resolution != 16 || cfg.NEmbed != 8 || ps.Get("quantize.embedding.weight") == nil {
		t.Errorf("loaded config %+v", cfg)
	}
	if _, err := os.Stat(filepath.Join(runDir, "reconstructions.png")); err != nil {
		t.Error(err)
	}
}
