package npy

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func seeds(f *testing.F, pattern string) {
	f.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) == 0 {
		f.Fatalf("no seeds %s", pattern)
	}
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzRead: any bytes give an array or an error, never a panic; an array
// that can be written survives Write → Read unchanged.
func FuzzRead(f *testing.F) {
	seeds(f, "testdata/*.npy")
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		if a.DType == Object {
			return
		}
		if dataLen(a.Data) != a.Len() {
			t.Fatalf("%s %v: %d elements", a.DType, a.Shape, dataLen(a.Data))
		}
		if a.DType == Float16 || a.Len() > 1<<16 {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, a); err != nil {
			t.Fatal(err)
		}
		c, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Shape, a.Shape) || c.DType != a.DType {
			t.Fatalf("round trip %s %v → %s %v", a.DType, a.Shape, c.DType, c.Shape)
		}
		if ab, cb := mustBytes(t, a), mustBytes(t, c); !bytes.Equal(ab, cb) {
			t.Fatal("round trip changed the data")
		}
	})
}

// mustBytes encodes data canonically (NaN-safe comparison).
func mustBytes(t *testing.T, a *Array) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, a); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzNPZ: any bytes as an .npz archive give arrays or errors, never a
// panic.
func FuzzNPZ(f *testing.F) {
	seeds(f, "testdata/*.npz")
	f.Fuzz(func(t *testing.T, b []byte) {
		z, err := NewNPZ(bytes.NewReader(b), int64(len(b)), "fuzz.npz")
		if err != nil {
			return
		}
		for _, k := range z.Keys() {
			if _, err := z.Header(k); err != nil {
				continue
			}
			_, _ = z.Get(k)
		}
	})
}
