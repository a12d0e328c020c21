package autoencoder

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadImageDir reads the testdata pictures (a 6×4 gradient as PNG and
// JPEG): the centre 4×4 square is cropped, so the PNG's first pixel is the
// source pixel (1, 0) = (40, 0, 200).
func TestReadImageDir(t *testing.T) {
	ds, err := ReadImageDir("testdata", 4)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Train.N != 2 || ds.Train.H != 4 || len(ds.Train.Images) != 2*4*4*3 {
		t.Fatalf("got %d images of %d² (%d bytes), want 2 of 4²", ds.Train.N, ds.Train.H, len(ds.Train.Images))
	}
	if ds.Train.StimulusID[1] != "stimulus" {
		t.Errorf("stimulus ids %v", ds.Train.StimulusID)
	}
	png := ds.Train.Image(1) // sorted: stimulus.jpg, stimulus.png
	if png[0] != 40 || png[1] != 0 || png[2] != 200 {
		t.Errorf("first PNG pixel %v, want [40 0 200]", png[:3])
	}
	if _, err := ReadImageDir(t.TempDir(), 4); err == nil {
		t.Errorf("an empty directory was accepted")
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadImageDir(bad, 4); err == nil {
		t.Errorf("a corrupt image was accepted")
	}
}

// FuzzDecodeSquare: no input makes the image reader panic, and what it
// accepts has the asked size.
func FuzzDecodeSquare(f *testing.F) {
	for _, n := range []string{"stimulus.png", "stimulus.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		px, err := DecodeSquare(raw, 3)
		if err == nil && len(px) != 3*3*3 {
			t.Fatalf("%d bytes for a 3×3 image", len(px))
		}
	})
}
