package report

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadComparison feeds arbitrary JSON to ReadComparison (and through it
// ReadResults), seeded with a metrics.json and a flat ceiling file: it must
// never panic, and what it accepts must hold values.
func FuzzReadComparison(f *testing.F) {
	for _, name := range []string{"metrics.json", "ceiling.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "m.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := ReadComparison("x", p)
		if err != nil {
			return
		}
		if c.Values == nil {
			t.Errorf("accepted %q without values", b)
		}
	})
}
