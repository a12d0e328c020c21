package data

import (
	"fmt"
	"math"
)

// Test-normalisation modes (cad-spec §6 item 2).
const (
	// NormLiteral normalises the test set with the mean and std of the
	// already z-scored train matrix (≈0 and ≈1), as the reference does
	// (vis_dec code/dataset.py:272-273): the test set keeps its file scale.
	NormLiteral = "literal"
	// NormTrainStats normalises the test set with the raw train matrix's
	// mean and std: the evident intent, and the fix.
	NormTrainStats = "train-stats"
	// NormNone leaves the data unscaled (BOLD5000's Phase-2 loader).
	NormNone = "none"
)

// literalNote is attached to every dataset whose test set was normalised
// literally, so results can say so.
const literalNote = "test fMRI normalised as the reference does (cad-spec §6 item 2): with the mean/std of the " +
	"already z-scored train matrix (≈0/1), so the test set keeps the file's scale; use --test-norm train-stats for the fix"

// PadToPatch wrap-pads the columns of x ([rows, v], row-major) as the
// reference's pad_to_patch_size (vis_dec code/dataset.py:36-38):
// np.pad(x, ((0,0),(0, p - v%p)), 'wrap'). It always adds 1..p columns (a
// whole extra patch when v is already a multiple of p, cad-spec §6 item 1);
// the added columns repeat the first ones. It returns the padded matrix and
// its width.
func PadToPatch[T float32 | float64](x []T, rows, v, p int) ([]T, int) {
	target := v + p - v%p
	return WrapPadTo(x, rows, v, target), target
}

// WrapPadTo returns x ([rows, v]) with each row wrap-padded to target
// columns (np.pad mode 'wrap': column j is column j mod v) when target > v,
// truncated to its first target columns when target < v (Phase 2's fit to
// the checkpoint length, vis_dec phase2_finetune_cross.py:215-224), or x
// itself when target == v.
func WrapPadTo[T float32 | float64](x []T, rows, v, target int) []T {
	if target == v {
		return x
	}
	out := make([]T, rows*target)
	if v <= 0 {
		return out // nothing to wrap; callers reject empty ROIs first
	}
	for r := range rows {
		src := x[r*v : (r+1)*v]
		dst := out[r*target : (r+1)*target]
		if target < v {
			copy(dst, src[:target])
			continue
		}
		for j := 0; j < target; j += v {
			copy(dst[j:], src)
		}
	}
	return out
}

// toFloat32 narrows x (the reference's final FloatTensor conversion).
func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// Stats returns the mean and population standard deviation of x (np.mean,
// np.std with ddof=0), accumulated in float64. The reference's scalar
// z-score uses one mean and one std for the whole matrix, padding columns
// included (cad-spec §6 item 3).
//
// Loaders keep float64 through the preprocessing, as NumPy does for the
// float64 files the reference reads, and narrow to float32 at the end. For
// float32 input this differs from NumPy in the last bits (NumPy sums float32
// pairwise in float32; this sums in float64).
func Stats[T float32 | float64](x []T) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean = s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(x)))
}

// Normalize applies (x - mean) / std in place, as the reference's
// normalize (vis_dec code/dataset.py:56-59). A zero std is an error rather
// than the reference's silent NaNs.
func Normalize[T float32 | float64](x []T, mean, std float64) error {
	if std == 0 || math.IsNaN(std) || math.IsInf(std, 0) {
		return fmt.Errorf("cannot z-score: standard deviation is %v (constant or non-finite data)", std)
	}
	for i, v := range x {
		x[i] = T((float64(v) - mean) / std)
	}
	return nil
}

// countNonFinite counts NaN and ±Inf values.
func countNonFinite[T float32 | float64](x []T) (nan, inf int) {
	for _, v := range x {
		f := float64(v)
		if math.IsNaN(f) {
			nan++
		} else if math.IsInf(f, 0) {
			inf++
		}
	}
	return nan, inf
}

// checkFinite returns an error naming file and array when x holds NaN or
// Inf values.
func checkFinite[T float32 | float64](file, array string, x []T) error {
	if nan, inf := countNonFinite(x); nan+inf > 0 {
		return fmt.Errorf("%s: %s has %d NaN and %d Inf values (of %d); clean or mask them first", file, array, nan, inf, len(x))
	}
	return nil
}

// zscoreSplits pads train and test (and the test repeats) to the patch size
// and z-scores them per mode, returning the padded width. mode is
// NormLiteral, NormTrainStats or NormNone.
func zscoreSplits(train, test []float64, repeats [][]float64, rowsTrain, rowsTest, v, p int, mode string) (tr, tt []float64, reps [][]float64, width int, err error) {
	tr, width = PadToPatch(train, rowsTrain, v, p)
	tt, _ = PadToPatch(test, rowsTest, v, p)
	reps = make([][]float64, len(repeats))
	for i, r := range repeats {
		reps[i], _ = PadToPatch(r, len(r)/v, v, p)
	}
	if mode == NormNone {
		return tr, tt, reps, width, nil
	}
	mean, std := Stats(tr)
	if err = Normalize(tr, mean, std); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("train fMRI: %w", err)
	}
	if mode == NormLiteral {
		// The reference recomputes the statistics from the train matrix it
		// has just normalised (dataset.py:272-273).
		mean, std = Stats(tr)
	}
	if err = Normalize(tt, mean, std); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("test fMRI: %w", err)
	}
	for _, r := range reps {
		if err = Normalize(r, mean, std); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("test repeats: %w", err)
		}
	}
	return tr, tt, reps, width, nil
}

func checkNorm(mode string) error {
	switch mode {
	case NormLiteral, NormTrainStats, NormNone:
		return nil
	}
	return fmt.Errorf("unknown test normalisation %q (want %q or %q)", mode, NormLiteral, NormTrainStats)
}
