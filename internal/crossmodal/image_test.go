package crossmodal

import (
	"encoding/json"
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// TestCrossLayerParity checks one cross-attention layer, forward and
// backward, against the reference ViTMAELayer(config, True).
func TestCrossLayerParity(t *testing.T) {
	parity.ForEach(t, "cross", "layer_", func(t *testing.T, f *parity.Fixture) {
		var cfg struct {
			Layer struct {
				Hidden       int     `json:"hidden_size"`
				Heads        int     `json:"num_attention_heads"`
				Intermediate int     `json:"intermediate_size"`
				Eps          float64 `json:"layer_norm_eps"`
			} `json:"layer"`
		}
		if err := f.Config(&cfg); err != nil {
			t.Fatal(err)
		}
		c := nn.HFConfig{Hidden: cfg.Layer.Hidden, Heads: cfg.Layer.Heads, Intermediate: cfg.Layer.Intermediate, LayerNormEps: cfg.Layer.Eps}
		ps := nn.NewParams()
		DeclareCrossLayer(nn.NewInit(ps, 1), c, nn.InitNormal02)
		loadExact(t, ps, f.Tensors(t, "param/"))

		inputs := []*tensors.Tensor{fixtureTensor(t, f, "in/hidden"), fixtureTensor(t, f, "in/support"), fixtureTensor(t, f, "in/grad_out")}
		r := runGraph(t, ps, inputs, ps.Names(), []int{0, 1}, func(v nn.Vars, in []*Node) ([]*Node, *Node) {
			tr := traceCrossLayer(v, in[0], in[1], c)
			return []*Node{tr.SelfAttn, tr.CrossAttn, tr.Residual, tr.Out}, ReduceAllSum(Mul(tr.Out, in[2]))
		})
		for i, key := range []string{"out/self_attn", "out/cross_attn", "out/hidden_residual", "out/layer_out"} {
			f.Check(t, key, nn.ToFloat32(r.outs[i]))
		}
		f.Check(t, "out/grad_hidden", r.inGrads[0])
		f.Check(t, "out/grad_support", r.inGrads[1])
		for _, name := range ps.Names() {
			f.Check(t, "grad/"+name, r.grads[name])
		}
	})
}

// fixtureConfig reads the model settings of a cross fixture: the fMRI MAE,
// the image MAE, and the image mask ratio.
func fixtureConfig(t testing.TB, f *parity.Fixture) Config {
	t.Helper()
	var raw struct {
		FMRI struct {
			NumVoxels       int     `json:"num_voxels"`
			PatchSize       int     `json:"patch_size"`
			EmbedDim        int     `json:"embed_dim"`
			Depth           int     `json:"depth"`
			NumHeads        int     `json:"num_heads"`
			MLPRatio        float64 `json:"mlp_ratio"`
			DecoderEmbedDim int     `json:"decoder_embed_dim"`
			DecoderDepth    int     `json:"decoder_depth"`
			DecoderNumHeads int     `json:"decoder_num_heads"`
			MaskRatio       float64 `json:"mask_ratio"`
			CrossResidual   bool    `json:"do_cross_residual"`
		} `json:"fmri"`
		Image struct {
			Config       json.RawMessage `json:"config"`
			ImgMaskRatio float64         `json:"img_mask_ratio"`
		} `json:"image"`
		Weights struct {
			FMRI  float64 `json:"fmri_recon_weight"`
			Image float64 `json:"img_recon_weight"`
		} `json:"loss_weights"`
	}
	if err := f.Config(&raw); err != nil {
		t.Fatal(err)
	}
	c := BaseConfig()
	fc := raw.FMRI
	c.FMRI = fmrimae.Config{NumVoxels: fc.NumVoxels, PatchSize: fc.PatchSize, EmbedDim: fc.EmbedDim, Depth: fc.Depth,
		NumHeads: fc.NumHeads, MLPRatio: fc.MLPRatio, DecoderEmbedDim: fc.DecoderEmbedDim, DecoderDepth: fc.DecoderDepth,
		DecoderNumHeads: fc.DecoderNumHeads, MaskRatio: fc.MaskRatio, LayerNormEps: 1e-5}
	c.CrossResidual = fc.CrossResidual
	c.Image = ImageConfig{}
	if err := json.Unmarshal(raw.Image.Config, &c.Image); err != nil {
		t.Fatal(err)
	}
	c.Image.SupportDim = fc.EmbedDim
	c.ImageMaskRatio = raw.Image.ImgMaskRatio
	c.FMRIWeight, c.ImageWeight = raw.Weights.FMRI, raw.Weights.Image
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestImageMAEParity checks the image MAE with fMRI support: masking,
// frozen layers, cross stack, decoder, both losses, the reference's corr,
// and the gradients of the Phase-2 trainable set and of the fMRI support.
func TestImageMAEParity(t *testing.T) {
	parity.ForEach(t, "cross", "image_", func(t *testing.T, f *parity.Fixture) {
		cfg := fixtureConfig(t, f)
		c, ratio := cfg.Image, cfg.ImageMaskRatio
		ps := nn.NewParams()
		DeclareImageMAE(nn.NewInit(ps, 1), c, true)
		// The fixed 2-D sin-cos tables are ours until the fixture's load.
		for _, name := range []string{"vit.embeddings.position_embeddings", "decoder.decoder_pos_embed"} {
			want := f.F32(t, "param/"+name)
			for i, got := range ps.Get(name).Data {
				if math.Abs(float64(got-want[i])) > 1e-6 {
					t.Fatalf("%s[%d] = %g, the reference's is %g", name, i, got, want[i])
				}
			}
		}
		loadExact(t, ps, f.Tensors(t, "param/"))
		SetAlignTrainable(ps, "")
		checkTrainable(t, f, ps, "", "")

		pixShape := f.Shape(t, "in/pixel_values")
		b, l := pixShape[0], c.NumPatches()
		m, err := fmrimae.NewMask(f.F32(t, "in/noise"), b, l, ratio)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/mask", m.Removed)
		f.Check(t, "out/ids_restore", intsToF32(m.Restore))

		inputs := []*tensors.Tensor{fixtureTensor(t, f, "in/pixel_values"), fixtureTensor(t, f, "in/fmri_support"), m.KeepTensor(),
			tensors.FromFlatDataAndDimensions(m.Removed, b, l)}
		trainable := trainableNames(ps, "")
		r := runGraph(t, ps, inputs, trainable, []int{1}, func(v nn.Vars, in []*Node) ([]*Node, *Node) {
			pixels, support, keep, mask := in[0], in[1], in[2], in[3]
			layers := ImageLayers(v, c, ImageEmbed(v, c, pixels, keep))
			mapped := ImageSupportMap(v, support)
			cross := ImageCross(v, c, layers, mapped)
			latent := nn.LayerNorm(v.In("vit.layernorm"), cross, c.LayerNormEps)
			logits := ImageDecode(v, c, latent, keep)
			loss := ImageLoss(c, pixels, logits, mask)
			normPix := MaskedMSE(logits, NormPixTarget(Patchify(c, pixels)), mask)
			return []*Node{layers, mapped, cross, latent, logits, loss, normPix}, loss
		})
		for i, key := range []string{"out/encoder_layers_out", "out/fmri_support_mapped", "out/cross_layers_out", "out/latent", "out/logits", "out/loss_img", "out/loss_img_norm_pix"} {
			f.Check(t, key, nn.ToFloat32(r.outs[i]))
		}
		logits := nn.ToFloat32(r.outs[4])
		f.Check(t, "out/corr", []float32{float32(ReferenceImageCorr(logits, b, l, c.PatchDim()))})
		f.Check(t, "out/grad_fmri_support", r.inGrads[0])
		for _, name := range trainable {
			f.Check(t, "grad/"+name, r.grads[name])
		}
	})
}
