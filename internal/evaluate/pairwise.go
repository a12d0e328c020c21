package evaluate

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// PairMetric scores a reconstruction against a candidate ground truth.
type PairMetric struct {
	// Key names the metric in results ("mse_literal", "ssim", ...).
	Key string
	// LowerIsBetter is true for distances (MSE, LPIPS).
	LowerIsBetter bool
	// Score compares two [H, W, 3] images.
	Score func(pred, gt []uint8) float64
}

// Better reports whether score a (the true pair) beats score b (a distractor)
// strictly: ties and NaNs count as failures, as in the reference's
// larger_the_better / smaller_the_better (eval_metrics.py:12-16).
func (m PairMetric) Better(a, b float64) bool {
	if m.LowerIsBetter {
		return a < b
	}
	return a > b
}

// PixelMetrics returns the reference's pair-wise metrics that need no
// network: MSE literal (uint8 wrap-around) and correct (float), PCC, SSIM.
func PixelMetrics(h, w int) []PairMetric {
	return []PairMetric{
		{Key: "mse_literal", LowerIsBetter: true, Score: MSELiteral},
		{Key: "mse", LowerIsBetter: true, Score: MSE},
		{Key: "pcc", Score: PCC},
		{Key: "ssim", Score: func(a, b []uint8) float64 {
			v, err := SSIM(a, b, h, w, 3, 255)
			if err != nil {
				return math.NaN() // images below 7×7: every comparison fails
			}
			return v
		}},
	}
}

// ScoreMatrix computes m(pred[set][i], gt[j]) for every set, i and j: the
// result is [S][N][N] (index [s][i][j]). It runs on all cores and calls
// tick (if non-nil, from any goroutine) after each reconstruction's row.
func ScoreMatrix(ctx context.Context, s *Samples, m PairMetric, tick func()) ([][][]float64, error) {
	if m.Key == "ssim" {
		return ssimMatrix(ctx, s, tick)
	}
	return forEachPred(ctx, s, m.Key, tick, func() func(set, i int, row []float64) {
		return func(set, i int, row []float64) {
			p := s.Pred(set, i)
			for j := range row {
				row[j] = m.Score(p, s.GT(j))
			}
		}
	})
}

// forEachPred allocates an [S][N][N] matrix and fills row [set][i] with
// fill(set, i, row) on every core; newWorker gives each goroutine its own
// fill function (and so its own scratch). tick, if non-nil, follows each row.
func forEachPred(ctx context.Context, s *Samples, what string, tick func(), newWorker func() func(set, i int, row []float64)) ([][][]float64, error) {
	out := make([][][]float64, s.S)
	for set := range out {
		out[set] = make([][]float64, s.N)
		for i := range out[set] {
			out[set][i] = make([]float64, s.N)
		}
	}
	type job struct{ set, i int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fill := newWorker()
			for jb := range jobs {
				fill(jb.set, jb.i, out[jb.set][jb.i])
				if tick != nil {
					tick()
				}
			}
		}()
	}
	var err error
feed:
	for set := 0; set < s.S; set++ {
		for i := 0; i < s.N; i++ {
			select {
			case jobs <- job{set, i}:
			case <-ctx.Done():
				err = fmt.Errorf("pair-wise %s: %w", what, ctx.Err())
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	return out, err
}

// PairwiseIdentification turns a score matrix [S][N][N] into per-item
// identification accuracies [S][N]: the fraction of the N−1 other ground
// truths j that pred i matches worse than its own (pair_wise_score,
// eval_metrics.py:58-77). Chance is 0.5.
func PairwiseIdentification(scores [][][]float64, lowerIsBetter bool) [][]float64 {
	m := PairMetric{LowerIsBetter: lowerIsBetter}
	out := make([][]float64, len(scores))
	for set, mat := range scores {
		n := len(mat)
		out[set] = make([]float64, n)
		for i, row := range mat {
			count := 0
			for j, v := range row {
				if j != i && m.Better(row[i], v) {
					count++
				}
			}
			if n > 1 {
				out[set][i] = float64(count) / float64(n-1)
			}
		}
	}
	return out
}
