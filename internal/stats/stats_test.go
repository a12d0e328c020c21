package stats

import (
	"math"
	"testing"
)

func TestPearson(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"identical", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, 1},
		{"affine", []float64{1, 2, 3, 4}, []float64{-1, -3, -5, -7}, -1},
		// Centred a = (−1.5, −0.5, 0.5, 1.5), b = (−1, 1, 1, −1): orthogonal.
		{"uncorrelated", []float64{1, 2, 3, 4}, []float64{0, 2, 2, 0}, 0},
		// Centred a = (−1, 0, 1), b = (−1, 1, 0): r = 1/(√2·√2) = 0.5.
		{"half", []float64{1, 2, 3}, []float64{1, 3, 2}, 0.5},
	}
	for _, tt := range tests {
		if got := Pearson(tt.a, tt.b); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Pearson = %v, want %v", tt.name, got, tt.want)
		}
		a32, b32 := make([]float32, len(tt.a)), make([]float32, len(tt.b))
		for i := range tt.a {
			a32[i], b32[i] = float32(tt.a[i]), float32(tt.b[i])
		}
		if got := Pearson(a32, b32); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s (float32): Pearson = %v, want %v", tt.name, got, tt.want)
		}
	}
	if r := Pearson([]float64{2, 2, 2}, []float64{1, 2, 3}); !math.IsNaN(r) {
		t.Errorf("constant input: Pearson = %v, want NaN", r)
	}
}
