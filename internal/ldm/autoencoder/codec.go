package autoencoder

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
)

// Codec runs an autoencoder on host data: images in, latents out and back.
// Each method compiles its graph once per input shape and reuses it.
// Images and latents are NHWC float32, row-major.
type Codec struct {
	Config                 Config
	names                  []string
	params                 []*tensors.Tensor
	enc, dec, decNQ, quant *nn.Forward
}

// NewCodec prepares cfg's model with parameter values ps on backend.
func NewCodec(backend compute.Backend, cfg Config, ps *nn.Params) (*Codec, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("autoencoder config: %w", err)
	}
	if err := CheckParams(cfg, ps); err != nil {
		return nil, err
	}
	c := &Codec{Config: cfg, names: ps.Names(), params: nn.ParamTensors(ps)}
	var err error
	one := func(f func(v nn.Vars, x *Node) *Node) (*nn.Forward, error) {
		return nn.NewForward(backend, c.names, func(v nn.Vars, in []*Node) []*Node { return []*Node{f(v, in[0])} })
	}
	if c.enc, err = one(func(v nn.Vars, x *Node) *Node { return Encode(v, cfg, x) }); err != nil {
		return nil, err
	}
	if c.dec, err = one(func(v nn.Vars, z *Node) *Node { return Decode(v, cfg, z) }); err != nil {
		return nil, err
	}
	if c.decNQ, err = one(func(v nn.Vars, z *Node) *Node { return DecodeNoQuant(v, cfg, z) }); err != nil {
		return nil, err
	}
	c.quant, err = nn.NewForward(backend, c.names, func(v nn.Vars, in []*Node) []*Node {
		q := Quantize(v, cfg, in[0])
		return []*Node{q.ZQ, q.Indices, q.Loss(cfg)}
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// CheckParams reports the first parameter of cfg's model that ps lacks or
// holds with another shape.
func CheckParams(cfg Config, ps *nn.Params) error {
	want := NewParams(cfg, 0)
	for _, p := range want.List() {
		q := ps.Get(p.Name)
		if q == nil {
			return fmt.Errorf("autoencoder parameters lack %s", p.Name)
		}
		if fmt.Sprint(q.Shape) != fmt.Sprint(p.Shape) {
			return fmt.Errorf("autoencoder parameter %s has shape %v, the config wants %v", p.Name, q.Shape, p.Shape)
		}
	}
	return nil
}

func (c *Codec) run(f *nn.Forward, x []float32, shape ...int) ([]*tensors.Tensor, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(x) != n {
		return nil, fmt.Errorf("autoencoder: got %d values for shape %v", len(x), shape)
	}
	return f.Run(c.params, nn.HostTensor(x, shape...))
}

// Encode maps images x [B, H, W, InChannels] in [-1, 1] to un-quantised
// latents [B, h, w, EmbedDim].
func (c *Codec) Encode(x []float32, b int) ([]float32, error) {
	out, err := c.run(c.enc, x, b, c.Config.Resolution, c.Config.Resolution, c.Config.InChannels)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return nn.ToFloat32(out[0]), nil
}

// Decode quantises latents z [B, h, w, EmbedDim] and decodes them to images
// [B, H, W, OutChannels] in about [-1, 1].
func (c *Codec) Decode(z []float32, b int) ([]float32, error) {
	s := c.Config.LatentSize()
	out, err := c.run(c.dec, z, b, s, s, c.Config.EmbedDim)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return nn.ToFloat32(out[0]), nil
}

// DecodeNoQuant decodes latents without snapping them to the codebook.
func (c *Codec) DecodeNoQuant(z []float32, b int) ([]float32, error) {
	s := c.Config.LatentSize()
	out, err := c.run(c.decNQ, z, b, s, s, c.Config.EmbedDim)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return nn.ToFloat32(out[0]), nil
}

// Quantize returns the nearest codebook vectors of z [B, h, w, EmbedDim],
// their indices [B, h, w] and the quantiser loss.
func (c *Codec) Quantize(z []float32, b int) (zq []float32, indices []int32, loss float64, err error) {
	s := c.Config.LatentSize()
	out, err := c.run(c.quant, z, b, s, s, c.Config.EmbedDim)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("quantize: %w", err)
	}
	return nn.ToFloat32(out[0]), tensors.MustCopyFlatData[int32](out[1]), float64(nn.ToFloat32(out[2])[0]), nil
}

// ImagesToFloat maps uint8 pixels to [-1, 1] as the reference's transforms
// do (x/255, then 2x − 1), computed as x/127.5 − 1 in float32.
func ImagesToFloat(u8 []uint8) []float32 {
	out := make([]float32, len(u8))
	for i, v := range u8 {
		out[i] = float32(v)/127.5 - 1
	}
	return out
}

// ToUint8 maps decoded images in [-1, 1] to bytes exactly as DDPM.generate:
// clamp((x+1)/2, 0, 1), times 255, then truncation (astype(uint8)), not
// rounding (cad-spec §6 item 31). Computed in float32 like the reference.
func ToUint8(x []float32) []uint8 {
	out := make([]uint8, len(x))
	for i, v := range x {
		u := (v + 1) / 2
		u = min(max(u, 0), 1)
		if u != u { // NaN: torch's clamp keeps it and the cast is undefined; use 0
			u = 0
		}
		out[i] = uint8(float32(255) * u)
	}
	return out
}
