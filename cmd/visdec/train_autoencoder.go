package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
)

func init() {
	register(&command{
		name:  "train-autoencoder",
		args:  "(--data PATH [--subjects S] | --images DIR) --out RUN [flags]",
		short: "train the first-stage VQ autoencoder (images ↔ latents) from scratch",
		long: `Trains a VQ-f4-style autoencoder (cad-spec §4.3) on stimulus images, since no
pretrained first stage can be downloaded here. The images come from a dataset
(--data: GOD, BOLD5000; its train images, each stimulus once, resized to the
model's resolution; its test images are the held-out set) or from a folder of
pictures (--images; a tenth is held out). Loss: L1 (default) or L2
reconstruction plus the VQ-VAE codebook and commitment terms (β = 0.25,
straight-through estimator); no perceptual or adversarial term. Dead codes
are restarted from encoder outputs every --restart-every steps.

The run directory gets config.json, metrics.jsonl (one line per epoch: train
and held-out reconstruction loss, PSNR, codebook usage and perplexity),
train.log, checkpoints/ and reconstructions.png (held-out originals above
their reconstructions). Ctrl-C writes a checkpoint; --resume continues it.

--size picks a preset (tiny: 32² ↔ 8×8×3, small: 64² ↔ 16×16×3, cin256: the
paper's 256² ↔ 64×64×3 with 8192 codes); the model flags override it.`,
		run: runTrainAutoencoder,
	})
}

func runTrainAutoencoder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := autoencoder.DefaultTrainConfig()
	fs := newFlagSet(commands["train-autoencoder"], stdout)
	dataPath := fs.String("data", "", "dataset with stimulus images (GOD directory or sbj_N.npz, BOLD5000 root)")
	subjects := fs.String("subjects", "", "comma-separated subjects to read from --data (default: the reader's)")
	images := fs.String("images", "", "directory of PNG/JPEG/GIF stimulus images to train on (instead of --data)")
	out := fs.String("out", "runs/autoencoder", "run directory for config.json, checkpoints, metrics.jsonl, reconstructions.png")
	resume := fs.Bool("resume", false, "continue the run in --out from its newest checkpoint")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go:parallelism=-1)")
	size := fs.String("size", "small", "model preset: tiny, small or cin256")
	fs.StringVar(size, "preset", "small", "the same as --size (the name the other commands use)")
	resolution := fs.Int("resolution", 0, "image side the model works at (0: the preset's)")
	ch := fs.Int("ch", 0, "base channel count, a multiple of 32 (0: the preset's)")
	chMult := fs.String("ch-mult", "", "comma-separated channel multipliers per level, e.g. 1,2,4 (empty: the preset's)")
	resBlocks := fs.Int("res-blocks", 0, "ResnetBlocks per encoder level (0: the preset's)")
	nEmbed := fs.Int("codes", 0, "codebook size (0: the preset's)")
	latentCh := fs.Int("latent-channels", 0, "latent channels = codebook vector size (0: the preset's 3)")
	continuous := fs.Bool("continuous", false, "no quantiser: a plain autoencoder whose decoder reads the encoder's latents (an extension for CPU-sized first stages; tune it with --scale-by-std)")
	legacy := fs.Bool("legacy-vq", false, "weight the VQ terms as the reference's legacy quantiser (commitment 1, codebook β)")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the training images")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "images per step")
	fs.Float64Var(&cfg.LR, "lr", cfg.LR, "Adam learning rate (constant)")
	fs.Float64Var(&cfg.ClipNorm, "clip", cfg.ClipNorm, "gradient-norm clip (0: none)")
	fs.StringVar(&cfg.Recon, "recon", cfg.Recon, "reconstruction loss: l1 or l2")
	fs.IntVar(&cfg.RestartEvery, "restart-every", cfg.RestartEvery, "restart codes unused for this many steps (0: never)")
	holdout := fs.Int("holdout", -1, "training images held out for the metrics (-1: the test images when there are any, else 10%)")
	fs.IntVar(&cfg.GridImages, "grid", cfg.GridImages, "held-out images shown in reconstructions.png")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", cfg.CheckpointEvery, "also checkpoint every this many steps (0: after epochs only)")
	fs.IntVar(&cfg.Keep, "keep", cfg.Keep, "step checkpoints to keep (0: all)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed for initialisation, shuffling and code restarts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if (*images == "") == (*dataPath == "") {
		return usagef("give exactly one of --data and --images")
	}
	m, err := autoencoder.Preset(*size)
	if err != nil {
		return usagef("--size: %v", err)
	}
	if *resolution > 0 {
		m.Resolution = *resolution
	}
	if *ch > 0 {
		m.Ch = *ch
	}
	if *chMult != "" {
		m.ChMult = nil
		for _, s := range strings.Split(*chMult, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return usagef("--ch-mult %q: %v", *chMult, err)
			}
			m.ChMult = append(m.ChMult, v)
		}
	}
	if *resBlocks > 0 {
		m.NumResBlocks = *resBlocks
	}
	if *nEmbed > 0 {
		m.NEmbed = *nEmbed
	}
	if *latentCh > 0 {
		m.ZChannels, m.EmbedDim = *latentCh, *latentCh
	}
	m.Legacy = *legacy
	m.Continuous = *continuous
	cfg.Model = m
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}

	var ds *data.Dataset
	if *images != "" {
		ds, err = autoencoder.ReadImageDir(*images, m.Resolution)
	} else {
		opt := data.Options{GOD: data.GODOptions{NoRepeats: true}}
		if *subjects != "" {
			opt.Subjects = strings.Split(*subjects, ",")
		}
		ds, err = data.Open(*dataPath, opt)
		if err == nil {
			ds = uniqueStimuli(ds)
		}
	}
	if err != nil {
		return err
	}
	cfg.Holdout = chooseHoldout(*holdout, ds)
	b, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}
	res, err := autoencoder.Train(ctx, b, cfg, ds, *out, *resume, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "autoencoder trained: %s (%d steps; held-out PSNR %.2f dB, %s loss %.4f, %.0f%% of %d codes used)\n",
		*out, res.Steps, res.ValPSNR, cfg.Recon, res.ValRecon, 100*res.CodesUsed, m.NEmbed)
	return nil
}

// chooseHoldout resolves --holdout -1: the dataset's test images when it has
// some (0), else a tenth of the training images (at least one).
func chooseHoldout(flag int, ds *data.Dataset) int {
	if flag >= 0 {
		return flag
	}
	if ds.Test.N > 0 && ds.Test.Images != nil {
		return 0
	}
	return max(1, ds.Train.N/10)
}

// uniqueStimuli keeps each stimulus image once per split (datasets with
// several subjects, or repeated presentations, list an image per trial), so
// the autoencoder sees every picture equally often. Items without a stimulus
// id are kept.
func uniqueStimuli(ds *data.Dataset) *data.Dataset {
	out := *ds
	for _, sp := range []*data.Split{&out.Train, &out.Test} {
		if sp.Images == nil || len(sp.StimulusID) != sp.N {
			continue
		}
		size := sp.H * sp.W * 3
		seen := map[string]bool{}
		var imgs []uint8
		var ids []string
		for i := 0; i < sp.N; i++ {
			id := sp.StimulusID[i]
			if id != "" && seen[id] {
				continue
			}
			seen[id] = true
			imgs = append(imgs, sp.Images[i*size:(i+1)*size]...)
			ids = append(ids, id)
		}
		*sp = data.Split{N: len(ids), Images: imgs, H: sp.H, W: sp.W, StimulusID: ids}
	}
	return &out
}
