package fmrimae

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/torchckpt"
)

// ImportWeights loads a state dict (a reference checkpoint's "model", or a
// visdec checkpoint) into ps, declared for cfg, like load_state_dict with
// strict=False: extra keys (decoder blocks beyond cfg.DecoderDepth, phase-2
// cross blocks, ...) are reported as unexpected and skipped, and a
// "module." prefix left by DistributedDataParallel is removed.
//
// When the checkpoint's patch count differs from cfg's, pos_embed is
// resampled as the reference's interpolate_pos_embed does
// (sc_mbm/utils.py:46-67: the cls row kept, the patch rows resized with
// F.interpolate mode "nearest"; cad-spec §1.4). decoder_pos_embed gets the
// same treatment: the reference never loads a phase-1 decoder at another
// length, so this is our choice, the natural extension. Any other shape
// mismatch is an error.
func ImportWeights(ps *nn.Params, src map[string]nn.Tensor, cfg Config) (nn.LoadResult, error) {
	sd := make(map[string]nn.Tensor, len(src))
	strip := len(src) > 0
	for k := range src {
		if !strings.HasPrefix(k, "module.") {
			strip = false
			break
		}
	}
	for k, t := range src {
		if strip {
			k = strings.TrimPrefix(k, "module.")
		}
		sd[k] = t
	}
	l := cfg.NumPatches()
	for _, name := range []string{"pos_embed", "decoder_pos_embed"} {
		t, ok := sd[name]
		p := ps.Get(name)
		if !ok || p == nil {
			continue
		}
		if len(t.Shape) != 3 || t.Shape[0] != 1 || t.Shape[2] != p.Shape[2] {
			return nn.LoadResult{}, fmt.Errorf("%s: checkpoint shape %v, model wants %v", name, t.Shape, p.Shape)
		}
		if t.Shape[1] != l+1 {
			sd[name] = ResizePosEmbed(t, l, 1)
		}
	}
	return ps.Load(sd)
}

// ResizePosEmbed resamples a [1, extra+n, D] position table to extra+l rows:
// the first extra rows (the cls) are kept, the n patch rows are resized to l
// with PyTorch's 1-D nearest interpolation (src = min(floor(dst·(n/l)), n−1),
// computed in float32 as ATen's nearest_idx does).
func ResizePosEmbed(t nn.Tensor, l, extra int) nn.Tensor {
	n, d := t.Shape[1]-extra, t.Shape[2]
	out := nn.Tensor{Shape: []int{1, extra + l, d}, Data: make([]float32, (extra+l)*d)}
	copy(out.Data, t.Data[:extra*d])
	for j := range l {
		src := NearestIndex(j, n, l)
		copy(out.Data[(extra+j)*d:(extra+j+1)*d], t.Data[(extra+src)*d:(extra+src+1)*d])
	}
	return out
}

// NearestIndex is ATen's nearest_idx for an output index of a 1-D nearest
// interpolation from in to out elements (no scale factor given).
func NearestIndex(dst, in, out int) int {
	switch {
	case in == out:
		return dst
	case out == 2*in:
		return dst >> 1
	}
	scale := float32(in) / float32(out)
	return min(int(math.Floor(float64(float32(dst)*scale))), in-1)
}

var blockIndex = regexp.MustCompile(`^(blocks|decoder_blocks)\.(\d+)\.`)

// InferConfig reads the architecture of a phase-1 state dict: widths,
// depths, patch size, MLP ratio and the voxel count of its pos_embed. The
// head counts cannot be read from weights; they come from the checkpoint's
// pickled config when it has num_heads / decoder_num_heads (attrs, as
// torchckpt reports them), else from base. MaskRatio and LayerNormEps come
// from base (mask_ratio from attrs when present).
func InferConfig(sd map[string]nn.Tensor, base Config, attrs map[string]string) (Config, error) {
	c := base
	get := func(name string, rank int) ([]int, error) {
		t, ok := sd[name]
		if !ok {
			return nil, fmt.Errorf("state dict has no %s", name)
		}
		if len(t.Shape) != rank {
			return nil, fmt.Errorf("%s has shape %v, want rank %d", name, t.Shape, rank)
		}
		return t.Shape, nil
	}
	pe, err := get("patch_embed.proj.weight", 3)
	if err != nil {
		return c, err
	}
	c.EmbedDim, c.PatchSize = pe[0], pe[2]
	pos, err := get("pos_embed", 3)
	if err != nil {
		return c, err
	}
	c.NumVoxels = (pos[1] - 1) * c.PatchSize
	if fc1, err := get("blocks.0.mlp.fc1.weight", 2); err == nil {
		c.MLPRatio = float64(fc1[0]) / float64(c.EmbedDim)
	}
	depth, decDepth := 0, 0
	for k := range sd {
		if m := blockIndex.FindStringSubmatch(k); m != nil {
			i, _ := strconv.Atoi(m[2])
			if m[1] == "blocks" {
				depth = max(depth, i+1)
			} else {
				decDepth = max(decDepth, i+1)
			}
		}
	}
	c.Depth, c.DecoderDepth = depth, decDepth
	if de, err := get("decoder_embed.weight", 2); err == nil {
		c.DecoderEmbedDim = de[0]
	}
	for key, dst := range map[string]*int{"num_heads": &c.NumHeads, "decoder_num_heads": &c.DecoderNumHeads} {
		if v, ok := attrs[key]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return c, fmt.Errorf("checkpoint config %s = %q is not an integer", key, v)
			}
			*dst = n
		}
	}
	if v, ok := attrs["mask_ratio"]; ok {
		if r, err := strconv.ParseFloat(v, 64); err == nil {
			c.MaskRatio = r
		}
	}
	return c, c.Validate()
}

// Checkpoint is a set of phase-1 weights read from a file, with the
// architecture it implies.
type Checkpoint struct {
	Path    string
	Weights map[string]nn.Tensor
	Config  Config
	// Attrs holds the reference checkpoint's pickled config attributes
	// (Python repr strings); nil for visdec checkpoints.
	Attrs map[string]string
}

// ReadCheckpoint reads phase-1 weights from a reference checkpoint
// (checkpoint.pth: {"model", "optimizer", "epoch", "scaler", "config"}), any
// PyTorch or safetensors state dict, a visdec checkpoint, or a visdec
// pretrain run directory (its newest checkpoint and config.json). Only the
// model weights are read; training restarts with fresh AdamW moments. base
// supplies what the weights cannot tell (head counts when the file has no
// config, mask ratio).
func ReadCheckpoint(path string, base Config) (*Checkpoint, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		cfg, ps, ckpt, err := LoadEncoder(path)
		if err != nil {
			return nil, err
		}
		return &Checkpoint{Path: ckpt, Weights: ps.StateDict(), Config: cfg}, nil
	}
	if strings.HasSuffix(path, ".safetensors") {
		if c, err := rundir.LoadCheckpoint(path); err == nil {
			cfg, err := InferConfig(c.Params, base, nil)
			if runCfg, rerr := ReadConfig(filepath.Dir(filepath.Dir(path))); rerr == nil {
				cfg, err = runCfg.Model, nil // a run's checkpoint: its config.json is authoritative
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return &Checkpoint{Path: path, Weights: c.Params, Config: cfg}, nil
		}
	}
	c, err := torchckpt.Open(path)
	if err != nil {
		return nil, err
	}
	sd, err := c.StateDict(c.StateDictKey())
	if err != nil {
		return nil, err
	}
	var attrs map[string]string
	if pc, ok := c.Config(); ok {
		attrs = map[string]string{}
		for _, a := range pc.Attrs {
			attrs[a.Name] = a.Value
		}
	}
	cfg, err := InferConfig(stripModule(sd), base, attrs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Checkpoint{Path: path, Weights: sd, Config: cfg, Attrs: attrs}, nil
}

func stripModule(sd map[string]nn.Tensor) map[string]nn.Tensor {
	out := make(map[string]nn.Tensor, len(sd))
	for k, v := range sd {
		out[strings.TrimPrefix(k, "module.")] = v
	}
	return out
}

// LoadEncoder reads a phase-1 run directory: the model configuration from
// config.json and the parameters of its newest checkpoint ("final" once the
// run has finished). It returns the configuration, the full parameter set
// (encoder and decoder, as Declare declares it) and the checkpoint path.
// Phase 2 and the LDM stage start from it.
func LoadEncoder(runDir string) (Config, *nn.Params, string, error) {
	tc, err := ReadConfig(runDir)
	if err != nil {
		return Config{}, nil, "", err
	}
	path, ok := rundir.Latest(runDir)
	if !ok {
		return Config{}, nil, "", fmt.Errorf("%s: no checkpoint", runDir)
	}
	c, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return Config{}, nil, "", err
	}
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, tc.Seed), tc.Model)
	if err := loadExact(ps, c.Params, path); err != nil {
		return Config{}, nil, "", err
	}
	return tc.Model, ps, path, nil
}
