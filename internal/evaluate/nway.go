package evaluate

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// NWayConfig sets the n-way top-k semantic classification of
// eval_metrics.py:113-146.
type NWayConfig struct {
	// Ways is n: the true class plus n−1 distractor classes (reference: 50).
	Ways int
	// TopK counts a trial as a success when the true class is among the k
	// most probable of the n (reference: 1).
	TopK int
	// Trials per item (reference: 1000 in gen_eval.py:61, 50 during
	// training-time validation in ddpm.py:498).
	Trials int
	// Seed seeds the distractor draws. Differs from the reference, whose
	// np.random is unseeded at evaluation (cad-spec §6 item 30).
	Seed uint64
}

// DefaultNWay is the reference's evaluation setting (gen_eval.py:61).
func DefaultNWay() NWayConfig { return NWayConfig{Ways: 50, TopK: 1, Trials: 1000, Seed: 2022} }

// Validate checks the configuration against the number of classes.
func (c NWayConfig) Validate(classes int) error {
	switch {
	case c.Ways < 2:
		return fmt.Errorf("n-way: ways = %d, want ≥ 2", c.Ways)
	case c.Ways > classes:
		return fmt.Errorf("n-way: %d ways need at least %d classes, the classifier has %d", c.Ways, c.Ways, classes)
	case c.TopK < 1 || c.TopK > c.Ways:
		return fmt.Errorf("n-way: top-k = %d, want 1..%d", c.TopK, c.Ways)
	case c.Trials < 1:
		return fmt.Errorf("n-way: trials = %d, want ≥ 1", c.Trials)
	}
	return nil
}

// NWayTrialSuccess scores one trial: with p the class probabilities of the
// reconstruction, g the pseudo-label and distractors the n−1 other classes
// drawn, it reports whether p[g] is among the top k of
// [p[g], p[distractors]...]: fewer than k distractors have p ≥ p[g]. A tie
// counts against the true class, as it does in the pair-wise scores.
func NWayTrialSuccess(p []float32, g int, distractors []int, topK int) bool {
	pg := p[g]
	beaten := 0
	for _, d := range distractors {
		if !(pg > p[d]) {
			beaten++
			if beaten >= topK {
				return false
			}
		}
	}
	return true
}

// NWayItem is one item's n-way accuracy: the mean over trials of
// NWayTrialSuccess, with the distractors of trial t given by draw(t, buf)
// (which fills buf with n−1 classes ≠ g).
func NWayItem(p []float32, g int, cfg NWayConfig, draw func(t int, buf []int)) float64 {
	buf := make([]int, cfg.Ways-1)
	ok := 0
	for t := 0; t < cfg.Trials; t++ {
		draw(t, buf)
		if NWayTrialSuccess(p, g, buf, cfg.TopK) {
			ok++
		}
	}
	return float64(ok) / float64(cfg.Trials)
}

// DrawDistractors fills buf with len(buf) distinct classes drawn uniformly
// from {0..classes−1} \ {g} (the reference's np.random.choice(pick_range,
// n−1, replace=False), with a different generator). perm is scratch of
// length classes−1.
func DrawDistractors(rng *rand.Rand, g, classes int, buf, perm []int) {
	for k := range perm {
		perm[k] = k
		if k >= g {
			perm[k] = k + 1
		}
	}
	// Partial Fisher–Yates: only the first len(buf) positions are needed.
	for k := range buf {
		j := k + rng.IntN(len(perm)-k)
		perm[k], perm[j] = perm[j], perm[k]
		buf[k] = perm[k]
	}
}

// NWayResult is the n-way classification accuracy of every sample set.
type NWayResult struct {
	// PerItem is [S][N]: the mean over trials per item.
	PerItem [][]float64
	// PerSet is [S]: the mean over items.
	PerSet []float64
	// Mean is the mean over sets ("top-1-class") and Max the max over sets
	// ("top-1-class (max)", optimistic; cad-spec §6 item 30).
	Mean, Max float64
	// Expected is [S][N]: the exact expectation over all distractor draws,
	// the limit of PerItem as trials grow; it carries no sampling noise.
	Expected [][]float64
}

// NWayTop1 computes the n-way top-k accuracy of probs [S][N][classes] (the
// classifier's probabilities for each reconstruction) against gtClass [N]
// (its prediction on each ground truth: the pseudo-label, as in
// eval_metrics.py:137). When distractors is non-nil it is [S][N][trials][n−1]
// and is used as given (parity with the saved reference draws); otherwise the
// draws come from a generator seeded with cfg.Seed, item by item in order.
func NWayTop1(probs [][][]float32, gtClass []int, cfg NWayConfig, distractors [][][][]int) (*NWayResult, error) {
	if len(probs) == 0 || len(probs[0]) != len(gtClass) {
		return nil, fmt.Errorf("n-way: probabilities for %d sets, want [S][%d][classes]", len(probs), len(gtClass))
	}
	classes := len(probs[0][0])
	if err := cfg.Validate(classes); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6e776179)) // stream "nway"
	perm := make([]int, classes-1)
	r := &NWayResult{}
	for s, set := range probs {
		if len(set) != len(gtClass) {
			return nil, fmt.Errorf("n-way: set %d has %d items, want %d", s, len(set), len(gtClass))
		}
		items := make([]float64, len(set))
		exp := make([]float64, len(set))
		for i, p := range set {
			g := gtClass[i]
			if len(p) != classes || g < 0 || g >= classes {
				return nil, fmt.Errorf("n-way: set %d item %d: %d probabilities and class %d, want %d classes", s, i, len(p), g, classes)
			}
			draw := func(_ int, buf []int) { DrawDistractors(rng, g, classes, buf, perm) }
			if distractors != nil {
				given := distractors[s][i]
				if len(given) != cfg.Trials {
					return nil, fmt.Errorf("n-way: set %d item %d: %d distractor trials given, want %d", s, i, len(given), cfg.Trials)
				}
				draw = func(t int, buf []int) { copy(buf, given[t]) }
			}
			items[i] = NWayItem(p, g, cfg, draw)
			exp[i] = nWayExpected(p, g, cfg)
		}
		r.PerItem = append(r.PerItem, items)
		r.Expected = append(r.Expected, exp)
		r.PerSet = append(r.PerSet, mean(items))
	}
	r.Mean, r.Max = mean(r.PerSet), maxOf(r.PerSet)
	return r, nil
}

// nWayExpected is the probability that a uniform draw of n−1 distinct
// distractors puts fewer than k classes with p ≥ p[g] among them: with b such
// classes among the C−1 others, Σ_{m<k} C(b,m)·C(C−1−b, n−1−m) / C(C−1, n−1).
func nWayExpected(p []float32, g int, cfg NWayConfig) float64 {
	b := 0
	for c, v := range p {
		if c != g && !(p[g] > v) {
			b++
		}
	}
	return hypergeomBelow(len(p)-1, b, cfg.Ways-1, cfg.TopK)
}

// hypergeomBelow is P(X < k) for X the number of marked items in a draw of
// size n without replacement from a population of size pop holding marked
// ones.
func hypergeomBelow(pop, marked, n, k int) float64 {
	total := lchoose(pop, n)
	var p float64
	for m := 0; m < k && m <= marked; m++ {
		if n-m > pop-marked || n-m < 0 {
			continue
		}
		p += math.Exp(lchoose(marked, m) + lchoose(pop-marked, n-m) - total)
	}
	return min(p, 1)
}

// lchoose is log C(n, k).
func lchoose(n, k int) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}

// mean is np.mean of a float64 vector, with numpy's pairwise summation so
// that results match the reference to the last bit where they can.
func mean(v []float64) float64 { return pairwiseSum(v) / float64(len(v)) }

// pairwiseSum is numpy's pairwise_sum: blocks of up to 128 values summed
// with eight accumulators, halves summed recursively above that.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		var s float64
		for _, x := range a {
			s += x
		}
		return s
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// Argmax returns the index of the largest value (the first on ties).
func Argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}
