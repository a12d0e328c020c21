package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/ldm"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
)

func init() {
	registerBench(&benchmark{
		name:  "sample",
		short: "LDM denoising steps and VQ decoding: seconds per step and per image",
		run:   runBenchSample,
	})
	registerBench(&benchmark{
		name:  "tune",
		short: "one LDM fine-tuning step (conditioning, UNet, ε-MSE, backward, AdamW)",
		run:   runBenchTune,
	})
}

// benchLDM holds what both LDM benchmarks build: a randomly initialised model
// of a preset, with the fMRI encoder and autoencoder sizes that go with it.
type benchLDM struct {
	preset ldm.Preset
	cfg    ldm.Config
	ae     autoencoder.Config
}

// newBenchLDM sizes the model: cin256 pairs with the paper's fMRI encoder and
// the cin256 VQ-f4; tiny with the tiny encoder and the tiny autoencoder.
func newBenchLDM(name string, voxels int) (benchLDM, error) {
	p, err := ldm.LookupPreset(name)
	if err != nil {
		return benchLDM{}, err
	}
	enc, ae := fmrimae.TinyConfig(), autoencoder.Tiny()
	if name == "cin256" {
		enc, ae = fmrimae.PaperConfig(), autoencoder.Cin256()
	}
	if voxels > 0 {
		enc.NumVoxels = voxels
	}
	cfg := ldm.NewConfig(p, ldm.CondConfig{Encoder: enc}, ae.LatentShape())
	if err := cfg.Validate(); err != nil {
		return benchLDM{}, err
	}
	return benchLDM{preset: p, cfg: cfg, ae: ae}, nil
}

func runBenchSample(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(&command{name: "bench sample", args: "[flags]",
		short: "time LDM sampling; prints one JSON line",
		long: `Times the compiled denoising step (the UNet on a batch of latents, the context computed
once) and the VQ decoder, on a randomly initialised model of the preset. seconds_per_image is
the sampling cost of one reconstruction with --sampler-steps PLMS steps (S+1 model calls) plus
its share of the decoding.`}, stdout)
	preset := fs.String("preset", "tiny", "model preset: tiny or cin256")
	batch := fs.Int("batch", 5, "images denoised together (the reference: 5 samples of one item)")
	steps := fs.Int("steps", 5, "timed denoising steps")
	warmup := fs.Int("warmup", 1, "untimed steps first (the first compiles the graph)")
	samplerSteps := fs.Int("sampler-steps", 250, "sampler steps per image for seconds_per_image (the reference: 250)")
	voxels := fs.Int("voxels", 0, "fMRI length (0: the encoder preset's)")
	seed := fs.Uint64("seed", 0, "seed of the weights and inputs")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *batch < 1 || *steps < 1 || *warmup < 0 || *samplerSteps < 1 {
		return usagef("--batch, --steps and --sampler-steps must be positive, --warmup not negative")
	}
	bl, err := newBenchLDM(*preset, *voxels)
	if err != nil {
		return usagef("%v", err)
	}
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}
	m := &ldm.Model{Config: bl.cfg, Params: ldm.NewParams(bl.cfg, *seed),
		FirstStage: autoencoder.NewParams(bl.ae, *seed), Run: ldm.RunConfig{Autoencoder: bl.ae}}
	s, err := ldm.NewSampleBench(be, m, *batch, *seed)
	if err != nil {
		return err
	}
	var stepTimes []float64
	for i := range *warmup + *steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		if err := s.Step(500); err != nil {
			return err
		}
		el := time.Since(t0).Seconds()
		if i == 0 {
			fmt.Fprintf(stderr, "bench sample: first step (with compilation) %.2fs\n", el)
		}
		if i >= *warmup {
			stepTimes = append(stepTimes, el)
		}
	}
	if _, err := s.Decode(); err != nil { // compile
		return err
	}
	dec, err := s.Decode()
	if err != nil {
		return err
	}
	step := median(stepTimes)
	calls := *samplerSteps + 1 // PLMS evaluates the model twice at its first step
	total, _ := m.Params.Count()
	return printJSON(stdout, map[string]any{
		"impl": "visdec-go", "bench": "sample", "backend": backend.Spec(*backendSpec), "preset": *preset,
		"batch": *batch, "latent": bl.ae.LatentShape(), "resolution": bl.ae.Resolution,
		"model_channels": bl.cfg.UNet.ModelChannels, "channel_mult": bl.cfg.UNet.ChannelMult,
		"params": total, "steps": *steps,
		"seconds_per_step":     round4(step),
		"seconds_per_step_min": round4(minOf(stepTimes)),
		"decode_seconds":       round4(dec),
		"sampler_steps":        *samplerSteps,
		"seconds_per_image":    round4((float64(calls)*step + dec) / float64(*batch)),
	})
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

func runBenchTune(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(&command{name: "bench tune", args: "[flags]",
		short: "time one LDM fine-tuning step; prints one JSON line",
		long: `Times training steps of the LDM objective on random latents and fMRI, with a randomly
initialised model of the preset: the conditioning model, the UNet, the ε-MSE, the backward
pass, clipping and AdamW over the chosen trainable set.`}, stdout)
	preset := fs.String("preset", "tiny", "model preset: tiny or cin256")
	batch := fs.Int("batch", 0, "batch size (0: the preset's)")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 1, "untimed steps first (the first compiles the graph)")
	voxels := fs.Int("voxels", 0, "fMRI length (0: the encoder preset's)")
	trainable := fs.String("trainable", "all", "trained set: reference or all")
	freeze := fs.Bool("freeze-encoder", false, "fixed fMRI encoder with precomputed latents")
	dup := fs.Bool("duplicate-norm2", false, "the reference's duplicated norm2 updates")
	seed := fs.Uint64("seed", 0, "seed of the weights and inputs")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *steps < 1 || *warmup < 0 || *batch < 0 {
		return usagef("--steps must be positive, --warmup and --batch not negative")
	}
	if *trainable != string(ldm.TrainReference) && *trainable != string(ldm.TrainAll) {
		return usagef("--trainable must be reference or all")
	}
	bl, err := newBenchLDM(*preset, *voxels)
	if err != nil {
		return usagef("%v", err)
	}
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}
	tc := ldm.DefaultTune(bl.preset)
	tc.Model, tc.Trainable, tc.FreezeEncoder, tc.DuplicateNorm2 = bl.cfg, ldm.Trainable(*trainable), *freeze, *dup
	if *batch > 0 {
		tc.BatchSize = *batch
	}
	ps := ldm.NewParams(bl.cfg, *seed)
	tb, err := ldm.NewTuneBench(be, ps, tc, rand.New(rand.NewPCG(*seed, 1)))
	if err != nil {
		return err
	}
	var times []float64
	for i := range *warmup + *steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Now()
		if err := tb.Step(); err != nil {
			return err
		}
		el := time.Since(t0).Seconds()
		if i == 0 {
			fmt.Fprintf(stderr, "bench tune: first step (with compilation) %.2fs\n", el)
		}
		if i >= *warmup {
			times = append(times, el)
		}
	}
	total, trainableN := ps.Count()
	med := median(times)
	return printJSON(stdout, map[string]any{
		"impl": "visdec-go", "bench": "tune", "backend": backend.Spec(*backendSpec), "preset": *preset,
		"batch": tc.BatchSize, "latent": bl.ae.LatentShape(), "voxels": bl.cfg.Cond.Encoder.NumVoxels,
		"trainable": *trainable, "freeze_encoder": *freeze, "duplicate_norm2": *dup,
		"params": total, "trainable_params": trainableN, "steps": *steps,
		"step_s_median": round4(med), "step_s_min": round4(minOf(times)),
		"samples_per_s": round4(float64(tc.BatchSize) / med),
	})
}
