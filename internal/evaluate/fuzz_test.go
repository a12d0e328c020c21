package evaluate

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadSamples feeds arbitrary bytes to ReadSamples, seeded with numpy-
// written samples files: it must never panic, and what it accepts must be
// consistent.
func FuzzReadSamples(f *testing.F) {
	for _, name := range []string{"samples_small.npz", "samples_uncompressed.npz"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "s.npz")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := ReadSamples(p)
		if err != nil {
			return
		}
		if s.N < 1 || s.S < 1 || len(s.Data) != s.N*(1+s.S)*s.H*s.W*3 {
			t.Errorf("accepted inconsistent samples: N=%d S=%d H=%d W=%d, %d bytes", s.N, s.S, s.H, s.W, len(s.Data))
		}
	})
}
