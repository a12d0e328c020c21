package main

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/ldm"
)

func init() {
	register(&command{
		name:  "tune",
		args:  "--pretrained RUN --autoencoder AE_RUN --data GOD_DIR --subject sbj_N --out RUN [flags]",
		short: "LDM stage: fine-tune the fMRI-conditioned latent diffusion model",
		long: `Fine-tunes the latent diffusion model on one subject's training pairs (cad-spec §4.5):
the fMRI encoder (from a phase-1 or phase-2 run, or a reference .pth) conditions a UNet through
cross-attention and the time-conditioning head; the loss is the ε-prediction MSE on the frozen
autoencoder's latents. AdamW (weight decay 0.01 on every parameter), gradient clip 0.5, constant
learning rate, the reference's random-crop augmentation.

A seeded share of the training pairs (--val-fraction) is held out; its ε-MSE at fixed (t, ε) is
logged every epoch and --select val keeps the best checkpoint. The test set is never looked at.

Presets: cin256 (the paper: 192·[1,2,3,5], 64×64×3 latents, ε-prediction; give the CompVis
model.ckpt with --init-ldm, which also supplies the VQ-f4 first stage) and tiny (for CPUs, the
UNet trained from scratch in minutes: 32·[1,2] on 8×8 latents, x0-prediction, a fixed fMRI
encoder whose latents are computed once, z-scored encoder latents and hybrid conditioning on a
ridge guess — deliberate differences from the paper, see --predict, --freeze-encoder,
--standardize-latents and --ridge-concat).
--ridge-concat fits a ridge regression from the fMRI to the latents on the training pairs (λ by
leave-one-out), stores it in the model, and appends its guess to the UNet's input (CompVis's
"hybrid" conditioning); the UNet trains on each training item's leave-one-out guess, which is as
noisy as a test item's.
--trainable reference trains what the reference trains (the conditioning model and the UNet's
attn2, norm2 and time_embed_condtion); all trains the whole UNet; auto picks reference when the
UNet comes from --init-ldm and all otherwise.

Writes RUN/config.json, metrics.jsonl, train.log, checkpoints/ (final, epoch-N, best) and
first_stage.safetensors. --resume continues an interrupted run (pass the same flags).`,
		run: runTune,
	})
}

func runTune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["tune"], stdout)
	pretrained := fs.String("pretrained", "", "fMRI encoder: phase-1 or phase-2 run directory, or a checkpoint (.pth, .safetensors)")
	aeRun := fs.String("autoencoder", "", "train-autoencoder run directory (optional with --init-ldm)")
	initLDM := fs.String("init-ldm", "", "LDM checkpoint to start the UNet (and first stage) from: CompVis cin256-v2 model.ckpt or a MinD-Vis finetuned checkpoint")
	dataDir := fs.String("data", "", "GOD directory (sbj_N.npz, images_256.npz, label files)")
	subject := fs.String("subject", "sbj_3", "subject to train on")
	testNorm := fs.String("test-norm", data.NormLiteral, "test-set normalisation: literal (the reference) or train-stats (cad-spec §6 item 2)")
	out := fs.String("out", "", "run directory")
	presetName := fs.String("preset", "tiny", "model size: tiny or cin256")
	predict := fs.String("predict", "", "what the UNet predicts: eps (the paper) or x0 (default: the preset's)")
	epochs := fs.Int("epochs", 0, "epochs (0: the preset's)")
	batch := fs.Int("batch", 0, "batch size (0: the preset's; the reference ran 2)")
	lr := fs.Float64("lr", 0, "learning rate (0: the preset's; the reference 5.3e-5)")
	wd := fs.Float64("weight-decay", 0.01, "AdamW weight decay, on every parameter")
	clip := fs.Float64("clip", 0.5, "global gradient-norm clip (0: none)")
	trainable := fs.String("trainable", "auto", "trained set: auto, reference or all")
	dupNorm2 := fs.Bool("duplicate-norm2", false, "reproduce the reference's double AdamW update of the fMRI encoder's blocks.*.norm2 (cad-spec §6 item 24)")
	freeze := fs.String("freeze-encoder", "auto", "keep the fMRI encoder fixed and precompute its latents: yes, no, or auto (the preset's: yes for tiny, for CPU speed; the reference trains it)")
	standardize := fs.String("standardize-latents", "auto", "z-score the fMRI encoder's latents with training statistics before the mappers: yes, no, or auto (the preset's: yes for tiny, no for cin256 as the reference)")
	ridgeConcat := fs.String("ridge-concat", "auto", "also condition by concatenation on a ridge fMRI → latent guess (CompVis hybrid conditioning; an extension): yes, no, or auto (the preset's: yes for tiny)")
	scaleByStd := fs.Bool("scale-by-std", false, "scale the autoencoder latents to unit variance (LatentDiffusion's scale_by_std; an extension for small autoencoders, off in every preset)")
	condDrop := fs.Float64("cond-dropout", 0, "probability of training an item with a zero fMRI, for --guidance at sampling (an extension; the reference: 0)")
	noAug := fs.Bool("no-augment", false, "disable the random-crop augmentation")
	valFrac := fs.Float64("val-fraction", 0.1, "share of the training pairs held out for validation")
	sel := fs.String("select", "final", "checkpoints kept: final, or val (also the best on validation)")
	ckEvery := fs.Int("checkpoint-every", 5, "epochs between numbered checkpoints")
	keep := fs.Int("keep", 2, "numbered checkpoints kept (0: all)")
	seed := fs.Uint64("seed", 2022, "seed of initialisation, the validation split, shuffling, augmentation, t and ε")
	resume := fs.Bool("resume", false, "continue the run directory's newest checkpoint")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || *dataDir == "" || *pretrained == "" {
		return usagef("--out, --data and --pretrained are required")
	}
	if *aeRun == "" && *initLDM == "" {
		return usagef("give --autoencoder (a train-autoencoder run) or --init-ldm (a checkpoint with a first stage)")
	}
	p, err := ldm.LookupPreset(*presetName)
	if err != nil {
		return usagef("%v", err)
	}
	switch *predict {
	case "":
	case ldm.PredictEps, ldm.PredictX0:
		p.Parameterization = *predict
	default:
		return usagef("--predict must be eps or x0")
	}
	if err := yesNoAuto("standardize-latents", *standardize, &p.StandardizeLatents); err != nil {
		return err
	}
	if err := yesNoAuto("ridge-concat", *ridgeConcat, &p.RidgeConcat); err != nil {
		return err
	}
	p.ScaleByStd = p.ScaleByStd || *scaleByStd
	tc := ldm.DefaultTune(p)
	if *epochs > 0 {
		tc.Epochs = *epochs
	}
	if *batch > 0 {
		tc.BatchSize = *batch
	}
	if *lr > 0 {
		tc.LR = *lr
	}
	tc.WeightDecay, tc.ClipNorm = *wd, *clip
	switch *trainable {
	case "auto":
		tc.Trainable = ldm.TrainAll
		if *initLDM != "" {
			tc.Trainable = ldm.TrainReference
		}
	case string(ldm.TrainReference), string(ldm.TrainAll):
		tc.Trainable = ldm.Trainable(*trainable)
	default:
		return usagef("--trainable must be auto, reference or all")
	}
	tc.DuplicateNorm2, tc.CondDropout = *dupNorm2, *condDrop
	if err := yesNoAuto("freeze-encoder", *freeze, &tc.FreezeEncoder); err != nil {
		return err
	}
	if *noAug {
		tc.Augment = ldm.Augment{}
	}
	tc.ValFraction, tc.CheckpointEvery, tc.Keep, tc.Seed = *valFrac, *ckEvery, *keep, *seed
	switch *sel {
	case "final":
	case "val":
		tc.SelectVal = true
	default:
		return usagef("--select must be final or val")
	}
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}
	ds, err := data.LoadGOD(*dataDir, []string{*subject}, data.GODOptions{TestNorm: *testNorm, NoRepeats: true})
	if err != nil {
		return err
	}
	enc, err := ldm.LoadEncoder(*pretrained)
	if err != nil {
		return err
	}
	job, notes, err := ldm.PrepareTune(ldm.PrepareOptions{
		Preset: p, Tune: tc, Encoder: enc, AutoencoderRun: *aeRun, InitLDM: *initLDM, Data: ds, Backend: be,
		Sources: ldm.Sources{Data: *dataDir, Subject: *subject, TestNorm: *testNorm, Backend: backend.Spec(*backendSpec)},
	})
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "tune:", n)
	}
	job.Stderr, job.Resume = stderr, *resume
	res, err := ldm.Tune(ctx, job, *out)
	if err != nil {
		return err
	}
	if res.Steps == 0 {
		_, err = fmt.Fprintf(stdout, "%s is already trained to epoch %d of %d; nothing to do\n", *out, res.Epochs, tc.Epochs)
		return err
	}
	loss := "ε-MSE"
	if job.Config.Model.Parameterization == ldm.PredictX0 {
		loss = "x0-MSE"
	}
	line := fmt.Sprintf("tuned %s: %d epochs, %d steps in %.0fs (%.3fs/step); train %s %.4f",
		*out, res.Epochs, res.Steps, res.Seconds, res.StepSecond, loss, res.TrainLoss)
	if !math.IsNaN(res.ValLoss) {
		line += fmt.Sprintf(", validation %s %.4f (best %.4f at epoch %d)", loss, res.ValLoss, res.BestVal, res.BestEpoch)
	}
	_, err = fmt.Fprintln(stdout, line)
	return err
}

// yesNoAuto applies a yes/no/auto flag: yes and no set *dst, auto keeps the
// preset's value.
func yesNoAuto(name, v string, dst *bool) error {
	switch v {
	case "auto":
	case "yes", "no":
		*dst = v == "yes"
	default:
		return usagef("--%s must be yes, no or auto", name)
	}
	return nil
}
