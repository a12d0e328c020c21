package ldm

import (
	"context"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/ldm/sampler"
	"github.com/visdec/visdec/internal/ldm/unet"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// samplerFixtureConfig is the part of a schedule_sampler fixture's config
// that sizes the model.
type samplerFixtureConfig struct {
	Timesteps   int                  `json:"timesteps"`
	LinearStart float64              `json:"linear_start"`
	LinearEnd   float64              `json:"linear_end"`
	UNet        unet.ReferenceConfig `json:"unet"`
	Cond        ReferenceCondConfig  `json:"cond"`
}

func (fc samplerFixtureConfig) config() Config {
	return Config{UNet: fc.UNet.Config(), Cond: fc.Cond.Config(),
		Timesteps: fc.Timesteps, LinearStart: fc.LinearStart, LinearEnd: fc.LinearEnd}
}

// TestLossParity runs the training-objective part of the schedule_sampler
// fixtures: q_sample, the ε-model (conditioning + UNet) on it, and
// p_losses, with the fixture's LDM state dict loaded by its full names.
func TestLossParity(t *testing.T) {
	parity.ForEach(t, "schedule_sampler", "", func(t *testing.T, f *parity.Fixture) {
		var fc samplerFixtureConfig
		if err := f.Config(&fc); err != nil {
			t.Fatal(err)
		}
		cfg := fc.config()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ps := NewParams(cfg, 1)
		res, err := ps.Load(f.Tensors(t, "param/"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Missing) > 0 {
			t.Fatalf("missing parameters %v", res.Missing)
		}
		sched, err := Schedule(cfg)
		if err != nil {
			t.Fatal(err)
		}
		zs := f.Shape(t, "in/z0")
		b, c, h, w := zs[0], zs[1], zs[2], zs[3]
		ti, err := f.Array(t, "in/t_train").Int64()
		if err != nil {
			t.Fatal(err)
		}
		tf, a, s := make([]float32, b), make([]float32, b), make([]float32, b)
		for i, v := range ti {
			tf[i], a[i], s[i] = float32(v), sched.SqrtAlphasCumprod[v], sched.SqrtOneMinusAlphasCumprod[v]
		}
		fs := f.Shape(t, "in/fmri")
		fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			o := Loss(v, cfg, in[0], in[1], in[2], in[3], in[4], in[5])
			return []*Node{o.XNoisy, o.EpsHat, o.Loss}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := fwd.Run(nn.ParamTensors(ps),
			tensors.FromFlatDataAndDimensions(nchwToNHWC(f.F32(t, "in/z0"), b, c, h, w), b, h, w, c),
			tensors.FromFlatDataAndDimensions(nchwToNHWC(f.F32(t, "in/noise"), b, c, h, w), b, h, w, c),
			tensors.FromFlatDataAndDimensions(tf, b), tensors.FromFlatDataAndDimensions(a, b),
			tensors.FromFlatDataAndDimensions(s, b),
			tensors.FromFlatDataAndDimensions(f.F32(t, "in/fmri"), fs[0], fs[len(fs)-1]))
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/x_noisy", nhwcToNCHW(nn.ToFloat32(out[0]), b, h, w, c))
		f.Check(t, "out/eps_pred", nhwcToNCHW(nn.ToFloat32(out[1]), b, h, w, c))
		f.Check(t, "out/p_loss", nn.ToFloat32(out[2]))
		f.Check(t, "out/sqrt_alphas_cumprod", sched.SqrtAlphasCumprod)
		f.Check(t, "out/sqrt_one_minus_alphas_cumprod", sched.SqrtOneMinusAlphasCumprod)
	})
}

// TestSamplingParity runs the reference's PLMS and DDIM trajectories of the
// schedule_sampler fixtures through Reconstruct's denoiser (the context
// computed once from the fixture's fMRI, one compiled UNet step looped over
// the timesteps) and compares the final latents.
func TestSamplingParity(t *testing.T) {
	parity.ForEach(t, "schedule_sampler", "", func(t *testing.T, f *parity.Fixture) {
		var fc samplerFixtureConfig
		if err := f.Config(&fc); err != nil {
			t.Fatal(err)
		}
		var sc struct {
			S   int     `json:"S"`
			Eta float64 `json:"eta"`
		}
		if err := f.Config(&sc); err != nil {
			t.Fatal(err)
		}
		cfg := fc.config()
		ps := NewParams(cfg, 1)
		if _, err := ps.Load(f.Tensors(t, "param/")); err != nil {
			t.Fatal(err)
		}
		m := &Model{Config: cfg, Params: ps}
		den, err := newDenoiser(backend.Default(), m, 1)
		if err != nil {
			t.Fatal(err)
		}
		fs := f.Shape(t, "in/fmri")
		if err := den.setContext(f.F32(t, "in/fmri"), fs[0], 1); err != nil {
			t.Fatal(err)
		}
		xs := f.Shape(t, "in/x_T")
		b, c, h, w := xs[0], xs[1], xs[2], xs[3]
		xT := nchwToNHWC(f.F32(t, "in/x_T"), b, c, h, w)
		eps := func(x []float32, ts []int) ([]float32, error) { return den.eps(x, ts, []int{h, w, c}) }
		sched, err := Schedule(cfg)
		if err != nil {
			t.Fatal(err)
		}
		opt := sampler.Options{Steps: sc.S, Eta: sc.Eta}
		z, err := sampler.PLMS(context.Background(), sched, xT, b, eps, opt)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/x0_plms", nhwcToNCHW(z, b, h, w, c))
		z, err = sampler.DDIM(context.Background(), sched, xT, b, eps, opt)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/x0_ddim", nhwcToNCHW(z, b, h, w, c))
	})
}
