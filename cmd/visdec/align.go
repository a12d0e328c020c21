package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/crossmodal"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/rundir"
)

func init() {
	register(&command{
		name:  "align",
		args:  "--pretrained RUN1 --data GOD-DIR --subject sbj_3 --out RUN2 [flags]",
		short: "phase 2: align the fMRI MAE with an image MAE through cross-attention",
		long: `Cross-modal guidance (phase 2): the phase-1 fMRI masked autoencoder and an image
masked autoencoder (ViT-MAE) are joined by cross-attention layers and trained on
the (fMRI, image) training pairs of one subject with
0.25·(masked fMRI MSE) + 1.5·(masked pixel MSE). The image encoder is frozen; the
image loss reaches the fMRI encoder through its tokens. Only the training split
is read: a seeded --val-fraction of the pairs is held out for validation after
every epoch (the reference instead selects its checkpoint on the test set).

The image MAE: the paper uses facebook/vit-mae-base, pre-trained on ImageNet and
frozen. Give its weights with --image-mae (a Hugging Face model directory with
config.json and model.safetensors or pytorch_model.bin, or one weights file).
Without them, visdec first pre-trains an image MAE on the training stimuli
(--pretrain-image-epochs, into RUN2/image_mae); that stand-in is far weaker than
vit-mae-base. Images are resized to the model size (Catmull-Rom, close to the
processor's bicubic) and ImageNet-normalised.

--pretrained is a phase-1 run directory or checkpoint (visdec or reference); its
decoder is cut to --fmri-decoder-depth blocks and the subject's fMRI are
wrap-padded or truncated to its voxel count, as the reference does. --init-from
instead continues from a reference phase-2 checkpoint (model + config_merge; the
reference saves no image model, so the image side starts from --image-mae or a
pre-training).

Presets: base (the paper: vit-mae-base, 224² images, 60 epochs, batch 16, lr
5.3e-5, 2 warm-up epochs) and tiny (32² images, an image MAE pre-trained by
visdec, a few epochs; fast on a CPU).

RUN2 receives config.json, metrics.jsonl (per epoch: train and validation
losses of both sides, reconstruction correlations, learning rate, samples/s;
epoch 0 holds the validation metrics of the starting weights), train.log and
checkpoints/ ("final"; "best" on the validation loss with --select val;
periodic ones). --resume continues from the newest checkpoint with the same
results as an uninterrupted run; Ctrl-C saves a checkpoint and exits with 130.`,
		run: runAlign,
	})
}

// alignRun is what an align run's config.json holds besides the config.
type alignRun struct {
	Config  crossmodal.Config `json:"config"`
	Data    string            `json:"data"`
	Subject string            `json:"subject"`
	ROI     string            `json:"roi"`
}

func runAlign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["align"], stdout)
	pretrained := fs.String("pretrained", "", "phase-1 run directory or checkpoint to start the fMRI model from")
	initFrom := fs.String("init-from", "", "reference phase-2 checkpoint (MAEforFMRICross model + config_merge) to continue from")
	dataDir := fs.String("data", "", "GOD-format directory (sbj_N.npz, images_256.npz, labels)")
	subject := fs.String("subject", "sbj_3", "subject whose training pairs are used (the paper reports sbj_3; the reference code defaults to sbj_1)")
	roi := fs.String("roi", "VC", "ROI mask key of the subject's npz")
	out := fs.String("out", "", "run directory (config.json, metrics.jsonl, train.log, checkpoints/)")
	resume := fs.Bool("resume", false, "continue RUN2 from its newest checkpoint (its config.json is used)")
	preset := fs.String("preset", "base", "settings: base (the paper) or tiny (CPU)")
	imageMAE := fs.String("image-mae", "", "image MAE weights: a Hugging Face vit-mae directory or weights file, or a visdec image_mae run")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")

	// Settings with "unset" defaults are filled from the preset.
	imgEpochs := fs.Int("pretrain-image-epochs", -1, "epochs of image MAE pre-training when no --image-mae is given (-1: the preset's)")
	epochs := fs.Int("epochs", 0, "alignment epochs (0: the preset's; paper README 60)")
	batch := fs.Int("batch", 0, "batch size (0: the preset's, 16)")
	lr := fs.Float64("lr", 0, "peak learning rate (0: the preset's; paper 5.3e-5)")
	warmup := fs.Float64("warmup", -1, "warm-up epochs (-1: the preset's; paper 2)")
	fmriDecoder := fs.Int("fmri-decoder-depth", 0, "fMRI decoder blocks kept from phase 1 (0: the preset's; paper 6 of 8)")
	imageDecoder := fs.Int("image-decoder-layers", 0, "image decoder layers kept from the image MAE (0: the preset's; paper 6 of 8)")
	cfg := crossmodal.BaseConfig()
	fs.Float64Var(&cfg.FMRI.MaskRatio, "fmri-mask-ratio", cfg.FMRI.MaskRatio, "fraction of fMRI patches masked")
	fs.Float64Var(&cfg.ImageMaskRatio, "image-mask-ratio", cfg.ImageMaskRatio, "fraction of image patches masked (README 0.5)")
	fs.Float64Var(&cfg.FMRIWeight, "fmri-weight", cfg.FMRIWeight, "weight of the fMRI masked MSE")
	fs.Float64Var(&cfg.ImageWeight, "image-weight", cfg.ImageWeight, "weight of the image masked MSE")
	fs.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay (not for 1-D parameters and biases)")
	fs.Float64Var(&cfg.ClipGrad, "clip-grad", cfg.ClipGrad, "gradient-norm clip, applied to each model separately (0: off)")
	fs.Float64Var(&cfg.ValFraction, "val-fraction", cfg.ValFraction, "share of the training pairs held out for validation")
	fs.StringVar(&cfg.Select, "select", cfg.Select, `"final", or "val" to also keep the epoch with the lowest validation loss`)
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of initialisation, the held-out split, shuffling and masks")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", cfg.CheckpointEvery, "save a resumable checkpoint every N epochs (0: only the final one)")
	fs.IntVar(&cfg.KeepCheckpoints, "keep", cfg.KeepCheckpoints, "keep the newest N periodic checkpoints (0: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return usagef("--out RUN2 is required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}

	// A run with checkpoints resumes from its own config.json.
	if _, ok := rundir.Latest(*out); ok && *resume {
		var saved alignRun
		if err := readAlignRun(*out, &saved); err != nil {
			return err
		}
		for name := range set {
			switch name {
			case "out", "resume", "backend":
			default:
				return usagef("--%s cannot change a run being resumed (its config.json holds the configuration)", name)
			}
		}
		pairs, err := loadAlignPairs(saved.Data, saved.Subject, saved.ROI, saved.Config)
		if err != nil {
			return err
		}
		res, err := crossmodal.Align(ctx, saved.Config, crossmodal.Start{}, pairs,
			crossmodal.Options{RunDir: *out, Backend: be, Resume: true, Stderr: stderr})
		if err != nil {
			return err
		}
		return printAlignResult(stdout, res)
	}

	if *dataDir == "" {
		return usagef("--data GOD-DIR is required")
	}
	if (*pretrained == "") == (*initFrom == "") {
		return usagef("give exactly one of --pretrained RUN1 (phase 1) and --init-from CKPT (reference phase 2)")
	}
	p, err := crossmodal.Preset(*preset)
	if err != nil {
		return usagef("%v", err)
	}
	// The preset fills what the flags left unset.
	for _, f := range []struct {
		name string
		set  func()
	}{
		{"epochs", func() { p.Epochs = *epochs }}, {"batch", func() { p.BatchSize = *batch }},
		{"lr", func() { p.LR = *lr }}, {"warmup", func() { p.WarmupEpochs = *warmup }},
		{"pretrain-image-epochs", func() { p.ImagePretrain.Epochs = *imgEpochs }},
		{"fmri-decoder-depth", func() { p.FMRI.DecoderDepth = *fmriDecoder }},
		{"image-decoder-layers", func() { p.Image.DecoderLayers = *imageDecoder }},
	} {
		if set[f.name] {
			f.set()
		}
	}
	p.FMRI.MaskRatio, p.ImageMaskRatio, p.FMRIWeight, p.ImageWeight = cfg.FMRI.MaskRatio, cfg.ImageMaskRatio, cfg.FMRIWeight, cfg.ImageWeight
	p.WeightDecay, p.ClipGrad, p.ValFraction, p.Select, p.Seed = cfg.WeightDecay, cfg.ClipGrad, cfg.ValFraction, cfg.Select, cfg.Seed
	p.CheckpointEvery, p.KeepCheckpoints = cfg.CheckpointEvery, cfg.KeepCheckpoints
	cfg = p

	var start crossmodal.Start
	extra := map[string]any{"data": *dataDir, "subject": *subject, "roi": *roi, "preset": *preset,
		"backend": backend.Spec(*backendSpec), "version": version}
	var ref *crossmodal.ReferenceCheckpoint
	if *pretrained != "" {
		ck, err := fmrimae.ReadCheckpoint(*pretrained, fmrimae.PaperConfig())
		if err != nil {
			return err
		}
		cfg.UsePhase1(ck.Config)
		start.FMRI = ck.Weights
		extra["pretrained"] = ck.Path
	} else {
		if ref, err = crossmodal.ReadReferenceCheckpoint(*initFrom, cfg); err != nil {
			return err
		}
		cfg.UsePhase1(ref.FMRIConfig)
		cfg.CrossResidual = ref.CrossResidual
		// The checkpoint fixes the cross layers: the image MAE must match.
		img := ref.Cross
		img.DecoderLayers, img.MaskRatio = cfg.Image.DecoderLayers, cfg.Image.MaskRatio
		cfg.Image = img
		start.FMRI = ref.FMRI
		extra["init_from"] = ref.Path
		fmt.Fprintf(stderr, "align: continuing from %s (reference epoch %d); its image model is not in it (the reference never saves it)\n", ref.Path, ref.Epoch)
	}
	if *imageMAE != "" {
		w, err := crossmodal.ReadImageMAE(*imageMAE)
		if err != nil {
			return err
		}
		if ref != nil && (w.Config.Hidden != ref.Cross.Hidden || w.Config.Heads != ref.Cross.Heads) {
			return fmt.Errorf("%s: image MAE of width %d with %d heads, but %s's cross layers need %d and %d",
				w.Path, w.Config.Hidden, w.Config.Heads, ref.Path, ref.Cross.Hidden, ref.Cross.Heads)
		}
		cfg.UseImage(w.Config)
		start.Image = w.Weights
		cfg.ImagePretrain.Epochs = 0
		extra["image_mae"] = w.Path
	} else if cfg.ImagePretrain.Epochs == 0 {
		return usagef("the %s preset uses pre-trained image MAE weights (facebook/vit-mae-base): give --image-mae, or --pretrain-image-epochs N to pre-train a (much weaker) image MAE on the stimuli", *preset)
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	pairs, err := loadAlignPairs(*dataDir, *subject, *roi, cfg)
	if err != nil {
		return err
	}
	res, err := crossmodal.Align(ctx, cfg, start, pairs,
		crossmodal.Options{RunDir: *out, Backend: be, Resume: *resume, Stderr: stderr, Extra: extra})
	if err != nil {
		return err
	}
	return printAlignResult(stdout, res)
}

// loadAlignPairs reads the subject's training pairs at the models' sizes.
func loadAlignPairs(dir, subject, roi string, cfg crossmodal.Config) (crossmodal.Pairs, error) {
	ds, err := data.LoadGOD(dir, []string{subject}, data.GODOptions{ROI: roi, PatchSize: cfg.FMRI.PatchSize, NoRepeats: true})
	if err != nil {
		return crossmodal.Pairs{}, err
	}
	return crossmodal.PreparePairs(ds, cfg.FMRI.NumVoxels, cfg.Image.ImageSize)
}

func readAlignRun(dir string, r *alignRun) error {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	if r.Data == "" {
		return fmt.Errorf("%s: no data directory recorded", filepath.Join(dir, "config.json"))
	}
	return nil
}

func printAlignResult(w io.Writer, res crossmodal.Result) error {
	f := func(k string) string {
		if v, ok := res.Metrics[k].(float64); ok {
			return fmt.Sprintf("%.4f", v)
		}
		return "n/a"
	}
	_, err := fmt.Fprintf(w, "align: %d epochs, %d steps; validation fMRI loss %s, image loss %s, image r %s; %s",
		res.Epochs, res.Steps, f("val_fmri_loss"), f("val_image_loss"), f("val_image_corr"), res.Checkpoint)
	if res.Best != "" {
		_, err = fmt.Fprintf(w, " (best on validation: epoch %d, %s)", res.BestEpoch, res.Best)
	}
	fmt.Fprintln(w)
	return err
}
