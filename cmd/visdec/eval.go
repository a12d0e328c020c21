package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/report"
	"github.com/visdec/visdec/internal/simulate"
	"github.com/visdec/visdec/internal/torchckpt"
)

func init() {
	register(&command{
		name:  "eval",
		args:  "--samples samples.npz --out DIR [flags]",
		short: "score reconstructions: metrics.json, metrics.csv and report.html",
		long: `Reads samples.npz (uint8 [N, 1+S, H, W, 3]: the ground truth of each test
item at index 0, then S reconstructions) and computes, each with a 95%
bootstrap confidence interval over test items and its chance level:

  pair-wise identification (chance 0.5) by MSE — "literal" as the reference
  computes it on uint8 (wrapping modulo 256) and "correct" in float — PCC,
  SSIM (skimage 0.19.3) and, with --lpips-weights, LPIPS-alex;
  n-way top-1 semantic classification (the reference's headline metric),
  as the mean and as the max over sample sets, with --vit-h14 (torchvision
  ViT-H/14 SWAG E2E weights) or a --classifier trained by visdec;
  n-way identification among the test items (n = 2, 10, 50) by pixel
  correlation and by classifier features.

Writes DIR/metrics.json, DIR/metrics.csv, DIR/grid.png and DIR/report.html
(self-contained: every ground truth beside its samples, the metric table
with baseline and ceiling columns, training curves of --runs).

LPIPS is reported only when --lpips-weights names torchvision's alexnet .pth
and lpips' v0.1 alex.pth; no weights are downloaded.

On simulated data, --train-classifier procedural --classifier DIR first
trains a small CNN on new renders of all the simulator's categories (never
its test images) and keeps it in DIR, a run directory whose metrics.jsonl
and held-out accuracy the report shows; later runs reuse it.`,
		run: runEval,
	})
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := evaluate.DefaultOptions()
	fs := newFlagSet(commands["eval"], stdout)
	samplesPath := fs.String("samples", "", "samples.npz: uint8 [N, 1+S, H, W, 3], ground truth at index 0 (required)")
	out := fs.String("out", "", "output directory for metrics.json, metrics.csv, grid.png and report.html (required)")
	expectSamples := fs.Int("expect-samples", 0, "fail unless every item has at least this many samples (0: any)")
	expectItems := fs.Int("expect-items", 0, "fail unless samples.npz has exactly this many test items (0: any)")
	dataDir := fs.String("data", "", "GOD-format data directory: its images_256.npz test images must be the samples' ground truths")
	subject := fs.String("subject", "sbj_1", "subject whose ceiling --ceiling reads from a simulation directory")
	runs := fs.String("runs", "", "comma-separated run directories whose metrics.jsonl are plotted")
	baseline := fs.String("baseline", "", "baseline to compare with: its samples.npz (evaluated alike) or its metrics.json")
	ceiling := fs.String("ceiling", "", "ceiling: a simulation directory (truth/ceiling.json, for --subject) or a JSON file of metric key → value")
	classifierDir := fs.String("classifier", "", "directory of a category classifier trained by visdec (semantic metrics on simulated data)")
	trainSpec := fs.String("train-classifier", "", `first train the --classifier directory (unless it holds a trained one) on the simulator's stimuli: "procedural", "fashion-mnist" or an image folder`)
	catCfg := evaluate.DefaultCategoryConfig()
	trainCats := fs.Int("classifier-categories", 200, "categories of --train-classifier (the simulation's train + test categories)")
	trainPer := fs.Int("classifier-images", 24, "new images rendered per category for --train-classifier")
	trainRender := fs.Int("classifier-render", 64, "side at which --train-classifier renders its images")
	trainSeed := fs.Uint64("classifier-seed", 1, "seed of the --train-classifier images (any; new instances are drawn)")
	fs.IntVar(&catCfg.Epochs, "classifier-epochs", catCfg.Epochs, "training epochs of --train-classifier")
	vitPath := fs.String("vit-h14", "", "torchvision vit_h_14 SWAG E2E weights (.pth) for the reference's semantic metric")
	lpipsWeights := fs.String("lpips-weights", "", "comma-separated weight files for LPIPS-alex: torchvision alexnet .pth and lpips v0.1 alex.pth")
	backendSpec := fs.String("backend", "", "compute backend for the networks (default $VISDEC_BACKEND or go:parallelism=-1)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed for distractor draws, identification candidates and bootstrap resamples")
	fs.IntVar(&o.NWay.Ways, "ways", o.NWay.Ways, "n of the n-way semantic classification (reference: 50)")
	fs.IntVar(&o.NWay.Trials, "trials", o.NWay.Trials, "trials per item of n-way classification (reference: 1000 in gen_eval, 50 during training)")
	fs.IntVar(&o.IdentifyTrials, "identify-trials", o.IdentifyTrials, "random candidate sets per item of n-way identification")
	fs.IntVar(&o.Bootstrap, "bootstrap", o.Bootstrap, "bootstrap resamples for the confidence intervals")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *samplesPath == "" || *out == "" {
		return usagef("--samples and --out are required")
	}
	if *vitPath != "" && *classifierDir != "" {
		return usagef("give --vit-h14 or --classifier, not both")
	}
	if *trainSpec != "" && *classifierDir == "" {
		return usagef("--train-classifier needs --classifier DIR to train into")
	}
	if o.NWay.Ways < 2 || o.NWay.Trials < 1 || o.IdentifyTrials < 1 || o.Bootstrap < 1 {
		return usagef("--ways must be ≥ 2 and --trials, --identify-trials, --bootstrap ≥ 1")
	}

	s, err := evaluate.ReadSamples(*samplesPath)
	if err != nil {
		return err
	}
	if err := s.CheckExpected(*expectItems, *expectSamples); err != nil {
		return err
	}
	if *dataDir != "" {
		if err := checkAgainstData(s, *dataDir); err != nil {
			return err
		}
	}
	ceil, err := readCeiling(*ceiling, *subject)
	if err != nil {
		return err
	}
	var runDirs []string
	if *runs != "" {
		runDirs = strings.Split(*runs, ",")
	}

	var be compute.Backend
	var classifierNote string
	if *vitPath != "" || *classifierDir != "" || *lpipsWeights != "" {
		if be, err = backend.New(*backendSpec); err != nil {
			return err
		}
	}
	switch {
	case *vitPath != "":
		sd, err := torchckpt.LoadStateDict(*vitPath)
		if err != nil {
			return err
		}
		if o.Classifier, err = evaluate.NewViT(be, evaluate.ViTH14(), sd, "ViT-H/14 SWAG E2E ("+*vitPath+")"); err != nil {
			return err
		}
	case *classifierDir != "":
		if *trainSpec != "" && !evaluate.IsCategoryClassifierDir(*classifierDir) {
			data, err := classifierImages(ctx, *trainSpec, *trainSeed, *trainCats, *trainPer, *trainRender, stderr)
			if err != nil {
				return err
			}
			if _, err := evaluate.TrainCategoryClassifier(ctx, be, data, catCfg, *classifierDir, stderr); err != nil {
				return err
			}
		}
		c, err := evaluate.LoadCategoryClassifier(be, *classifierDir)
		if err != nil {
			return err
		}
		classifierNote = fmt.Sprintf("classifier %s: %d classes, top-1 accuracy %.3f on held-out images of its training categories", *classifierDir, len(c.Classes), c.HeldOutAccuracy)
		if math.IsNaN(c.HeldOutAccuracy) {
			classifierNote = fmt.Sprintf("classifier %s: %d classes, no held-out images to measure its accuracy", *classifierDir, len(c.Classes))
		}
		fmt.Fprintln(stderr, classifierNote)
		runDirs = append(runDirs, *classifierDir) // its training curves
		o.Classifier = c
	}
	if *lpipsWeights != "" {
		sd := map[string]nn.Tensor{}
		for _, p := range strings.Split(*lpipsWeights, ",") {
			part, err := torchckpt.LoadStateDict(p)
			if err != nil {
				return err
			}
			for k, v := range part {
				sd[k] = v
			}
		}
		if o.LPIPS, err = evaluate.NewLPIPS(be, evaluate.TorchvisionAlex, sd); err != nil {
			return fmt.Errorf("--lpips-weights %s: %w", *lpipsWeights, err)
		}
	}
	o.Progress = stderr

	r, err := evaluate.Evaluate(ctx, s, o)
	if err != nil {
		return err
	}
	if classifierNote != "" {
		r.Notes = append(r.Notes, classifierNote)
	}
	r.Notes = append(r.Notes, producerNotes(*samplesPath)...)
	var base *report.Comparison
	if *baseline != "" {
		if base, err = readBaseline(ctx, *baseline, s, o); err != nil {
			return err
		}
	}
	if err := report.Write(*out, r, s, report.Options{Baseline: base, Ceiling: ceil, Runs: runDirs}); err != nil {
		return err
	}
	for _, m := range r.Metrics {
		fmt.Fprintf(stdout, "%-22s %-15s %.4f  [%.4f, %.4f]  chance %.3f\n", m.Key, m.Label, m.Value, m.CILow, m.CIHigh, m.Chance)
	}
	fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(*out, report.ReportHTML))
	return nil
}

// checkAgainstData checks that the samples' ground truths are the test
// images of a GOD-format directory: same count, and, at equal size, the same
// pixels up to the reference's ±1 quantisation (cad-spec §6 item 31).
func checkAgainstData(s *evaluate.Samples, dir string) error {
	path := filepath.Join(dir, "images_256.npz")
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	defer z.Close()
	a, err := z.Get("test_images")
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if a.DType != npy.Uint8 || len(a.Shape) != 4 || a.Shape[3] != 3 {
		return fmt.Errorf("--data %s: test_images has dtype %s shape %v, want uint8 [N, H, W, 3]", path, a.DType, a.Shape)
	}
	n, h, w := a.Shape[0], a.Shape[1], a.Shape[2]
	if s.N != n {
		return fmt.Errorf("samples %s: %d items, but %s has %d test images", s.Source, s.N, path, n)
	}
	if h != s.H || w != s.W {
		return nil // resized by the generator: only the count can be checked
	}
	imgs := a.Data.([]uint8)
	for i := 0; i < n; i++ {
		if mean := s.GTDistance(i, imgs[i*h*w*3:(i+1)*h*w*3]); mean > 2 {
			return fmt.Errorf("samples %s: item %d's ground truth differs from test image %d of %s (mean |difference| %.1f): wrong order or not the ground truth", s.Source, i, i, path, mean)
		}
	}
	return nil
}

// readCeiling reads --ceiling: a simulation directory's ideal-observer
// identification accuracies (simulate.ReadCeiling) become the ceiling of
// every n-way identification metric; a JSON file is read as it is.
func readCeiling(path, subject string) (*report.Comparison, error) {
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("--ceiling: %w", err)
	}
	if !st.IsDir() {
		return report.ReadComparison("ceiling", path)
	}
	c, err := simulate.ReadCeiling(path, subject)
	if err != nil {
		return nil, fmt.Errorf("--ceiling: %w", err)
	}
	cmp := &report.Comparison{Name: "ideal observer (" + c.Subject + ")", Source: filepath.Join(path, "truth", "ceiling.json"), Values: map[string]float64{}}
	for _, w := range c.Identification {
		for _, feat := range []string{"pixel", "features"} {
			cmp.Values[fmt.Sprintf("identify_%s_%dway", feat, w.N)] = w.Accuracy
		}
	}
	return cmp, nil
}

// readBaseline evaluates a baseline's samples with the same options, or
// reads its metrics.json.
func readBaseline(ctx context.Context, path string, s *evaluate.Samples, o evaluate.Options) (*report.Comparison, error) {
	if strings.HasSuffix(path, ".json") {
		return report.ReadComparison("baseline", path)
	}
	b, err := evaluate.ReadSamples(path)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	if b.N != s.N {
		return nil, fmt.Errorf("--baseline %s: %d items, the samples have %d", path, b.N, s.N)
	}
	r, err := evaluate.Evaluate(ctx, b, o)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	return report.FromResults("baseline", r), nil
}

// classifierImages renders perCategory images of every category of a
// simulator stimulus source for the category classifier. They are never
// the simulation's test images: procedural instances are drawn far beyond
// the indices a design uses, and a source's own held-out split (Fashion-
// MNIST's t10k, from which designs draw test images) is skipped. An image
// folder has no such split, so its test images may be among them.
func classifierImages(ctx context.Context, spec string, seed uint64, categories, perCategory, size int, stderr io.Writer) (evaluate.LabeledImages, error) {
	src, err := simulate.OpenSource(spec, seed, categories)
	if err != nil {
		return evaluate.LabeledImages{}, fmt.Errorf("--train-classifier: %w", err)
	}
	names := src.Categories()
	d := evaluate.LabeledImages{H: size, W: size, ClassNames: names, Source: fmt.Sprintf("%s (seed %d)", src.Name(), seed)}
	const proceduralOffset = 1 << 20 // designs use the first few instances
	bar := progress.New(stderr, "classifier images", len(names))
	for c := range names {
		if err := ctx.Err(); err != nil {
			return d, err
		}
		start, limit := 0, src.Available(c)
		if limit < 0 {
			start, limit = proceduralOffset, proceduralOffset+perCategory
		}
		got := 0
		for i := start; i < limit && got < perCategory; i++ {
			if src.HeldOut(c, i) {
				continue
			}
			img, err := src.Image(c, i, size)
			if err != nil {
				return d, fmt.Errorf("--train-classifier: %w", err)
			}
			d.Images = append(d.Images, img...)
			d.Labels = append(d.Labels, c)
			d.N++
			got++
		}
		bar.Update(c+1, names[c])
	}
	bar.Finish(fmt.Sprintf("%d images of %d categories", d.N, len(names)))
	return d, nil
}

// producerNotes returns the data notes that the command which wrote the
// samples recorded beside them (reconstruct.json or baseline.json), so that
// the report flags, e.g., the reference's test normalisation (cad-spec §6
// item 2). Missing or unreadable files give none.
func producerNotes(samplesPath string) []string {
	var out []string
	for _, name := range []string{"reconstruct.json", "baseline.json"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(samplesPath), name))
		if err != nil {
			continue
		}
		var v struct {
			Notes []string `json:"notes"`
		}
		if json.Unmarshal(b, &v) == nil {
			for _, n := range v.Notes {
				out = append(out, "data: "+n)
			}
		}
	}
	return out
}
