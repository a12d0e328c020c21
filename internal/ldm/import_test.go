package ldm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/ldm/unet"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// vqFixtureConfig is the part of a vq fixture's config that sizes the VQ.
type vqFixtureConfig struct {
	EmbedDim int `json:"embed_dim"`
	NEmbed   int `json:"n_embed"`
	DD       struct {
		ZChannels       int   `json:"z_channels"`
		Resolution      int   `json:"resolution"`
		InChannels      int   `json:"in_channels"`
		OutCh           int   `json:"out_ch"`
		Ch              int   `json:"ch"`
		ChMult          []int `json:"ch_mult"`
		NumResBlocks    int   `json:"num_res_blocks"`
		AttnResolutions []int `json:"attn_resolutions"`
	} `json:"ddconfig"`
}

func (fc vqFixtureConfig) config() autoencoder.Config {
	c := autoencoder.Cin256()
	c.Resolution, c.InChannels, c.OutChannels = fc.DD.Resolution, fc.DD.InChannels, fc.DD.OutCh
	c.Ch, c.ChMult, c.NumResBlocks, c.AttnResolutions = fc.DD.Ch, fc.DD.ChMult, fc.DD.NumResBlocks, fc.DD.AttnResolutions
	c.ZChannels, c.EmbedDim, c.NEmbed = fc.DD.ZChannels, fc.EmbedDim, fc.NEmbed
	return c
}

// sibling loads the fixture of another kind with the same variant name
// (ldm_small_seed1 → <kind>/small_seed1), from the same fixture root.
func sibling(t *testing.T, f *parity.Fixture, kind string) *parity.Fixture {
	t.Helper()
	name := strings.TrimPrefix(f.Name, "ldm_")
	path := filepath.Join(filepath.Dir(f.Dir), kind, name+".npz")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("fixture %s needs %s: %v", f.Name, path, err)
	}
	g, err := parity.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestImportCheckpointParity reads every torch_ckpt/ldm_* fixture (a
// Lightning LDM checkpoint written by torch.save) through torchckpt, checks
// its tensors bit for bit, imports it into the Go LDM (UNet + fMRI
// conditioning) and the first stage, and reproduces the unet and ldm_cond
// fixtures' outputs with the imported weights.
func TestImportCheckpointParity(t *testing.T) {
	parity.ForEach(t, "torch_ckpt", "ldm_", func(t *testing.T, f *parity.Fixture) {
		ck, err := ReadCheckpoint(filepath.Join(f.Dir, f.Name+".ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range f.Keys("state_dict/") {
			name := strings.TrimPrefix(k, "state_dict/")
			var got nn.Tensor
			var ok bool
			switch {
			case strings.HasPrefix(name, UNetPrefix):
				got, ok = ck.UNet[strings.TrimPrefix(name, UNetPrefix)]
			case strings.HasPrefix(name, CondPrefix):
				got, ok = ck.Cond[strings.TrimPrefix(name, CondPrefix)]
			case strings.HasPrefix(name, FirstStagePrefix):
				got, ok = ck.FirstStage[strings.TrimPrefix(name, FirstStagePrefix)]
			default:
				got, ok = ck.Other[name]
			}
			if !ok {
				t.Errorf("checkpoint lacks %s", name)
				continue
			}
			want := f.F32(t, k)
			if len(got.Data) != len(want) {
				t.Errorf("%s: %d values, want %d", name, len(got.Data), len(want))
				continue
			}
			for i := range want {
				if got.Data[i] != want[i] {
					t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], want[i])
					break
				}
			}
		}

		uf, cf, vf := sibling(t, f, "unet"), sibling(t, f, "ldm_cond"), sibling(t, f, "vq")
		var urc unet.ReferenceConfig
		var crc ReferenceCondConfig
		if err := uf.Config(&urc); err != nil {
			t.Fatal(err)
		}
		if err := cf.Config(&crc); err != nil {
			t.Fatal(err)
		}
		cfg := Config{UNet: urc.Config(), Cond: crc.Config(), Timesteps: 1000, LinearStart: 0.0015, LinearEnd: 0.0195}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ps := NewParams(cfg, 1)
		rep, err := ImportLDM(ps, ck)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Missing) > 0 {
			t.Errorf("not in the checkpoint: %v", rep.Missing)
		}
		for _, u := range rep.Unexpected {
			if !strings.HasSuffix(u, "cls_token") && !strings.HasSuffix(u, "mask_token") {
				t.Errorf("unexpected checkpoint entry %s", u)
			}
		}

		// The UNet with imported weights reproduces the unet fixture.
		xs := uf.Shape(t, "in/x")
		b, c, h, w := xs[0], xs[1], xs[2], xs[3]
		cs := uf.Shape(t, "in/context")
		fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			return []*Node{EpsFromContext(v, cfg, in[0], in[1], in[2], nil)}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := fwd.Run(nn.ParamTensors(ps),
			tensors.FromFlatDataAndDimensions(nchwToNHWC(uf.F32(t, "in/x"), b, c, h, w), b, h, w, c),
			tensors.FromFlatDataAndDimensions(uf.F32(t, "in/t"), b),
			tensors.FromFlatDataAndDimensions(uf.F32(t, "in/context"), cs...))
		if err != nil {
			t.Fatal(err)
		}
		uf.Check(t, "out/eps", nhwcToNCHW(nn.ToFloat32(out[0]), b, h, w, uf.Shape(t, "out/eps")[1]))

		// The conditioning model with imported weights reproduces ldm_cond.
		fs := cf.Shape(t, "in/fmri")
		cfwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			return []*Node{Condition(v.In("cond_stage_model"), cfg.Cond, in[0])}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err = cfwd.Run(nn.ParamTensors(ps), tensors.FromFlatDataAndDimensions(cf.F32(t, "in/fmri"), fs[0], fs[len(fs)-1]))
		if err != nil {
			t.Fatal(err)
		}
		cf.Check(t, "out/context", nn.ToFloat32(out[0]))

		// The first stage imports into the autoencoder 1:1.
		var vc vqFixtureConfig
		if err := vf.Config(&vc); err != nil {
			t.Fatal(err)
		}
		aps := autoencoder.NewParams(vc.config(), 1)
		res, err := aps.Load(ck.FirstStage)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Missing) > 0 || len(res.Unexpected) > 0 {
			t.Errorf("first stage: missing %v, unexpected %v", res.Missing, res.Unexpected)
		}
		for name, want := range vf.Tensors(t, "param/") {
			p := aps.Get(name)
			if p == nil {
				t.Errorf("first stage lacks %s", name)
				continue
			}
			for i := range want.Data {
				if p.Data[i] != want.Data[i] {
					t.Errorf("first stage %s[%d] = %v, want %v", name, i, p.Data[i], want.Data[i])
					break
				}
			}
		}
	})
}

func nchwToNHWC(x []float32, b, c, h, w int) []float32 {
	out := make([]float32, len(x))
	for n := range b {
		for ch := range c {
			for i := range h {
				for j := range w {
					out[((n*h+i)*w+j)*c+ch] = x[((n*c+ch)*h+i)*w+j]
				}
			}
		}
	}
	return out
}

func nhwcToNCHW(x []float32, b, h, w, c int) []float32 {
	out := make([]float32, len(x))
	for n := range b {
		for ch := range c {
			for i := range h {
				for j := range w {
					out[((n*c+ch)*h+i)*w+j] = x[((n*h+i)*w+j)*c+ch]
				}
			}
		}
	}
	return out
}

// TestImportEncoderParity loads the fMRI encoder of every torch_ckpt/phase1_*
// fixture (reference checkpoints written by torch.save) through
// LoadEncoder into the conditioning model, at the checkpoint's patch count
// and at twice it (pos_embed resampled with nearest interpolation, as the
// reference's interpolate_pos_embed).
func TestImportEncoderParity(t *testing.T) {
	parity.ForEach(t, "torch_ckpt", "phase1_", func(t *testing.T, f *parity.Fixture) {
		for _, file := range []string{f.Name + ".pth", f.Name + "_legacy.pth"} {
			path := filepath.Join(f.Dir, file)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			enc, err := LoadEncoder(path)
			if err != nil {
				t.Fatal(err)
			}
			l := enc.Config.NumPatches()
			for _, scale := range []int{1, 2} {
				cc := CondConfig{Encoder: enc.Config, SeqLen: 77, CondDim: 8}
				cc.Encoder.NumVoxels *= scale
				ps := nn.NewParams()
				DeclareCond(nn.NewInit(ps, 1).In("cond_stage_model"), cc)
				rep, err := ImportEncoder(ps, cc, enc.Weights)
				if err != nil {
					t.Fatalf("%s ×%d: %v", file, scale, err)
				}
				if rep.Loaded != len(f.Keys("model/blocks."))+5 {
					t.Errorf("%s: loaded %d tensors", file, rep.Loaded)
				}
				for _, k := range f.Keys("model/blocks.") {
					want := f.F32(t, k)
					got := ps.Get(CondPrefix + "mae." + strings.TrimPrefix(k, "model/")).Data
					if !slices.Equal(got, want) {
						t.Errorf("%s: %s differs from the checkpoint", file, k)
					}
				}
				pos := f.F32(t, "model/pos_embed")
				d := enc.Config.EmbedDim
				got := ps.Get(CondPrefix + "mae.pos_embed").Data
				for j := range l * scale { // nearest: patch row j comes from j/scale
					src := 1 + j/scale
					if !slices.Equal(got[(1+j)*d:(2+j)*d], pos[src*d:(src+1)*d]) {
						t.Errorf("%s ×%d: pos_embed row %d is not checkpoint row %d", file, scale, 1+j, src)
						break
					}
				}
			}
		}
	})
}
