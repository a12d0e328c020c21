package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/baseline"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/rundir"
)

func init() {
	register(&command{
		name:  "baseline",
		args:  "--data GOD-DIR --subject sbj_N --out DIR [flags]",
		short: "ridge-regression decoder from fMRI to pixels (or autoencoder latents)",
		long: `Fits a ridge regression from the subject's training fMRI to its training
images (their pixels at --size, or the latents of a --autoencoder run) and
reconstructs the test images from their fMRI. λ is chosen by exact
leave-one-out error on the training items alone; the test set is never
used to fit or to choose anything.

Writes DIR/samples.npz (uint8 [N, 2, size, size, 3]: ground truth, then the
reconstruction), DIR/grid.png and DIR/baseline.json. Score it with
'visdec eval --samples DIR/samples.npz', or pass it to another evaluation
with --baseline DIR/samples.npz.`,
		run: runBaseline,
	})
}

// baselineSummary is baseline.json.
type baselineSummary struct {
	Data        string  `json:"data"`
	Subject     string  `json:"subject"`
	Target      string  `json:"target"`
	Size        int     `json:"size"`
	Lambda      float64 `json:"lambda"`
	Train       int     `json:"train_items"`
	Test        int     `json:"test_items"`
	Voxels      int     `json:"voxels"`
	Autoencoder string  `json:"autoencoder,omitempty"`
	Seconds     float64 `json:"seconds"`
	// TestNorm and Notes flag how the test fMRI was normalised (cad-spec
	// §6 item 2) and other deviations the loader reports.
	TestNorm string   `json:"test_norm"`
	Notes    []string `json:"notes,omitempty"`
}

func runBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["baseline"], stdout)
	dataDir := fs.String("data", "", "GOD-format data directory (required)")
	subject := fs.String("subject", "sbj_1", "subject to decode")
	out := fs.String("out", "", "output directory (required)")
	size := fs.Int("size", 64, "side of the reconstructed images (pixels target), and of the ground truths written beside them")
	target := fs.String("target", "pixels", `what the ridge predicts: "pixels" or "latents" (needs --autoencoder)`)
	aeRun := fs.String("autoencoder", "", "train-autoencoder run directory (for --target latents)")
	testNorm := fs.String("test-norm", "literal", `test fMRI normalisation: "literal" (the reference's) or "train-stats"`)
	backendSpec := fs.String("backend", "", "compute backend for the autoencoder (default $VISDEC_BACKEND or go:parallelism=-1)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" || *out == "" {
		return usagef("--data and --out are required")
	}
	rec, summary, err := ridgeBaseline(*dataDir, *subject, *testNorm, *target, *aeRun, *backendSpec, *size)
	if err != nil {
		return err
	}
	if err := writeBaseline(*out, rec, summary); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ridge baseline (%s, λ=%.4g chosen by leave-one-out on %d training items): %d test reconstructions → %s\n",
		summary.Target, summary.Lambda, summary.Train, summary.Test, filepath.Join(*out, "samples.npz"))
	return nil
}

// ridgeBaseline loads the subject and fits the ridge decoder.
func ridgeBaseline(dataDir, subject, testNorm, target, aeRun, backendSpec string, size int) (*baseline.Reconstruction, baselineSummary, error) {
	start := time.Now()
	s := baselineSummary{Data: dataDir, Subject: subject, Target: target, TestNorm: testNorm}
	ds, err := data.LoadGOD(dataDir, []string{subject}, data.GODOptions{TestNorm: testNorm})
	if err != nil {
		return nil, s, err
	}
	s.Notes = ds.Notes
	var rec *baseline.Reconstruction
	switch target {
	case "pixels":
		if size < 4 || size > 256 {
			return nil, s, usagef("--size %d: want 4..256", size)
		}
		rec, err = baseline.Pixels(ds, size)
	case "latents":
		if aeRun == "" {
			return nil, s, usagef("--target latents needs --autoencoder RUN")
		}
		rec, err = latentBaseline(ds, aeRun, backendSpec)
		s.Autoencoder = aeRun
	default:
		return nil, s, usagef("--target %q: want pixels or latents", target)
	}
	if err != nil {
		return nil, s, err
	}
	s.Size, s.Lambda = rec.Size, rec.Lambda
	s.Train, s.Test, s.Voxels = ds.Train.N, ds.Test.N, ds.Voxels
	s.Seconds = time.Since(start).Seconds()
	return rec, s, nil
}

// latentBaseline regresses the autoencoder's (un-quantised) latents and
// decodes them (quantising, as the LDM decodes its samples).
func latentBaseline(ds *data.Dataset, aeRun, backendSpec string) (*baseline.Reconstruction, error) {
	cfg, ps, err := autoencoder.Load(aeRun)
	if err != nil {
		return nil, err
	}
	be, err := backend.New(backendSpec)
	if err != nil {
		return nil, err
	}
	codec, err := autoencoder.NewCodec(be, cfg, ps)
	if err != nil {
		return nil, err
	}
	res := cfg.Resolution
	const batch = 32
	encode := func(imgs []uint8, n, h, w int) ([]float32, int, error) {
		var z []float32
		for i := 0; i < n; i += batch {
			b := min(batch, n-i)
			small := imageops.ResizeAll(imgs[i*h*w*3:(i+b)*h*w*3], b, h, w, res, res)
			zb, err := codec.Encode(autoencoder.ImagesToFloat(small), b)
			if err != nil {
				return nil, 0, err
			}
			z = append(z, zb...)
		}
		return z, len(z) / n, nil
	}
	decode := func(z []float32, n int) ([]uint8, error) {
		dim := len(z) / n
		var out []uint8
		for i := 0; i < n; i += batch {
			b := min(batch, n-i)
			x, err := codec.Decode(z[i*dim:(i+b)*dim], b)
			if err != nil {
				return nil, err
			}
			out = append(out, autoencoder.ToUint8(x)...)
		}
		return out, nil
	}
	return baseline.Latents(ds, res, encode, decode)
}

func writeBaseline(dir string, rec *baseline.Reconstruction, s baselineSummary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	samples, err := evaluate.NewSamples(rec.Samples, rec.N, 1, rec.Size, rec.Size)
	if err != nil {
		return err
	}
	if err := evaluate.WriteSamples(filepath.Join(dir, "samples.npz"), samples); err != nil {
		return err
	}
	tiles := make([][]uint8, 0, 2*rec.N)
	for i := 0; i < rec.N; i++ {
		tiles = append(tiles, samples.GT(i), samples.Pred(0, i))
	}
	cols := 10 // five (ground truth, reconstruction) pairs per row
	rows := (len(tiles) + cols - 1) / cols
	grid, gh, gw := imageops.Grid(tiles, rows, cols, rec.Size, rec.Size, 2)
	if err := imageops.WritePNG(filepath.Join(dir, "grid.png"), grid, gh, gw); err != nil {
		return err
	}
	return rundir.WriteJSONFile(filepath.Join(dir, "baseline.json"), s)
}
