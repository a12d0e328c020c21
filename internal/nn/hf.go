package nn

import (
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// This file holds the Hugging Face ViTMAE building blocks (transformers
// models/vit_mae/modeling_vit_mae.py, as copied into vis_dec
// code/sc_mbm/mae_for_image.py:320-525), named as their state_dict names
// them: separate query/key/value Linears ("attention.attention.query"), the
// output projection ("attention.output.dense"), "intermediate.dense",
// "output.dense", "layernorm_before" and "layernorm_after".

// DeclareHFAttention declares a ViTMAEAttention module under in:
// attention.{query,key,value} and output.dense, each Linear(dim, dim) with
// bias (qkv_bias=True).
func DeclareHFAttention(in Init, dim int, how LinearInit) {
	in.Linear("attention.query", dim, dim, true, how)
	in.Linear("attention.key", dim, dim, true, how)
	in.Linear("attention.value", dim, dim, true, how)
	in.Linear("output.dense", dim, dim, true, how)
}

// HFAttention is ViTMAEAttention (self-attention when kv == x,
// ViTMAECrossAttention otherwise): Q = W_q·x, K = W_k·kv, V = W_v·kv, heads,
// softmax(QKᵀ/√d_head)·V, then output.dense. No residual: the layer adds it.
// x is [B, Nq, D], kv is [B, Nk, D]; the result is [B, Nq, D].
func HFAttention(v Vars, x, kv *Node, heads int) *Node {
	a := v.In("attention")
	q := SplitHeads(Linear(a.In("query"), x), heads)
	k := SplitHeads(Linear(a.In("key"), kv), heads)
	val := SplitHeads(Linear(a.In("value"), kv), heads)
	return Linear(v.In("output.dense"), MergeHeads(Attention(q, k, val)))
}

// HFConfig is the part of a ViTMAEConfig one layer needs.
type HFConfig struct {
	Hidden       int     // hidden_size (vit-mae-base: 768; its decoder: 512)
	Intermediate int     // intermediate_size (3072; decoder 2048)
	Heads        int     // num_attention_heads (12; decoder 16)
	LayerNormEps float64 // layer_norm_eps (1e-12)
}

// DeclareHFLayer declares a plain ViTMAELayer (no cross-attention) under in,
// in the state_dict order: attention, intermediate, output, layernorm_before,
// layernorm_after.
func DeclareHFLayer(in Init, c HFConfig, how LinearInit) {
	DeclareHFAttention(in.In("attention"), c.Hidden, how)
	DeclareHFMLP(in, c, how)
}

// DeclareHFMLP declares the part of a ViTMAELayer after its attention
// modules: intermediate.dense, output.dense and both LayerNorms.
func DeclareHFMLP(in Init, c HFConfig, how LinearInit) {
	in.Linear("intermediate.dense", c.Hidden, c.Intermediate, true, how)
	in.Linear("output.dense", c.Intermediate, c.Hidden, true, how)
	in.LayerNorm("layernorm_before", c.Hidden)
	in.LayerNorm("layernorm_after", c.Hidden)
}

// HFMLP is the second half of a ViTMAELayer: h + W2·GELU(W1·LN_after(h)).
func HFMLP(v Vars, h *Node, c HFConfig) *Node {
	y := GELU(Linear(v.In("intermediate.dense"), LayerNorm(v.In("layernorm_after"), h, c.LayerNormEps)))
	return Add(h, Linear(v.In("output.dense"), y))
}

// HFLayer is ViTMAELayer without cross-attention, a pre-LN block:
// h = x + Attn(LN_before(x)), then h + MLP(LN_after(h)), exact GELU.
// x is [B, N, D]; so is the result.
func HFLayer(v Vars, x *Node, c HFConfig) *Node {
	ln := LayerNorm(v.In("layernorm_before"), x, c.LayerNormEps)
	h := Add(x, HFAttention(v.In("attention"), ln, ln, c.Heads))
	return HFMLP(v, h, c)
}

// sinCos1D returns the 1-D sin-cos table [n, dim] for positions 0..n-1 as MAE
// builds it (get_1d_sincos_pos_embed_from_grid): ω_k = 1/10000^(k/(dim/2)),
// row p = [sin(p·ω) | cos(p·ω)], computed in float64.
func sinCos1D(dim int, positions []float64) [][]float64 {
	half := dim / 2
	out := make([][]float64, len(positions))
	for i, p := range positions {
		row := make([]float64, dim)
		for k := 0; k < half; k++ {
			w := 1 / math.Pow(10000, float64(k)/float64(half))
			row[k] = math.Sin(p * w)
			row[half+k] = math.Cos(p * w)
		}
		out[i] = row
	}
	return out
}

// SinCos2D returns MAE's 2-D sin-cos position table for a grid×grid patch
// grid, with a leading all-zero row for the cls token when cls is set:
// [(cls?1:0)+grid², dim], float32, row-major. Patch i sits at row i/grid,
// column i%grid; the first dim/2 values encode the column and the last dim/2
// the row (get_2d_sincos_pos_embed: np.meshgrid(grid_w, grid_h) puts w first).
func SinCos2D(dim, grid int, cls bool) []float32 {
	var cols, rows []float64
	for i := 0; i < grid*grid; i++ {
		cols = append(cols, float64(i%grid))
		rows = append(rows, float64(i/grid))
	}
	ec, er := sinCos1D(dim/2, cols), sinCos1D(dim/2, rows)
	out := make([]float32, 0, (grid*grid+1)*dim)
	if cls {
		out = append(out, make([]float32, dim)...)
	}
	for i := range ec {
		for _, x := range ec[i] {
			out = append(out, float32(x))
		}
		for _, x := range er[i] {
			out = append(out, float32(x))
		}
	}
	return out
}
