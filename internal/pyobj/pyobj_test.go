package pyobj

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

func decodeFile(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	v, n, err := Decode(b, Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if n != len(b) {
		t.Errorf("%s: pickle used %d of %d bytes", name, n, len(b))
	}
	return v
}

// TestSample decodes the same object pickled with every protocol.
func TestSample(t *testing.T) {
	big70 := new(big.Int).Lsh(big.NewInt(1), 70)
	for p := 0; p <= 5; p++ {
		t.Run(fmt.Sprintf("protocol%d", p), func(t *testing.T) {
			d, ok := decodeFile(t, fmt.Sprintf("sample_p%d.pkl", p)).(*Dict)
			if !ok {
				t.Fatal("top level is not a dict")
			}
			tests := []struct {
				key  any
				want any
			}{
				{"none", nil}, {"true", true}, {"false", false},
				{"int", int64(7)}, {"neg", int64(-123456)}, {"float", 2.5},
				{"bytearray", []byte("ab")},
				{"list", &List{Items: []any{int64(1), 2.0, "x"}}},
				{"tuple", Tuple{int64(1), Tuple{int64(2), int64(3)}}},
				{"empty_tuple", Tuple{}},
				{int64(3), "int key"},
				{"set", &List{Items: []any{int64(5)}}},
				{"frozenset", &List{Items: []any{int64(6)}}},
			}
			if p > 0 {
				// Protocol 0 writes str as raw-unicode-escape ("\u0000",
				// latin-1 bytes), which gopickle does not decode; no
				// checkpoint uses protocol 0.
				tests = append(tests, struct{ key, want any }{"str", "héllo"},
					struct{ key, want any }{"bytes", []byte{0, 1, 0xff}})
			}
			for _, tt := range tests {
				got, ok := d.Get(tt.key)
				if !ok {
					t.Errorf("key %v missing", tt.key)
					continue
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%v = %#v, want %#v", tt.key, got, tt.want)
				}
			}
			if got, _ := d.Get("big"); fmt.Sprint(got) != big70.String() {
				t.Errorf("big = %v, want %v", got, big70)
			}
			nested, _ := d.Get("nested")
			deep := nested.(*Dict).Values[0].(*List).Items[0].(*Dict)
			if v, _ := deep.Get("deep"); v != int64(1) {
				t.Errorf("nested deep = %v", v)
			}
			obj, _ := d.Get("obj")
			o, ok := obj.(*Object)
			if !ok || o.Class != "__main__.Opaque" {
				t.Fatalf("obj = %#v", obj)
			}
			if a, _ := o.Attrs().Get("a"); a != int64(1) {
				t.Errorf("obj.a = %v", a)
			}
			if b, _ := o.Attrs().Get("b"); b != "two" {
				t.Errorf("obj.b = %v", b)
			}
		})
	}
}

// TestNumPy decodes pickled NumPy arrays and scalars of every dtype.
func TestNumPy(t *testing.T) {
	for _, name := range []string{"numpy_p2.pkl", "numpy_p4.pkl"} {
		t.Run(name, func(t *testing.T) {
			d := decodeFile(t, name).(*Dict)
			arange := []float64{-2, -1, 0, 1, 2, 3}
			for _, code := range []string{"i1", "i2", "i4", "i8", "f2", "f4", "f8"} {
				v, _ := d.Get("le_" + code)
				a, ok := v.(*npy.Array)
				if !ok {
					t.Fatalf("le_%s is %T", code, v)
				}
				f, _ := a.Float64()
				if !reflect.DeepEqual(a.Shape, []int{2, 3}) || !reflect.DeepEqual(f, arange) {
					t.Errorf("le_%s = %v %v", code, a.Shape, f)
				}
			}
			// Unsigned types wrap -2, -1 as NumPy's astype does.
			u1, _ := d.Get("le_u1")
			if got := u1.(*npy.Array).Data.([]uint8); got[0] != 254 || got[5] != 3 {
				t.Errorf("le_u1 = %v", got)
			}
			b1, _ := d.Get("le_b1")
			if got := b1.(*npy.Array).Data.([]bool); !reflect.DeepEqual(got, []bool{true, false, true, false, true, true}) {
				t.Errorf("le_b1 = %v", got)
			}
			be, _ := d.Get("be_i8")
			if got := be.(*npy.Array).Data.([]int64); !reflect.DeepEqual(got, []int64{0, -5, -10, -15}) {
				t.Errorf("be_i8 = %v", got)
			}
			bef, _ := d.Get("be_f4")
			if got := bef.(*npy.Array).Data.([]float32); got[3] != float32(1) || got[1] != float32(1)/3 {
				t.Errorf("be_f4 = %v", got)
			}
			ff, _ := d.Get("fortran_f8")
			if got := ff.(*npy.Array).Data.([]float64); !reflect.DeepEqual(got, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
				t.Errorf("fortran_f8 (C order) = %v", got)
			}
			f3, _ := d.Get("fortran_u1_3d")
			got3 := f3.(*npy.Array).Data.([]uint8)
			for i := range got3 {
				if int(got3[i]) != i {
					t.Fatalf("fortran_u1_3d[%d] = %d", i, got3[i])
				}
			}
			z, _ := d.Get("zero_d")
			if a := z.(*npy.Array); len(a.Shape) != 0 || a.Data.([]float32)[0] != 1.5 {
				t.Errorf("zero_d = %v %v", a.Shape, a.Data)
			}
			e, _ := d.Get("empty")
			if a := e.(*npy.Array); !reflect.DeepEqual(a.Shape, []int{0, 4}) {
				t.Errorf("empty shape %v", a.Shape)
			}
			scalars := []struct {
				key  string
				want any
			}{
				{"scalar_f8", 0.1}, {"scalar_f4", float64(float32(0.1))}, {"scalar_i4", int64(-9)},
				{"scalar_u1", int64(200)}, {"scalar_bool", true},
			}
			for _, s := range scalars {
				if got, _ := d.Get(s.key); got != s.want {
					t.Errorf("%s = %#v, want %#v", s.key, got, s.want)
				}
			}
		})
	}
}

func TestRecursive(t *testing.T) {
	l, ok := decodeFile(t, "recursive.pkl").(*List)
	if !ok || len(l.Items) != 2 || l.Items[1] != any(l) {
		t.Fatalf("recursive list decoded as %#v", l)
	}
}

// TestObjectNPY decodes an np.save'd dict of uint8 images (BOLD5000's
// img_dict.npy layout).
func TestObjectNPY(t *testing.T) {
	a, err := npy.ReadFile("testdata/imgdict.npy")
	if err != nil {
		t.Fatal(err)
	}
	if a.DType != npy.Object || a.Pickle == nil {
		t.Fatalf("dtype %s, pickle %d bytes", a.DType, len(a.Pickle))
	}
	v, _, err := Decode(a.Pickle, Options{})
	if err != nil {
		t.Fatal(err)
	}
	oa, ok := v.(*ObjectArray)
	if !ok || len(oa.Shape) != 0 || len(oa.Items) != 1 {
		t.Fatalf("got %#v", v)
	}
	d := oa.Items[0].(*Dict)
	want := map[string][]int{"a.jpg": {4, 5, 3}, "rep_b.JPEG": {4, 5, 3}, "c d.png": {2, 2, 3}}
	if d.Len() != len(want) {
		t.Errorf("%d entries", d.Len())
	}
	for k, shape := range want {
		v, ok := d.Get(k)
		img, isArr := v.(*npy.Array)
		if !ok || !isArr || img.DType != npy.Uint8 || !reflect.DeepEqual(img.Shape, shape) {
			t.Errorf("%s = %#v", k, v)
		}
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", "", "truncated"},
		{"unknown opcode", "\xff", "unknown opcode"},
		{"no stop", "\x80\x02K\x01", "truncated"},
		{"binbytes past end", "\x80\x03B\xff\xff\x00\x00ab.", "truncated"},
		{"binbytes8 huge", "\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7fab.", "truncated"},
		{"negative binstring", "T\xff\xff\xff\xffab.", "negative"},
		{"frame past end", "\x80\x04\x95\x00\x10\x00\x00\x00\x00\x00\x00N.", "truncated"},
		{"unterminated global", "cfoo\nbar", "truncated"},
		{"stack underflow", "\x80\x02R.", "pickle"},
		{"bad reduce", "\x80\x02K\x01K\x02R.", "pickle"},
		{"unhashable key", "\x80\x02}]N\x8b\x00\x00\x00\x00s.", "pickle"},
		{"persistent id", "\x80\x02N\x51.", "persistent"},
		{"ndarray without state", "\x80\x02cnumpy.core.multiarray\n_reconstruct\n)R.", "without state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decode([]byte(tt.data), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%q) error = %v, want it to mention %q", tt.data, err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pkl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	if a, err := npy.ReadFile("testdata/imgdict.npy"); err == nil {
		f.Add(a.Pickle)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := Decode(b, Options{})
		if err != nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		_ = fmt.Sprint(v == nil)
	})
}
