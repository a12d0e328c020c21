// Package stats holds the host-side statistics that several stages compute
// on plain slices: the simulator's reliabilities and literature checks,
// Phase 2's logged image correlations, evaluation's feature identification
// and the baseline's tests. One implementation keeps their numbers
// comparable (float64 accumulation, NaN for a constant input).
package stats

import "math"

// Pearson is the correlation coefficient of a and b (equal lengths), with
// the means and sums of squares accumulated in float64. It is NaN when
// either input is constant, as numpy's corrcoef is.
func Pearson[T float32 | float64](a, b []T) float64 {
	n := float64(len(a))
	var sa, sb float64
	for i := range a {
		sa += float64(a[i])
		sb += float64(b[i])
	}
	ma, mb := sa/n, sb/n
	var saa, sbb, sab float64
	for i := range a {
		x, y := float64(a[i])-ma, float64(b[i])-mb
		sab += x * y
		saa += x * x
		sbb += y * y
	}
	return sab / math.Sqrt(saa*sbb)
}

// Finite reports whether every value is neither NaN nor ±Inf.
func Finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
