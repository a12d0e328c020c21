package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/rundir"
)

func init() {
	register(&command{
		name:  "pretrain",
		args:  "--data PATH [--data PATH ...] --out RUN [flags]",
		short: "phase 1: pre-train the fMRI masked autoencoder (DC-MAE)",
		long: `Pre-trains the double-contrastive fMRI masked autoencoder (phase 1) on the
training fMRI of every --data set (HCP-format and GOD-format directories, real or
simulated; the test splits are never read). Sets with different voxel counts are
wrap-padded to the longest, as the reference does when it adds the GOD subjects
to HCP. A part of the data (whole subjects when there are several) is held out
for validation metrics after every epoch.

RUN receives config.json (the full configuration), metrics.jsonl (one line per
epoch: every loss term, reconstruction correlation, learning rate, samples/s and
the held-out metrics), train.log and checkpoints/ (every --checkpoint-every epochs
and at the end, written atomically). --resume continues from the newest
checkpoint with the same results as an uninterrupted run. Ctrl-C saves a
checkpoint and exits with status 130; a non-finite loss stops the run and keeps
the last good checkpoint.

Model presets (--preset): tiny (128×4 encoder, 64×2 decoder), small (256×8,
128×2) and paper (1024×24 with 16 heads, MLP ratio 1, decoder 512×8). Objectives
(--loss): cad = the paper's intent, λ_mask 1, λ_sc 1, λ_cc 0.5; cad-literal =
what the released code computes, 1, 0.25, 0.25; mindvis = the masked loss only.

--init-from starts from published weights: a reference checkpoint.pth (its
"model"; the optimizer restarts), any PyTorch/safetensors state dict, a visdec
checkpoint or a visdec pretrain run directory. The architecture is read from the
weights (head counts from the checkpoint's config when it has one, else from
--preset); positional embeddings are resized to the data's voxel count as the
reference does.`,
		run: runPretrain,
	})
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["pretrain"], stdout)
	var dataPaths stringList
	fs.Var(&dataPaths, "data", "a data set to train on (repeatable); on --resume the run's own sets by default")
	out := fs.String("out", "", "run directory (config.json, metrics.jsonl, train.log, checkpoints/)")
	preset := fs.String("preset", "paper", "model sizes: tiny, small or paper")
	lossName := fs.String("loss", "cad", "objective: cad, cad-literal or mindvis")
	resume := fs.Bool("resume", false, "continue RUN from its newest checkpoint (its config.json is used)")
	initFrom := fs.String("init-from", "", "start from these weights (reference checkpoint.pth, state dict, visdec checkpoint or run)")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	subjects := fs.String("subjects", "", "comma-separated subjects to read from every --data set (default all: every HCP subject, GOD sbj_1..5)")
	roi := fs.String("roi", "VC", "region of interest (VC = V1-V4 for HCP, the VC mask for GOD)")
	maxSubjects := fs.Int("max-subjects", 0, "read at most this many HCP subjects per set (0: all)")

	cfg := fmrimae.DefaultTrainConfig()
	m := &cfg.Model
	fs.IntVar(&m.EmbedDim, "embed-dim", 0, "encoder width (0: the preset's)")
	fs.IntVar(&m.Depth, "depth", 0, "encoder blocks (0: the preset's)")
	fs.IntVar(&m.NumHeads, "heads", 0, "encoder heads (0: the preset's)")
	fs.IntVar(&m.DecoderEmbedDim, "decoder-embed-dim", 0, "decoder width (0: the preset's)")
	fs.IntVar(&m.DecoderDepth, "decoder-depth", 0, "decoder blocks (0: the preset's)")
	fs.IntVar(&m.DecoderNumHeads, "decoder-heads", 0, "decoder heads (0: the preset's)")
	fs.Float64Var(&m.MLPRatio, "mlp-ratio", 0, "MLP width / model width (0: the preset's, 1.0)")
	fs.IntVar(&m.PatchSize, "patch-size", 16, "voxels per token")
	fs.Float64Var(&m.MaskRatio, "mask-ratio", cfg.Model.MaskRatio, "fraction of patches hidden from the encoder")
	fs.Float64Var(&cfg.Loss.Mask, "lambda-mask", -1, "weight of the masked-patch MSE (-1: the --loss preset's)")
	fs.Float64Var(&cfg.Loss.SelfContrast, "lambda-sc", -1, "weight of the self-contrast InfoNCE (-1: the preset's)")
	fs.Float64Var(&cfg.Loss.CrossContrast, "lambda-cc", -1, "weight of the cross-contrast InfoNCE (-1: the preset's)")
	fs.Float64Var(&cfg.Loss.Temperature, "tau", -1, "InfoNCE temperature (-1: the preset's, 0.1)")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "training epochs (paper README: 140)")
	fs.Float64Var(&cfg.Warmup, "warmup", cfg.Warmup, "linear warm-up epochs before the half-cycle cosine")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "batch size; also the number of InfoNCE candidates")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate")
	fs.Float64Var(&cfg.MinLR, "min-lr", cfg.MinLR, "final learning rate of the cosine")
	fs.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay (not for 1-D parameters and biases)")
	fs.Float64Var(&cfg.ClipGrad, "clip-grad", cfg.ClipGrad, "global gradient-norm clip (0: off)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of initialisation, shuffling, masks and the held-out split")
	fs.Float64Var(&cfg.ValFraction, "val-fraction", cfg.ValFraction, "share of the data held out for validation (whole subjects when several)")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", cfg.CheckpointEvery, "save a checkpoint every N epochs (0: only the final one)")
	fs.IntVar(&cfg.KeepCheckpoints, "keep", cfg.KeepCheckpoints, "keep the newest N periodic checkpoints (0: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return usagef("--out RUN is required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var initPath string
	resuming := false
	if *resume {
		if _, ok := rundir.Latest(*out); ok {
			resuming = true
			saved, err := readPretrainRun(*out)
			if err != nil {
				return err
			}
			for name := range set {
				switch name {
				case "data", "out", "resume", "backend", "subjects", "roi", "max-subjects":
				default:
					return usagef("--%s cannot change a run being resumed (its config.json holds the configuration)", name)
				}
			}
			cfg = saved.Config
			if len(dataPaths) == 0 {
				dataPaths = saved.Data
			}
			if !set["subjects"] && len(saved.Subjects) > 0 {
				*subjects = strings.Join(saved.Subjects, ",")
			}
			if !set["roi"] && saved.ROI != "" {
				*roi = saved.ROI
			}
			if !set["max-subjects"] {
				*maxSubjects = saved.MaxSubjects
			}
			initPath = saved.InitFrom
		}
	}
	if len(dataPaths) == 0 {
		return usagef("--data PATH is required")
	}
	if !resuming {
		if err := applyPretrainPresets(&cfg, *preset, *lossName); err != nil {
			return err
		}
	}

	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}
	var subjectList []string
	if *subjects != "" {
		subjectList = strings.Split(*subjects, ",")
	}
	var sets []*data.Dataset
	for _, p := range dataPaths {
		d, err := openPretrainData(p, subjectList, *roi, *maxSubjects, cfg.Model.PatchSize)
		if err != nil {
			return err
		}
		sets = append(sets, d)
	}
	samples, err := fmrimae.FromDatasets(cfg.Model.PatchSize, sets...)
	if err != nil {
		return err
	}

	opt := fmrimae.Options{RunDir: *out, Backend: be, Resume: *resume, Stderr: stderr}
	if *initFrom != "" && !resuming {
		ck, err := fmrimae.ReadCheckpoint(*initFrom, cfg.Model)
		if err != nil {
			return err
		}
		for _, name := range []string{"embed-dim", "depth", "heads", "decoder-embed-dim", "decoder-depth", "decoder-heads", "mlp-ratio", "patch-size"} {
			if set[name] {
				return usagef("--%s conflicts with --init-from, whose weights fix the architecture", name)
			}
		}
		mask := cfg.Model.MaskRatio
		cfg.Model = ck.Config
		if set["mask-ratio"] {
			cfg.Model.MaskRatio = mask
		}
		opt.Init = ck.Weights
		initPath = ck.Path
		if ck.Config.NumVoxels != samples.V {
			fmt.Fprintf(stderr, "pretrain: %s was trained on %d voxels, the data has %d: positional embeddings are resized (nearest, as the reference)\n",
				ck.Path, ck.Config.NumVoxels, samples.V)
			if samples.V%cfg.Model.PatchSize != 0 {
				return fmt.Errorf("%d voxels is not a multiple of the checkpoint's patch size %d", samples.V, cfg.Model.PatchSize)
			}
		}
	}
	cfg.Model.NumVoxels = samples.V
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	train, val, held, err := samples.Holdout(cfg.ValFraction, cfg.Seed)
	if err != nil {
		return usagef("%v", err)
	}
	opt.Extra = map[string]any{
		"data": []string(dataPaths), "subjects": subjectList, "roi": *roi, "max_subjects": *maxSubjects,
		"sources":       samples.Sources,
		"train_samples": train.N, "val_samples": val.N, "val_subjects": held,
		"init_from": initPath, "backend": backend.Spec(*backendSpec), "version": version,
	}
	res, err := fmrimae.Train(ctx, cfg, train, val, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pretrain: %d epochs, %d steps; training loss %.4f; held-out masked loss %.4f, reconstruction r %.3f; %s\n",
		res.Epochs, res.Steps, res.Loss, res.ValMask, res.ValCorr, res.Checkpoint)
	return nil
}

// applyPretrainPresets fills the sizes and loss weights left at their
// "unset" values from the named presets.
func applyPretrainPresets(cfg *fmrimae.TrainConfig, preset, loss string) error {
	p, err := fmrimae.Preset(preset)
	if err != nil {
		return usagef("%v", err)
	}
	w, err := fmrimae.LossPreset(loss)
	if err != nil {
		return usagef("%v", err)
	}
	m := &cfg.Model
	for _, f := range []struct {
		dst *int
		v   int
	}{{&m.EmbedDim, p.EmbedDim}, {&m.Depth, p.Depth}, {&m.NumHeads, p.NumHeads},
		{&m.DecoderEmbedDim, p.DecoderEmbedDim}, {&m.DecoderDepth, p.DecoderDepth}, {&m.DecoderNumHeads, p.DecoderNumHeads}} {
		if *f.dst == 0 {
			*f.dst = f.v
		}
	}
	if m.MLPRatio == 0 {
		m.MLPRatio = p.MLPRatio
	}
	for _, f := range []struct {
		dst *float64
		v   float64
	}{{&cfg.Loss.Mask, w.Mask}, {&cfg.Loss.SelfContrast, w.SelfContrast}, {&cfg.Loss.CrossContrast, w.CrossContrast}, {&cfg.Loss.Temperature, w.Temperature}} {
		if *f.dst < 0 {
			*f.dst = f.v
		}
	}
	cfg.Preset, cfg.LossPreset = preset, loss
	return nil
}

// pretrainRun is what a pretrain run's config.json holds.
type pretrainRun struct {
	Config      fmrimae.TrainConfig `json:"config"`
	Data        []string            `json:"data"`
	Subjects    []string            `json:"subjects"`
	ROI         string              `json:"roi"`
	MaxSubjects int                 `json:"max_subjects"`
	InitFrom    string              `json:"init_from"`
}

func readPretrainRun(dir string) (pretrainRun, error) {
	var r pretrainRun
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	return r, nil
}

// openPretrainData reads one data set for phase 1: fMRI only (GOD images and
// single test trials are skipped; only the train split is used).
func openPretrainData(path string, subjects []string, roi string, maxSubjects, patch int) (*data.Dataset, error) {
	return data.Open(path, data.Options{
		Subjects:  subjects,
		GOD:       data.GODOptions{ROI: roi, PatchSize: patch, NoImages: true, NoRepeats: true},
		HCP:       data.HCPOptions{ROI: roi, PatchSize: patch, MaxSubjects: maxSubjects},
		PatchSize: patch,
	})
}
