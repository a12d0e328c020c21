package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/ldm"
)

// TestAttachInit: --init takes each item's first reconstruction when the
// file's ground truths are the test stimuli (at any size), and refuses a
// file with another item count or other stimuli.
func TestAttachInit(t *testing.T) {
	const n, side = 3, 8
	items := ldm.TestItems{N: n, H: side, W: side, Images: make([]uint8, n*side*side*3)}
	for i := range items.Images {
		items.Images[i] = uint8((i/(side*side*3))*90 + (i%3)*10) // item i: flat, channels 90·i + 0, 10, 20
	}
	write := func(n, h int, gtShift int) string {
		data := make([]uint8, n*2*h*h*3)
		isz := h * h * 3
		for i := range n {
			for k := range isz {
				data[(i*2)*isz+k] = uint8(i*90 + gtShift + (k%3)*10)
				data[(i*2+1)*isz+k] = uint8(200 - i)
			}
		}
		s, err := evaluate.NewSamples(data, n, 1, h, h)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "samples.npz")
		if err := evaluate.WriteSamples(p, s); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := items
	if err := attachInit(&good, write(n, 4, 0)); err != nil {
		t.Fatal(err)
	}
	if good.InitH != 4 || len(good.Init) != n*4*4*3 || good.Init[0] != 200 || good.Init[len(good.Init)-1] != 198 {
		t.Errorf("initial images %dx%d, first %d last %d", good.InitH, good.InitW, good.Init[0], good.Init[len(good.Init)-1])
	}
	for name, tc := range map[string]struct {
		path, want string
	}{
		"count":   {write(n-1, 4, 0), "2 items, the test set has 3"},
		"stimuli": {write(n, 4, 40), "differs from test stimulus 0"},
		"missing": {filepath.Join(t.TempDir(), "none.npz"), "none.npz"},
	} {
		it := items
		err := attachInit(&it, tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}

// TestProducerNotes: eval carries the data notes that reconstruct or
// baseline recorded beside the samples into the report.
func TestProducerNotes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "baseline.json"), []byte(`{"notes":["test fMRI normalised literally"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got := producerNotes(filepath.Join(dir, "samples.npz"))
	if len(got) != 1 || !strings.Contains(got[0], "literally") {
		t.Errorf("notes %q", got)
	}
	if got := producerNotes(filepath.Join(t.TempDir(), "samples.npz")); len(got) != 0 {
		t.Errorf("notes without files: %q", got)
	}
}
