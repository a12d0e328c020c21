// Package parity loads the reference fixtures (golden outputs of the PyTorch
// reference code: inputs, parameters, outputs, losses and gradients, with
// per-key tolerances) and compares Go results against them.
//
// A fixture is a pair NAME.json + NAME.npz in testdata/parity/<kind>/ and, when
// $VISDEC_PARITY_DIR is set, in $VISDEC_PARITY_DIR/<kind>/. ForEach runs one
// subtest per fixture, named after its file, so new fixtures need no code.
package parity

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/npy"
)

// EnvVar names an extra fixture root.
const EnvVar = "VISDEC_PARITY_DIR"

// Fixture is one reference computation.
type Fixture struct {
	Name   string
	Dir    string
	Meta   map[string]json.RawMessage
	Arrays map[string]*npy.Array
	tol    tolerance
}

type tol struct {
	Exact      bool
	RTol, ATol float64
}

type tolerance struct {
	def    tol
	perKey map[string]tol
}

// RepoRoot walks up from the working directory to the directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Dirs lists the directories searched for fixtures of kind.
func Dirs(kind string) []string {
	var dirs []string
	if root, err := RepoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, "testdata", "parity", kind))
	}
	if extra := os.Getenv(EnvVar); extra != "" {
		dirs = append(dirs, filepath.Join(extra, kind))
	}
	return dirs
}

// Find returns the .npz paths of every fixture of kind whose base name starts
// with prefix ("" for all), sorted by directory then name.
func Find(kind, prefix string) []string {
	var out []string
	for _, d := range Dirs(kind) {
		m, _ := filepath.Glob(filepath.Join(d, prefix+"*.npz"))
		sort.Strings(m)
		for _, p := range m {
			if _, err := os.Stat(strings.TrimSuffix(p, ".npz") + ".json"); err == nil {
				out = append(out, p)
			}
		}
	}
	return out
}

// ForEach runs fn as a subtest for every fixture of kind (name prefix filter
// optional). It fails the test if there is none: a parity test must check
// something.
func ForEach(t *testing.T, kind, prefix string, fn func(t *testing.T, f *Fixture)) {
	t.Helper()
	paths := Find(kind, prefix)
	if len(paths) == 0 {
		t.Fatalf("no %s fixtures %s* found in %v", kind, prefix, Dirs(kind))
	}
	seen := map[string]int{}
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".npz")
		sub := name
		if seen[name] > 0 {
			sub = fmt.Sprintf("%s#%d", name, seen[name])
		}
		seen[name]++
		t.Run(sub, func(t *testing.T) {
			f, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, f)
		})
	}
}

// Load reads a fixture from its .npz path (the .json beside it).
func Load(npzPath string) (*Fixture, error) {
	base := strings.TrimSuffix(npzPath, ".npz")
	raw, err := os.ReadFile(base + ".json")
	if err != nil {
		return nil, err
	}
	f := &Fixture{Name: filepath.Base(base), Dir: filepath.Dir(npzPath)}
	if err := json.Unmarshal(raw, &f.Meta); err != nil {
		return nil, fmt.Errorf("%s.json: %w", base, err)
	}
	if f.Arrays, err = npy.ReadNPZ(npzPath); err != nil {
		return nil, err
	}
	if f.tol, err = parseTolerance(f.Meta["tolerance"]); err != nil {
		return nil, fmt.Errorf("%s.json: tolerance: %w", base, err)
	}
	return f, nil
}

func parseTol(raw json.RawMessage) (tol, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.HasPrefix(s, "exact") {
			return tol{Exact: true}, nil
		}
		return tol{}, fmt.Errorf("unknown tolerance %q", s)
	}
	var o struct {
		RTol *float64 `json:"rtol"`
		ATol *float64 `json:"atol"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.RTol == nil || o.ATol == nil {
		return tol{}, fmt.Errorf("bad tolerance %s", raw)
	}
	return tol{RTol: *o.RTol, ATol: *o.ATol}, nil
}

func parseTolerance(raw json.RawMessage) (tolerance, error) {
	t := tolerance{def: tol{RTol: 1e-4, ATol: 1e-5}, perKey: map[string]tol{}}
	if raw == nil {
		return t, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return t, err
	}
	if d, ok := m["default"]; ok {
		v, err := parseTol(d)
		if err != nil {
			return t, err
		}
		t.def = v
	}
	if pk, ok := m["per_key"]; ok {
		var per map[string]json.RawMessage
		if err := json.Unmarshal(pk, &per); err != nil {
			return t, err
		}
		for k, r := range per {
			v, err := parseTol(r)
			if err != nil {
				return t, fmt.Errorf("%s: %w", k, err)
			}
			t.perKey[k] = v
		}
	}
	return t, nil
}

// Config decodes the fixture's "config" object into v.
func (f *Fixture) Config(v any) error {
	return json.Unmarshal(f.Meta["config"], v)
}

// Has reports whether the fixture holds key.
func (f *Fixture) Has(key string) bool { _, ok := f.Arrays[key]; return ok }

// Array returns the array for key, failing the test if it is absent.
func (f *Fixture) Array(t testing.TB, key string) *npy.Array {
	t.Helper()
	a, ok := f.Arrays[key]
	if !ok {
		t.Fatalf("fixture %s has no key %q", f.Name, key)
	}
	return a
}

// F32 returns key's values as float32.
func (f *Fixture) F32(t testing.TB, key string) []float32 {
	t.Helper()
	v, err := f.Array(t, key).Float32()
	if err != nil {
		t.Fatalf("fixture %s key %s: %v", f.Name, key, err)
	}
	return v
}

// Shape returns key's shape.
func (f *Fixture) Shape(t testing.TB, key string) []int {
	t.Helper()
	return f.Array(t, key).Shape
}

// Keys returns the sorted keys starting with prefix.
func (f *Fixture) Keys(prefix string) []string {
	var out []string
	for k := range f.Arrays {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Tensors returns every float array under prefix (e.g. "param/") with the
// prefix stripped, as a state dict.
func (f *Fixture) Tensors(t testing.TB, prefix string) map[string]nn.Tensor {
	t.Helper()
	out := map[string]nn.Tensor{}
	for _, k := range f.Keys(prefix) {
		out[strings.TrimPrefix(k, prefix)] = nn.Tensor{Shape: f.Array(t, k).Shape, Data: f.F32(t, k)}
	}
	return out
}

// Tolerance returns the comparison rule for key: exact, or rtol/atol.
func (f *Fixture) Tolerance(key string) (exact bool, rtol, atol float64) {
	tl, ok := f.tol.perKey[key]
	if !ok {
		tl = f.tol.def
	}
	return tl.Exact, tl.RTol, tl.ATol
}

// Check compares got with the fixture's key elementwise under its tolerance:
// |got−want| ≤ atol + rtol·|want|, or identical values when exact. It reports
// the worst element and fails the test on a mismatch.
func (f *Fixture) Check(t testing.TB, key string, got []float32) bool {
	t.Helper()
	want, err := f.Array(t, key).Float64()
	if err != nil {
		t.Fatalf("fixture %s key %s: %v", f.Name, key, err)
	}
	g := make([]float64, len(got))
	for i, v := range got {
		g[i] = float64(v)
	}
	return f.compare(t, key, g, want)
}

// Check64 is Check for float64 results.
func (f *Fixture) Check64(t testing.TB, key string, got []float64) bool {
	t.Helper()
	want, err := f.Array(t, key).Float64()
	if err != nil {
		t.Fatalf("fixture %s key %s: %v", f.Name, key, err)
	}
	return f.compare(t, key, got, want)
}

func (f *Fixture) compare(t testing.TB, key string, got, want []float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d values, want %d (shape %v)", key, len(got), len(want), f.Arrays[key].Shape)
		return false
	}
	exact, rtol, atol := f.Tolerance(key)
	worst, worstI, bad := 0.0, -1, 0
	for i := range got {
		d := math.Abs(got[i] - want[i])
		var ratio float64
		if exact {
			if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
				ratio = math.Inf(1)
			}
		} else {
			ratio = d / (atol + rtol*math.Abs(want[i]))
			if math.IsNaN(d) {
				ratio = math.Inf(1)
			}
		}
		if ratio > 1 {
			bad++
		}
		if ratio > worst || worstI < 0 {
			worst, worstI = ratio, i
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values out of tolerance (exact=%v rtol=%g atol=%g); worst [%d] got %.9g want %.9g",
			key, bad, len(got), exact, rtol, atol, worstI, got[worstI], want[worstI])
		return false
	}
	return true
}
