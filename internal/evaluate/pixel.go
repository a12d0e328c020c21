package evaluate

import (
	"math"

	"github.com/visdec/visdec/internal/stats"
)

// Pixel-space similarity of two images of equal size (any layout, uint8).
// These follow vis_dec code/eval_metrics.py:18-22.

// MSELiteral is the reference's mse_metric exactly as it runs on uint8 arrays
// (eval_metrics.py:18-19, cad-spec §6 item 29): a−b wraps modulo 256, the
// square wraps modulo 256 again, and the mean of those bytes is taken in
// float64. It is kept for comparability; it is not a mean squared error.
func MSELiteral(a, b []uint8) float64 {
	var sum uint64
	for i := range a {
		d := a[i] - b[i] // uint8 arithmetic wraps, as numpy's does
		sum += uint64(d * d)
	}
	return float64(sum) / float64(len(a))
}

// MSE is the correct mean squared error, computed in float64.
func MSE(a, b []uint8) float64 {
	var sum float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return sum / float64(len(a))
}

// PCC is Pearson's correlation of the flattened images in float64, as
// np.corrcoef(a.flatten(), b.flatten())[0, 1]. It is NaN when either image
// is flat, as numpy's is (every comparison with it then fails).
func PCC(a, b []uint8) float64 {
	n := float64(len(a))
	var sa, sb float64
	for i := range a {
		sa += float64(a[i])
		sb += float64(b[i])
	}
	ma, mb := sa/n, sb/n
	var caa, cbb, cab float64
	for i := range a {
		x, y := float64(a[i])-ma, float64(b[i])-mb
		caa += x * x
		cbb += y * y
		cab += x * y
	}
	// np.corrcoef divides the covariance by both standard deviations (the
	// 1/(n−1) factors cancel) and clips to [−1, 1].
	r := cab / math.Sqrt(caa) / math.Sqrt(cbb)
	if r > 1 {
		r = 1
	} else if r < -1 {
		r = -1
	}
	return r
}

// Pearson is the correlation of two float vectors (NaN when either is
// constant). Identification uses it on feature vectors.
func Pearson(a, b []float32) float64 { return stats.Pearson(a, b) }
