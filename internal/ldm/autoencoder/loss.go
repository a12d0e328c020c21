package autoencoder

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// Reconstruction losses accepted by Objective.
const (
	ReconL1 = "l1" // mean |x − x̂| (taming's pixel loss; the default)
	ReconL2 = "l2" // mean (x − x̂)²
)

// Losses are the terms of one training step's objective.
type Losses struct {
	Total *Node // Recon + VQ
	Recon *Node // mean reconstruction error
	// VQ is the quantiser loss: codebook + β·commitment (or the reference's
	// legacy weighting, see Config.Legacy).
	VQ *Node
	// MSE is the mean squared reconstruction error (for PSNR), whatever
	// Recon is.
	MSE     *Node
	Z       *Node // un-quantised latents [B, h, w, EmbedDim]
	Indices *Node // chosen codes [B, h, w]
	XRec    *Node // reconstruction [B, H, W, OutChannels]
}

// Objective is the VQ-VAE training loss of images x [B, H, W, 3] in [-1, 1]:
// reconstruction (recon = ReconL1 or ReconL2) of decode(z_q) with the
// straight-through z_q, plus the codebook and commitment losses. A
// perceptual (LPIPS) and an adversarial term, which the CompVis first stage
// was trained with, are left out: their networks cannot be downloaded here.
func Objective(v nn.Vars, cfg Config, recon string, x *Node) Losses {
	z := Encode(v, cfg, x)
	q := passThrough(z)
	if !cfg.Continuous {
		q = Quantize(v, cfg, z)
	}
	xr := DecodeNoQuant(v, cfg, q.ZQ)
	diff := Sub(xr, x)
	mse := ReduceAllMean(Square(diff))
	var r *Node
	switch recon {
	case ReconL1:
		r = ReduceAllMean(Abs(diff))
	case ReconL2:
		r = mse
	default:
		panic(fmt.Sprintf("autoencoder: unknown reconstruction loss %q", recon))
	}
	vq := q.Loss(cfg)
	return Losses{Total: Add(r, vq), Recon: r, VQ: vq, MSE: mse, Z: z, Indices: q.Indices, XRec: xr}
}
