package evaluate

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/npy"
)

// readNet loads a testdata/gen_nets.py file: its param/* arrays as a state
// dict and the rest as arrays.
func readNet(t *testing.T, path string) (map[string]nn.Tensor, map[string]*npy.Array) {
	t.Helper()
	arrays, err := npy.ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	sd := map[string]nn.Tensor{}
	for k, a := range arrays {
		if name, ok := strings.CutPrefix(k, "param/"); ok {
			d, err := a.Float32()
			if err != nil {
				t.Fatal(err)
			}
			sd[name] = nn.Tensor{Shape: a.Shape, Data: d}
		}
	}
	return sd, arrays
}

func intAt(t *testing.T, arrays map[string]*npy.Array, key string) int {
	t.Helper()
	v, err := arrays[key].Int64()
	if err != nil {
		t.Fatal(err)
	}
	return int(v[0])
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i]-want[i]))/(1+math.Abs(float64(want[i]))))
	}
	if worst > tol {
		t.Errorf("%s: worst relative difference %.3g > %.3g", what, worst, tol)
	}
}

// TestViTMatchesTorch runs a tiny random-weight torchvision-style
// VisionTransformer (testdata/gen_nets.py, torch 1.13) through the SWAG
// preprocessing and compares the preprocessed input, the probabilities and
// the class-token features.
func TestViTMatchesTorch(t *testing.T) {
	sd, arrays := readNet(t, "testdata/vit_tiny.npz")
	cfg := ViTConfig{
		ImageSize: intAt(t, arrays, "config/image"), PatchSize: intAt(t, arrays, "config/patch"),
		Hidden: intAt(t, arrays, "config/d"), Layers: intAt(t, arrays, "config/layers"),
		Heads: intAt(t, arrays, "config/heads"), MLP: intAt(t, arrays, "config/m"),
		Classes: intAt(t, arrays, "config/classes"), LNEps: 1e-6, Batch: 2,
	}
	m, err := NewViT(backend.Default(), cfg, sd, "tiny ViT")
	if err != nil {
		t.Fatal(err)
	}
	in := arrays["in/images"]
	imgs, _ := in.Uint8()
	n, h, w := in.Shape[0], in.Shape[1], in.Shape[2]
	wantIn, _ := arrays["out/input"].Float32()
	for i := 0; i < n; i++ {
		sz := cfg.ImageSize * cfg.ImageSize * 3
		checkClose(t, "preprocessed input", m.Preprocess(imgs[i*h*w*3:(i+1)*h*w*3], h, w), wantIn[i*sz:(i+1)*sz], 1e-6)
	}
	probs, feats, err := m.Classify(context.Background(), imgs, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	wantP, _ := arrays["out/probs"].Float32()
	wantF, _ := arrays["out/feats"].Float32()
	var gotP, gotF []float32
	for i := range probs {
		gotP = append(gotP, probs[i]...)
		gotF = append(gotF, feats[i]...)
	}
	checkClose(t, "probabilities", gotP, wantP, 1e-5)
	checkClose(t, "features", gotF, wantF, 1e-4)
}

// TestLPIPSMatchesTorch compares LPIPS distances of a small-channel
// AlexNet + lin layers with a torch computation written as lpips v0.1's.
func TestLPIPSMatchesTorch(t *testing.T) {
	sd, arrays := readNet(t, "testdata/lpips_tiny.npz")
	chs, _ := arrays["config/channels"].Int64()
	var ch AlexChannels
	for k := range ch {
		ch[k] = int(chs[k])
	}
	m, err := NewLPIPS(backend.Default(), ch, sd)
	if err != nil {
		t.Fatal(err)
	}
	in := arrays["in/images"]
	imgs, _ := in.Uint8()
	n, h, w := in.Shape[0], in.Shape[1], in.Shape[2]
	feats, err := m.Features(context.Background(), imgs, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := arrays["out/dist"].Float64()
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			got := m.Distance(feats[i], feats[j])
			if math.Abs(got-want[i*n+j]) > 1e-5+1e-4*want[i*n+j] {
				t.Errorf("LPIPS(%d, %d) = %.7g, want %.7g", i, j, got, want[i*n+j])
			}
		}
	}
}

// TestLPIPSWeightNames loads weights under each naming the files use:
// torchvision alexnet + lpips lin layers, lpips' own LPIPS module, and
// torchmetrics' wrapper; a missing parameter is an error naming it.
func TestLPIPSWeightNames(t *testing.T) {
	ch := AlexChannels{2, 3, 4, 3, 3}
	ps := nn.NewParams()
	DeclareLPIPS(nn.NewInit(ps, 5), ch)
	ours := ps.StateDict()
	rename := map[string]func(string) string{
		"torchvision+lpips": func(k string) string { return k },
		"lpips module": func(k string) string {
			for _, c := range []struct{ from, to string }{
				{"features.0.", "net.slice1.0."}, {"features.3.", "net.slice2.3."}, {"features.6.", "net.slice3.6."},
				{"features.8.", "net.slice4.8."}, {"features.10.", "net.slice5.10."},
			} {
				if strings.HasPrefix(k, c.from) {
					return c.to + strings.TrimPrefix(k, c.from)
				}
			}
			return k
		},
		"torchmetrics": func(k string) string {
			if strings.HasPrefix(k, "features.") {
				return "net.net.slice9." + strings.TrimPrefix(k, "features.")
			}
			return "net." + k
		},
	}
	for name, fn := range rename {
		t.Run(name, func(t *testing.T) {
			sd := map[string]nn.Tensor{"classifier.1.weight": {Shape: []int{1}, Data: []float32{0}}}
			for k, v := range ours {
				sd[fn(k)] = v
			}
			m, err := NewLPIPS(backend.Default(), ch, sd)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps.List() {
				got := m.params.Get(p.Name).Data
				for i := range got {
					if got[i] != p.Data[i] {
						t.Fatalf("%s[%d] = %v, want %v", p.Name, i, got[i], p.Data[i])
					}
				}
			}
		})
	}
	delete(ours, "lin3.model.1.weight")
	if _, err := NewLPIPS(backend.Default(), ch, ours); err == nil || !strings.Contains(err.Error(), "lin3") {
		t.Errorf("missing lin3: error %v, want one naming lin3", err)
	}
}

// TestViTMissingWeight checks that a state dict lacking a parameter is
// refused with its name.
func TestViTMissingWeight(t *testing.T) {
	sd, arrays := readNet(t, "testdata/vit_tiny.npz")
	delete(sd, "encoder.layers.encoder_layer_1.mlp.3.bias")
	cfg := ViTConfig{ImageSize: intAt(t, arrays, "config/image"), PatchSize: intAt(t, arrays, "config/patch"),
		Hidden: intAt(t, arrays, "config/d"), Layers: intAt(t, arrays, "config/layers"), Heads: intAt(t, arrays, "config/heads"),
		MLP: intAt(t, arrays, "config/m"), Classes: intAt(t, arrays, "config/classes"), LNEps: 1e-6, Batch: 1}
	_, err := NewViT(backend.Default(), cfg, sd, "tiny ViT")
	if err == nil || !strings.Contains(err.Error(), "encoder_layer_1.mlp.3.bias") {
		t.Errorf("NewViT without a weight: %v, want an error naming it", err)
	}
}
