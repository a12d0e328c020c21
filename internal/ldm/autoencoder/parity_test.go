package autoencoder

import (
	"slices"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/parity"
)

// fixtureConfig is the part of a vq fixture's config that sizes the model.
type fixtureConfig struct {
	EmbedDim int     `json:"embed_dim"`
	NEmbed   int     `json:"n_embed"`
	Beta     float64 `json:"beta"`
	Legacy   bool    `json:"legacy"`
	DD       struct {
		DoubleZ         bool  `json:"double_z"`
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

func (fc fixtureConfig) config() Config {
	return Config{
		Resolution: fc.DD.Resolution, InChannels: fc.DD.InChannels, OutChannels: fc.DD.OutCh,
		Ch: fc.DD.Ch, ChMult: fc.DD.ChMult, NumResBlocks: fc.DD.NumResBlocks,
		AttnResolutions: fc.DD.AttnResolutions, ZChannels: fc.DD.ZChannels,
		EmbedDim: fc.EmbedDim, NEmbed: fc.NEmbed, Beta: fc.Beta, Legacy: fc.Legacy,
		Groups: 32, NormEps: 1e-6,
	}
}

// nchwToNHWC and nhwcToNCHW convert host arrays between the fixtures' layout
// and ours.
func nchwToNHWC(x []float32, b, c, h, w int) []float32 {
	out := make([]float32, len(x))
	for n := 0; n < b; n++ {
		for ch := 0; ch < c; ch++ {
			for y := 0; y < h; y++ {
				for xx := 0; xx < w; xx++ {
					out[((n*h+y)*w+xx)*c+ch] = x[((n*c+ch)*h+y)*w+xx]
				}
			}
		}
	}
	return out
}

func nhwcToNCHW[T any](x []T, b, h, w, c int) []T {
	out := make([]T, len(x))
	for n := 0; n < b; n++ {
		for ch := 0; ch < c; ch++ {
			for y := 0; y < h; y++ {
				for xx := 0; xx < w; xx++ {
					out[((n*c+ch)*h+y)*w+xx] = x[((n*h+y)*w+xx)*c+ch]
				}
			}
		}
	}
	return out
}

// TestVQParity runs the first stage on every vq fixture: the un-quantised
// latent, the quantised latent, the code indices (exactly), the quantiser
// loss, decoding with and without quantisation, decoding the PLMS latents,
// and the uint8 images DDPM.generate would write.
func TestVQParity(t *testing.T) {
	parity.ForEach(t, "vq", "", func(t *testing.T, f *parity.Fixture) {
		var fc fixtureConfig
		if err := f.Config(&fc); err != nil {
			t.Fatal(err)
		}
		if fc.DD.DoubleZ {
			t.Fatalf("double_z fixtures are KL autoencoders, not VQ")
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
		if len(res.Missing) > 0 || len(res.Unexpected) > 0 {
			t.Fatalf("parameter names differ from the reference: missing %v, unexpected %v", res.Missing, res.Unexpected)
		}
		codec, err := NewCodec(backend.Default(), cfg, ps)
		if err != nil {
			t.Fatal(err)
		}

		is := f.Shape(t, "in/image") // [B, C, H, W]
		b, c, h, w := is[0], is[1], is[2], is[3]
		x := nchwToNHWC(f.F32(t, "in/image"), b, c, h, w)
		z, err := codec.Encode(x, b)
		if err != nil {
			t.Fatal(err)
		}
		ls := f.Shape(t, "out/z")
		lh, lw, ld := ls[2], ls[3], ls[1]
		f.Check(t, "out/z", nhwcToNCHW(z, b, lh, lw, ld))

		// Quantise the fixture's own z, so that the exact index check does
		// not depend on our encoder's float rounding.
		zRef := nchwToNHWC(f.F32(t, "out/z"), b, ld, lh, lw)
		zq, idx, loss, err := codec.Quantize(zRef, b)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/z_q", nhwcToNCHW(zq, b, lh, lw, ld))
		gotIdx := make([]float32, len(idx))
		for i, v := range idx {
			gotIdx[i] = float32(v)
		}
		f.Check(t, "out/indices", gotIdx)
		f.Check(t, "out/vq_loss", []float32{float32(loss)})
		// Our own latents must pick the same codes too.
		_, idxOwn, _, err := codec.Quantize(z, b)
		if err != nil {
			t.Fatal(err)
		}
		for i := range idx {
			if idx[i] != idxOwn[i] {
				t.Errorf("code at %d: %d from our encoder, %d from the reference latent", i, idxOwn[i], idx[i])
				break
			}
		}

		dec, err := codec.Decode(zRef, b)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/decoded", nhwcToNCHW(dec, b, h, w, cfg.OutChannels))
		decNQ, err := codec.DecodeNoQuant(zRef, b)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/decoded_not_quantized", nhwcToNCHW(decNQ, b, h, w, cfg.OutChannels))

		if f.Has("in/z_plms") {
			ps := f.Shape(t, "in/z_plms")
			bs := ps[0]
			zp := nchwToNHWC(f.F32(t, "in/z_plms"), bs, ps[1], ps[2], ps[3])
			dp, err := codec.Decode(zp, bs)
			if err != nil {
				t.Fatal(err)
			}
			f.Check(t, "out/decoded_plms", nhwcToNCHW(dp, bs, h, w, cfg.OutChannels))
			u8 := nhwcToNCHW(ToUint8(dp), bs, h, w, cfg.OutChannels)
			got := make([]float32, len(u8))
			for i, v := range u8 {
				got[i] = float32(v)
			}
			f.Check(t, "out/images_uint8", got)
		}
	})
}

// TestParamNamesMatchCin256 checks the full-size declaration against the
// CompVis first_stage_model key count and a few names and shapes.
func TestParamNamesMatchCin256(t *testing.T) {
	ps := NewParams(Cin256(), 0)
	tests := []struct {
		name  string
		shape []int
	}{
		{"encoder.conv_in.weight", []int{128, 3, 3, 3}},
		{"encoder.down.0.block.0.norm1.weight", []int{128}},
		{"encoder.down.1.block.0.nin_shortcut.weight", []int{256, 128, 1, 1}},
		{"encoder.down.1.downsample.conv.weight", []int{256, 256, 3, 3}},
		{"encoder.mid.attn_1.q.weight", []int{512, 512, 1, 1}},
		{"encoder.conv_out.weight", []int{3, 512, 3, 3}},
		{"decoder.conv_in.weight", []int{512, 3, 3, 3}},
		{"decoder.up.2.block.2.conv2.weight", []int{512, 512, 3, 3}},
		{"decoder.up.1.block.0.nin_shortcut.weight", []int{256, 512, 1, 1}},
		{"decoder.up.0.block.0.nin_shortcut.weight", []int{128, 256, 1, 1}},
		{"decoder.up.1.upsample.conv.weight", []int{256, 256, 3, 3}},
		{"decoder.norm_out.weight", []int{128}},
		{"quantize.embedding.weight", []int{8192, 3}},
		{"quant_conv.weight", []int{3, 3, 1, 1}},
		{"post_quant_conv.bias", []int{3}},
	}
	for _, tt := range tests {
		p := ps.Get(tt.name)
		if p == nil {
			t.Errorf("%s not declared", tt.name)
			continue
		}
		if !slices.Equal(p.Shape, tt.shape) {
			t.Errorf("%s: shape %v, want %v", tt.name, p.Shape, tt.shape)
		}
	}
	if ps.Get("decoder.up.0.upsample.conv.weight") != nil || ps.Get("encoder.down.2.downsample.conv.weight") != nil {
		t.Errorf("resampling declared at a level where the reference has none")
	}
	total, _ := ps.Count()
	t.Logf("cin256 first stage: %d tensors, %d values", ps.Len(), total)
}
