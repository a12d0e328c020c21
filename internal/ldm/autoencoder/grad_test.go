package autoencoder

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
)

// gradCase is a scalar float64 function of named inputs whose gradient the
// graph computes and finite differences check.
type gradCase struct {
	names  []string
	shapes [][]int
	values [][]float64
	loss   func(v nn.Vars) *Node
	// fd, when set, is the function differentiated numerically instead of
	// loss: a surrogate with the stop-gradient terms frozen at the base
	// point, whose true gradient there is what loss's graph gradient must be.
	fd func(v nn.Vars) *Node
}

// add registers an input with N(0, std²) values.
func (c *gradCase) add(rng *rand.Rand, name string, std float64, shape ...int) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * std
	}
	c.names = append(c.names, name)
	c.shapes = append(c.shapes, shape)
	c.values = append(c.values, v)
}

// addParams registers every parameter of ps, perturbed from its initial
// value so that GroupNorm affine terms and biases are not trivial.
func (c *gradCase) addParams(rng *rand.Rand, ps *nn.Params) {
	for _, p := range ps.List() {
		v := make([]float64, len(p.Data))
		for i, x := range p.Data {
			v[i] = float64(x) + 0.1*rng.NormFloat64()
		}
		c.names = append(c.names, p.Name)
		c.shapes = append(c.shapes, p.Shape)
		c.values = append(c.values, v)
	}
}

func (c *gradCase) tensors(values [][]float64) []any {
	out := make([]any, len(values))
	for i, v := range values {
		out[i] = tensors.FromFlatDataAndDimensions(append([]float64(nil), v...), c.shapes[i]...)
	}
	return out
}

// check compares the graph gradient with central differences at a few
// coordinates of every input (all of them for small inputs).
func (c *gradCase) check(t *testing.T, rng *rand.Rand, perInput int, tol float64) {
	t.Helper()
	b := backend.Default()
	build := func(g *Graph, in []*Node) *Node { return c.loss(nn.NewVars(g, c.names, in)) }
	fd := c.fd
	if fd == nil {
		fd = c.loss
	}
	lossExec, err := NewExec(b, func(g *Graph, in []*Node) *Node { return fd(nn.NewVars(g, c.names, in)) })
	if err != nil {
		t.Fatal(err)
	}
	gradExec, err := NewExec(b, func(g *Graph, in []*Node) []*Node { return Gradient(build(g, in), in...) })
	if err != nil {
		t.Fatal(err)
	}
	grads, err := gradExec.Call(c.tensors(c.values)...)
	if err != nil {
		t.Fatal(err)
	}
	lossAt := func(vals [][]float64) float64 {
		out, err := lossExec.Call(c.tensors(vals)...)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float64](out[0])[0]
	}
	const h = 1e-6
	for i, name := range c.names {
		g := tensors.MustCopyFlatData[float64](grads[i])
		coords := rng.Perm(len(c.values[i]))
		if len(coords) > perInput {
			coords = coords[:perInput]
		}
		for _, k := range coords {
			vals := make([][]float64, len(c.values))
			copy(vals, c.values)
			vals[i] = append([]float64(nil), c.values[i]...)
			vals[i][k] += h
			lp := lossAt(vals)
			vals[i][k] -= 2 * h
			lm := lossAt(vals)
			num := (lp - lm) / (2 * h)
			if math.Abs(num-g[k]) > tol*(1+math.Abs(num)) {
				t.Errorf("d loss/d %s[%d] = %.9g, finite difference %.9g", name, k, g[k], num)
			}
		}
	}
}

// weightedSum is Σ x·w for a fixed random w, so every output element
// matters to the loss with its own weight.
func weightedSum(x *Node, seed uint64) *Node {
	n := x.Shape().Size()
	rng := rand.New(rand.NewPCG(seed, 9))
	w := make([]float64, n)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	return ReduceAllSum(Mul(x, Reshape(Const(x.Graph(), w), x.Shape().Dimensions...)))
}

// gradConfig is a float64-friendly miniature: 4 GroupNorm groups.
func gradConfig() Config {
	return Config{Resolution: 8, InChannels: 3, OutChannels: 3, Ch: 8, ChMult: []int{1, 2},
		NumResBlocks: 1, AttnResolutions: []int{}, ZChannels: 3, EmbedDim: 3, NEmbed: 6,
		Beta: 0.25, Groups: 4, NormEps: 1e-6}
}

func TestResnetBlockGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cfg := gradConfig()
	ps := nn.NewParams()
	declareResnetBlock(nn.NewInit(ps, 2).In("blk"), cfg, 8, 16) // with nin_shortcut
	var c gradCase
	c.add(rng, "x", 1, 2, 4, 4, 8)
	c.addParams(rng, ps)
	c.loss = func(v nn.Vars) *Node { return weightedSum(ResnetBlock(v.In("blk"), cfg, v.Get("x")), 3) }
	c.check(t, rng, 6, 1e-6)
}

func TestAttnBlockGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 1))
	cfg := gradConfig()
	ps := nn.NewParams()
	declareAttnBlock(nn.NewInit(ps, 3).In("attn"), 8)
	var c gradCase
	c.add(rng, "x", 1, 2, 3, 4, 8)
	c.addParams(rng, ps)
	c.loss = func(v nn.Vars) *Node { return weightedSum(AttnBlock(v.In("attn"), cfg, v.Get("x")), 4) }
	c.check(t, rng, 6, 1e-6)
}

// nearestCodes is a direct float64 nearest-neighbour search: the code
// index of every EmbedDim vector of z and the codes themselves.
func nearestCodes(z, e []float64, dim int) ([]int32, []float64) {
	n, k := len(z)/dim, len(e)/dim
	idx := make([]int32, n)
	zq := make([]float64, len(z))
	for i := 0; i < n; i++ {
		best, bestD := 0, math.Inf(1)
		for j := 0; j < k; j++ {
			d := 0.0
			for c := 0; c < dim; c++ {
				diff := z[i*dim+c] - e[j*dim+c]
				d += diff * diff
			}
			if d < bestD {
				best, bestD = j, d
			}
		}
		idx[i] = int32(best)
		copy(zq[i*dim:(i+1)*dim], e[best*dim:(best+1)*dim])
	}
	return idx, zq
}

// frozenVQ is the quantiser loss with its stop-gradients made explicit for
// finite differences: wc·mean((z − zq0)²) + wb·mean((z0 − e[idx0])²), where
// z0, zq0 and idx0 are the base point's values. Its true gradient at the
// base point is what the VQ-VAE estimator assigns.
func frozenVQ(cfg Config, z, e *Node, z0, zq0 []float64, idx0 []int32) *Node {
	wc, wb := cfg.Beta, 1.0
	if cfg.Legacy {
		wc, wb = 1, cfg.Beta
	}
	g := z.Graph()
	shape := z.Shape().Dimensions
	zq0n := Reshape(Const(g, zq0), shape...)
	z0n := Reshape(Const(g, z0), shape...)
	eSel := Reshape(Gather(e, Reshape(Const(g, idx0), len(idx0), 1)), shape...)
	return Add(MulScalar(ReduceAllMean(Square(Sub(z, zq0n))), wc),
		MulScalar(ReduceAllMean(Square(Sub(z0n, eSel))), wb))
}

// TestQuantizerGradient checks the quantiser's gradients: the codebook and
// commitment terms against finite differences of frozenVQ (in z and in the
// codebook; no assignment changes under a 1e-6 step), with both weightings,
// and the straight-through path exactly: ∂(Σ w·z_q)/∂z = w, and no gradient
// reaches the codebook through z_q.
func TestQuantizerGradient(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(3, 1))
		cfg := gradConfig()
		cfg.Legacy = legacy
		var c gradCase
		c.add(rng, "z", 1, 2, 3, 3, cfg.EmbedDim)
		c.add(rng, "quantize.embedding.weight", 1, cfg.NEmbed, cfg.EmbedDim)
		z0 := c.values[0]
		idx0, zq0 := nearestCodes(z0, c.values[1], cfg.EmbedDim)
		c.loss = func(v nn.Vars) *Node { return Quantize(v, cfg, v.Get("z")).Loss(cfg) }
		c.fd = func(v nn.Vars) *Node {
			return frozenVQ(cfg, v.Get("z"), v.Get("quantize.embedding.weight"), z0, zq0, idx0)
		}
		c.check(t, rng, 100, 1e-6)
	}

	rng := rand.New(rand.NewPCG(4, 1))
	cfg := gradConfig()
	var c gradCase
	c.add(rng, "z", 1, 2, 3, 3, cfg.EmbedDim)
	c.add(rng, "quantize.embedding.weight", 1, cfg.NEmbed, cfg.EmbedDim)
	g, err := NewExec(backend.Default(), func(gr *Graph, in []*Node) []*Node {
		v := nn.NewVars(gr, c.names, in)
		q := Quantize(v, cfg, in[0])
		return append(Gradient(weightedSum(q.ZQ, 5), in...), q.ZQ, q.Indices)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Call(c.tensors(c.values)...)
	if err != nil {
		t.Fatal(err)
	}
	dz := tensors.MustCopyFlatData[float64](out[0])
	de := tensors.MustCopyFlatData[float64](out[1])
	w := make([]float64, len(dz))
	wr := rand.New(rand.NewPCG(5, 9))
	for i := range w {
		w[i] = wr.NormFloat64()
	}
	for i := range dz {
		if dz[i] != w[i] {
			t.Fatalf("straight-through ∂/∂z[%d] = %g, want %g", i, dz[i], w[i])
		}
	}
	for i, v := range de {
		if v != 0 {
			t.Fatalf("codebook gets gradient %g at %d through z_q; want 0", v, i)
		}
	}
	// The values: z_q is the nearest code, found by a direct search.
	idx, zq := nearestCodes(c.values[0], c.values[1], cfg.EmbedDim)
	gotIdx := tensors.MustCopyFlatData[int32](out[3])
	gotZQ := tensors.MustCopyFlatData[float64](out[2])
	for i := range idx {
		if gotIdx[i] != idx[i] {
			t.Fatalf("code %d: got %d, direct search %d", i, gotIdx[i], idx[i])
		}
	}
	for i := range zq {
		if math.Abs(gotZQ[i]-zq[i]) > 1e-12 {
			t.Fatalf("z_q[%d] = %g, want %g", i, gotZQ[i], zq[i])
		}
	}
}

// TestTrainLossGradient checks the whole training objective (L1 and L2
// reconstruction through the straight-through estimator, plus the quantiser
// loss) on a miniature model at one random coordinate of every tensor, against
// finite differences of the surrogate with the stop-gradient values frozen:
// recon(DecodeNoQuant(z + (zq0 − z0))) + frozenVQ.
func TestTrainLossGradient(t *testing.T) {
	if testing.Short() {
		t.Skip("full-model gradient check; the block checks above run in -short")
	}
	for _, recon := range []string{ReconL2, ReconL1} {
		t.Run(recon, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, 1))
			cfg := gradConfig()
			ps := NewParams(cfg, 7)
			var c gradCase
			c.add(rng, "x", 0.5, 2, cfg.Resolution, cfg.Resolution, 3)
			c.addParams(rng, ps)
			// The base point's latents and codes.
			enc, err := NewExec(backend.Default(), func(g *Graph, in []*Node) *Node {
				return Encode(nn.NewVars(g, c.names, in), cfg, in[0])
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := enc.Call(c.tensors(c.values)...)
			if err != nil {
				t.Fatal(err)
			}
			z0 := tensors.MustCopyFlatData[float64](out[0])
			var e0 []float64
			for i, n := range c.names {
				if n == "quantize.embedding.weight" {
					e0 = c.values[i]
				}
			}
			idx0, zq0 := nearestCodes(z0, e0, cfg.EmbedDim)
			offset := make([]float64, len(z0))
			for i := range offset {
				offset[i] = zq0[i] - z0[i]
			}
			c.loss = func(v nn.Vars) *Node { return Objective(v, cfg, recon, v.Get("x")).Total }
			c.fd = func(v nn.Vars) *Node {
				x := v.Get("x")
				z := Encode(v, cfg, x)
				zst := Add(z, Reshape(Const(x.Graph(), offset), z.Shape().Dimensions...))
				diff := Sub(DecodeNoQuant(v, cfg, zst), x)
				r := ReduceAllMean(Square(diff))
				if recon == ReconL1 {
					r = ReduceAllMean(Abs(diff))
				}
				return Add(r, frozenVQ(cfg, z, v.Get("quantize.embedding.weight"), z0, zq0, idx0))
			}
			c.check(t, rng, 1, 1e-5)
		})
	}
}
