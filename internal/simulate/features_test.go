package simulate

import (
	"math"
	"testing"
)

// grating renders a full-field luminance grating of the given cycles per
// image, wave-vector angle (radians, y up), phase and amplitude around
// mid-grey, as a 256×256 RGB image.
func grating(cycles, angle, phase, amp float64) []uint8 {
	const S = FileImageSize
	img := make([]uint8, S*S*3)
	kx, ky := 2*math.Pi*cycles/S*math.Cos(angle), 2*math.Pi*cycles/S*math.Sin(angle)
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			v := 0.5 + amp*math.Sin(kx*(float64(x)+0.5)-ky*(float64(y)+0.5)+phase)
			b := toByte(v)
			o := (y*S + x) * 3
			img[o], img[o+1], img[o+2] = b, b, b
		}
	}
	return img
}

// centre returns the three summary maps at the centre of level l.
func centre(f *Features, l int) (e0, ec, es float64) {
	res := GridSize >> l
	m := f.Energy[l][0]
	i := ((res/2)*res + res/2) * 3
	return float64(m[i]), float64(m[i+1]), float64(m[i+2])
}

// TestGaborEnergyTuning: a grating at a level's preferred frequency drives
// that level most, with energy close to its amplitude, independent of phase,
// and the orientation summaries point at its orientation.
func TestGaborEnergyTuning(t *testing.T) {
	for l := 0; l < NumLevels; l++ {
		for _, angle := range []float64{0, math.Pi / 4, math.Pi / 2, 2 * math.Pi / 3} {
			f := ComputeFeatures(grating(LevelCyclesPerImage(l), angle, 0, 0.4), FileImageSize)
			e0, ec, es := centre(f, l)
			for m := 0; m < NumLevels; m++ {
				if o, _, _ := centre(f, m); m != l && o >= e0 {
					t.Errorf("level %d grating at %.0f°: level %d energy %.3f ≥ preferred level's %.3f", l, angle*180/math.Pi, m, o, e0)
				}
			}
			// Orientation: the orientation channel at the wave vector's
			// angle responds; the summaries' angle recovers it.
			got := math.Atan2(es, ec) / 2
			d := math.Abs(math.Remainder(got-angle, math.Pi))
			if d > 12*math.Pi/180 {
				t.Errorf("level %d grating at %.0f°: orientation summary points at %.0f°", l, angle*180/math.Pi, got*180/math.Pi)
			}
			// Energy: the matched channel sees half the amplitude (one of
			// the grating's two complex exponentials); E0 is the mean over
			// 8 channels, so it lies between amp/16 and amp/2.
			if e0 < 0.4/16 || e0 > 0.4/2 {
				t.Errorf("level %d grating: mean energy %.3f outside (%.3f, %.3f)", l, e0, 0.4/16, 0.4/2)
			}
			// Phase invariance; the coarsest level (8×8 pixels) feels the
			// image border, so it gets a looser bound.
			tol := 0.02
			if l == NumLevels-1 {
				tol = 0.08
			}
			f2 := ComputeFeatures(grating(LevelCyclesPerImage(l), angle, math.Pi/2, 0.4), FileImageSize)
			if p, _, _ := centre(f2, l); math.Abs(p-e0) > tol*e0 {
				t.Errorf("level %d grating at %.0f°: energy %.4f at phase 0, %.4f at phase 90°: not phase invariant", l, angle*180/math.Pi, e0, p)
			}
		}
	}
}

// TestBlankHasNoEnergy: a mid-grey screen gives zero energy and colour.
func TestBlankHasNoEnergy(t *testing.T) {
	img := make([]uint8, FileImageSize*FileImageSize*3)
	for i := range img {
		img[i] = 128
	}
	f := ComputeFeatures(img, FileImageSize)
	for l := 0; l < NumLevels; l++ {
		for _, x := range f.Energy[l][0] {
			if math.Abs(float64(x)) > 1e-3 {
				t.Fatalf("level %d: energy %g on a blank screen", l, x)
			}
		}
	}
	for _, x := range f.Colour[0] {
		if x != 0 {
			t.Fatalf("colour %g on a grey screen", x)
		}
	}
}

// TestPoolWindowMass: a pRF's weights hold its Gaussian mass on the image:
// all of it in the middle, half at an edge, a quarter at a corner, none far
// outside, whatever the pyramid resolution chosen.
func TestPoolWindowMass(t *testing.T) {
	tests := []struct {
		name       string
		x, y, size float64
		want       float64
	}{
		{"centre, small", 0, 0, 0.2, 1},
		{"centre, large", 0.5, -0.5, 1.5, 1},
		{"large, clipped by the image", 0.5, -0.5, 2.5, 0.963}, // Φ(2.2)−Φ(−2.6) per axis
		{"left edge", -6, 0, 0.5, 0.5},
		{"corner", 6, 6, 0.8, 0.25},
		{"outside", 9, 0, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for l := 0; l < NumLevels; l++ {
				w := newPoolWindow(tt.x, tt.y, tt.size, fieldOfView, GridSize>>l)
				var sx, sy float64
				for _, a := range w.wx {
					sx += float64(a)
				}
				for _, b := range w.wy {
					sy += float64(b)
				}
				if got := sx * sy; math.Abs(got-tt.want) > 0.01 {
					t.Errorf("level %d (resolution %d): mass %.4f, want %.2f", l, w.res, got, tt.want)
				}
				if len(w.wx) > 12 || len(w.wy) > 12 {
					t.Errorf("level %d: window %d×%d, want at most 12 pixels wide", l, len(w.wx), len(w.wy))
				}
			}
		})
	}
}

// TestPoolMatchesDirectSum: pooling a map through a window equals the
// weighted sum written out.
func TestPoolMatchesDirectSum(t *testing.T) {
	const res = 32
	maps := make([]float32, res*res*2)
	for i := range maps {
		maps[i] = float32(math.Sin(float64(i) * 0.37))
	}
	w := newPoolWindow(1.3, -2.1, 0.6, fieldOfView, res)
	pyr := boxPyramid(maps, res, 2)
	var acc [2]float32
	w.pool(pyr[w.r], 2, acc[:])
	var want [2]float64
	for j, wy := range w.wy {
		for i, wx := range w.wx {
			o := ((w.y0+j)*w.res + w.x0 + i) * 2
			want[0] += float64(wy*wx) * float64(pyr[w.r][o])
			want[1] += float64(wy*wx) * float64(pyr[w.r][o+1])
		}
	}
	for k := range acc {
		if math.Abs(float64(acc[k])-want[k]) > 1e-5 {
			t.Errorf("map %d: pooled %v, direct %v", k, acc[k], want[k])
		}
	}
}
