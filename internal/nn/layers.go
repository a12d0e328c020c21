package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Vars is the graph-side view of a Params set: parameter nodes by name, with a
// name prefix so a block reads its own weights as v.Get("qkv.weight").
type Vars struct {
	G      *Graph
	nodes  map[string]*Node
	prefix string
}

// NewVars wraps nodes (one per name) as Vars.
func NewVars(g *Graph, names []string, nodes []*Node) Vars {
	if len(names) != len(nodes) {
		panic(fmt.Sprintf("nn: NewVars: %d names, %d nodes", len(names), len(nodes)))
	}
	m := make(map[string]*Node, len(names))
	for i, n := range names {
		m[n] = nodes[i]
	}
	return Vars{G: g, nodes: m}
}

// In returns the view below "name.".
func (v Vars) In(format string, args ...any) Vars {
	v.prefix += fmt.Sprintf(format, args...) + "."
	return v
}

// Has reports whether the parameter exists.
func (v Vars) Has(name string) bool { _, ok := v.nodes[v.prefix+name]; return ok }

// Get returns the named parameter node; a missing name is a programming error.
func (v Vars) Get(name string) *Node {
	n, ok := v.nodes[v.prefix+name]
	if !ok {
		panic(fmt.Sprintf("nn: parameter %q not declared", v.prefix+name))
	}
	return n
}

// Set replaces (or adds) a node, e.g. to stop gradients through a frozen part.
func (v Vars) Set(name string, n *Node) { v.nodes[v.prefix+name] = n }

// Linear computes x·Wᵀ + b over the last axis; W is [out, in] as in PyTorch.
func Linear(v Vars, x *Node) *Node {
	w := v.Get("weight")
	rank := x.Rank()
	y := DotGeneral(x, []int{rank - 1}, nil, w, []int{1}, nil)
	if v.Has("bias") {
		y = Add(y, ExpandLeftToRank(v.Get("bias"), y.Rank()))
	}
	return y
}

// LayerNorm normalises over the last axis with a biased variance and eps, then
// applies weight and bias (PyTorch nn.LayerNorm). Written with 1/Sqrt because
// GoMLX has no gradient for Rsqrt.
func LayerNorm(v Vars, x *Node, eps float64) *Node {
	axis := x.Rank() - 1
	mean := ReduceAndKeep(x, ReduceMean, axis)
	c := Sub(x, mean)
	variance := ReduceAndKeep(Square(c), ReduceMean, axis)
	y := Div(c, Sqrt(AddScalar(variance, eps)))
	y = Mul(y, ExpandLeftToRank(v.Get("weight"), y.Rank()))
	return Add(y, ExpandLeftToRank(v.Get("bias"), y.Rank()))
}

// GELU is the exact (erf) GELU: x·½(1+erf(x/√2)).
func GELU(x *Node) *Node {
	return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
}

// SiLU is x·σ(x) (swish).
func SiLU(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// Pick returns x[..., i, ...] along axis (the axis removed). It is written as a
// one-hot product and sum, not Slice, so its gradient needs no Pad and runs on
// every backend.
func Pick(x *Node, axis, i int) *Node {
	dims := x.Shape().Dimensions
	n := dims[axis]
	oh := make([]float32, n)
	oh[i] = 1
	shape := make([]int, x.Rank())
	for k := range shape {
		shape[k] = 1
	}
	shape[axis] = n
	sel := Reshape(Const(x.Graph(), oh), shape...)
	if x.DType() != dtypes.Float32 {
		sel = ConvertDType(sel, x.DType())
	}
	return ReduceSum(Mul(x, sel), axis)
}

// Attention is multi-head scaled dot-product attention. q is [B, Nq, H, Dh],
// k and v are [B, Nk, H, Dh]; the result is [B, Nq, H, Dh].
func Attention(q, k, v *Node) *Node {
	dh := q.Shape().Dimensions[3]
	scores := Einsum("bqhd,bkhd->bhqk", q, k)
	scores = MulScalar(scores, 1/math.Sqrt(float64(dh)))
	p := Softmax(scores, -1)
	return Einsum("bhqk,bkhd->bqhd", p, v)
}

// SplitHeads reshapes [B, N, H·Dh] to [B, N, H, Dh].
func SplitHeads(x *Node, heads int) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0], d[1], heads, d[2]/heads)
}

// MergeHeads reshapes [B, N, H, Dh] to [B, N, H·Dh].
func MergeHeads(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0], d[1], d[2]*d[3])
}

// TimmAttention is timm's Attention: a fused qkv Linear, heads, softmax(qkᵀ/√d)v
// and the proj Linear. x is [B, N, D].
func TimmAttention(v Vars, x *Node, heads int) *Node {
	d := x.Shape().Dimensions
	b, n, dim := d[0], d[1], d[2]
	qkv := Reshape(Linear(v.In("qkv"), x), b, n, 3, heads, dim/heads)
	out := Attention(Pick(qkv, 2, 0), Pick(qkv, 2, 1), Pick(qkv, 2, 2))
	return Linear(v.In("proj"), MergeHeads(out))
}

// DeclareTimmBlock declares timm's Block(dim, heads, mlp_ratio, qkv_bias=True).
func DeclareTimmBlock(in Init, dim int, mlpRatio float64, how LinearInit) {
	hidden := int(float64(dim) * mlpRatio)
	in.LayerNorm("norm1", dim)
	in.Linear("attn.qkv", dim, 3*dim, true, how)
	in.Linear("attn.proj", dim, dim, true, how)
	in.LayerNorm("norm2", dim)
	in.Linear("mlp.fc1", dim, hidden, true, how)
	in.Linear("mlp.fc2", hidden, dim, true, how)
}

// TimmBlock is timm 0.5.4's pre-LN transformer Block: x + Attn(LN(x)), then
// x + MLP(LN(x)) with exact GELU. LayerNorm eps 1e-5.
func TimmBlock(v Vars, x *Node, heads int) *Node {
	x = Add(x, TimmAttention(v.In("attn"), LayerNorm(v.In("norm1"), x, 1e-5), heads))
	h := GELU(Linear(v.In("mlp.fc1"), LayerNorm(v.In("norm2"), x, 1e-5)))
	return Add(x, Linear(v.In("mlp.fc2"), h))
}

// ScalarF32 is a float32 scalar constant in g.
func ScalarF32(g *Graph, v float64) *Node { return Scalar(g, dtypes.Float32, v) }

// ZerosF32 is a float32 zero tensor.
func ZerosF32(g *Graph, dims ...int) *Node { return Zeros(g, shapes.Make(dtypes.Float32, dims...)) }
