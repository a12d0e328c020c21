package ldm

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// TestCondParity runs the ldm_cond fixtures: encoder latent, channel-mapped
// tokens and the context, from the fixture's fMRI and parameters.
func TestCondParity(t *testing.T) {
	parity.ForEach(t, "ldm_cond", "", func(t *testing.T, f *parity.Fixture) {
		var rc ReferenceCondConfig
		if err := f.Config(&rc); err != nil {
			t.Fatal(err)
		}
		cfg := rc.Config()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ps := nn.NewParams()
		DeclareCond(nn.NewInit(ps, 1), cfg)
		res, err := ps.Load(f.Tensors(t, "param/"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Missing) > 0 {
			t.Fatalf("missing parameters %v", res.Missing)
		}
		for _, u := range res.Unexpected {
			if u != "mae.cls_token" && u != "mae.mask_token" {
				t.Errorf("unexpected parameter %s", u)
			}
		}
		fs := f.Shape(t, "in/fmri")
		fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			o := ConditionAll(v, cfg, in[0])
			return []*Node{o.Latent, o.Mapped, o.Context}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := fwd.Run(nn.ParamTensors(ps), tensors.FromFlatDataAndDimensions(f.F32(t, "in/fmri"), fs[0], fs[len(fs)-1]))
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/mae_latent", nn.ToFloat32(out[0]))
		f.Check(t, "out/channel_mapped", nn.ToFloat32(out[1]))
		f.Check(t, "out/context", nn.ToFloat32(out[2]))
	})
}

// TestStandardizedLatents: with CondConfig.Standardize the mappers see the
// encoder latents z-scored per feature with the stored statistics, which
// SetLatentStats computes from training rows (a constant feature keeps
// std 1), and the statistics are frozen.
func TestStandardizedLatents(t *testing.T) {
	cfg := smallConfig(t).Cond
	cfg.Standardize = true
	ps := nn.NewParams()
	DeclareCond(nn.NewInit(ps, 1).In("cond_stage_model"), cfg)
	mean, std := ps.Get(CondPrefix+"latent_mean"), ps.Get(CondPrefix+"latent_std")
	if mean == nil || std == nil || !mean.Frozen || !std.Frozen {
		t.Fatal("latent_mean/latent_std missing or trainable")
	}
	d := mean.Size()
	const n = 4
	rows := make([]float32, n*d)
	for i := range n {
		for j := range d {
			rows[i*d+j] = float32(i*(j%3)) + float32(j) // feature j: mean 1.5·(j%3)+j, constant when j%3 == 0
		}
	}
	if err := SetLatentStats(ps, rows, n); err != nil {
		t.Fatal(err)
	}
	for _, j := range []int{0, 1, 2, 3} {
		k := float64(j % 3)
		wantMean, wantStd := 1.5*k+float64(j), k*math.Sqrt(1.25)
		if k == 0 {
			wantStd = 1
		}
		if math.Abs(float64(mean.Data[j])-wantMean) > 1e-5 || math.Abs(float64(std.Data[j])-wantStd) > 1e-5 {
			t.Errorf("feature %d: mean %g std %g, want %g %g", j, mean.Data[j], std.Data[j], wantMean, wantStd)
		}
	}
	if err := SetLatentStats(ps, rows[:d], 1); err == nil {
		t.Error("one row accepted")
	}

	// MapLatent standardises: a latent equal to the stored mean maps like
	// an all-zero latent does without standardisation.
	l, dim := cfg.Encoder.NumPatches(), cfg.Encoder.EmbedDim
	run := func(std bool, latent []float32) []float32 {
		fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			v = v.In("cond_stage_model")
			if !std {
				return []*Node{nn.Linear(v.In("dim_mapper"), tokenConv(v.In("channel_mapper.1"), tokenConv(v.In("channel_mapper.0"), in[0])))}
			}
			return []*Node{MapLatent(v, in[0]).Context}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := fwd.Run(nn.ParamTensors(ps), tensors.FromFlatDataAndDimensions(latent, 1, l, dim))
		if err != nil {
			t.Fatal(err)
		}
		return nn.ToFloat32(out[0])
	}
	got := run(true, append([]float32(nil), mean.Data...))
	want := run(false, make([]float32, l*dim))
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-4 {
			t.Fatalf("context[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}
