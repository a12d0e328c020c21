package evaluate

import (
	"context"
	"testing"

	"github.com/visdec/visdec/internal/parity"
)

// fixtureSamples builds Samples from a metrics fixture's in/gt [N,H,W,3] and
// in/preds [S,N,H,W,3].
func fixtureSamples(t *testing.T, f *parity.Fixture) *Samples {
	t.Helper()
	gt, err := f.Array(t, "in/gt").Uint8()
	if err != nil {
		t.Fatal(err)
	}
	preds, err := f.Array(t, "in/preds").Uint8()
	if err != nil {
		t.Fatal(err)
	}
	ps := f.Shape(t, "in/preds")
	sets, n, h, w := ps[0], ps[1], ps[2], ps[3]
	img := h * w * 3
	data := make([]uint8, 0, n*(1+sets)*img)
	for i := 0; i < n; i++ {
		data = append(data, gt[i*img:(i+1)*img]...)
		for s := 0; s < sets; s++ {
			off := (s*n + i) * img
			data = append(data, preds[off:off+img]...)
		}
	}
	s, err := NewSamples(data, n, sets, h, w)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func flat3(m [][][]float64) []float64 {
	var out []float64
	for _, a := range m {
		for _, b := range a {
			out = append(out, b...)
		}
	}
	return out
}

func flat2(m [][]float64) []float64 {
	var out []float64
	for _, a := range m {
		out = append(out, a...)
	}
	return out
}

// TestMetricsParity checks every metrics fixture: the full metric matrices
// (MSE literal and float, PCC, SSIM), the pair-wise identification scores per
// item, per set and as reported, and n-way top-1 from the saved
// probabilities and distractor draws.
func TestMetricsParity(t *testing.T) {
	parity.ForEach(t, "metrics", "", func(t *testing.T, f *parity.Fixture) {
		s := fixtureSamples(t, f)
		fixtureKey := map[string]string{"mse_literal": "mse_uint8", "mse": "mse_float", "pcc": "pcc", "ssim": "ssim"}
		for _, m := range PixelMetrics(s.H, s.W) {
			key := fixtureKey[m.Key]
			scores, err := ScoreMatrix(context.Background(), s, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			f.Check64(t, "out/"+key+"_matrix", flat3(scores))
			perItem := PairwiseIdentification(scores, m.LowerIsBetter)
			f.Check64(t, "out/pairwise_"+key+"_per_item", flat2(perItem))
			perSet := make([]float64, len(perItem))
			for i, items := range perItem {
				perSet[i] = mean(items)
			}
			f.Check64(t, "out/pairwise_"+key+"_per_set", perSet)
			f.Check64(t, "out/pairwise_"+key, []float64{mean(perSet)})
		}

		var cfg struct {
			NumTrials int `json:"num_trials"`
			NWay      int `json:"n_way"`
			TopK      int `json:"top_k"`
		}
		if err := f.Config(&cfg); err != nil {
			t.Fatal(err)
		}
		probs := f.F32(t, "in/probs")
		ps := f.Shape(t, "in/probs")
		gt64, err := f.Array(t, "in/gt_class").Int64()
		if err != nil {
			t.Fatal(err)
		}
		dis64, err := f.Array(t, "in/distractors").Int64()
		if err != nil {
			t.Fatal(err)
		}
		sets, n, classes := ps[0], ps[1], ps[2]
		p3 := make([][][]float32, sets)
		d4 := make([][][][]int, sets)
		k := 0
		for si := range p3 {
			p3[si] = make([][]float32, n)
			d4[si] = make([][][]int, n)
			for i := range p3[si] {
				off := (si*n + i) * classes
				p3[si][i] = probs[off : off+classes]
				d4[si][i] = make([][]int, cfg.NumTrials)
				for tr := range d4[si][i] {
					d4[si][i][tr] = make([]int, cfg.NWay-1)
					for j := range d4[si][i][tr] {
						d4[si][i][tr][j] = int(dis64[k])
						k++
					}
				}
			}
		}
		gt := make([]int, n)
		for i, g := range gt64 {
			gt[i] = int(g)
		}
		r, err := NWayTop1(p3, gt, NWayConfig{Ways: cfg.NWay, TopK: cfg.TopK, Trials: cfg.NumTrials}, d4)
		if err != nil {
			t.Fatal(err)
		}
		f.Check64(t, "out/top1_per_item", flat2(r.PerItem))
		f.Check64(t, "out/top1_per_set", r.PerSet)
		f.Check64(t, "out/top1_class", []float64{r.Mean})
		f.Check64(t, "out/top1_class_max", []float64{r.Max})
	})
}
