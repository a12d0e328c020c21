package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
)

func init() {
	registerBench(&benchmark{
		name:  "pretrain",
		short: "one phase-1 training step (two masked passes, all losses, backward, AdamW)",
		run:   runBenchPretrain,
	})
}

// benchPretrainBatch is the batch of each preset in shared/bench/torch_phase1.py.
var benchPretrainBatch = map[string]int{"tiny": 32, "small": 32, "paper": 8}

func runBenchPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(&command{name: "bench pretrain", args: "[flags]",
		short: "time one phase-1 training step; prints one JSON line",
		long: `Times nn.Trainer steps of the phase-1 objective on random data: two masked passes,
the masked MSE and both InfoNCE terms, the backward pass, clipping and AdamW.
shared/bench/torch_phase1.py times the same step in PyTorch: its presets tiny, bench
and paper correspond to tiny, small and paper here (same sizes and batches).`}, stdout)
	preset := fs.String("preset", "tiny", "model preset: tiny, small (alias bench) or paper")
	batch := fs.Int("batch", 0, "batch size (0: the preset's batch in torch_phase1.py: tiny 32, small 32, paper 8)")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 2, "untimed steps first (the first compiles the graph; with 0 it is timed too)")
	voxels := fs.Int("voxels", 0, "voxel count (0: the preset's, 4656)")
	lossName := fs.String("loss", "cad", "objective: cad, cad-literal or mindvis")
	seed := fs.Uint64("seed", 0, "seed of the weights, data and masks")
	backendSpec := fs.String("backend", "", "compute backend (default $VISDEC_BACKEND or go)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *preset == "bench" {
		*preset = "small"
	}
	cfg, err := fmrimae.Preset(*preset)
	if err != nil {
		return usagef("%v", err)
	}
	if *voxels > 0 {
		cfg.NumVoxels = *voxels
	}
	if *batch == 0 {
		*batch = benchPretrainBatch[*preset]
	}
	if *batch < 1 || *steps < 1 || *warmup < 0 {
		return usagef("--batch and --steps must be positive, --warmup not negative")
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	w, err := fmrimae.LossPreset(*lossName)
	if err != nil {
		return usagef("%v", err)
	}
	be, err := backend.New(*backendSpec)
	if err != nil {
		return err
	}

	ps := nn.NewParams()
	fmrimae.Declare(nn.NewInit(ps, *seed), cfg)
	_, trainable := ps.Count() // PyTorch counts parameters, not the fixed position buffers
	tc := fmrimae.DefaultTrainConfig()
	tr, err := nn.NewTrainer(be, ps, nn.StepConfig{
		Opt:      nn.AdamW{Beta1: tc.Beta1, Beta2: tc.Beta2, Eps: tc.Eps, WeightDecay: tc.WeightDecay},
		ClipNorm: tc.ClipGrad,
	}, func(v nn.Vars, in []*Node) (*Node, []*Node) {
		var keepB *Node
		if len(in) > 2 {
			keepB = in[2]
		}
		return fmrimae.Objective(v, cfg, w, in[0], in[1], keepB).Total, nil
	})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(*seed, 1))
	x := make([]float32, *batch*cfg.NumVoxels)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	var times []float64
	var compile float64
	for i := range *warmup + *steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		l := cfg.NumPatches()
		ma, err := fmrimae.RandomMask(rng, *batch, l, cfg.MaskRatio)
		if err != nil {
			return err
		}
		inputs := []*tensors.Tensor{nn.HostTensor(x, *batch, cfg.NumVoxels), ma.KeepTensor()}
		if w.NeedsSecondPass() {
			mb, err := fmrimae.RandomMask(rng, *batch, l, cfg.MaskRatio)
			if err != nil {
				return err
			}
			inputs = append(inputs, mb.KeepTensor())
		}
		t0 := time.Now()
		if _, err := tr.Step(tc.LR, inputs...); err != nil {
			return err
		}
		el := time.Since(t0).Seconds()
		if i == 0 {
			compile = el
			fmt.Fprintf(stderr, "bench pretrain: first step (with compilation) %.2fs\n", el)
		}
		if i >= *warmup {
			times = append(times, el)
		}
	}
	med := median(times)
	out := map[string]any{
		"impl": "visdec-go", "backend": backend.Spec(*backendSpec), "preset": *preset, "loss": *lossName,
		"batch": *batch, "voxels": cfg.NumVoxels, "embed": cfg.EmbedDim, "depth": cfg.Depth, "heads": cfg.NumHeads,
		"dec_embed": cfg.DecoderEmbedDim, "dec_depth": cfg.DecoderDepth, "dec_heads": cfg.DecoderNumHeads,
		"params": trainable, "steps": *steps,
		"first_step_s":  round4(compile),
		"step_s_median": round4(med), "step_s_min": round4(slices.Min(times)),
		"samples_per_s": round4(float64(*batch) / med),
	}
	return printJSON(stdout, out)
}
