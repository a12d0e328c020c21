package ldm

import (
	"testing"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/ldm/unet"
)

// smallConfig is a fast LDM for unit tests: 4×4×3 latents, the tiny UNet,
// a one-block encoder over 64 voxels, context 77×16.
func smallConfig(t testing.TB) Config {
	t.Helper()
	enc := fmrimae.TinyConfig()
	enc.NumVoxels, enc.EmbedDim, enc.Depth, enc.NumHeads = 64, 32, 1, 2
	p, err := LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	p.UNet = unet.Tiny()
	p.CondDim = 16
	cfg := NewConfig(p, CondConfig{Encoder: enc}, []int{4, 4, 3})
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}
