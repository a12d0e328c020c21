package ldm

import (
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
