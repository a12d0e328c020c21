package evaluate

import (
	"math/rand/v2"
	"testing"
)

func randImage(n int, seed uint64) []uint8 {
	rng := rand.New(rand.NewPCG(seed, 0))
	b := make([]uint8, n)
	for i := range b {
		b[i] = uint8(rng.IntN(256))
	}
	return b
}

// BenchmarkSSIM256 times one SSIM of two 256×256 RGB images (a GOD pair).
func BenchmarkSSIM256(b *testing.B) {
	x, y := randImage(256*256*3, 1), randImage(256*256*3, 2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SSIM(x, y, 256, 256, 3, 255); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPixelMetrics256 times the MSE and PCC of a 256×256 RGB pair.
func BenchmarkPixelMetrics256(b *testing.B) {
	x, y := randImage(256*256*3, 1), randImage(256*256*3, 2)
	for b.Loop() {
		MSELiteral(x, y)
		MSE(x, y)
		PCC(x, y)
	}
}

// BenchmarkSSIMPair times the per-pair part of the SSIM matrix (stats of
// both images cached), which dominates a full evaluation.
func BenchmarkSSIMPair(b *testing.B) {
	x, y := randImage(256*256*3, 1), randImage(256*256*3, 2)
	sc := newSSIMScratch(256, 256)
	sx, sy := sc.stats(x, 3), sc.stats(y, 3)
	for b.Loop() {
		sc.pair(x, y, sx, sy, 255)
	}
}
