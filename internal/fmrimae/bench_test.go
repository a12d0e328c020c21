package fmrimae

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
)

// BenchmarkTrainStep times one phase-1 training step (two masked passes,
// every loss term, backward, clipping, AdamW) of the tiny preset at batch 32.
func BenchmarkTrainStep(b *testing.B) {
	cfg, w := TinyConfig(), LossPresets["cad"]
	tc := DefaultTrainConfig()
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, 1), cfg)
	tr, err := nn.NewTrainer(backend.Default(), ps, nn.StepConfig{
		Opt: nn.AdamW{Beta1: tc.Beta1, Beta2: tc.Beta2, Eps: tc.Eps, WeightDecay: tc.WeightDecay}, ClipNorm: tc.ClipGrad,
	}, func(v nn.Vars, in []*Node) (*Node, []*Node) {
		return Objective(v, cfg, w, in[0], in[1], in[2]).Total, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 32
	rng := rand.New(rand.NewPCG(1, 2))
	x := UniformNoise(rng, batch*cfg.NumVoxels)
	inputs := func() []*tensors.Tensor {
		ma, _ := RandomMask(rng, batch, cfg.NumPatches(), cfg.MaskRatio)
		mb, _ := RandomMask(rng, batch, cfg.NumPatches(), cfg.MaskRatio)
		return []*tensors.Tensor{nn.HostTensor(x, batch, cfg.NumVoxels), ma.KeepTensor(), mb.KeepTensor()}
	}
	if _, err := tr.Step(tc.LR, inputs()...); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Step(tc.LR, inputs()...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
