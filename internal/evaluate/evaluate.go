package evaluate

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/visdec/visdec/internal/progress"
)

// Options selects what Evaluate computes.
type Options struct {
	// Seed seeds every random draw (n-way distractors, identification
	// candidates, bootstrap resamples), so results are reproducible.
	Seed uint64
	// NWay is the semantic classification setting (default: 50-way top-1,
	// 1000 trials, as gen_eval.py:61). Its Seed is replaced by Seed.
	NWay NWayConfig
	// IdentifyWays lists the n of n-way identification among test items
	// (default 2, 10, 50; those above N are skipped with a note).
	IdentifyWays []int
	// IdentifyTrials is the random candidate sets per item (default 1000).
	IdentifyTrials int
	// Bootstrap is the number of resamples for confidence intervals
	// (default 1000) at level CILevel (default 0.95).
	Bootstrap int
	CILevel   float64
	// Classifier enables n-way semantic classification and feature
	// identification; nil skips them.
	Classifier Classifier
	// LPIPS enables the pair-wise LPIPS-alex score; nil skips it.
	LPIPS *LPIPS
	// Progress receives progress lines (nil: none).
	Progress io.Writer
}

// DefaultOptions are the reference's evaluation settings with a fixed seed.
func DefaultOptions() Options {
	return Options{Seed: 2022, NWay: DefaultNWay(), IdentifyWays: []int{2, 10, 50}, IdentifyTrials: 1000, Bootstrap: 1000, CILevel: 0.95}
}

// Metric is one reported number with its uncertainty.
type Metric struct {
	// Key is a stable identifier ("pairwise_mse_literal", "top1_class_max").
	Key string `json:"key"`
	// Name says what was measured, for tables.
	Name string `json:"name"`
	// Label qualifies the value: "literal"/"correct" (MSE), "mean over
	// sets"/"max over sets" (aggregates over sample sets).
	Label string `json:"label"`
	// Value is the metric as the reference reports it.
	Value float64 `json:"value"`
	// CILow and CIHigh bound the percentile bootstrap confidence interval
	// over test items.
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	// Chance is the value of a decoder that knows nothing.
	Chance float64 `json:"chance"`
	// PerSet is the value of each sample set alone.
	PerSet []float64 `json:"per_set"`
	// PerItem is each test item's score averaged over sample sets.
	PerItem []float64 `json:"per_item"`
	// Reference is the key the reference logs this under, if it does.
	Reference string `json:"reference,omitempty"`
	// Note explains a knowing difference or a caveat.
	Note string `json:"note,omitempty"`
}

// Results is everything Evaluate measured.
type Results struct {
	Samples string `json:"samples"`
	N       int    `json:"items"`
	Sets    int    `json:"sample_sets"`
	H       int    `json:"height"`
	W       int    `json:"width"`
	Seed    uint64 `json:"seed"`
	// NWay is the semantic classification setting used.
	NWay NWayConfig `json:"n_way"`
	// Bootstrap resamples and confidence level of every interval.
	Bootstrap int     `json:"bootstrap_resamples"`
	CILevel   float64 `json:"ci_level"`
	// Classifier names the classifier behind the semantic metrics ("" when
	// none), and PseudoLabels its prediction on each ground truth.
	Classifier   string   `json:"classifier,omitempty"`
	PseudoLabels []int    `json:"pseudo_labels,omitempty"`
	ClassNames   []string `json:"pseudo_label_names,omitempty"`
	Metrics      []Metric `json:"metrics"`
	// Notes lists what was skipped and why, and facts a reader should know.
	Notes []string `json:"notes,omitempty"`
}

// Metric returns the metric with key, or nil.
func (r *Results) Metric(key string) *Metric {
	for i := range r.Metrics {
		if r.Metrics[i].Key == key {
			return &r.Metrics[i]
		}
	}
	return nil
}

// classNamer is implemented by classifiers that know their class names.
type classNamer interface{ ClassNames() []string }

// ClassNames implements classNamer.
func (m *CategoryClassifier) ClassNames() []string { return m.Classes }

// Evaluate computes every metric on s: pair-wise identification by MSE
// (literal and correct), PCC, SSIM and (with weights) LPIPS; n-way top-k
// semantic classification (mean and max over sample sets); n-way
// identification among test items by pixel correlation and by classifier
// features; each with a bootstrap confidence interval and its chance level.
func Evaluate(ctx context.Context, s *Samples, o Options) (*Results, error) {
	if s.N < 2 {
		return nil, fmt.Errorf("evaluate %s: %d test item, need at least 2 to compare", s.Source, s.N)
	}
	if o.Bootstrap < 1 || o.CILevel <= 0 || o.CILevel >= 1 {
		return nil, fmt.Errorf("evaluate: bootstrap %d resamples at level %g, want ≥ 1 and (0, 1)", o.Bootstrap, o.CILevel)
	}
	o.NWay.Seed = o.Seed
	r := &Results{Samples: s.Source, N: s.N, Sets: s.S, H: s.H, W: s.W, Seed: o.Seed, NWay: o.NWay, Bootstrap: o.Bootstrap, CILevel: o.CILevel}
	e := evaluator{s: s, o: o, r: r}

	var pccScores [][][]float64
	for _, m := range PixelMetrics(s.H, s.W) {
		if m.Key == "ssim" && (s.H < ssimWin || s.W < ssimWin) {
			r.Notes = append(r.Notes, fmt.Sprintf("SSIM skipped: %d×%d images are smaller than its 7×7 window", s.H, s.W))
			continue
		}
		scores, err := e.timed("pair-wise "+m.Key, s.S*s.N, func(tick func()) ([][][]float64, error) { return ScoreMatrix(ctx, s, m, tick) })
		if err != nil {
			return nil, err
		}
		if m.Key == "pcc" {
			pccScores = scores
		}
		e.pairwise(m, scores)
	}
	if o.LPIPS != nil && min(s.H, s.W) < lpipsMinSize {
		r.Notes = append(r.Notes, fmt.Sprintf("LPIPS skipped: AlexNet's pools need images of at least %d×%d, these are %d×%d", lpipsMinSize, lpipsMinSize, s.H, s.W))
	} else if o.LPIPS != nil {
		scores, err := e.timed("pair-wise lpips", 1+s.S, func(tick func()) ([][][]float64, error) { return lpipsMatrix(ctx, s, o.LPIPS, tick) })
		if err != nil {
			return nil, err
		}
		e.pairwise(PairMetric{Key: "lpips", LowerIsBetter: true}, scores)
	} else {
		r.Notes = append(r.Notes, "LPIPS-alex (the reference's pair-wise psm) not computed: it needs --lpips-weights (torchvision alexnet .pth and lpips v0.1 alex.pth)")
	}

	if err := e.identify("pixel", "pixel correlation", pccScores); err != nil {
		return nil, err
	}
	if o.Classifier != nil {
		if err := e.semantic(ctx); err != nil {
			return nil, err
		}
	} else {
		r.Notes = append(r.Notes, "n-way semantic classification not computed: no classifier (give --vit-h14 weights or a --classifier directory)")
	}
	return r, nil
}

// evaluator carries the state of one Evaluate call.
type evaluator struct {
	s *Samples
	o Options
	r *Results
}

// timed runs fn, which does total units of work and calls its tick after
// each, under a progress line with an ETA.
func (e *evaluator) timed(what string, total int, fn func(tick func()) ([][][]float64, error)) ([][][]float64, error) {
	if e.o.Progress == nil {
		return fn(nil)
	}
	bar := progress.New(e.o.Progress, what, total)
	var done atomic.Int64
	v, err := fn(func() { bar.Update(int(done.Add(1)), "") })
	if err == nil {
		bar.Finish("done")
	}
	return v, err
}

var pairwiseNames = map[string]struct{ name, label, ref, note string }{
	"mse_literal": {"pair-wise identification, MSE", "literal", "summary/pair-wise_mse",
		"as the reference computes it: on uint8, a−b and its square wrap modulo 256 (cad-spec §6.29)"},
	"mse":   {"pair-wise identification, MSE", "correct", "", "float MSE; the reference's is the literal one"},
	"pcc":   {"pair-wise identification, PCC", "mean over sets", "summary/pair-wise_pcc", ""},
	"ssim":  {"pair-wise identification, SSIM", "mean over sets", "summary/pair-wise_ssim", "skimage 0.19.3 structural_similarity, data_range 255, per channel"},
	"lpips": {"pair-wise identification, LPIPS-alex", "mean over sets", "summary/pair-wise_psm", "LPIPS v0.1 with AlexNet features; lower distance counts as better"},
}

// pairwise records the pair-wise identification metric from its scores.
func (e *evaluator) pairwise(m PairMetric, scores [][][]float64) {
	info := pairwiseNames[m.Key]
	e.add(Metric{Key: "pairwise_" + m.Key, Name: info.name, Label: info.label, Chance: 0.5, Reference: info.ref, Note: info.note},
		PairwiseIdentification(scores, m.LowerIsBetter), MeanOverSets)
}

// add fills value, per-set and per-item values and the interval of m from
// per-item scores [S][N], and appends it.
func (e *evaluator) add(m Metric, perItem [][]float64, agg Aggregate) {
	n := len(perItem[0])
	for _, items := range perItem {
		m.PerSet = append(m.PerSet, mean(items))
	}
	m.Value = mean(m.PerSet)
	if agg == MaxOverSets {
		m.Value = maxOf(m.PerSet)
	}
	m.PerItem = make([]float64, n)
	for i := range m.PerItem {
		var sum float64
		for _, items := range perItem {
			sum += items[i]
		}
		m.PerItem[i] = sum / float64(len(perItem))
	}
	// Each metric gets its own resamples (seed + index), all reproducible.
	m.CILow, m.CIHigh = BootstrapCI(perItem, agg, e.o.Bootstrap, e.o.CILevel, e.o.Seed+uint64(len(e.r.Metrics)))
	e.r.Metrics = append(e.r.Metrics, m)
}

// identify records n-way identification among test items from a
// similarity matrix (higher = more similar).
func (e *evaluator) identify(key, what string, sim [][][]float64) error {
	if sim == nil {
		return nil
	}
	for _, n := range e.o.IdentifyWays {
		if n > e.s.N {
			e.r.Notes = append(e.r.Notes, fmt.Sprintf("%d-way identification by %s skipped: only %d test items", n, what, e.s.N))
			continue
		}
		res, err := Identify(sim, false, IdentifyConfig{Ways: n, Trials: e.o.IdentifyTrials, Seed: e.o.Seed})
		if err != nil {
			return err
		}
		e.add(Metric{Key: fmt.Sprintf("identify_%s_%dway", key, n), Name: fmt.Sprintf("%d-way identification among test items, %s", n, what),
			Label: "mean over sets", Chance: 1 / float64(n),
			Note: fmt.Sprintf("reconstruction vs the ground truths of itself and %d other test items, %d seeded draws per item; the reference defines n_way_scores but does not use it", n-1, e.o.IdentifyTrials)},
			res.PerItem, MeanOverSets)
	}
	return nil
}

// semantic computes the classifier-based metrics.
func (e *evaluator) semantic(ctx context.Context) error {
	s, c := e.s, e.o.Classifier
	e.r.Classifier = c.Name()
	var bar *progress.Bar
	if e.o.Progress != nil {
		bar = progress.New(e.o.Progress, "classifier", 1+s.S)
	}
	gtProbs, gtFeats, err := c.Classify(ctx, s.GTs(), s.N, s.H, s.W)
	if err != nil {
		return err
	}
	if err := checkFiniteProbs(c.Name(), gtProbs); err != nil {
		return err
	}
	gtClass := make([]int, s.N)
	for i, p := range gtProbs {
		gtClass[i] = Argmax(p)
	}
	e.r.PseudoLabels = gtClass
	if cn, ok := c.(classNamer); ok {
		names := cn.ClassNames()
		for _, g := range gtClass {
			e.r.ClassNames = append(e.r.ClassNames, names[g])
		}
	}
	probs := make([][][]float32, s.S)
	feats := make([][][]float32, s.S)
	for set := 0; set < s.S; set++ {
		if bar != nil {
			bar.Update(1+set, fmt.Sprintf("sample set %d", set+1))
		}
		if probs[set], feats[set], err = c.Classify(ctx, s.Preds(set), s.N, s.H, s.W); err != nil {
			return err
		}
		if err := checkFiniteProbs(c.Name(), probs[set]); err != nil {
			return err
		}
	}
	if bar != nil {
		bar.Finish("done")
	}

	cfg := e.o.NWay
	if classes := c.NumClasses(); cfg.Ways > classes {
		e.r.Notes = append(e.r.Notes, fmt.Sprintf("n-way classification uses %d ways, not %d: the classifier has %d classes", classes, cfg.Ways, classes))
		cfg.Ways = classes
		cfg.TopK = min(cfg.TopK, classes)
		e.r.NWay = cfg
	}
	res, err := NWayTop1(probs, gtClass, cfg, nil)
	if err != nil {
		return err
	}
	chance := float64(cfg.TopK) / float64(cfg.Ways)
	name := fmt.Sprintf("%d-way top-%d semantic classification", cfg.Ways, cfg.TopK)
	note := fmt.Sprintf("pseudo-label = the classifier's prediction on the ground truth; %d distractor classes drawn from the others, %d seeded trials per item", cfg.Ways-1, cfg.Trials)
	e.add(Metric{Key: "top1_class", Name: name, Label: "mean over sets", Chance: chance, Reference: "summary/top-1-class", Note: note}, res.PerItem, MeanOverSets)
	e.add(Metric{Key: "top1_class_max", Name: name, Label: "max over sets", Chance: chance, Reference: "summary/top-1-class (max)",
		Note: "the best of the sample sets: optimistic (cad-spec §6.30)"}, res.PerItem, MaxOverSets)
	e.add(Metric{Key: "top1_class_expected", Name: name + " (exact expectation)", Label: "mean over sets", Chance: chance,
		Note: "the limit of infinitely many trials: no sampling noise from the distractor draws"}, res.Expected, MeanOverSets)

	return e.identify("features", "classifier features (Pearson)", SimilarityMatrix(feats, gtFeats))
}

// lpipsMatrix computes LPIPS(pred[set][i], gt[j]) for every set, i and j.
func lpipsMatrix(ctx context.Context, s *Samples, m *LPIPS, tick func()) ([][][]float64, error) {
	if tick == nil {
		tick = func() {}
	}
	gt, err := m.Features(ctx, s.GTs(), s.N, s.H, s.W)
	if err != nil {
		return nil, err
	}
	tick()
	out := make([][][]float64, s.S)
	for set := range out {
		preds, err := m.Features(ctx, s.Preds(set), s.N, s.H, s.W)
		if err != nil {
			return nil, err
		}
		out[set] = make([][]float64, s.N)
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for i := range preds {
			out[set][i] = make([]float64, s.N)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				for j := range gt {
					out[set][i][j] = m.Distance(preds[i], gt[j])
				}
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tick()
	}
	return out, nil
}
