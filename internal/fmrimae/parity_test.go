package fmrimae

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// fixtureConfig is the "config" object of an fmri_mae fixture.
type fixtureConfig struct {
	Batch           int     `json:"batch"`
	NumVoxels       int     `json:"num_voxels"`
	NumPatches      int     `json:"num_patches"`
	LenKeep         int     `json:"len_keep"`
	PatchSize       int     `json:"patch_size"`
	EmbedDim        int     `json:"embed_dim"`
	Depth           int     `json:"depth"`
	NumHeads        int     `json:"num_heads"`
	DecoderEmbedDim int     `json:"decoder_embed_dim"`
	DecoderDepth    int     `json:"decoder_depth"`
	DecoderNumHeads int     `json:"decoder_num_heads"`
	MLPRatio        float64 `json:"mlp_ratio"`
	MaskRatio       float64 `json:"mask_ratio"`
	LayerNormEps    float64 `json:"layernorm_eps"`
	Tau             float64 `json:"tau"`
	LossWeights     struct {
		Mask float64 `json:"lambda_mask"`
		SC   float64 `json:"lambda_sc"`
		CC   float64 `json:"lambda_cc"`
	} `json:"loss_weights"`
	Literal struct {
		Mask        float64 `json:"mask"`
		Contrastive float64 `json:"contrastive"`
		SC          float64 `json:"sc"`
		CC          float64 `json:"cc"`
	} `json:"loss_weights_literal"`
}

func (fc fixtureConfig) model() Config {
	eps := fc.LayerNormEps
	if eps == 0 {
		eps = 1e-5
	}
	return Config{NumVoxels: fc.NumVoxels, PatchSize: fc.PatchSize,
		EmbedDim: fc.EmbedDim, Depth: fc.Depth, NumHeads: fc.NumHeads, MLPRatio: fc.MLPRatio,
		DecoderEmbedDim: fc.DecoderEmbedDim, DecoderDepth: fc.DecoderDepth, DecoderNumHeads: fc.DecoderNumHeads,
		MaskRatio: fc.MaskRatio, LayerNormEps: eps}
}

func (fc fixtureConfig) weights() LossWeights {
	return LossWeights{Mask: fc.LossWeights.Mask, SelfContrast: fc.LossWeights.SC,
		CrossContrast: fc.LossWeights.CC, Temperature: fc.Tau}
}

// fixtureModel reads the configuration and parameters of an fmri_mae (or
// optim) fixture into a declared parameter set.
func fixtureModel(t *testing.T, f *parity.Fixture, prefix string) (fixtureConfig, *nn.Params) {
	t.Helper()
	var fc fixtureConfig
	if err := f.Config(&fc); err != nil {
		t.Fatalf("fixture config: %v", err)
	}
	return fc, loadFixtureParams(t, f, prefix, fc.model())
}

// loadFixtureParams declares cfg's parameters and loads the fixture's
// tensors under prefix into them; every name must match.
func loadFixtureParams(t *testing.T, f *parity.Fixture, prefix string, cfg Config) *nn.Params {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("fixture config: %v", err)
	}
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, 1), cfg)
	r, err := ps.Load(f.Tensors(t, prefix))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Missing) > 0 || len(r.Unexpected) > 0 {
		t.Fatalf("fixture parameters: missing %v, unexpected %v", r.Missing, r.Unexpected)
	}
	return ps
}

// fixtureMasks builds masks A and B from the fixture's injected noise.
func fixtureMasks(t *testing.T, f *parity.Fixture, cfg Config) (Mask, Mask) {
	t.Helper()
	shape := f.Shape(t, "in/noise_a")
	a, err := NewMask(f.F32(t, "in/noise_a"), shape[0], shape[1], cfg.MaskRatio)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMask(f.F32(t, "in/noise_b"), shape[0], shape[1], cfg.MaskRatio)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func intsToF32(v []int) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestParityFMRIMAE checks the model against every fmri_mae fixture: masks,
// latents, predictions, the LDM-stage encoder, each loss term, the totals
// and every gradient.
func TestParityFMRIMAE(t *testing.T) {
	parity.ForEach(t, "fmri_mae", "", func(t *testing.T, f *parity.Fixture) {
		fc, ps := fixtureModel(t, f, "param/")
		cfg := fc.model()
		if fc.LenKeep != 0 && cfg.LenKeep() != fc.LenKeep {
			t.Fatalf("LenKeep = %d, fixture says %d", cfg.LenKeep(), fc.LenKeep)
		}
		ma, mb := fixtureMasks(t, f, cfg)
		f.Check(t, "out/mask_a", ma.Removed)
		f.Check(t, "out/mask_b", mb.Removed)
		f.Check(t, "out/ids_restore_a", intsToF32(ma.Restore))
		f.Check(t, "out/ids_restore_b", intsToF32(mb.Restore))

		w := fc.weights()
		var trainable []string
		for _, p := range ps.List() {
			if !p.Frozen {
				trainable = append(trainable, p.Name)
			}
		}
		const (
			outLatentA = iota
			outPredA
			outLatentB
			outPredB
			outMask
			outSC
			outCC
			outTotal
			outNoMask
			outGrads
		)
		fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			terms := Objective(v, cfg, w, in[0], in[1], in[2])
			outs := []*Node{terms.LatentA, terms.PredA, terms.LatentB, terms.PredB,
				terms.Mask, terms.SelfContrast, terms.CrossContrast, terms.Total,
				EncodeNoMask(v, cfg, in[0])}
			nodes := make([]*Node, len(trainable))
			for i, name := range trainable {
				nodes[i] = v.Get(name)
			}
			return append(outs, Gradient(terms.Total, nodes...)...)
		})
		if err != nil {
			t.Fatal(err)
		}
		xs := f.Shape(t, "in/x")
		x := tensors.FromFlatDataAndDimensions(f.F32(t, "in/x"), xs[0], xs[len(xs)-1])
		outs, err := fwd.Run(nn.ParamTensors(ps), x, ma.KeepTensor(), mb.KeepTensor())
		if err != nil {
			t.Fatal(err)
		}
		val := func(i int) []float32 { return nn.ToFloat32(outs[i]) }
		f.Check(t, "out/latent_a", val(outLatentA))
		f.Check(t, "out/pred_a", val(outPredA))
		f.Check(t, "out/latent_b", val(outLatentB))
		f.Check(t, "out/pred_b", val(outPredB))
		f.Check(t, "out/loss_mask", val(outMask))
		f.Check(t, "out/loss_self_contrast", val(outSC))
		f.Check(t, "out/loss_cross_contrast", val(outCC))
		f.Check(t, "out/loss_total", val(outTotal))
		f.Check(t, "out/encoder_nomask", val(outNoMask))

		// The other combinations are functions of the three terms; check
		// them with the same host arithmetic the fixture describes.
		lm, lsc, lcc := float64(val(outMask)[0]), float64(val(outSC)[0]), float64(val(outCC)[0])
		if f.Has("out/contrast_loss") {
			f.Check64(t, "out/contrast_loss", []float64{w.SelfContrast*lsc + w.CrossContrast*lcc})
		}
		if f.Has("out/loss_total_literal") {
			l := fc.Literal
			f.Check64(t, "out/loss_total_literal", []float64{l.Mask*lm + l.Contrastive*(l.SC*lsc+l.CC*lcc)})
			lit := LossPresets["cad-literal"]
			if lit.Mask != l.Mask || lit.SelfContrast != l.Contrastive*l.SC || lit.CrossContrast != l.Contrastive*l.CC {
				t.Errorf("cad-literal preset %+v disagrees with the fixture's literal weights %+v", lit, l)
			}
		}
		for i, name := range trainable {
			key := "grad/" + name
			if !f.Has(key) {
				t.Errorf("fixture has no %s", key)
				continue
			}
			f.Check(t, key, val(outGrads+i))
		}
		for _, p := range ps.List() {
			if p.Frozen && f.Has("grad/"+p.Name) {
				t.Errorf("frozen %s has a reference gradient", p.Name)
			}
		}
	})
}
