package main

import (
	"context"
	"fmt"
	"io"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/ldm"
)

func init() {
	register(&command{
		name:  "reconstruct",
		args:  "--run RUN --out OUT [--data GOD_DIR] [--subject sbj_N] [flags]",
		short: "sample image reconstructions of the test fMRI from a tuned LDM",
		long: `Samples --samples reconstructions of every test item of the subject with the fine-tuned LDM
(cad-spec §4.6): PLMS (the reference's sampler, 250 steps) or DDIM (--eta), one compiled
denoising step looped over the timesteps, seeded host noise, then the VQ decoder.

Writes OUT/items/NNN_<id>_gt.png and _s1.png …, OUT/grid.png (rows = items, columns = ground
truth then samples), OUT/samples.npz ("samples": uint8 [N, 1+S, H, W, 3], index 0 = ground truth,
as the reference's evaluation expects; read by 'visdec eval') and OUT/reconstruct.json.

--init FILE --strength s (an extension, off by default) starts every walk from the test item's
image in FILE (a samples.npz, e.g. a ridge decoder's from 'visdec baseline'), encoded and noised
to timestep s·T, and runs only the last s of the sampler's steps: the low-level initial guess
refined by the fMRI-conditioned diffusion, as in Takagi & Nishimoto (2023) and Brain-Diffuser.
--data and --subject default to those the run was trained on.`,
		run: runReconstruct,
	})
}

func runReconstruct(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["reconstruct"], stdout)
	runDir := fs.String("run", "", "tune run directory")
	checkpoint := fs.String("checkpoint", "", "checkpoint: final, best, epoch-NNNN or a .safetensors path (default: the newest)")
	dataDir := fs.String("data", "", "GOD directory (default: the run's)")
	subject := fs.String("subject", "", "subject (default: the run's)")
	out := fs.String("out", "", "output directory")
	testNorm := fs.String("test-norm", "", `test fMRI normalisation: "literal" (the reference's) or "train-stats" (default: the run's)`)
	rc := ldm.DefaultReconstruct()
	fs.IntVar(&rc.Samples, "samples", rc.Samples, "reconstructions per test item")
	fs.IntVar(&rc.Steps, "steps", rc.Steps, "sampler steps")
	fs.StringVar(&rc.Sampler, "sampler", rc.Sampler, "sampler: plms or ddim")
	fs.Float64Var(&rc.Eta, "eta", rc.Eta, "DDIM η (0: deterministic given the initial noise)")
	fs.Float64Var(&rc.Guidance, "guidance", rc.Guidance, "classifier-free guidance scale (1: none, as the reference; an extension, with an all-zero fMRI as the unconditional input)")
	fs.Uint64Var(&rc.Seed, "seed", rc.Seed, "seed of the initial noise")
	fs.IntVar(&rc.Limit, "limit", 0, "reconstruct only the first N test items (0: all)")
	fs.IntVar(&rc.Batch, "batch", 0, "images denoised together (0: one item's samples)")
	initPath := fs.String("init", "", "samples.npz whose first reconstruction of each item starts its walks (e.g. 'visdec baseline' output; needs --strength < 1)")
	fs.Float64Var(&rc.Strength, "strength", 1, "with --init: share of the sampler's walk run from the noised initial image (img2img; 1: from pure noise, as the reference)")
	fs.BoolVar(&rc.NoQuantize, "no-quantize", false, "decode the sampled latents without snapping them to the VQ codebook (the reference quantises)")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *runDir == "" || *out == "" {
		return usagef("--run and --out are required")
	}
	m, err := ldm.LoadRun(*runDir, *checkpoint)
	if err != nil {
		return err
	}
	if err := rc.Validate(m.Config.Timesteps); err != nil {
		return usagef("%v", err)
	}
	if (*initPath != "") != (rc.Strength < 1) {
		return usagef("--init and --strength < 1 go together")
	}
	src := m.Run.Sources
	if *dataDir == "" {
		*dataDir = src.Data
	}
	if *subject == "" {
		*subject = src.Subject
	}
	if *dataDir == "" || *subject == "" {
		return usagef("the run does not record its data; give --data and --subject")
	}
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}
	if *testNorm == "" {
		*testNorm = src.TestNorm
	}
	ds, err := data.LoadGOD(*dataDir, []string{*subject}, data.GODOptions{TestNorm: *testNorm, NoRepeats: true})
	if err != nil {
		return err
	}
	items, err := ldm.TestItemsFrom(ds)
	if err != nil {
		return err
	}
	items.Notes = ds.Notes
	for _, n := range ds.Notes {
		fmt.Fprintf(stderr, "note: %s\n", n)
	}
	if *initPath != "" {
		if err := attachInit(&items, *initPath); err != nil {
			return err
		}
	}
	res, err := ldm.Reconstruct(ctx, m, items, rc, *out, be, stderr)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "reconstructed %d items × %d samples (%s, %d steps) into %s in %.0fs (%.3fs per denoising step of %d images)\n",
		res.Items, res.Samples, res.Sampler, res.Steps, *out, res.Seconds, res.SecondsPerStep, res.Batch)
	return err
}

// attachInit gives each test item its initial image: the first
// reconstruction of the same item in the samples file at path. The file's
// ground truths must be the test stimuli, in order, so that a file made
// from another subject or split is refused rather than silently misused.
func attachInit(items *ldm.TestItems, path string) error {
	smp, err := evaluate.ReadSamples(path)
	if err != nil {
		return err
	}
	if smp.N != items.N {
		return fmt.Errorf("--init %s: %d items, the test set has %d", path, smp.N, items.N)
	}
	isz := items.H * items.W * 3
	for i := 0; i < items.N; i++ {
		want := imageops.Resize(items.Images[i*isz:(i+1)*isz], items.H, items.W, smp.H, smp.W)
		if d := smp.GTDistance(i, want); d > 12 {
			return fmt.Errorf("--init %s: the ground truth of item %d differs from test stimulus %d (mean |Δ| %.1f grey levels); was the file made from this subject's test set?", path, i, i, d)
		}
	}
	items.Init, items.InitH, items.InitW = smp.Preds(0), smp.H, smp.W
	return nil
}
