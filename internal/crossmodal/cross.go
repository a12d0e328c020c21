package crossmodal

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// DeclareCrossLayer declares ViTMAELayer(config, do_cross_attention=True)
// (vis_dec sc_mbm/mae_for_image.py:527-577) under in, in state_dict order:
// attention, cross_attention, intermediate, output, layernorm_before,
// layernorm_after.
func DeclareCrossLayer(in nn.Init, c nn.HFConfig, how nn.LinearInit) {
	nn.DeclareHFAttention(in.In("attention"), c.Hidden, how)
	nn.DeclareHFAttention(in.In("cross_attention"), c.Hidden, how)
	nn.DeclareHFMLP(in, c, how)
}

// crossTrace holds the intermediate values of one cross layer.
type crossTrace struct {
	SelfAttn, CrossAttn, Residual, Out *Node
}

// traceCrossLayer computes the reference's cross layer, keeping every step:
//
//	a   = Dense_s(MHA(LN_b(h)))                  self-attention, NOT added to h
//	c   = Dense_c(MHA(Q=LN_b(a), K=V=support))   LN_b reused; support not normed
//	h1  = h + c                                  the only attention residual
//	out = h1 + W2·GELU(W1·LN_a(h1))
//
// The self-attention output only feeds the cross-attention queries, as the
// reference computes it (§3.2); a standard block would add it to h.
func traceCrossLayer(v nn.Vars, h, support *Node, c nn.HFConfig) crossTrace {
	var t crossTrace
	ln := nn.LayerNorm(v.In("layernorm_before"), h, c.LayerNormEps)
	t.SelfAttn = nn.HFAttention(v.In("attention"), ln, ln, c.Heads)
	q := nn.LayerNorm(v.In("layernorm_before"), t.SelfAttn, c.LayerNormEps)
	t.CrossAttn = nn.HFAttention(v.In("cross_attention"), q, support, c.Heads)
	t.Residual = Add(h, t.CrossAttn)
	t.Out = nn.HFMLP(v, t.Residual, c)
	return t
}

// CrossLayer is one cross-attention layer: the tokens h [B, Nq, D] query the
// other modality's tokens support [B, Nk, D]; the result is [B, Nq, D].
func CrossLayer(v nn.Vars, h, support *Node, c nn.HFConfig) *Node {
	return traceCrossLayer(v, h, support, c).Out
}
