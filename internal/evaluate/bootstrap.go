package evaluate

import (
	"math/rand/v2"
	"sort"
)

// Aggregate reduces per-item scores [S][N] to one number.
type Aggregate int

const (
	// MeanOverSets is the mean over sets of the per-set mean over items (the
	// reference's reported pair-wise scores and "top-1-class").
	MeanOverSets Aggregate = iota
	// MaxOverSets is the max over sets of the per-set mean ("top-1-class
	// (max)").
	MaxOverSets
)

// String names the aggregate as reports label it.
func (a Aggregate) String() string {
	if a == MaxOverSets {
		return "max over sets"
	}
	return "mean over sets"
}

// apply aggregates perItem [S][N] over the items listed in idx (with
// repeats, for the bootstrap).
func (a Aggregate) apply(perItem [][]float64, idx []int, scratch []float64) float64 {
	sets := scratch[:len(perItem)]
	for s, items := range perItem {
		var sum float64
		for _, i := range idx {
			sum += items[i]
		}
		sets[s] = sum / float64(len(idx))
	}
	if a == MaxOverSets {
		return maxOf(sets)
	}
	return mean(sets)
}

// BootstrapCI is the percentile bootstrap confidence interval over test
// items: items are resampled with replacement (the same items for every
// set), the aggregate is recomputed, and the (1−level)/2 and (1+level)/2
// quantiles of the resamples are returned. The generator is seeded, so the
// interval is reproducible.
func BootstrapCI(perItem [][]float64, agg Aggregate, resamples int, level float64, seed uint64) (lo, hi float64) {
	if len(perItem) == 0 || len(perItem[0]) == 0 || resamples < 1 {
		return 0, 0
	}
	n := len(perItem[0])
	rng := rand.New(rand.NewPCG(seed, 0x626f6f74)) // stream "boot"
	idx := make([]int, n)
	scratch := make([]float64, len(perItem))
	stats := make([]float64, resamples)
	for b := range stats {
		for k := range idx {
			idx[k] = rng.IntN(n)
		}
		stats[b] = agg.apply(perItem, idx, scratch)
	}
	sort.Float64s(stats)
	return quantile(stats, (1-level)/2), quantile(stats, (1+level)/2)
}

// quantile is numpy's default (linear) quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	k := int(pos)
	if k >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(k)
	return sorted[k] + f*(sorted[k+1]-sorted[k])
}
