package npy

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// base is (np.arange(6) - 2) as written by testdata/gen_npy.py.
var base = []int64{-2, -1, 0, 1, 2, 3}

// wantInts returns base cast to dt as NumPy's astype does (wrapping for
// unsigned types), as float64 for comparison.
func wantInts(dt DType) []float64 {
	out := make([]float64, len(base))
	for i, v := range base {
		switch dt {
		case Uint8:
			out[i] = float64(uint8(v))
		case Uint16:
			out[i] = float64(uint16(v))
		case Uint32:
			out[i] = float64(uint32(v))
		case Uint64:
			out[i] = float64(uint64(v))
		default:
			out[i] = float64(v)
		}
	}
	return out
}

func TestReadDTypes(t *testing.T) {
	codes := map[string]DType{
		"i1": Int8, "i2": Int16, "i4": Int32, "i8": Int64, "u1": Uint8, "u2": Uint16,
		"u4": Uint32, "u8": Uint64, "f2": Float16, "f4": Float32, "f8": Float64,
	}
	for code, dt := range codes {
		for _, order := range []string{"le", "be"} {
			p := filepath.Join("testdata", order+"_"+code+".npy")
			if _, err := os.Stat(p); err != nil {
				continue // single-byte types have no big-endian file
			}
			t.Run(order+"_"+code, func(t *testing.T) {
				a, err := ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if a.DType != dt || !reflect.DeepEqual(a.Shape, []int{2, 3}) || a.Fortran {
					t.Fatalf("dtype %s shape %v fortran %v", a.DType, a.Shape, a.Fortran)
				}
				got, err := a.Float64()
				if err != nil {
					t.Fatal(err)
				}
				if want := wantInts(dt); !reflect.DeepEqual(got, want) {
					t.Errorf("values %v, want %v", got, want)
				}
			})
		}
	}
	a, err := ReadFile("testdata/le_b1.npy")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := a.Bool(); !reflect.DeepEqual(b, []bool{true, false, false, true, false, false}) {
		t.Errorf("bool = %v", b)
	}
}

// TestReadFractions checks float values bit for bit against the same
// computation in Go: (i-2)/3 in float64, rounded to the file's type.
func TestReadFractions(t *testing.T) {
	for _, f := range []string{"f2", "f4", "f8"} {
		for _, order := range []string{"le", "be"} {
			a, err := ReadFile("testdata/frac_" + order + "_" + f + ".npy")
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range base {
				x := float64(v) / 3
				var got, want float64
				switch f {
				case "f8":
					got, want = a.Data.([]float64)[i], x
				case "f4":
					got, want = float64(a.Data.([]float32)[i]), float64(float32(x))
				case "f2":
					// float16 has 10 mantissa bits: values must be within half an ulp.
					got, want = float64(a.Data.([]float32)[i]), x
					if math.Abs(got-want) > math.Abs(want)*math.Pow(2, -11)+1e-12 {
						t.Errorf("%s %s[%d] = %v, want ≈%v", order, f, i, got, want)
					}
					continue
				}
				if got != want {
					t.Errorf("%s %s[%d] = %v, want %v", order, f, i, got, want)
				}
			}
		}
	}
}

func TestHalfToFloat32(t *testing.T) {
	tests := []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x7bff, 65504}, {0x0001, 5.960464477539063e-08},
		{0x03ff, 6.097555160522461e-05}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))},
	}
	for _, tt := range tests {
		if got := HalfToFloat32(tt.h); got != tt.want {
			t.Errorf("HalfToFloat32(%#04x) = %v, want %v", tt.h, got, tt.want)
		}
	}
	if got := HalfToFloat32(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("NaN half gave %v", got)
	}
	if got := HalfToFloat32(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("-0 half gave %v", got)
	}
}

func TestReadLayouts(t *testing.T) {
	f4, err := ReadFile("testdata/fortran_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !f4.Fortran || !reflect.DeepEqual(f4.Shape, []int{2, 3, 4}) {
		t.Fatalf("fortran %v shape %v", f4.Fortran, f4.Shape)
	}
	for i, v := range f4.Data.([]float32) {
		if v != float32(i) { // C order after conversion
			t.Fatalf("fortran_f4[%d] = %v", i, v)
		}
	}
	b1, err := ReadFile("testdata/fortran_b1.npy")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range b1.Data.([]bool) {
		if v != (i%2 == 0) {
			t.Fatalf("fortran_b1[%d] = %v", i, v)
		}
	}
	tests := []struct {
		file  string
		dtype DType
		shape []int
		vals  []float64
	}{
		{"scalar.npy", Float64, []int{}, []float64{2.5}},
		{"empty.npy", Float32, []int{0, 4}, []float64{}},
		{"vec.npy", Uint8, []int{5}, []float64{0, 1, 2, 3, 4}},
		{"v2.npy", Int32, []int{2, 3}, []float64{0, 1, 2, 3, 4, 5}},
		{"v3.npy", Int32, []int{2, 3}, []float64{0, 1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		a, err := ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Float64()
		if a.DType != tt.dtype || !reflect.DeepEqual(a.Shape, tt.shape) || !reflect.DeepEqual(got, tt.vals) {
			t.Errorf("%s: %s %v %v", tt.file, a.DType, a.Shape, got)
		}
	}
	obj, err := ReadFile("testdata/object.npy")
	if err != nil {
		t.Fatal(err)
	}
	if obj.DType != Object || len(obj.Pickle) == 0 || obj.Pickle[0] != 0x80 {
		t.Errorf("object array: %s, %d pickle bytes", obj.DType, len(obj.Pickle))
	}
}

func TestNPZ(t *testing.T) {
	for _, f := range []string{"stored.npz", "deflated.npz"} {
		t.Run(f, func(t *testing.T) {
			m, err := ReadNPZ(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			a, _ := m["a"].Float64()
			mask, _ := m["mask"].Bool()
			idx, _ := m["idx"].Int64()
			if !reflect.DeepEqual(a, []float64{0, 0.5, 1, 1.5, 2, 2.5}) || !reflect.DeepEqual(m["a"].Shape, []int{3, 2}) {
				t.Errorf("a = %v %v", a, m["a"].Shape)
			}
			if !reflect.DeepEqual(mask, []bool{true, false, true, true, false}) || !reflect.DeepEqual(idx, []int64{3, 0, 2, 1}) {
				t.Errorf("mask %v idx %v", mask, idx)
			}
			z, err := OpenNPZ(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			h, err := z.Header("idx")
			if err != nil || h.DType != Int64 || !reflect.DeepEqual(h.Shape, []int{4}) {
				t.Errorf("Header(idx) = %+v, %v", h, err)
			}
			if _, err := z.Get("nope"); err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("missing key error %v", err)
			}
		})
	}
}

// TestRoundTrip writes every writable dtype and reads it back.
func TestRoundTrip(t *testing.T) {
	arrays := []*Array{
		FromFloat32([]float32{1.5, -2, float32(math.Inf(1)), 0}, 2, 2),
		FromFloat64([]float64{math.Pi, -0.0}, 2),
		FromUint8([]uint8{0, 255, 7}, 3, 1),
		FromInt64([]int64{math.MinInt64, 5}, 2),
		FromBool([]bool{true, false}, 2),
		{DType: Int8, Shape: []int{2}, Data: []int8{-128, 127}},
		{DType: Int16, Shape: []int{1}, Data: []int16{-300}},
		{DType: Int32, Shape: []int{1}, Data: []int32{1 << 30}},
		{DType: Uint16, Shape: []int{1}, Data: []uint16{65535}},
		{DType: Uint32, Shape: []int{1}, Data: []uint32{1 << 31}},
		{DType: Uint64, Shape: []int{1}, Data: []uint64{1 << 63}},
		FromFloat32(nil, 0, 3),
		FromFloat64([]float64{1}),
	}
	for _, a := range arrays {
		var buf bytes.Buffer
		if err := Write(&buf, a); err != nil {
			t.Fatal(err)
		}
		if buf.Len() <= 10 || (bytes.IndexByte(buf.Bytes(), '\n')+1)%64 != 0 {
			t.Errorf("%s: data does not start on a 64-byte boundary", a.DType)
		}
		b, err := Read(&buf)
		if err != nil {
			t.Fatalf("%s: %v", a.DType, err)
		}
		if b.DType != a.DType || !reflect.DeepEqual(b.Shape, a.Shape) || dataLen(b.Data) != a.Len() {
			t.Errorf("round trip %s %v → %s %v", a.DType, a.Shape, b.DType, b.Shape)
		}
		if a.Len() > 0 && !reflect.DeepEqual(a.Data, b.Data) {
			t.Errorf("round trip %s: %v → %v", a.DType, a.Data, b.Data)
		}
	}
	// Float16 cannot be written; a wrong data length is refused.
	if err := Write(&bytes.Buffer{}, &Array{DType: Float16, Shape: []int{1}, Data: []float32{1}}); err == nil {
		t.Error("float16 write accepted")
	}
	if err := Write(&bytes.Buffer{}, FromFloat32([]float32{1, 2}, 3)); err == nil {
		t.Error("shape/data mismatch accepted")
	}
}

func TestWriteNPZDeterministic(t *testing.T) {
	arrs := []Named{{"x", FromFloat32([]float32{1, 2}, 2)}, {"m", FromBool([]bool{true}, 1)}}
	for _, compress := range []bool{false, true} {
		var a, b bytes.Buffer
		if err := WriteNPZ(&a, arrs, compress); err != nil {
			t.Fatal(err)
		}
		if err := WriteNPZ(&b, arrs, compress); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Error("WriteNPZ is not deterministic")
		}
		z, err := NewNPZ(bytes.NewReader(a.Bytes()), int64(a.Len()), "mem.npz")
		if err != nil {
			t.Fatal(err)
		}
		if got := z.Keys(); !reflect.DeepEqual(got, []string{"x", "m"}) {
			t.Errorf("keys %v", got)
		}
	}
}

// header builds a version-1 .npy header for a dict literal.
func header(dict string) []byte {
	h := dict + strings.Repeat(" ", (64-(10+len(dict)+1)%64)%64) + "\n"
	b := append([]byte(magic+"\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(b, h...)
}

// TestReadErrors covers corrupt and unsupported input: each must give an
// error mentioning the problem, never a panic.
func TestReadErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/le_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"bad magic", []byte("\x93NUMPX\x01\x00"), "bad magic"},
		{"version 4", []byte(magic + "\x04\x00\x00\x00"), "unsupported format version"},
		{"header cut", good[:20], "truncated"},
		{"data cut", good[:len(good)-3], "truncated"},
		{"huge header length", []byte(magic + "\x02\x00\xff\xff\xff\x7f"), "implausibly large"},
		{"not a dict", header("[1, 2]"), "not a dict"},
		{"no descr", header("{'fortran_order': False, 'shape': (1,), }"), "no 'descr'"},
		{"no shape", header("{'descr': '<f4', 'fortran_order': False, }"), "no 'shape'"},
		{"no fortran_order", header("{'descr': '<f4', 'shape': (1,), }"), "no 'fortran_order'"},
		{"bad fortran_order", header("{'descr': '<f4', 'fortran_order': 1, 'shape': (1,), }"), "bad fortran_order"},
		{"complex", header("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"), "unsupported dtype"},
		{"structured", header("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), "structured"},
		{"bad byte order", header("{'descr': '!f4', 'fortran_order': False, 'shape': (1,), }"), "bad byte order"},
		{"negative dim", header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"), "bad shape"},
		{"shape not a tuple", header("{'descr': '<f4', 'fortran_order': False, 'shape': 3, }"), "bad shape"},
		{"too many elements", header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), "too many elements"},
		{"claims more data than present", header("{'descr': '<f8', 'fortran_order': False, 'shape': (100000000,), }"), "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
	// Files: errors name the file.
	dir := t.TempDir()
	p := filepath.Join(dir, "cut.npy")
	os.WriteFile(p, good[:len(good)-1], 0o644)
	if _, err := ReadFile(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("ReadFile error %v does not name %s", err, p)
	}
	z := filepath.Join(dir, "cut.npz")
	npz, _ := os.ReadFile("testdata/deflated.npz")
	os.WriteFile(z, npz[:len(npz)/2], 0o644)
	if _, err := ReadNPZ(z); err == nil || !strings.Contains(err.Error(), z) {
		t.Errorf("ReadNPZ error %v does not name %s", err, z)
	}
	// A corrupt deflate stream inside a member.
	bad := append([]byte{}, npz...)
	for i := 60; i < 90; i++ {
		bad[i] ^= 0x55
	}
	os.WriteFile(z, bad, 0o644)
	if _, err := ReadNPZ(z); err == nil || !strings.Contains(err.Error(), z) {
		t.Errorf("corrupt member: error %v", err)
	}
}

func TestConversions(t *testing.T) {
	if _, err := FromFloat64([]float64{1.5}, 1).Int64(); err == nil {
		t.Error("non-integral float accepted as integer")
	}
	if v, err := FromFloat64([]float64{3}, 1).Int64(); err != nil || v[0] != 3 {
		t.Errorf("integral float: %v %v", v, err)
	}
	if _, err := (&Array{DType: Uint64, Shape: []int{1}, Data: []uint64{1 << 63}}).Int64(); err == nil {
		t.Error("uint64 overflow accepted")
	}
	if _, err := FromFloat32([]float32{1}, 1).Uint8(); err == nil {
		t.Error("float32 accepted as uint8 images")
	}
	if _, err := (&Array{DType: Object}).Float64(); err == nil {
		t.Error("object array converted to numbers")
	}
	if s := ShapeString([]int{3}); s != "(3,)" {
		t.Errorf("ShapeString = %s", s)
	}
}
