package data

import (
	"fmt"
	"math"
	"strings"

	"github.com/visdec/visdec/internal/npy"
)

// getArray reads key from an open archive, checking its rank (-1: any).
func getArray(z *npy.NPZ, key string, rank int) (*npy.Array, error) {
	if !z.Has(key) {
		return nil, fmt.Errorf("%s: missing array %q (have %s)", z.Path(), key, strings.Join(z.Keys(), ", "))
	}
	a, err := z.Get(key)
	if err != nil {
		return nil, err // npy names the file and key
	}
	if rank >= 0 && len(a.Shape) != rank {
		return nil, fmt.Errorf("%s: %s has shape %s, want a rank-%d array", z.Path(), key, npy.ShapeString(a.Shape), rank)
	}
	return a, nil
}

// numbers returns a numeric (non-bool, non-object) array as float64.
func numbers(file, key string, a *npy.Array) ([]float64, error) {
	switch a.DType {
	case npy.Bool, npy.Object:
		return nil, fmt.Errorf("%s: %s has dtype %s, want a numeric array", file, key, a.DType)
	}
	return a.Float64()
}

// indices returns an integer array's values as ints, each in [0, n).
// Integral floats are accepted (NumPy often stores indices as floats).
func indices(file, key string, a *npy.Array, n int) ([]int, error) {
	switch a.DType {
	case npy.Bool, npy.Object, npy.Float16:
		return nil, fmt.Errorf("%s: %s has dtype %s, want integer indices", file, key, a.DType)
	}
	v, err := a.Int64()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, key, err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < 0 || x >= int64(n) {
			return nil, fmt.Errorf("%s: %s[%d] = %d is out of range [0, %d)", file, key, i, x, n)
		}
		out[i] = int(x)
	}
	return out, nil
}

// maskColumns turns an ROI mask over n voxels into the selected column
// indices, as npz['arr_k'][..., npz[roi]] does (vis_dec code/dataset.py:
// 264-268): a boolean mask of length n, or an integer index array (negative
// indices count from the end, as in NumPy). Selecting nothing is an error.
func maskColumns(file, key string, a *npy.Array, n int) ([]int, error) {
	if len(a.Shape) != 1 {
		return nil, fmt.Errorf("%s: ROI mask %s has shape %s, want a 1-D boolean mask or index array", file, key, npy.ShapeString(a.Shape))
	}
	var cols []int
	switch a.DType {
	case npy.Bool:
		m, _ := a.Bool()
		if len(m) != n {
			return nil, fmt.Errorf("%s: ROI mask %s has %d entries, the fMRI arrays have %d voxels", file, key, len(m), n)
		}
		for i, b := range m {
			if b {
				cols = append(cols, i)
			}
		}
	case npy.Object, npy.Float16, npy.Float32, npy.Float64:
		f, err := a.Float64()
		if err != nil || !isIntegral(f) {
			return nil, fmt.Errorf("%s: ROI mask %s has dtype %s, want bool or integer indices", file, key, a.DType)
		}
		fallthrough
	default:
		v, err := a.Int64()
		if err != nil {
			return nil, fmt.Errorf("%s: ROI mask %s: %w", file, key, err)
		}
		for i, x := range v {
			if x < 0 {
				x += int64(n)
			}
			if x < 0 || x >= int64(n) {
				return nil, fmt.Errorf("%s: ROI index %s[%d] = %d is out of range for %d voxels", file, key, i, v[i], n)
			}
			cols = append(cols, int(x))
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%s: ROI mask %s selects no voxels", file, key)
	}
	return cols, nil
}

func isIntegral(f []float64) bool {
	for _, v := range f {
		if v != math.Trunc(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// selectColumns gathers cols from each row of x ([rows, n]).
func selectColumns(x []float64, rows, n int, cols []int) []float64 {
	out := make([]float64, rows*len(cols))
	for r := range rows {
		src := x[r*n : (r+1)*n]
		dst := out[r*len(cols) : (r+1)*len(cols)]
		for j, c := range cols {
			dst[j] = src[c]
		}
	}
	return out
}

// isROIMask reports whether an npz key of a GOD subject file is an ROI mask
// rather than data (arr_0..arr_3).
func isROIMask(key string) bool {
	return !strings.HasPrefix(key, "arr_")
}
