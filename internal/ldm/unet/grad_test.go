package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
)

// gradCase is one block under a finite-difference check: its parameters
// (declared in float32, evaluated in float64), the shapes of its inputs and
// its forward function.
type gradCase struct {
	name    string
	declare func(in nn.Init)
	inputs  [][]int
	fn      func(v nn.Vars, in []*Node) *Node
}

// checkGradients compares GoMLX's gradients of loss = Σ f(·)·r (r a fixed
// random projection) with central differences, in float64, for a few
// coordinates of every parameter and input.
func checkGradients(t *testing.T, tc gradCase) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	ps := nn.NewParams()
	tc.declare(nn.NewInit(ps, 3))
	// Perturb everything away from its init, so zero-initialised layers and
	// unit norms do not hide terms.
	for _, p := range ps.List() {
		for i := range p.Data {
			p.Data[i] += float32(rng.NormFloat64() * 0.3)
		}
	}
	values := make([][]float64, 0, ps.Len()+len(tc.inputs))
	shapes := make([][]int, 0, cap(values))
	names := make([]string, 0, cap(values))
	for _, p := range ps.List() {
		d := make([]float64, p.Size())
		for i, v := range p.Data {
			d[i] = float64(v)
		}
		values, shapes, names = append(values, d), append(shapes, p.Shape), append(names, p.Name)
	}
	for k, s := range tc.inputs {
		n := 1
		for _, d := range s {
			n *= d
		}
		d := make([]float64, n)
		for i := range d {
			d[i] = rng.NormFloat64()
		}
		values, shapes, names = append(values, d), append(shapes, s), append(names, fmt.Sprintf("input%d", k))
	}
	np := ps.Len()
	var proj []float64
	build := func(g *Graph, in []*Node) *Node {
		v := nn.NewVars(g, ps.Names(), in[:np])
		y := tc.fn(v, in[np:])
		if proj == nil {
			proj = make([]float64, y.Shape().Size())
			for i := range proj {
				proj[i] = rng.NormFloat64()
			}
		}
		r := Reshape(Const(g, proj), y.Shape().Dimensions...)
		return ReduceAllSum(Mul(y, r))
	}
	be := backend.Default()
	gradExec, err := NewExec(be, func(g *Graph, in []*Node) []*Node {
		loss := build(g, in)
		return append([]*Node{loss}, Gradient(loss, in...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	lossExec, err := NewExec(be, func(g *Graph, in []*Node) *Node { return build(g, in) })
	if err != nil {
		t.Fatal(err)
	}
	args := func() []any {
		out := make([]any, len(values))
		for i, v := range values {
			out[i] = tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), shapes[i]...)
		}
		return out
	}
	outs, err := gradExec.Call(args()...)
	if err != nil {
		t.Fatal(err)
	}
	lossAt := func() float64 {
		o, err := lossExec.Call(args()...)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float64](o[0])[0]
	}
	const h = 1e-5
	for k := range values {
		if outs[1+k].DType() != dtypes.Float64 {
			t.Fatalf("%s: gradient dtype %s", names[k], outs[1+k].DType())
		}
		grad := tensors.MustCopyFlatData[float64](outs[1+k])
		for _, i := range sampleIndices(rng, len(values[k]), 3) {
			orig := values[k][i]
			values[k][i] = orig + h
			lp := lossAt()
			values[k][i] = orig - h
			lm := lossAt()
			values[k][i] = orig
			num := (lp - lm) / (2 * h)
			if math.Abs(num-grad[i]) > 1e-5*(1+math.Abs(num)) {
				t.Errorf("%s[%d]: gradient %.9g, finite difference %.9g", names[k], i, grad[i], num)
			}
		}
	}
}

func sampleIndices(rng *rand.Rand, n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := []int{0, n - 1}
	for len(out) < k {
		out = append(out, rng.IntN(n))
	}
	return out
}

// TestBlockGradients checks the UNet's building blocks against finite
// differences (tiny sizes): the GoMLX autodiff of every op they use.
func TestBlockGradients(t *testing.T) {
	cfg := Tiny()
	cfg.NormGroups, cfg.ContextDim, cfg.ContextLen = 2, 3, 5
	cases := []gradCase{
		{
			name:    "ResBlock (channel change)",
			declare: func(in nn.Init) { declareResBlock(in, 4, 6, 5) },
			inputs:  [][]int{{2, 4, 4, 4}, {2, 5}},
			fn: func(v nn.Vars, in []*Node) *Node {
				return ResBlock(v, in[0], in[1], 2, 1e-5)
			},
		},
		{
			name:    "SpatialTransformer (self + cross attention, GEGLU)",
			declare: func(in nn.Init) { declareSpatialTransformer(in, cfg, 4) },
			inputs:  [][]int{{2, 3, 3, 4}, {2, 5, 3}},
			fn: func(v nn.Vars, in []*Node) *Node {
				return SpatialTransformer(v, cfg, in[0], in[1])
			},
		},
		{
			name:    "CrossAttention, 2 heads",
			declare: func(in nn.Init) { declareCrossAttention(in, 4, 3) },
			inputs:  [][]int{{2, 6, 4}, {2, 5, 3}},
			fn: func(v nn.Vars, in []*Node) *Node {
				return CrossAttention(v, in[0], in[1], 2)
			},
		},
		{
			name:    "GEGLU feed-forward",
			declare: func(in nn.Init) { declareGEGLU(in, 3) },
			inputs:  [][]int{{2, 4, 3}},
			fn:      func(v nn.Vars, in []*Node) *Node { return GEGLUFeedForward(v, in[0]) },
		},
		{
			name:    "time conditioning head",
			declare: func(in nn.Init) { declareTimeCondition(in, 5, 3, 4) },
			inputs:  [][]int{{2, 5, 3}},
			fn:      func(v nn.Vars, in []*Node) *Node { return TimeCondition(v, in[0]) },
		},
		{
			name: "time embedding MLP + downsample + upsample",
			declare: func(in nn.Init) {
				declareTimeEmbed(in.In("te"), 4, 6)
				in.In("d").Conv2D("op", 2, 2, 3, true, false)
				in.In("u").Conv2D("conv", 2, 2, 3, true, false)
			},
			inputs: [][]int{{2, 4}, {1, 4, 4, 2}},
			fn: func(v nn.Vars, in []*Node) *Node {
				e := TimeEmbed(v.In("te"), in[0])
				d := nn.Conv2D(v.In("d.op"), in[1], 2, nn.Same(1))
				u := nn.Conv2D(v.In("u.conv"), nn.UpsampleNearest2x(d), 1, nn.Same(1))
				return Concatenate([]*Node{Reshape(e, 1, 12), Reshape(u, 1, 32)}, 1)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkGradients(t, tc) })
	}
}
