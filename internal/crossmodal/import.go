package crossmodal

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/pyobj"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/torchckpt"
)

// ImageWeights are image-MAE weights with Hugging Face names and the
// architecture they imply.
type ImageWeights struct {
	Path    string
	Config  ImageConfig
	Weights map[string]nn.Tensor
}

// hubWeightFiles are the weight files of a Hugging Face model directory, in
// the order they are tried.
var hubWeightFiles = []string{"model.safetensors", "pytorch_model.bin"}

// ReadImageMAE reads image-MAE weights from
//
//   - a Hugging Face model directory (facebook/vit-mae-base as
//     save_pretrained or the hub writes it: config.json plus
//     model.safetensors or pytorch_model.bin);
//   - one weights file (.safetensors, .bin, .pth; a config.json beside it is
//     read when present);
//   - an image pre-training run of visdec (RUN/image_mae of an align run).
//
// The architecture comes from config.json when there is one; otherwise it is
// read from the weights' shapes, with vit-mae-base's head counts (12 and 16)
// when the widths are vit-mae-base's (768 and 512) and an error otherwise.
// The weights' own decoder depth is reported in Config.DecoderLayers; Phase
// 2 keeps fewer (cad-spec §6 item 19), the rest are ignored on import.
func ReadImageMAE(path string) (*ImageWeights, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		if _, err := readImageRunConfig(path); err == nil {
			return readImageFile(filepath.Join(path, "checkpoints", "final.safetensors"))
		}
		for _, name := range hubWeightFiles {
			if _, err := os.Stat(filepath.Join(path, name)); err == nil {
				return readImageFile(filepath.Join(path, name))
			}
		}
		return nil, fmt.Errorf("%s: neither a visdec image pre-training run nor a Hugging Face model directory (no %s)", path, strings.Join(hubWeightFiles, " or "))
	}
	return readImageFile(path)
}

// readImageRunConfig reads the config.json of a visdec image pre-training
// run directory.
func readImageRunConfig(dir string) (ImageConfig, error) {
	var run struct {
		Stage  string           `json:"stage"`
		Config imagePretrainRun `json:"config"`
	}
	if err := rundir.ReadJSON(dir, "config.json", &run); err != nil {
		return ImageConfig{}, err
	}
	if run.Stage != "image-pretrain" {
		return ImageConfig{}, fmt.Errorf("%s: not an image pre-training run", dir)
	}
	return run.Config.Image, nil
}

func readImageFile(path string) (*ImageWeights, error) {
	var sd map[string]nn.Tensor
	if ck, err := rundir.LoadCheckpoint(path); err == nil {
		// A visdec image pre-training's checkpoint: its run has the config.
		if c, err := readImageRunConfig(filepath.Dir(filepath.Dir(path))); err == nil {
			return &ImageWeights{Path: path, Config: c, Weights: ck.Params}, nil
		}
		sd = ck.Params
	} else if sd, err = torchckpt.LoadStateDict(path); err != nil {
		return nil, err
	}
	sd = stripPrefix(sd, "module.")
	var hub *ImageConfig
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "config.json")); err == nil {
		c := BaseImageConfig()
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(filepath.Dir(path), "config.json"), err)
		}
		hub = &c
	}
	c, err := InferImageConfig(sd, hub)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &ImageWeights{Path: path, Config: c, Weights: sd}, nil
}

var (
	encoderLayerIndex = regexp.MustCompile(`^vit\.encoder\.layer\.(\d+)\.`)
	decoderLayerIndex = regexp.MustCompile(`^decoder\.decoder_layers\.(\d+)\.`)
	crossLayerIndex   = regexp.MustCompile(`^(?:vit\.encoder\.layer_cross|cross_blocks)\.(\d+)\.`)
)

// maxIndex is one more than the largest layer index re matches in sd.
func maxIndex(sd map[string]nn.Tensor, re *regexp.Regexp) int {
	n := 0
	for k := range sd {
		if m := re.FindStringSubmatch(k); m != nil {
			i, _ := strconv.Atoi(m[1])
			n = max(n, i+1)
		}
	}
	return n
}

// InferImageConfig reads an image MAE's architecture from its weights,
// checking it against hub (a config.json's values, nil when absent): the
// widths, depths, patch and image size come from the shapes; head counts,
// eps, mask ratio and norm_pix_loss from hub, else vit-mae-base's.
func InferImageConfig(sd map[string]nn.Tensor, hub *ImageConfig) (ImageConfig, error) {
	c := BaseImageConfig()
	if hub != nil {
		c = *hub
	}
	shape := func(name string, rank int) ([]int, error) {
		t, ok := sd[name]
		if !ok {
			return nil, fmt.Errorf("no %s in the weights (not a ViTMAEForPreTraining state dict?)", name)
		}
		if len(t.Shape) != rank {
			return nil, fmt.Errorf("%s has shape %v, want rank %d", name, t.Shape, rank)
		}
		return t.Shape, nil
	}
	proj, err := shape("vit.embeddings.patch_embeddings.projection.weight", 4)
	if err != nil {
		return c, err
	}
	c.Hidden, c.Channels, c.PatchSize = proj[0], proj[1], proj[2]
	pos, err := shape("vit.embeddings.position_embeddings", 3)
	if err != nil {
		return c, err
	}
	grid := int(math.Round(math.Sqrt(float64(pos[1] - 1))))
	if grid*grid != pos[1]-1 {
		return c, fmt.Errorf("vit.embeddings.position_embeddings has %d patch rows, not a square grid", pos[1]-1)
	}
	c.ImageSize = grid * c.PatchSize
	c.Layers = maxIndex(sd, encoderLayerIndex)
	if c.Layers > 0 {
		in, err := shape("vit.encoder.layer.0.intermediate.dense.weight", 2)
		if err != nil {
			return c, err
		}
		c.Intermediate = in[0]
	}
	de, err := shape("decoder.decoder_embed.weight", 2)
	if err != nil {
		return c, err
	}
	c.DecoderHidden = de[0]
	c.DecoderLayers = maxIndex(sd, decoderLayerIndex)
	if c.DecoderLayers > 0 {
		in, err := shape("decoder.decoder_layers.0.intermediate.dense.weight", 2)
		if err != nil {
			return c, err
		}
		c.DecoderIntermediate = in[0]
	}
	if n := maxIndex(sd, crossLayerIndex); n > 0 {
		c.CrossLayers = n
	}
	if t, ok := sd["vit.encoder.cross_map_in.weight"]; ok && len(t.Shape) == 2 {
		c.SupportDim = t.Shape[1]
	}
	if hub == nil {
		base := BaseImageConfig()
		if c.Hidden != base.Hidden || c.DecoderHidden != base.DecoderHidden {
			return c, fmt.Errorf("widths %d/%d are not vit-mae-base's: the head counts cannot be read from weights; put the model's config.json beside them", c.Hidden, c.DecoderHidden)
		}
	}
	return c, c.Validate()
}

// ReferenceCheckpoint is a vis_dec Phase-2 checkpoint
// (checkpoint_singlesub_*_mergconf.pth, utils.py save_model_merge_conf:
// {"model", "optimizer", "epoch", "scaler", "config", "config_merge"}).
// Only the fMRI model is in it: the reference never saves the image MAE
// (phase2_finetune_cross.py:259-286 saves model_without_ddp).
type ReferenceCheckpoint struct {
	Path string
	// FMRI is the MAEforFMRICross state dict ("module." removed).
	FMRI map[string]nn.Tensor
	// FMRIConfig is its architecture (NumVoxels from pos_embed, heads from
	// config_merge); Cross is the cross layers' image config (from
	// config_merge's cross_img_encoder_config, else inferred); CrossResidual
	// and the loss weights come from config_merge when it has them.
	FMRIConfig    fmrimae.Config
	Cross         ImageConfig
	CrossResidual bool
	FMRIWeight    float64
	ImageWeight   float64
	Epoch         int
}

// ReadReferenceCheckpoint reads a vis_dec Phase-2 checkpoint. base supplies
// what neither the weights nor config_merge tell (the fMRI mask ratio,
// layer-norm eps, and the defaults of the reference's Config).
func ReadReferenceCheckpoint(path string, base Config) (*ReferenceCheckpoint, error) {
	ck, err := torchckpt.Open(path)
	if err != nil {
		return nil, err
	}
	sd, err := ck.StateDict(ck.StateDictKey())
	if err != nil {
		return nil, err
	}
	sd = stripPrefix(sd, "module.")
	if _, ok := sd["cross_map_in.weight"]; !ok {
		return nil, fmt.Errorf("%s: no cross_map_in in the model: not a Phase-2 (MAEforFMRICross) checkpoint", path)
	}
	merge := map[string]any{}
	if v, ok := ck.Get("config_merge"); ok {
		if d, ok := v.(*pyobj.Dict); ok {
			for i, k := range d.Keys {
				if s, ok := k.(string); ok {
					merge[s] = d.Values[i]
				}
			}
		}
	}
	attrs := map[string]string{}
	if pc, ok := ck.Config(); ok { // the Phase-1 config pickled beside it
		for _, a := range pc.Attrs {
			attrs[a.Name] = a.Value
		}
	}
	for _, k := range []string{"num_heads", "decoder_num_heads"} {
		if v, ok := merge[k].(int64); ok {
			attrs[k] = strconv.FormatInt(v, 10)
		}
	}
	r := &ReferenceCheckpoint{Path: path, FMRI: sd, CrossResidual: base.CrossResidual,
		FMRIWeight: base.FMRIWeight, ImageWeight: base.ImageWeight}
	if r.FMRIConfig, err = fmrimae.InferConfig(sd, base.FMRI, attrs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if e, ok := ck.Int("epoch"); ok {
		r.Epoch = int(e)
	}
	if v, ok := merge["fmri_recon_weight"]; ok {
		r.FMRIWeight = number(v, r.FMRIWeight)
	}
	if v, ok := merge["img_recon_weight"]; ok {
		r.ImageWeight = number(v, r.ImageWeight)
	}

	// The cross layers: the pickled ViTMAEConfig, checked against shapes.
	cross := base.Image
	if o, ok := merge["cross_img_encoder_config"].(*pyobj.Object); ok && o.Attrs() != nil {
		a := o.Attrs()
		for key, dst := range map[string]*int{"hidden_size": &cross.Hidden, "num_attention_heads": &cross.Heads,
			"intermediate_size": &cross.Intermediate, "num_hidden_layers": &cross.Layers, "image_size": &cross.ImageSize,
			"patch_size": &cross.PatchSize, "num_channels": &cross.Channels, "decoder_hidden_size": &cross.DecoderHidden,
			"decoder_num_hidden_layers": &cross.DecoderLayers, "decoder_num_attention_heads": &cross.DecoderHeads,
			"decoder_intermediate_size": &cross.DecoderIntermediate, "num_cross_encoder_layers": &cross.CrossLayers} {
			if v, ok := a.Get(key); ok {
				*dst = int(number(v, float64(*dst)))
			}
		}
		if v, ok := a.Get("layer_norm_eps"); ok {
			cross.LayerNormEps = number(v, cross.LayerNormEps)
		}
		if v, ok := a.Get("do_cross_residual"); ok {
			if b, ok := v.(bool); ok {
				r.CrossResidual = b
			}
		}
	}
	mapIn := sd["cross_map_in.weight"]
	if len(mapIn.Shape) != 2 || mapIn.Shape[1] != r.FMRIConfig.EmbedDim {
		return nil, fmt.Errorf("%s: cross_map_in.weight has shape %v, want [H, %d]", path, mapIn.Shape, r.FMRIConfig.EmbedDim)
	}
	if mapIn.Shape[0] != cross.Hidden {
		return nil, fmt.Errorf("%s: cross layers are %d wide, its config says %d", path, mapIn.Shape[0], cross.Hidden)
	}
	cross.CrossLayers = maxIndex(sd, crossLayerIndex)
	if t, ok := sd["cross_blocks.0.intermediate.dense.weight"]; ok && len(t.Shape) == 2 {
		cross.Intermediate = t.Shape[0]
	}
	cross.SupportDim = r.FMRIConfig.EmbedDim
	r.Cross = cross
	return r, nil
}

// number converts a decoded Python int or float.
func number(v any, def float64) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return def
}

func stripPrefix(sd map[string]nn.Tensor, prefix string) map[string]nn.Tensor {
	for k := range sd {
		if !strings.HasPrefix(k, prefix) {
			return sd
		}
	}
	out := make(map[string]nn.Tensor, len(sd))
	for k, v := range sd {
		out[strings.TrimPrefix(k, prefix)] = v
	}
	return out
}
