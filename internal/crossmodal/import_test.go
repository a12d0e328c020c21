package crossmodal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
	"github.com/visdec/visdec/internal/safetensors"
)

const referenceCkpt = "testdata/reference_phase2.pth"

// TestReadReferenceCheckpoint reads a vis_dec Phase-2 checkpoint (written by
// testdata/gen_reference_ckpt.py from the fmri_ cross fixture): the fMRI
// architecture from the weights and config_merge, the cross layers' config
// from the pickled ViTMAEConfig, and weights that load into
// DeclareFMRICross without a missing or unexpected name.
func TestReadReferenceCheckpoint(t *testing.T) {
	r, err := ReadReferenceCheckpoint(referenceCkpt, BaseConfig())
	if err != nil {
		t.Fatal(err)
	}
	f, err := parity.Load("../../testdata/parity/cross/fmri_small_seed1.npz")
	if err != nil {
		t.Fatal(err)
	}
	want := fixtureConfig(t, f)
	if r.FMRIConfig != want.FMRI {
		t.Errorf("fMRI config %+v, want %+v", r.FMRIConfig, want.FMRI)
	}
	got := r.Cross.encoderLayer()
	if got != want.crossLayer() || r.Cross.CrossLayers != want.Image.CrossLayers || r.Cross.SupportDim != want.FMRI.EmbedDim {
		t.Errorf("cross config %+v (%d layers, support %d), want %+v (%d layers, support %d)",
			got, r.Cross.CrossLayers, r.Cross.SupportDim, want.crossLayer(), want.Image.CrossLayers, want.FMRI.EmbedDim)
	}
	if !r.CrossResidual || r.FMRIWeight != 0.25 || r.ImageWeight != 1.5 || r.Epoch != 7 {
		t.Errorf("residual %v, weights %g/%g, epoch %d; want true, 0.25/1.5, 7", r.CrossResidual, r.FMRIWeight, r.ImageWeight, r.Epoch)
	}
	ps := nn.NewParams()
	DeclareFMRICross(nn.NewInit(ps, 1), want)
	loadExact(t, ps, r.FMRI)
	for _, p := range ps.List() {
		if !equalF32(p.Data, f.F32(t, "param/"+p.Name)) {
			t.Errorf("%s differs from the fixture", p.Name)
		}
	}

	if _, err := ReadReferenceCheckpoint("../../testdata/parity/torch_ckpt/phase1_small_seed1.pth", BaseConfig()); err == nil || !strings.Contains(err.Error(), "not a Phase-2") {
		t.Errorf("a Phase-1 checkpoint: got %v, want an error saying it is not Phase 2", err)
	}
}

// writeHub writes the image_ fixture's weights as a Hugging Face model
// directory: model.safetensors and, when withConfig, config.json.
func writeHub(t testing.TB, f *parity.Fixture, withConfig bool) string {
	t.Helper()
	dir := t.TempDir()
	sd := f.Tensors(t, "param/")
	names := make([]string, 0, len(sd))
	ts := map[string]safetensors.Tensor{}
	for name, x := range sd {
		names = append(names, name)
		ts[name] = safetensors.Tensor{Shape: x.Shape, Data: x.Data}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), names, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if withConfig {
		var cfg struct {
			Image struct {
				Config json.RawMessage `json:"config"`
			} `json:"image"`
		}
		if err := f.Config(&cfg); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg.Image.Config, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestReadImageMAE reads image-MAE weights laid out as a Hugging Face model
// directory and checks the architecture against the fixture's config.
func TestReadImageMAE(t *testing.T) {
	f, err := parity.Load("../../testdata/parity/cross/image_small_seed1.npz")
	if err != nil {
		t.Fatal(err)
	}
	want := fixtureConfig(t, f).Image
	w, err := ReadImageMAE(writeHub(t, f, true))
	if err != nil {
		t.Fatal(err)
	}
	if w.Config != want {
		t.Errorf("config %+v, want %+v", w.Config, want)
	}
	ps := nn.NewParams()
	DeclareImageMAE(nn.NewInit(ps, 1), w.Config, true)
	loadExact(t, ps, w.Weights)

	if _, err := ReadImageMAE(writeHub(t, f, false)); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("non-base widths without config.json: got %v, want an error asking for config.json", err)
	}
	if _, err := ReadImageMAE(t.TempDir()); err == nil {
		t.Error("an empty directory was accepted")
	}
}

// FuzzReadReferenceCheckpoint: any bytes give a checkpoint or an error,
// never a panic.
func FuzzReadReferenceCheckpoint(f *testing.F) {
	seed, err := os.ReadFile(referenceCkpt)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "ckpt.pth")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := ReadReferenceCheckpoint(p, BaseConfig())
		if err == nil && r.FMRI == nil {
			t.Error("no error and no weights")
		}
	})
}

// FuzzReadImageMAE: any weights file gives weights or an error, never a
// panic.
func FuzzReadImageMAE(f *testing.F) {
	pf, err := parity.Load("../../testdata/parity/cross/image_small_seed1.npz")
	if err != nil {
		f.Fatal(err)
	}
	dir := writeHub(f, pf, false)
	seed, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, []byte(`{"hidden_size": 24, "num_attention_heads": 2}`))
	f.Fuzz(func(t *testing.T, weights, config []byte) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "model.safetensors"), weights, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		if w, err := ReadImageMAE(d); err == nil && w.Config.Validate() != nil {
			t.Errorf("accepted an invalid config %+v", w.Config)
		}
	})
}
