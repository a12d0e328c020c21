package ldm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/torchckpt"
)

// FirstStagePrefix is the first stage's prefix in an LDM checkpoint.
const FirstStagePrefix = "first_stage_model."

// Checkpoint is an LDM checkpoint split by component: the CompVis/Lightning
// model.ckpt ({"state_dict": …}) or a MinD-Vis fine-tuned checkpoint
// ({"model_state_dict": …}), names without their component prefix.
type Checkpoint struct {
	Path       string
	UNet       map[string]nn.Tensor // model.diffusion_model.*
	Cond       map[string]nn.Tensor // cond_stage_model.*
	FirstStage map[string]nn.Tensor // first_stage_model.*
	// Other holds the remaining entries (schedule buffers such as betas and
	// alphas_cumprod, logvar, …).
	Other map[string]nn.Tensor
}

// ReadCheckpoint reads an LDM checkpoint with torchckpt and splits it.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	sd, err := torchckpt.LoadStateDict(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: path, UNet: map[string]nn.Tensor{}, Cond: map[string]nn.Tensor{},
		FirstStage: map[string]nn.Tensor{}, Other: map[string]nn.Tensor{}}
	for k, t := range sd {
		switch {
		case strings.HasPrefix(k, UNetPrefix):
			c.UNet[strings.TrimPrefix(k, UNetPrefix)] = t
		case strings.HasPrefix(k, CondPrefix):
			c.Cond[strings.TrimPrefix(k, CondPrefix)] = t
		case strings.HasPrefix(k, FirstStagePrefix):
			c.FirstStage[strings.TrimPrefix(k, FirstStagePrefix)] = t
		default:
			c.Other[k] = t
		}
	}
	if len(c.UNet) == 0 {
		return nil, fmt.Errorf("%s: no model.diffusion_model.* tensors: not an LDM checkpoint", path)
	}
	return c, nil
}

// ImportReport says what an import loaded and left alone.
type ImportReport struct {
	Loaded int
	// Missing are model parameters the checkpoint lacks (they keep their
	// initial values, as load_state_dict(strict=False); for a CompVis
	// checkpoint these are time_embed_condtion.* and the whole fMRI
	// conditioning model).
	Missing []string
	// Unexpected are checkpoint entries the model has no use for (the
	// ImageNet class embedder cond_stage_model.embedding.weight, …).
	Unexpected []string
}

// ImportLDM loads a checkpoint's UNet (and its fMRI conditioning model,
// when it has one, as a MinD-Vis fine-tuned checkpoint does) into ps, which
// holds an LDM declared by Declare. A shape mismatch is an error naming the
// parameter.
func ImportLDM(ps *nn.Params, c *Checkpoint) (ImportReport, error) {
	src := map[string]nn.Tensor{}
	for k, t := range c.UNet {
		src[UNetPrefix+k] = t
	}
	for k, t := range c.Cond {
		src[CondPrefix+k] = t
	}
	var r ImportReport
	res, err := ps.Load(src)
	if err != nil {
		return r, fmt.Errorf("%s: %w", c.Path, err)
	}
	r.Loaded, r.Missing, r.Unexpected = len(res.Loaded), res.Missing, res.Unexpected
	return r, nil
}

// ImportEncoder copies a pretrained fMRI encoder (a phase-1 or phase-2
// state dict with the reference's names: pos_embed, patch_embed.*,
// blocks.*, norm.*) into the conditioning model's cond_stage_model.mae.*,
// as fmri_encoder.load_checkpoint does (mae_for_fmri.py:1058-1070): the
// decoder, cls and mask tokens and phase-2 cross-attention entries are
// ignored, and pos_embed is resampled with nearest interpolation when the
// data's patch count differs from the checkpoint's (cad-spec §6 item 27).
func ImportEncoder(ps *nn.Params, cfg CondConfig, sd map[string]nn.Tensor) (ImportReport, error) {
	var r ImportReport
	prefix := CondPrefix + "mae."
	src := map[string]nn.Tensor{}
	for k, t := range sd {
		k = strings.TrimPrefix(k, "module.")
		if k == "pos_embed" || strings.HasPrefix(k, "patch_embed.") || strings.HasPrefix(k, "blocks.") || strings.HasPrefix(k, "norm.") {
			src[prefix+k] = t
		} else {
			r.Unexpected = append(r.Unexpected, k)
		}
	}
	if t, ok := src[prefix+"pos_embed"]; ok {
		if len(t.Shape) != 3 || t.Shape[0] != 1 || t.Shape[2] != cfg.Encoder.EmbedDim {
			return r, fmt.Errorf("pos_embed: checkpoint shape %v, model wants [1 %d %d]", t.Shape, cfg.Encoder.NumPatches()+1, cfg.Encoder.EmbedDim)
		}
		if l := cfg.Encoder.NumPatches(); t.Shape[1] != l+1 {
			src[prefix+"pos_embed"] = fmrimae.ResizePosEmbed(t, l, 1)
		}
	}
	for _, p := range ps.List() {
		if !strings.HasPrefix(p.Name, prefix) {
			continue
		}
		t, ok := src[p.Name]
		if !ok {
			r.Missing = append(r.Missing, p.Name)
			continue
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(p.Shape) {
			return r, fmt.Errorf("%s: checkpoint shape %v, model wants %v", strings.TrimPrefix(p.Name, prefix), t.Shape, p.Shape)
		}
		copy(p.Data, t.Data)
		r.Loaded++
	}
	for k := range src {
		if ps.Get(k) == nil {
			r.Unexpected = append(r.Unexpected, strings.TrimPrefix(k, prefix))
		}
	}
	sort.Strings(r.Unexpected)
	if r.Loaded == 0 && len(r.Missing) == 0 {
		return r, fmt.Errorf("ImportEncoder: the parameter set has no %s* parameters", prefix)
	}
	if len(r.Missing) > 0 {
		return r, fmt.Errorf("the pretrained fMRI encoder lacks %d parameters (first: %s)", len(r.Missing), r.Missing[0])
	}
	return r, nil
}
