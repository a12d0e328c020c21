package ldm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestResizeBilinear(t *testing.T) {
	cases := []struct {
		name   string
		in     []float32
		h, w   int
		oh, ow int
		want   []float32
	}{
		// F.interpolate([a, b], size=4, bilinear, align_corners=False)
		// gives a, 0.75a+0.25b, 0.25a+0.75b, b (the edges clamp).
		{"upsample 1×2 → 1×4", []float32{0, 4}, 1, 2, 1, 4, []float32{0, 1, 3, 4}},
		// Downsampling by 2 averages pairs (sources at 0.5 between them).
		{"downsample 1×4 → 1×2", []float32{0, 2, 4, 6}, 1, 4, 1, 2, []float32{1, 5}},
		{"identity", []float32{1, 2, 3, 4}, 2, 2, 2, 2, []float32{1, 2, 3, 4}},
		// 2×2 → 3×3: sources at 0, ½ and 1 (clamped): corners keep their
		// values, the centre is the mean.
		{"2×2 → 3×3", []float32{0, 3, 6, 9}, 2, 2, 3, 3, []float32{0, 1.5, 3, 3, 4.5, 6, 6, 7.5, 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ResizeBilinear(tc.in, tc.h, tc.w, 1, tc.oh, tc.ow)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d values, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if math.Abs(float64(got[i]-tc.want[i])) > 1e-5 {
					t.Errorf("got %v, want %v", got, tc.want)
					break
				}
			}
		})
	}
}

func TestPrepareImage(t *testing.T) {
	const side = 20
	img := make([]uint8, side*side*3)
	for i := range img {
		img[i] = uint8(i * 7)
	}
	plain := PrepareImage(img, side, side, side, ReferenceAugment, nil)
	for i, v := range plain {
		if want := float32(img[i])/127.5 - 1; v != want {
			t.Fatalf("without augmentation [%d] = %v, want %v", i, v, want)
		}
	}
	// Same seed, same result; over many draws about half are cropped.
	a := PrepareImage(img, side, side, 8, ReferenceAugment, rand.New(rand.NewPCG(1, 2)))
	b := PrepareImage(img, side, side, 8, ReferenceAugment, rand.New(rand.NewPCG(1, 2)))
	if !slices.Equal(a, b) {
		t.Error("augmentation is not deterministic for a seed")
	}
	if len(a) != 8*8*3 {
		t.Errorf("output has %d values, want %d", len(a), 8*8*3)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	resized := PrepareImage(img, side, side, side, Augment{}, nil)
	changed := 0
	for range 200 {
		if !slices.Equal(PrepareImage(img, side, side, side, ReferenceAugment, rng), resized) {
			changed++
		}
	}
	if changed < 70 || changed > 130 {
		t.Errorf("%d of 200 images cropped, want about half", changed)
	}
}

func TestCrop(t *testing.T) {
	// A 3×3 single-channel image; the 2×2 window at (1, 0).
	x := []float32{0, 1, 2, 3, 4, 5, 6, 7, 8}
	if got, want := Crop(x, 3, 1, 1, 0, 2), []float32{3, 4, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("Crop = %v, want %v", got, want)
	}
}

func TestValidationSplit(t *testing.T) {
	for _, tc := range []struct {
		n       int
		frac    float64
		wantVal int
	}{{100, 0.1, 10}, {7, 0.1, 1}, {5, 0, 0}, {3, 0.9, 2}} {
		tr, va := ValidationSplit(tc.n, tc.frac, 9)
		if len(va) != tc.wantVal || len(tr)+len(va) != tc.n {
			t.Errorf("n=%d frac=%g: %d train, %d val; want %d val", tc.n, tc.frac, len(tr), len(va), tc.wantVal)
		}
		all := append(append([]int{}, tr...), va...)
		slices.Sort(all)
		for i, v := range all {
			if v != i {
				t.Fatalf("n=%d: the split is not a partition: %v", tc.n, all)
			}
		}
		tr2, va2 := ValidationSplit(tc.n, tc.frac, 9)
		if !slices.Equal(tr, tr2) || !slices.Equal(va, va2) {
			t.Errorf("n=%d: the split is not deterministic", tc.n)
		}
	}
}
