package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/crossmodal"
	"github.com/visdec/visdec/internal/nn"
)

func init() {
	registerBench(&benchmark{
		name:  "align",
		short: "one phase-2 training step (both MAEs with cross-attention, backward, AdamW)",
		run:   runBenchAlign,
	})
}

func runBenchAlign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(&command{name: "bench align", args: "[flags]",
		short: "time one phase-2 training step; prints one JSON line",
		long: `Times nn.Trainer steps of the phase-2 objective on random data and random weights:
the frozen image encoder's support pass, the fMRI MAE with image cross-attention, the
fMRI support pass, the image MAE with fMRI cross-attention, both masked MSEs, the
backward pass, per-model clipping and AdamW. Presets: base (the paper: the 1024×24
fMRI model with a 6-block decoder and vit-mae-base with 6 decoder layers, 224² images)
and tiny (the CPU preset).`}, stdout)
	preset := fs.String("preset", "tiny", "alignment preset: tiny or base")
	batch := fs.Int("batch", 0, "batch size (0: the preset's, 16)")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 2, "untimed steps first (the first compiles the graph)")
	seed := fs.Uint64("seed", 0, "seed of the weights, data and masks")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := crossmodal.Preset(*preset)
	if err != nil {
		return usagef("%v", err)
	}
	if *batch == 0 {
		*batch = cfg.BatchSize
	}
	if *batch < 1 || *steps < 1 || *warmup < 0 {
		return usagef("--batch and --steps must be positive, --warmup not negative")
	}
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}

	ps := nn.NewParams()
	crossmodal.DeclareAlign(nn.NewInit(ps, *seed), cfg)
	total, trainable := ps.Count()
	tr, err := nn.NewTrainer(be, ps, crossmodal.StepConfig(cfg), func(v nn.Vars, in []*Node) (*Node, []*Node) {
		return crossmodal.Objective(v, cfg, in[0], in[1], in[2], in[3], in[4], in[5]).Total, nil
	})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(*seed, 1))
	b, v, s := *batch, cfg.FMRI.NumVoxels, cfg.Image.ImageSize
	pairs := crossmodal.Pairs{N: b, V: v, Size: s, FMRI: make([]float32, b*v), Images: make([]uint8, b*s*s*3)}
	for i := range pairs.FMRI {
		pairs.FMRI[i] = float32(rng.NormFloat64())
	}
	for i := range pairs.Images {
		pairs.Images[i] = uint8(rng.IntN(256))
	}
	rows := make([]int, b)
	for i := range rows {
		rows[i] = i
	}
	var times []float64
	var compile float64
	for i := range *warmup + *steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		inputs, err := crossmodal.StepInputs(rng, cfg, pairs, rows)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := tr.Step(cfg.LR, inputs...); err != nil {
			return err
		}
		el := time.Since(t0).Seconds()
		if i == 0 {
			compile = el
			fmt.Fprintf(stderr, "bench align: first step (with compilation) %.2fs\n", el)
		}
		if i >= *warmup { // with --warmup 0 the first timed step includes compilation
			times = append(times, el)
		}
	}
	med := median(times)
	out := map[string]any{
		"impl": "visdec-go", "backend": backend.Spec(*backendSpec), "preset": *preset,
		"batch": b, "voxels": v, "embed": cfg.FMRI.EmbedDim, "depth": cfg.FMRI.Depth, "heads": cfg.FMRI.NumHeads,
		"dec_embed": cfg.FMRI.DecoderEmbedDim, "dec_depth": cfg.FMRI.DecoderDepth, "dec_heads": cfg.FMRI.DecoderNumHeads,
		"image_size": s, "image_patch": cfg.Image.PatchSize, "image_hidden": cfg.Image.Hidden, "image_layers": cfg.Image.Layers,
		"image_dec_hidden": cfg.Image.DecoderHidden, "image_dec_layers": cfg.Image.DecoderLayers, "cross_layers": cfg.Image.CrossLayers,
		"params": total, "trainable": trainable, "steps": *steps,
		"first_step_s":  round4(compile),
		"step_s_median": round4(med), "step_s_min": round4(slices.Min(times)),
		"samples_per_s": round4(float64(b) / med),
	}
	return printJSON(stdout, out)
}
