package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

// TestReadMixed reads a file written to the spec (testdata/
// gen_safetensors.py) holding every supported dtype, and compares with the
// values PyTorch's .float() gives, bit for bit.
func TestReadMixed(t *testing.T) {
	f, err := ReadFile("testdata/mixed.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	want, err := npy.ReadNPZ("testdata/mixed.npz")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(f.Tensors), len(want))
	}
	dtypes := map[string]string{"w.f16": "F16", "w.bf16": "BF16", "w.f64": "F64", "w.bool": "BOOL", "w.u8": "U8"}
	for name, a := range want {
		got, ok := f.Tensors[name]
		if !ok {
			t.Errorf("tensor %s missing", name)
			continue
		}
		w, _ := a.Float32()
		if !reflect.DeepEqual(got.Shape, a.Shape) || len(got.Data) != len(w) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape, a.Shape)
			continue
		}
		for i := range w {
			if math.Float32bits(got.Data[i]) != math.Float32bits(w[i]) {
				t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], w[i])
				break
			}
		}
		if d, ok := dtypes[name]; ok && got.DType != d {
			t.Errorf("%s: dtype %s, want %s", name, got.DType, d)
		}
	}
	if f.Metadata["format"] != "pt" || f.Metadata["note"] != "fixture" {
		t.Errorf("metadata %v", f.Metadata)
	}
	for i := 1; i < len(f.Order); i++ {
		if f.Order[i-1] == f.Order[i] {
			t.Errorf("duplicate name in Order")
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ts := map[string]Tensor{
		"b": {Shape: []int{2, 2}, Data: []float32{1, -2, float32(math.NaN()), 4}},
		"a": {Shape: []int{}, Data: []float32{7}},
		"e": {Shape: []int{0, 3}, Data: nil},
	}
	names := []string{"b", "a", "e"}
	p := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(p, names, ts, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		got, w := f.Tensors[n], ts[n]
		if !reflect.DeepEqual(got.Shape, w.Shape) || len(got.Data) != len(w.Data) || got.DType != "F32" {
			t.Errorf("%s: %+v, want %+v", n, got, w)
		}
		for i := range w.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Errorf("%s[%d] = %v", n, i, got.Data[i])
			}
		}
	}
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata %v", f.Metadata)
	}
	// The header is padded to 8 bytes, as the spec recommends.
	b, _ := os.ReadFile(p)
	if n := binary.LittleEndian.Uint64(b); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	if err := Write(&bytes.Buffer{}, []string{"zz"}, ts, nil); err == nil {
		t.Error("unknown name accepted")
	}
	if err := Write(&bytes.Buffer{}, []string{"x"}, map[string]Tensor{"x": {Shape: []int{3}, Data: []float32{1}}}, nil); err == nil {
		t.Error("shape/data mismatch accepted")
	}
}

// file assembles a safetensors stream from a header and data.
func file(header string, data []byte) []byte {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(len(header)))
	return append(append(b[:], header...), data...)
}

func TestReadErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/mixed.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"zero header", file("", nil), "implausible header length"},
		{"header past end", append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, '{', '}'), "implausible header length"},
		{"bad json", file("{not json", nil), "bad JSON header"},
		{"bad entry", file(`{"x": 3}`, nil), "bad header entry"},
		{"bad metadata", file(`{"__metadata__": {"a": 1}}`, nil), "bad __metadata__"},
		{"reversed offsets", file(`{"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}`, make([]byte, 4)), "bad offsets"},
		{"data past end", file(`{"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}`, make([]byte, 8)), "truncated"},
		{"size mismatch", file(`{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}`, make([]byte, 8)), "needs 12 bytes"},
		{"negative dim", file(`{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}`, make([]byte, 4)), "negative dimension"},
		{"overflowing shape", file(`{"x": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}}`, nil), "implausibly large"},
		{"unknown dtype", file(`{"x": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}`, make([]byte, 8)), "unsupported dtype"},
		{"truncated file", good[:len(good)-5], "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
	p := filepath.Join(t.TempDir(), "cut.safetensors")
	os.WriteFile(p, good[:100], 0o644)
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadFile error %v does not name %s", err, p)
	}
}

// FuzzRead: any bytes give a file or an error, never a panic; every
// tensor read has as many values as its shape says.
func FuzzRead(f *testing.F) {
	b, err := os.ReadFile("testdata/mixed.safetensors")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(file(`{"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}`, []byte{1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for name, tn := range sf.Tensors {
			n := 1
			for _, d := range tn.Shape {
				n *= d
			}
			if n != len(tn.Data) {
				t.Fatalf("%s: shape %v with %d values", name, tn.Shape, len(tn.Data))
			}
		}
	})
}
