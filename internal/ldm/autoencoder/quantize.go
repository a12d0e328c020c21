package autoencoder

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// Quantized is the vector quantiser's output.
type Quantized struct {
	// ZQ is the quantised latent [B, h, w, EmbedDim] with the
	// straight-through gradient: its value is the nearest codebook vector,
	// its gradient flows to z unchanged (z + sg[e − z]).
	ZQ *Node
	// Indices [B, h, w] (int32) are the chosen codebook rows.
	Indices *Node
	// Codebook is ‖sg[z] − e‖² and Commitment ‖z − sg[e]‖², each a mean
	// over every element; both have the same value, and only their
	// gradients differ (to the codebook, to the encoder).
	Codebook, Commitment *Node
}

// Loss is the quantiser loss with cfg's weighting: codebook + β·commitment
// (VQ-VAE), or with Legacy the reference's commitment + β·codebook.
func (q Quantized) Loss(cfg Config) *Node {
	if cfg.Legacy {
		return Add(q.Commitment, MulScalar(q.Codebook, cfg.Beta))
	}
	return Add(q.Codebook, MulScalar(q.Commitment, cfg.Beta))
}

// Quantize is the reference's VectorQuantizer (the "improved" taming
// VectorQuantizer2 in dc_ldm/models/autoencoder.py, remap None): each
// EmbedDim vector of z [B, h, w, EmbedDim] is replaced by the codebook row
// quantize.embedding.weight [NEmbed, EmbedDim] at the smallest
// ‖z‖² + ‖e‖² − 2 z·e, the same expression the reference minimises, so that
// float32 ties break alike (first index wins).
func Quantize(v nn.Vars, cfg Config, z *Node) Quantized {
	d := z.Shape().Dimensions
	b, h, w, dim := d[0], d[1], d[2], d[3]
	e := v.Get("quantize.embedding.weight") // [K, D]
	flat := Reshape(z, b*h*w, dim)          // rows in b, h, w order, as the reference flattens
	dist := Sub(
		Add(ReduceAndKeep(Square(flat), ReduceSum, 1), InsertAxes(ReduceSum(Square(e), 1), 0)),
		MulScalar(DotGeneral(flat, []int{1}, nil, e, []int{1}, nil), 2))
	idx := StopGradient(ArgMin(dist, 1)) // [N]
	zq := Reshape(Gather(e, InsertAxes(idx, -1)), b, h, w, dim)
	codebook := ReduceAllMean(Square(Sub(zq, StopGradient(z))))
	commitment := ReduceAllMean(Square(Sub(StopGradient(zq), z)))
	return Quantized{
		ZQ:         Add(z, StopGradient(Sub(zq, z))),
		Indices:    Reshape(idx, b, h, w),
		Codebook:   codebook,
		Commitment: commitment,
	}
}

// passThrough stands in for the quantiser of a Continuous model: ZQ is z,
// every index 0 and both VQ terms 0.
func passThrough(z *Node) Quantized {
	d := z.Shape().Dimensions
	zero := ScalarZero(z.Graph(), z.DType())
	return Quantized{ZQ: z, Indices: Zeros(z.Graph(), shapes.Make(dtypes.Int32, d[0], d[1], d[2])),
		Codebook: zero, Commitment: zero}
}
