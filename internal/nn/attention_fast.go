package nn

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// This file holds a faster equivalent of TimmAttention/TimmBlock for
// training on the pure-Go backend. Same parameters, same mathematics; only
// the graph differs, in three ways that matter for long token sequences
// (the fMRI decoder attends over 292 tokens, so the [B·H, N, N] score
// tensors dominate a phase-1 step):
//
//   - heads are folded into the batch axis ([B·H, N, Dh]), so every matrix
//     product has one leading batch axis and the contracting axis last: the
//     Go backend's DotGeneral then runs without transposing its operands;
//   - the backward of softmax(q·kᵀ)·v is written by hand (through
//     IdentityWithCustomGradient): ds = p ⊙ (dp − Σ_k dp ⊙ p), and the
//     products for dq, dk, dv are laid out so that only the small [N, Dh]
//     operands are ever transposed. GoMLX's generic rule instead re-derives
//     the softmax from its decomposition (about a dozen passes over the
//     scores) and copies every score-sized gradient through an identity
//     transpose;
//   - the 1/√Dh scale is applied to q, not to the scores (exact when Dh is
//     a power of 4, within float rounding otherwise).
//
// Results agree with TimmBlock to float32 rounding (attention_fast_test.go);
// on the Go backend a phase-1 training step runs about twice as fast.

// AttentionCore is softmax(q·kᵀ·scale)·v for q, k, v of shape [BH, N, Dh]
// (heads folded into the batch axis), with a hand-written backward pass.
func AttentionCore(q, k, v *Node, scale float64) *Node {
	qs := MulScalar(q, scale)
	s := DotGeneral(qs, []int{2}, []int{0}, k, []int{2}, []int{0}) // [BH, Nq, Nk]
	p := StopGradient(Softmax(s, -1))
	o := StopGradient(DotGeneral(p, []int{2}, []int{0}, v, []int{1}, []int{0})) // [BH, Nq, Dh]
	qsC, kC, vC := StopGradient(qs), StopGradient(k), StopGradient(v)

	// z is q, k and v stacked, with the custom gradient below. The output
	// is o + (z_q − z_q): numerically o, but its gradient reaches z, whose
	// custom rule turns dL/do into dL/dq, dL/dk, dL/dv.
	packed := Concatenate([]*Node{ExpandAxes(q, 0), ExpandAxes(k, 0), ExpandAxes(v, 0)}, 0)
	z := IdentityWithCustomGradient(packed, func(_, g *Node) *Node {
		dO := Reshape(Slice(g, AxisRange(0, 1)), o.Shape().Dimensions...) // [BH, Nq, Dh]
		// dV[k,d] = Σ_q P[q,k]·dO[q,d]: transpose the small dO, not P.
		dV := TransposeAllAxes(DotGeneral(TransposeAllAxes(dO, 0, 2, 1), []int{2}, []int{0}, p, []int{1}, []int{0}), 0, 2, 1)
		dP := DotGeneral(dO, []int{2}, []int{0}, vC, []int{2}, []int{0}) // [BH, Nq, Nk]
		dS := Mul(p, Sub(dP, ReduceAndKeep(Mul(dP, p), ReduceSum, -1)))  // softmax backward
		dQ := MulScalar(DotGeneral(dS, []int{2}, []int{0}, kC, []int{1}, []int{0}), scale)
		dK := TransposeAllAxes(DotGeneral(TransposeAllAxes(qsC, 0, 2, 1), []int{2}, []int{0}, dS, []int{1}, []int{0}), 0, 2, 1)
		return Concatenate([]*Node{ExpandAxes(dQ, 0), ExpandAxes(dK, 0), ExpandAxes(dV, 0)}, 0)
	})
	zq := Reshape(Slice(z, AxisRange(0, 1)), o.Shape().Dimensions...)
	return Add(o, Sub(zq, StopGradient(zq)))
}

// FastTimmAttention computes TimmAttention (same parameters: attn.qkv and
// attn.proj under v) with AttentionCore. x is [B, N, D].
func FastTimmAttention(v Vars, x *Node, heads int) *Node {
	d := x.Shape().Dimensions
	b, n, dim := d[0], d[1], d[2]
	dh := dim / heads
	qkv := Reshape(Linear(v.In("qkv"), x), b, n, 3, heads, dh)
	qkv = Reshape(TransposeAllAxes(qkv, 2, 0, 3, 1, 4), 3, b*heads, n, dh) // [3, B·H, N, Dh]
	part := func(i int) *Node { return Reshape(Slice(qkv, AxisRange(i, i+1)), b*heads, n, dh) }
	o := AttentionCore(part(0), part(1), part(2), 1/math.Sqrt(float64(dh)))
	o = Reshape(TransposeAllAxes(Reshape(o, b, heads, n, dh), 0, 2, 1, 3), b, n, dim)
	return Linear(v.In("proj"), o)
}

// FastTimmBlock is TimmBlock (timm 0.5.4 pre-LN Block, LayerNorm eps 1e-5,
// exact GELU) with FastTimmAttention; it reads the parameters
// DeclareTimmBlock declares.
func FastTimmBlock(v Vars, x *Node, heads int) *Node {
	x = Add(x, FastTimmAttention(v.In("attn"), LayerNorm(v.In("norm1"), x, 1e-5), heads))
	h := GELU(Linear(v.In("mlp.fc1"), LayerNorm(v.In("norm2"), x, 1e-5)))
	return Add(x, Linear(v.In("mlp.fc2"), h))
}
