package torchckpt

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/parity"
	"github.com/visdec/visdec/internal/safetensors"
)

// sameBits compares tensors bit for bit (NaN-safe, -0 ≠ +0).
func sameBits(t *testing.T, name string, got nn.Tensor, wantShape []int, want []float32) {
	t.Helper()
	if !equalInts(got.Shape, wantShape) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape, wantShape)
		return
	}
	if len(got.Data) != len(want) {
		t.Errorf("%s: %d values, want %d", name, len(got.Data), len(want))
		return
	}
	for i := range want {
		if math.Float32bits(got.Data[i]) != math.Float32bits(want[i]) {
			t.Errorf("%s[%d] = %v, want %v (bit-exact)", name, i, got.Data[i], want[i])
			return
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// compareAll checks that the checkpoint's tensors (all of them, named by
// path) are exactly the companion npz's arrays, and that neither side has
// extra entries.
func compareAll(t *testing.T, path string, want map[string]*npy.Array) {
	t.Helper()
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Tensors("")
	if err != nil {
		t.Fatal(err)
	}
	for k, a := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: tensor %s missing", filepath.Base(path), k)
			continue
		}
		w, err := a.Float32()
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, filepath.Base(path)+":"+k, g, a.Shape, w)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected tensor %s", filepath.Base(path), k)
		}
	}
}

// TestParityTorchCkpt loads every checkpoint of every torch_ckpt fixture
// (written by PyTorch) and checks each tensor against the fixture's npz
// bit for bit, plus the structure the fixture's json records.
func TestParityTorchCkpt(t *testing.T) {
	parity.ForEach(t, "torch_ckpt", "", func(t *testing.T, f *parity.Fixture) {
		var files map[string]string
		if err := json.Unmarshal(f.Meta["files"], &files); err != nil || len(files) == 0 {
			t.Fatalf("fixture json has no \"files\": %v", err)
		}
		var structure map[string]json.RawMessage
		if err := json.Unmarshal(f.Meta["structure"], &structure); err != nil {
			t.Fatal(err)
		}
		for name := range files {
			t.Run(name, func(t *testing.T) {
				p := filepath.Join(f.Dir, name)
				compareAll(t, p, f.Arrays)
				c, err := Open(p)
				if err != nil {
					t.Fatal(err)
				}
				// Every top-level key of the json's structure is present.
				keys := strings.Join(c.Keys(), ",")
				for k := range structure {
					if _, ok := c.Get(k); !ok {
						t.Errorf("top-level key %q missing (have %s)", k, keys)
					}
				}
				var epoch int64
				if raw, ok := structure["epoch"]; ok && json.Unmarshal(raw, &epoch) == nil {
					if got, ok := c.Int("epoch"); !ok || got != epoch {
						t.Errorf("epoch = %v (%v), want %d", got, ok, epoch)
					}
				}
				// LoadStateDict returns exactly the model/state_dict entry.
				sd, err := LoadStateDict(p)
				if err != nil {
					t.Fatal(err)
				}
				prefix := c.StateDictKey() + "/"
				n := 0
				for k, a := range f.Arrays {
					if !strings.HasPrefix(k, prefix) {
						continue
					}
					n++
					w, _ := a.Float32()
					sameBits(t, k, sd[strings.TrimPrefix(k, prefix)], a.Shape, w)
				}
				if n == 0 || n != len(sd) {
					t.Errorf("state dict has %d tensors, fixture %d under %s", len(sd), n, prefix)
				}
				// A pickled config object is described, never executed.
				var cfgStruct struct {
					Global     string         `json:"pickle_global"`
					Attributes map[string]any `json:"attributes"`
				}
				if raw, ok := structure["config"]; ok && json.Unmarshal(raw, &cfgStruct) == nil && cfgStruct.Global != "" {
					cfg, ok := c.Config()
					if !ok || cfg.Class != cfgStruct.Global {
						t.Fatalf("Config() = %+v, want class %s", cfg, cfgStruct.Global)
					}
					if len(cfg.Attrs) != len(cfgStruct.Attributes) {
						t.Errorf("config has %d attributes, want %d", len(cfg.Attrs), len(cfgStruct.Attributes))
					}
				}
				if _, ok := structure["optimizer"]; ok {
					opt, err := c.Optimizer()
					if err != nil || len(opt) == 0 {
						t.Errorf("Optimizer() = %d tensors, %v", len(opt), err)
					}
				}
			})
		}
	})
}

// TestMixed covers every storage dtype, strided and offset views, shared
// storages, parameters, numpy scalars and opaque objects, in the zip, legacy
// and big-endian zip formats (testdata/gen_ckpt.py).
func TestMixed(t *testing.T) {
	want, err := npy.ReadNPZ("testdata/mixed.npz")
	if err != nil {
		t.Fatal(err)
	}
	wantDType := map[string]string{
		"tensors/f16": "float16", "tensors/bf16": "bfloat16", "tensors/f64": "float64",
		"tensors/i64": "int64", "tensors/i32": "int32", "tensors/i16": "int16", "tensors/i8": "int8",
		"tensors/u8": "uint8", "tensors/bool": "bool", "tensors/f32": "float32", "model/w": "float32",
	}
	for _, file := range []string{"mixed.pth", "mixed_legacy.pth", "mixed_bigendian.pth"} {
		t.Run(file, func(t *testing.T) {
			p := filepath.Join("testdata", file)
			compareAll(t, p, want)
			c, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range c.List("") {
				if d, ok := wantDType[ti.Name]; ok && d != ti.DType {
					t.Errorf("%s: dtype %s, want %s", ti.Name, ti.DType, d)
				}
			}
			scalars := []struct {
				key  string
				want any
			}{{"epoch", int64(7)}, {"best", 0.125}, {"count", int64(42)}}
			for _, s := range scalars {
				if got, ok := c.Scalar(s.key); !ok || got != s.want {
					t.Errorf("Scalar(%q) = %v, %v; want %v", s.key, got, ok, s.want)
				}
			}
			cfg, ok := c.Config()
			if !ok || cfg.Class != "__main__.Custom" {
				t.Fatalf("Config() = %+v, %v", cfg, ok)
			}
			attrs := map[string]string{}
			for _, a := range cfg.Attrs {
				attrs[a.Name] = a.Value
			}
			for k, v := range map[string]string{"lr": "0.00025", "depth": "24", "name": `"cfg"`, "betas": "(0.9, 0.95)", "tags": `["a", "b"]`} {
				if attrs[k] != v {
					t.Errorf("config %s = %q, want %q", k, attrs[k], v)
				}
			}
			sd, err := LoadStateDict(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(sd) != 2 || sd["w"].Shape[0] != 3 {
				t.Errorf("LoadStateDict picked %v", SortedNames(sd))
			}
		})
	}
}

func TestSafetensors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.safetensors")
	ts := map[string]safetensors.Tensor{
		"a.weight": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}},
		"a.bias":   {Shape: []int{2}, Data: []float32{-0.5, 0.25}},
	}
	if err := safetensors.WriteFile(p, []string{"a.weight", "a.bias"}, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	sd, err := LoadStateDict(p)
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range ts {
		sameBits(t, k, sd[k], w.Shape, w.Data)
	}
	c, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != "safetensors" || c.Metadata["format"] != "pt" {
		t.Errorf("format %s metadata %v", c.Format, c.Metadata)
	}
}

// TestBadInput checks that damaged files give an error naming the file,
// never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("testdata/mixed.pth")
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := os.ReadFile("testdata/mixed_legacy.pth")
	if err != nil {
		t.Fatal(err)
	}
	rezip := func(edit func(name string, data []byte) (string, []byte)) []byte {
		zr, err := zip.NewReader(bytes.NewReader(good), int64(len(good)))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range zr.File {
			rc, _ := f.Open()
			var b bytes.Buffer
			b.ReadFrom(rc)
			rc.Close()
			name, data := edit(f.Name, b.Bytes())
			if name == "" {
				continue
			}
			w, _ := zw.Create(name)
			w.Write(data)
		}
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "empty"},
		{"garbage", []byte("hello, this is not a checkpoint"), "not a PyTorch checkpoint"},
		{"truncated zip", good[:len(good)/2], "zip"},
		{"truncated legacy", legacy[:len(legacy)-100], "truncated"},
		{"legacy cut in pickle", legacy[:300], "truncated"},
		{"no data.pkl", rezip(func(n string, d []byte) (string, []byte) {
			if strings.HasSuffix(n, "data.pkl") {
				return "", nil
			}
			return n, d
		}), "no data.pkl"},
		{"torchscript", rezip(func(n string, d []byte) (string, []byte) {
			if strings.HasSuffix(n, "version") {
				return strings.TrimSuffix(n, "version") + "constants.pkl", d
			}
			return n, d
		}), "TorchScript"},
		{"storage record missing", rezip(func(n string, d []byte) (string, []byte) {
			if strings.HasSuffix(n, "/data/0") {
				return "", nil
			}
			return n, d
		}), "no record"},
		{"storage record short", rezip(func(n string, d []byte) (string, []byte) {
			if strings.HasSuffix(n, "/data/0") {
				return n, d[:len(d)-1]
			}
			return n, d
		}), "needs"},
		{"corrupt pickle", rezip(func(n string, d []byte) (string, []byte) {
			if strings.HasSuffix(n, "data.pkl") {
				return n, d[:len(d)/2]
			}
			return n, d
		}), "pickle"},
		{"tar format", append(make([]byte, 257), []byte("ustar\x0000")...), "tar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".pth")
			if err := os.WriteFile(p, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadStateDict(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q should name %s and say %q", err, p, tt.wantErr)
			}
		})
	}
}

func TestMissingKey(t *testing.T) {
	c, err := Open("testdata/mixed.pth")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"nope", "epoch"} {
		if _, err := c.StateDict(key); err == nil || !strings.Contains(err.Error(), "mixed.pth") {
			t.Errorf("StateDict(%q) error = %v", key, err)
		}
	}
	if _, err := c.Optimizer(); err == nil {
		t.Error("Optimizer() on a checkpoint without one: no error")
	}
}
