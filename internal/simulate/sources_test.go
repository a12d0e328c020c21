package simulate

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/idx fixtures")

// tinyIDX returns a small images/labels pair in IDX form.
func tinyIDX(n int, seed uint64) (images, labels *IDX) {
	r := newRand(seed, 99)
	images = &IDX{Dims: []int{n, 28, 28}, Data: make([]uint8, n*28*28)}
	labels = &IDX{Dims: []int{n}, Data: make([]uint8, n)}
	for i := 0; i < n; i++ {
		labels.Data[i] = uint8(i % 10)
		// A blob whose position depends on the class.
		cx, cy := 6+2*(i%10), 8+r.IntN(12)
		for y := 0; y < 28; y++ {
			for x := 0; x < 28; x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < 25 {
					images.Data[i*784+y*28+x] = uint8(150 + r.IntN(100))
				}
			}
		}
	}
	return images, labels
}

func writeIDXFile(t *testing.T, path string, x *IDX, compress bool) {
	t.Helper()
	var buf bytes.Buffer
	if compress {
		zw := gzip.NewWriter(&buf)
		if err := WriteIDX(zw, x); err != nil {
			t.Fatal(err)
		}
		zw.Close()
	} else if err := WriteIDX(&buf, x); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIDXFixtures writes (with -update) and reads the committed IDX files.
func TestIDXFixtures(t *testing.T) {
	imgs, lbls := tinyIDX(4, 1)
	if *update {
		writeIDXFile(t, "testdata/idx/tiny-images-idx3-ubyte.gz", imgs, true)
		writeIDXFile(t, "testdata/idx/tiny-labels-idx1-ubyte", lbls, false)
	}
	for _, tt := range []struct {
		path string
		want *IDX
	}{{"testdata/idx/tiny-images-idx3-ubyte.gz", imgs}, {"testdata/idx/tiny-labels-idx1-ubyte", lbls}} {
		got, err := ReadIDXFile(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if !equalInts(got.Dims, tt.want.Dims) || !bytes.Equal(got.Data, tt.want.Data) {
			t.Errorf("%s: dims %v, want %v (or data differs)", tt.path, got.Dims, tt.want.Dims)
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

// TestReadIDXErrors: malformed streams give errors that say what is wrong.
func TestReadIDXErrors(t *testing.T) {
	valid := []byte{0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "header"},
		{"bad magic", []byte{1, 0, 8, 1, 0, 0, 0, 1, 5}, "bad magic"},
		{"float elements", []byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "element type"},
		{"no dimensions", []byte{0, 0, 8, 0}, "dimensions"},
		{"zero dimension", []byte{0, 0, 8, 1, 0, 0, 0, 0}, "too large or zero"},
		{"huge dimension", []byte{0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "too large"},
		{"truncated data", valid[:9], "data"},
		{"truncated dimension", valid[:6], "dimension 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if x, err := ReadIDX(bytes.NewReader(valid)); err != nil || !bytes.Equal(x.Data, []byte{7, 8, 9}) {
		t.Errorf("valid stream: %v, %v", x, err)
	}
	if _, err := ReadIDXFile(filepath.Join(t.TempDir(), "missing.gz")); err == nil {
		t.Error("missing file: no error")
	}
}

// FuzzReadIDX: never panics, and what it accepts re-encodes to the same
// array.
func FuzzReadIDX(f *testing.F) {
	for _, p := range []string{"testdata/idx/tiny-images-idx3-ubyte.gz", "testdata/idx/tiny-labels-idx1-ubyte"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 2, 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatal(err)
		}
		y, err := ReadIDX(&buf)
		if err != nil || !equalInts(x.Dims, y.Dims) || !bytes.Equal(x.Data, y.Data) {
			t.Fatalf("round trip changed the array: %v", err)
		}
	})
}

// TestFashionMNISTSource reads a Fashion-MNIST-shaped folder and builds the
// GOD design from its 10 classes (test images from the t10k split).
func TestFashionMNISTSource(t *testing.T) {
	dir := t.TempDir()
	trI, trL := tinyIDX(120, 1)
	teI, teL := tinyIDX(40, 2)
	writeIDXFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), trI, true)
	writeIDXFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), trL, true)
	writeIDXFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), teI, true)
	writeIDXFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), teL, true)
	cfg := TinyConfig()
	cfg.Stimuli = "fashion-mnist:" + dir
	st, err := MakeGODStimuli(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Train) != cfg.TrainCategories*cfg.ImagesPerCategory || len(st.Test) != cfg.TestCategories {
		t.Fatalf("%d train, %d test items", len(st.Train), len(st.Test))
	}
	if st.Novel || len(st.Notes) == 0 {
		t.Errorf("10 classes cannot give novel test categories; notes %v", st.Notes)
	}
	if len(st.CategoryNames) != 10 {
		t.Errorf("categories %v, want the 10 Fashion-MNIST classes", st.CategoryNames)
	}
	// Test images come from t10k: the second fixture's blobs.
	src, _ := NewFashionMNISTSource(dir)
	for _, it := range st.Test {
		c := indexOf(src.Categories(), st.CategoryNames[it.Category])
		if !src.HeldOut(c, it.Image) {
			t.Errorf("test item %s is not from t10k", it.ID)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// TestFashionMNISTInstalled uses the Debian package when it is there.
func TestFashionMNISTInstalled(t *testing.T) {
	if _, err := os.Stat(filepath.Join(FashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
	src, err := NewFashionMNISTSource(FashionMNISTDir)
	if err != nil {
		t.Fatal(err)
	}
	if n := src.Available(0); n != 7000 {
		t.Errorf("class 0 has %d images, want 7000 (6000 train + 1000 test)", n)
	}
}

// TestFolderSource: categories from sub-folder names (ImageNet-style names
// give their WordNet offsets), PNG and JPEG decoded, errors name the folder.
func TestFolderSource(t *testing.T) {
	dir := t.TempDir()
	for ci, cat := range []string{"n01440764", "lamps"} {
		os.MkdirAll(filepath.Join(dir, cat), 0o755)
		for i := 0; i < 5; i++ {
			img := image.NewRGBA(image.Rect(0, 0, 40+i, 30))
			for y := 0; y < 30; y++ {
				for x := 0; x < 40+i; x++ {
					img.Set(x, y, color.RGBA{uint8(60 * ci), uint8(5 * x), uint8(8 * y), 255})
				}
			}
			var buf bytes.Buffer
			name := filepath.Join(dir, cat, strings.Repeat("a", i+1))
			if i%2 == 0 {
				png.Encode(&buf, img)
				name += ".png"
			} else {
				jpeg.Encode(&buf, img, nil)
				name += ".JPG"
			}
			os.WriteFile(name, buf.Bytes(), 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "lamps", "notes.txt"), []byte("not an image"), 0o644)
	cfg := TinyConfig()
	cfg.Stimuli = dir
	cfg.TrainCategories, cfg.ImagesPerCategory, cfg.TestCategories = 3, 2, 2
	st, err := MakeGODStimuli(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Train) != 6 || len(st.Test) != 2 {
		t.Fatalf("%d train, %d test items, want 6 and 2", len(st.Train), len(st.Test))
	}
	k := indexOf(st.CategoryNames, "n01440764")
	if k < 0 || st.Wnids[k] != 1440764 {
		t.Errorf("categories %v, wnids %v: want n01440764 with offset 1440764", st.CategoryNames, st.Wnids)
	}
	for _, it := range append(st.Train, st.Test...) {
		if st.CategoryNames[it.Category] == "n01440764" && !strings.HasPrefix(it.ID, "1440764.") {
			t.Errorf("stimulus id %s, want the offset 1440764 as its integer part", it.ID)
		}
	}
	cfg.TrainCategories = 10
	if _, err := MakeGODStimuli(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("too few images: error %v, want one naming %s", err, dir)
	}
	empty := t.TempDir()
	if _, err := NewFolderSource(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: error %v, want one naming it", err)
	}
}
