package fmrimae

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"
)

// Mask is one per-sample random masking (random_masking,
// mae_for_fmri.py:289-325), computed on the host from uniform noise so that
// it can be injected in tests and reproduced exactly. The graph receives Keep
// as a one-hot selection matrix: gathering kept tokens and un-shuffling are
// then exact Einsums that run on every backend.
type Mask struct {
	B, L, K int // samples, patches, kept patches (len_keep)
	// Shuffle is ids_shuffle = argsort(noise) per sample (ascending: small is
	// keep, large is remove), [B, L].
	Shuffle []int
	// Restore is ids_restore = argsort(ids_shuffle), [B, L].
	Restore []int
	// Removed is the reference's mask: 1 = removed, 0 = kept, in original
	// patch order, [B, L].
	Removed []float32
	// Keep is the [B, K, L] one-hot selection: Keep[b, j, Shuffle[b, j]] = 1
	// for j < K, so row j is the j-th kept patch in shuffled order.
	Keep []float32
}

// NewMask builds the masking of b samples of l patches from noise [b, l]
// (values in [0, 1), as torch.rand), keeping LenKeep(l, ratio) patches.
// Ties in the noise keep their original order.
func NewMask(noise []float32, b, l int, ratio float64) (Mask, error) {
	if len(noise) != b*l {
		return Mask{}, fmt.Errorf("mask noise has %d values, want %d×%d", len(noise), b, l)
	}
	k := LenKeep(l, ratio)
	if k < 1 || k > l {
		return Mask{}, fmt.Errorf("mask ratio %g keeps %d of %d patches", ratio, k, l)
	}
	m := Mask{B: b, L: l, K: k,
		Shuffle: make([]int, b*l), Restore: make([]int, b*l),
		Removed: make([]float32, b*l), Keep: make([]float32, b*k*l)}
	for i := range b {
		row := noise[i*l : (i+1)*l]
		shuf := m.Shuffle[i*l : (i+1)*l]
		for j := range shuf {
			shuf[j] = j
		}
		sort.SliceStable(shuf, func(p, q int) bool { return row[shuf[p]] < row[shuf[q]] })
		for j, patch := range shuf {
			m.Restore[i*l+patch] = j
			if j < k {
				m.Keep[(i*k+j)*l+patch] = 1
			} else {
				m.Removed[i*l+patch] = 1
			}
		}
	}
	return m, nil
}

// RandomMask draws the noise from rng (float32 U[0,1)) and builds the mask.
func RandomMask(rng *rand.Rand, b, l int, ratio float64) (Mask, error) {
	return NewMask(UniformNoise(rng, b*l), b, l, ratio)
}

// UniformNoise returns n float32 values in [0, 1).
func UniformNoise(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = rng.Float32()
	}
	return out
}

// KeepTensor returns Keep as a [B, K, L] tensor, the graph input of Encode
// and Decode.
func (m Mask) KeepTensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float32(nil), m.Keep...), m.B, m.K, m.L)
}
