package evaluate

import (
	"fmt"
	"math/rand/v2"
)

// N-way identification among the test items: the reconstruction of item i
// is compared (by a similarity score) with the ground truths of i and of n−1
// other test items drawn at random; a trial succeeds when its own ground
// truth scores strictly best. This is the reference's n_way_scores
// (eval_metrics.py:79-105, defined but unused there), applied to feature
// similarities. Chance is 1/n.

// IdentifyConfig sets n-way identification.
type IdentifyConfig struct {
	Ways   int    // n (2, 10, 50 in our reports)
	Trials int    // random candidate sets per item (default 1000)
	Seed   uint64 // seeds the candidate draws
}

// IdentifyResult is the n-way identification accuracy of every sample set.
type IdentifyResult struct {
	// PerItem is [S][N], the mean over trials; PerSet is [S].
	PerItem [][]float64
	PerSet  []float64
	// Mean and Max are over sets.
	Mean, Max float64
	// Expected is [S][N]: the exact mean over every candidate set.
	Expected [][]float64
}

// Identify computes n-way identification from a similarity matrix sim
// [S][N][N] (sim[s][i][j]: reconstruction i of set s against ground truth j;
// higher is more similar unless lowerIsBetter).
func Identify(sim [][][]float64, lowerIsBetter bool, cfg IdentifyConfig) (*IdentifyResult, error) {
	if len(sim) == 0 {
		return nil, fmt.Errorf("identification: no sample sets")
	}
	n := len(sim[0])
	if cfg.Ways < 2 || cfg.Ways > n {
		return nil, fmt.Errorf("identification: %d-way needs 2 ≤ n ≤ %d test items", cfg.Ways, n)
	}
	if cfg.Trials < 1 {
		return nil, fmt.Errorf("identification: trials = %d, want ≥ 1", cfg.Trials)
	}
	m := PairMetric{LowerIsBetter: lowerIsBetter}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x6964656e)) // stream "iden"
	perm := make([]int, n-1)
	buf := make([]int, cfg.Ways-1)
	r := &IdentifyResult{}
	for _, mat := range sim {
		items := make([]float64, n)
		exp := make([]float64, n)
		for i, row := range mat {
			// Candidates are the other items; count those that match at
			// least as well as the truth: drawing any of them fails a trial.
			beaters := 0
			for j, v := range row {
				if j != i && !m.Better(row[i], v) {
					beaters++
				}
			}
			ok := 0
			for t := 0; t < cfg.Trials; t++ {
				DrawDistractors(rng, i, n, buf, perm)
				success := true
				for _, j := range buf {
					if !m.Better(row[i], row[j]) {
						success = false
						break
					}
				}
				if success {
					ok++
				}
			}
			items[i] = float64(ok) / float64(cfg.Trials)
			exp[i] = hypergeomBelow(n-1, beaters, cfg.Ways-1, 1)
		}
		r.PerItem = append(r.PerItem, items)
		r.Expected = append(r.Expected, exp)
		r.PerSet = append(r.PerSet, mean(items))
	}
	r.Mean, r.Max = mean(r.PerSet), maxOf(r.PerSet)
	return r, nil
}

// SimilarityMatrix returns Pearson(predFeat[s][i], gtFeat[j]) as [S][N][N].
func SimilarityMatrix(predFeat [][][]float32, gtFeat [][]float32) [][][]float64 {
	out := make([][][]float64, len(predFeat))
	for s, set := range predFeat {
		out[s] = make([][]float64, len(set))
		for i, f := range set {
			out[s][i] = make([]float64, len(gtFeat))
			for j, g := range gtFeat {
				out[s][i][j] = Pearson(f, g)
			}
		}
	}
	return out
}
