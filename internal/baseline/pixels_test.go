package baseline

import (
	"math/rand/v2"
	"testing"

	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/stats"
)

func TestPixelsIdentifiesTestImages(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const hw, v = 16, 300
	mix := make([]float64, v*8*8*3)
	for i := range mix {
		mix[i] = rng.NormFloat64()
	}
	mk := func(n int) data.Split {
		s := data.Split{N: n, H: hw, W: hw, Images: make([]uint8, n*hw*hw*3), FMRI: make([]float32, n*v)}
		for i := 0; i < n; i++ {
			img := s.Image(i)
			cy, cx, r := rng.IntN(hw), rng.IntN(hw), 3+rng.IntN(5)
			col := [3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
			for y := 0; y < hw; y++ {
				for x := 0; x < hw; x++ {
					for c := 0; c < 3; c++ {
						val := 128.0
						if (y-cy)*(y-cy)+(x-cx)*(x-cx) < r*r {
							val = col[c]
						}
						img[(y*hw+x)*3+c] = uint8(val)
					}
				}
			}
			for j := 0; j < v; j++ {
				sum := 0.0
				for k := 0; k < 192; k++ {
					yy, xx, c := k/24, k/3%8, k%3
					sum += mix[j*192+k] * float64(img[((2*yy)*hw+2*xx)*3+c]) / 255
				}
				s.FMRI[i*v+j] = float32(sum + 2*rng.NormFloat64())
			}
		}
		return s
	}
	ds := &data.Dataset{Name: "synthetic", Voxels: v, Train: mk(400), Test: mk(30)}
	rec, err := Pixels(ds, 8)
	if err != nil {
		t.Fatal(err)
	}
	if rec.N != 30 || len(rec.Samples) != 30*2*8*8*3 {
		t.Fatalf("got N=%d, %d bytes", rec.N, len(rec.Samples))
	}
	// Pair-wise identification by pixel correlation.
	p := 8 * 8 * 3
	vec := func(i, k int) []float64 {
		out := make([]float64, p)
		for j := range out {
			out[j] = float64(rec.Samples[(2*i+k)*p+j])
		}
		return out
	}
	wins, total := 0, 0
	for i := 0; i < rec.N; i++ {
		own := stats.Pearson(vec(i, 1), vec(i, 0))
		for j := 0; j < rec.N; j++ {
			if j != i {
				total++
				if own > stats.Pearson(vec(i, 1), vec(j, 0)) {
					wins++
				}
			}
		}
	}
	if acc := float64(wins) / float64(total); acc < 0.8 {
		t.Errorf("pair-wise identification %.3f, want ≥ 0.8 (λ=%g)", acc, rec.Lambda)
	}
	if _, err := Pixels(&data.Dataset{Name: "no images", Voxels: v, Train: data.Split{N: 3}}, 8); err == nil {
		t.Error("dataset without images: want an error")
	}
}
