package data

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

// near compares got with want elementwise: |got−want| ≤ atol + rtol·|want|.
func near(t *testing.T, what string, got, want []float32, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > atol+rtol*math.Abs(float64(want[i])) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestPadToPatch(t *testing.T) {
	tests := []struct {
		name    string
		x       []float32
		rows, v int
		p       int
		want    []float32
	}{
		{"pads to next multiple", []float32{1, 2, 3, 4, 5}, 1, 5, 4, []float32{1, 2, 3, 4, 5, 1, 2, 3}},
		{"full patch when divisible", []float32{1, 2, 3, 4}, 1, 4, 4, []float32{1, 2, 3, 4, 1, 2, 3, 4}},
		{"one column", []float32{7, 8}, 2, 1, 3, []float32{7, 7, 7, 8, 8, 8}},
		{"two rows", []float32{1, 2, 3, 4, 5, 6}, 2, 3, 2, []float32{1, 2, 3, 1, 4, 5, 6, 4}},
		{"pad longer than row wraps again", []float32{1, 2, 3}, 1, 3, 16, []float32{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, w := PadToPatch(tt.x, tt.rows, tt.v, tt.p)
			if w*tt.rows != len(tt.want) || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PadToPatch = %v (width %d), want %v", got, w, tt.want)
			}
			if w%tt.p != 0 || w <= tt.v || w > tt.v+tt.p {
				t.Errorf("width %d: want a multiple of %d in (%d, %d]", w, tt.p, tt.v, tt.v+tt.p)
			}
		})
	}
}

func TestWrapPadTo(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6} // [2, 3]
	tests := []struct {
		target int
		want   []float32
	}{
		{3, x},
		{5, []float32{1, 2, 3, 1, 2, 4, 5, 6, 4, 5}},
		{7, []float32{1, 2, 3, 1, 2, 3, 1, 4, 5, 6, 4, 5, 6, 4}},
		{2, []float32{1, 2, 4, 5}},
	}
	for _, tt := range tests {
		if got := WrapPadTo(x, 2, 3, tt.target); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("WrapPadTo(%d) = %v, want %v", tt.target, got, tt.want)
		}
	}
}

func TestStatsNormalize(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	m, s := Stats(x)
	if m != 2.5 || math.Abs(s-math.Sqrt(1.25)) > 1e-15 { // population std, as np.std
		t.Errorf("Stats = %v, %v", m, s)
	}
	if err := Normalize(x, m, s); err != nil {
		t.Fatal(err)
	}
	m2, s2 := Stats(x)
	if math.Abs(m2) > 1e-15 || math.Abs(s2-1) > 1e-15 {
		t.Errorf("after Normalize: mean %v std %v", m2, s2)
	}
	if err := Normalize([]float32{3, 3}, 3, 0); err == nil || !strings.Contains(err.Error(), "standard deviation") {
		t.Errorf("Normalize with std 0: %v", err)
	}
}

// TestWindowMeans checks np.array_split semantics: 37 frames in 3 sections
// are 13, 12, 12 frames.
func TestWindowMeans(t *testing.T) {
	x := make([]float64, 37)
	for i := range x {
		x[i] = float64(i)
	}
	got := WindowMeans(x, 37, 1, 3)
	want := []float64{6, 18.5, 30.5} // mean(0..12), mean(13..24), mean(25..36)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WindowMeans = %v, want %v", got, want)
	}
}

func TestMaskColumns(t *testing.T) {
	tests := []struct {
		name    string
		a       *npy.Array
		n       int
		want    []int
		wantErr string
	}{
		{"bool", npy.FromBool([]bool{false, true, true, false}, 4), 4, []int{1, 2}, ""},
		{"indices", npy.FromInt64([]int64{3, 0, -1}, 3), 4, []int{3, 0, 3}, ""},
		{"integral floats", npy.FromFloat64([]float64{1, 2}, 2), 4, []int{1, 2}, ""},
		{"empty", npy.FromBool([]bool{false, false}, 2), 2, nil, "selects no voxels"},
		{"wrong length", npy.FromBool([]bool{true}, 1), 2, nil, "has 1 entries"},
		{"out of range", npy.FromInt64([]int64{4}, 1), 4, nil, "out of range"},
		{"fractional", npy.FromFloat64([]float64{1.5}, 1), 4, nil, "want bool or integer"},
		{"2-D", npy.FromBool([]bool{true, true}, 1, 2), 2, nil, "want a 1-D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := maskColumns("f.npz", "VC", tt.a, tt.n)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "f.npz") {
					t.Errorf("error %v, want %q naming f.npz", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("maskColumns = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
