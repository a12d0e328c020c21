package simulate

import (
	"bytes"
	"math"
	"testing"
)

// TestProceduralCategoriesDistinct: at least 200 categories, any two
// differing in two of the four attributes, with unique names, faces and
// places among them, and the same table on every call.
func TestProceduralCategoriesDistinct(t *testing.T) {
	cats := ProceduralCategories(200)
	if len(cats) != 200 {
		t.Fatalf("%d categories, want 200", len(cats))
	}
	names := map[string]bool{}
	faces, places := 0, 0
	var seen [4]map[int]bool
	for i := range seen {
		seen[i] = map[int]bool{}
	}
	for i, a := range cats {
		if names[a.Name] {
			t.Errorf("duplicate category name %q", a.Name)
		}
		names[a.Name] = true
		if a.Face {
			faces++
		}
		if a.Place {
			places++
		}
		for k, v := range []int{a.Shape, a.Palette, a.Texture, a.Background} {
			seen[k][v] = true
		}
		for _, b := range cats[:i] {
			d := 0
			if a.Shape != b.Shape {
				d++
			}
			if a.Palette != b.Palette {
				d++
			}
			if a.Texture != b.Texture {
				d++
			}
			if a.Background != b.Background {
				d++
			}
			if d < 2 {
				t.Errorf("categories %q and %q differ in %d attributes, want ≥ 2", a.Name, b.Name, d)
			}
		}
	}
	if faces < 3 || places < 30 {
		t.Errorf("%d face and %d place categories, want some of each", faces, places)
	}
	for k, want := range []int{len(shapeNames), len(palettes), len(textureNames), len(backgroundNames)} {
		if len(seen[k]) != want {
			t.Errorf("attribute %d: %d of %d values used", k, len(seen[k]), want)
		}
	}
	again := ProceduralCategories(200)
	for i := range cats {
		if cats[i] != again[i] {
			t.Fatalf("category %d differs between calls: %+v vs %+v", i, cats[i], again[i])
		}
	}
}

// colourHistogram is a coarse 4×4×4 RGB histogram, normalised.
func colourHistogram(img []uint8) []float64 {
	h := make([]float64, 64)
	for i := 0; i < len(img); i += 3 {
		h[int(img[i])/64*16+int(img[i+1])/64*4+int(img[i+2])/64]++
	}
	for i := range h {
		h[i] /= float64(len(img) / 3)
	}
	return h
}

// TestRenderDeterministicAndDistinct: rendering is deterministic, and images
// of one category resemble each other more than images of different
// categories (colour histograms, an L1 distance).
func TestRenderDeterministicAndDistinct(t *testing.T) {
	cats := ProceduralCategories(200)
	const size, perCat, nCats = 48, 4, 40
	hists := make([][][]float64, nCats)
	for c := 0; c < nCats; c++ {
		cat := cats[c*5]
		for i := 0; i < perCat; i++ {
			img := RenderProcedural(cat, NewInstance(3, cat, i), size)
			if i == 0 && !bytes.Equal(img, RenderProcedural(cat, NewInstance(3, cat, i), size)) {
				t.Fatalf("category %q: two renders of the same instance differ", cat.Name)
			}
			hists[c] = append(hists[c], colourHistogram(img))
		}
	}
	l1 := func(a, b []float64) float64 {
		s := 0.0
		for i := range a {
			s += math.Abs(a[i] - b[i])
		}
		return s
	}
	var within, between float64
	var nw, nb int
	for c := range hists {
		for i := range hists[c] {
			for d := range hists {
				for j := range hists[d] {
					if c == d && i < j {
						within += l1(hists[c][i], hists[d][j])
						nw++
					} else if c < d {
						between += l1(hists[c][i], hists[d][j])
						nb++
					}
				}
			}
		}
	}
	within /= float64(nw)
	between /= float64(nb)
	t.Logf("mean histogram distance: within categories %.3f, between %.3f", within, between)
	if !(within < 0.6*between) {
		t.Errorf("within-category distance %.3f not well below between-category %.3f", within, between)
	}
}

// TestUpsampleNearest: a small render replicated to 256 keeps its pixels.
func TestUpsampleNearest(t *testing.T) {
	src := []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12} // 2×2
	dst := make([]uint8, 4*4*3)
	upsampleNearest(src, 2, 4, dst)
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			s := ((y/2)*2 + x/2) * 3
			d := (y*4 + x) * 3
			if !bytes.Equal(dst[d:d+3], src[s:s+3]) {
				t.Errorf("pixel (%d,%d) = %v, want %v", x, y, dst[d:d+3], src[s:s+3])
			}
		}
	}
}
