package unet

import (
	"slices"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// nchwToNHWC reorders a [B, C, H, W] array to [B, H, W, C].
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

// nhwcToNCHW reorders [B, H, W, C] to [B, C, H, W].
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

// TestUNetParity runs the reference UNet fixtures: the time-embedding
// intermediates and ε, with the fixture's parameters loaded by name into a
// UNet declared from the fixture's config (so every name and shape must
// match the reference state dict).
func TestUNetParity(t *testing.T) {
	parity.ForEach(t, "unet", "", func(t *testing.T, f *parity.Fixture) {
		var rc ReferenceConfig
		if err := f.Config(&rc); err != nil {
			t.Fatal(err)
		}
		cfg := rc.Config()
		cfg.ContextLen = f.Shape(t, "in/context")[1]
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		ps := nn.NewParams()
		Declare(nn.NewInit(ps, 1), cfg)
		res, err := ps.Load(f.Tensors(t, "param/"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Missing) > 0 || len(res.Unexpected) > 0 {
			t.Fatalf("state dict mismatch: missing %v, unexpected %v", res.Missing, res.Unexpected)
		}

		xs := f.Shape(t, "in/x")
		b, c, h, w := xs[0], xs[1], xs[2], xs[3]
		x := nchwToNHWC(f.F32(t, "in/x"), b, c, h, w)
		ts := f.F32(t, "in/t")
		ctx := f.F32(t, "in/context")
		cs := f.Shape(t, "in/context")

		fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			o := ForwardAll(v, cfg, in[0], in[1], in[2])
			return []*Node{o.TEmb, o.EmbTime, o.EmbCond, o.Eps}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := fwd.Run(nn.ParamTensors(ps),
			tensors.FromFlatDataAndDimensions(x, b, h, w, c),
			tensors.FromFlatDataAndDimensions(ts, b),
			tensors.FromFlatDataAndDimensions(ctx, cs...))
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/t_emb", nn.ToFloat32(out[0]))
		f.Check(t, "out/emb_time", nn.ToFloat32(out[1]))
		f.Check(t, "out/emb_cond", nn.ToFloat32(out[2]))
		oc := f.Shape(t, "out/eps")[1]
		f.Check(t, "out/eps", nhwcToNCHW(nn.ToFloat32(out[3]), b, h, w, oc))
	})
}

// TestPlanMatchesPaperLayout checks the cin256 block structure against the
// table in cad-spec §4.2 (channels in and out of every ResBlock).
func TestPlanMatchesPaperLayout(t *testing.T) {
	p := Cin256().plan()
	var got [][2]int
	for _, blk := range p.output {
		got = append(got, [2]int{blk[0].in, blk[0].out})
	}
	want := [][2]int{
		{1920, 960}, {1920, 960}, {1536, 960},
		{1536, 576}, {1152, 576}, {960, 576},
		{960, 384}, {768, 384}, {576, 384},
		{576, 192}, {384, 192}, {384, 192},
	}
	if !slices.Equal(got, want) {
		t.Errorf("output ResBlock channels = %v, want %v", got, want)
	}
	if n := len(p.input); n != 12 {
		t.Errorf("%d input blocks, want 12", n)
	}
	attn := 0
	for _, blk := range append(append(p.input, p.output...), p.middle) {
		for _, l := range blk {
			if l.kind == spatialTransformer {
				attn++
			}
		}
	}
	if attn != 6+9+1 {
		t.Errorf("%d SpatialTransformers, want 16", attn)
	}
}

// TestConfigValidate checks that bad settings are reported by field.
func TestConfigValidate(t *testing.T) {
	if err := Cin256().Validate(); err != nil {
		t.Errorf("Cin256: %v", err)
	}
	if err := Tiny().Validate(); err != nil {
		t.Errorf("Tiny: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"groups", func(c *Config) { c.ModelChannels = 48 }, "NormGroups"},
		{"heads", func(c *Config) { c.NumHeads = 5 }, "NumHeads"},
		{"size", func(c *Config) { c.ImageSize = 7 }, "ImageSize"},
		{"mult", func(c *Config) { c.ChannelMult = nil }, "ChannelMult"},
		{"context", func(c *Config) { c.ContextLen = 1 }, "ContextLen"},
	} {
		c := Tiny()
		tc.mutate(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", tc.name, err, tc.want)
		}
	}
}
