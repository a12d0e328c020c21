package ldm

import (
	"github.com/visdec/visdec/internal/fmrimae"
)

// ReferenceCondConfig is the conditioning model's description in the
// reference's terms (the "config" of the ldm_cond fixtures and the "cond"
// entry of the schedule_sampler ones).
type ReferenceCondConfig struct {
	NumVoxels  int     `json:"num_voxels"`
	NumPatches int     `json:"num_patches"`
	EmbedDim   int     `json:"embed_dim"`
	Depth      int     `json:"depth"`
	NumHeads   int     `json:"num_heads"`
	MLPRatio   float64 `json:"mlp_ratio"`
	CondDim    int     `json:"cond_dim"`
	SeqLen     int     `json:"seq_len"`
}

// Config converts the description; the encoder's decoder fields are unused
// here and take the paper's values.
func (r ReferenceCondConfig) Config() CondConfig {
	e := fmrimae.PaperConfig()
	e.NumVoxels, e.EmbedDim, e.Depth, e.NumHeads, e.MLPRatio = r.NumVoxels, r.EmbedDim, r.Depth, r.NumHeads, r.MLPRatio
	if r.NumPatches > 0 {
		e.PatchSize = r.NumVoxels / r.NumPatches
	}
	seq := r.SeqLen
	if seq == 0 {
		seq = 77
	}
	return CondConfig{Encoder: e, SeqLen: seq, CondDim: r.CondDim}
}
