package autoencoder

import (
	"fmt"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
)

func randTensor(rng *rand.Rand, shape ...int) *tensors.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, shape...)
}

// BenchmarkConv3x3 times the 3×3 "same" convolution the autoencoder is made
// of (nn.Conv2D, im2col), forward and forward+backward (input and weight
// gradients), and reports GFLOP/s counting a backward pass as twice a
// forward. The "native" variants time GoMLX's own Convolve on the same
// shapes, for comparison (gomlx-notes §3c).
func BenchmarkConv3x3(b *testing.B) {
	cases := []struct {
		batch, side, ch int
		native          bool
	}{
		{4, 32, 32, true},   // Tiny, level 0
		{4, 16, 64, true},   // Tiny, levels 1–2
		{1, 64, 128, false}, // cin256 at a quarter of level 0's side
	}
	for _, c := range cases {
		impls := []string{"im2col"}
		if c.native {
			impls = append(impls, "native")
		}
		for _, impl := range impls {
			for _, backward := range []bool{false, true} {
				name := fmt.Sprintf("B%d_%dx%d_C%d/%s/fwd", c.batch, c.side, c.side, c.ch, impl)
				if backward {
					name += "+bwd"
				}
				b.Run(name, func(b *testing.B) {
					rng := rand.New(rand.NewPCG(1, 2))
					x := randTensor(rng, c.batch, c.side, c.side, c.ch)
					w := randTensor(rng, c.ch, c.ch, 3, 3)
					exec, err := NewExec(backend.Default(), func(x, w *Node) []*Node {
						var y *Node
						if impl == "native" {
							y = Convolve(x, TransposeAllAxes(w, 2, 3, 1, 0)).PadSame().Strides(1).Done()
						} else {
							v := nn.NewVars(x.Graph(), []string{"weight"}, []*Node{w})
							y = nn.Conv2D(v, x, 1, nn.Same(1))
						}
						if !backward {
							return []*Node{y}
						}
						return Gradient(ReduceAllSum(Square(y)), x, w)
					})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := exec.Call(x, w); err != nil { // compile
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if _, err := exec.Call(x, w); err != nil {
							b.Fatal(err)
						}
					}
					flop := 2.0 * float64(c.batch*c.side*c.side) * 9 * float64(c.ch*c.ch)
					if backward {
						flop *= 3
					}
					b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkTinyTrainStep times one training step (forward, backward, Adam)
// of Tiny() on a batch of 4.
func BenchmarkTinyTrainStep(b *testing.B) {
	cfg := Tiny()
	ps := NewParams(cfg, 1)
	tr, err := nn.NewTrainer(backend.Default(), ps, nn.StepConfig{Opt: nn.AdamW{Beta1: 0.5, Beta2: 0.9, Eps: 1e-8}},
		func(v nn.Vars, in []*Node) (*Node, []*Node) { return Objective(v, cfg, ReconL1, in[0]).Total, nil })
	if err != nil {
		b.Fatal(err)
	}
	x := randTensor(rand.New(rand.NewPCG(3, 4)), 4, cfg.Resolution, cfg.Resolution, 3)
	if _, err := tr.Step(1e-4, x); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Step(1e-4, x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTinyReconstruct times Encode + Decode of 4 images with Tiny().
func BenchmarkTinyReconstruct(b *testing.B) {
	cfg := Tiny()
	c, err := NewCodec(backend.Default(), cfg, NewParams(cfg, 1))
	if err != nil {
		b.Fatal(err)
	}
	x := nn.ToFloat32(randTensor(rand.New(rand.NewPCG(5, 6)), 4, cfg.Resolution, cfg.Resolution, 3))
	run := func() {
		z, err := c.Encode(x, 4)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decode(z, 4); err != nil {
			b.Fatal(err)
		}
	}
	run()
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
}
