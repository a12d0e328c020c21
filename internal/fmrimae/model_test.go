package fmrimae

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// slowMask is random_masking written out with explicit argsorts, the
// reference for NewMask.
func slowMask(noise []float32, b, l int, ratio float64) (removed []float32, restore []int, kept [][]int) {
	k := int(float64(l) * (1 - ratio))
	for i := range b {
		row := noise[i*l : (i+1)*l]
		shuffle := make([]int, l)
		for j := range shuffle {
			shuffle[j] = j
		}
		sort.SliceStable(shuffle, func(p, q int) bool { return row[shuffle[p]] < row[shuffle[q]] })
		res := make([]int, l)
		for j, s := range shuffle {
			res[s] = j
		}
		m := make([]float32, l)
		for j := range l {
			if res[j] >= k {
				m[j] = 1
			}
		}
		removed = append(removed, m...)
		restore = append(restore, res...)
		kept = append(kept, shuffle[:k])
	}
	return
}

func TestNewMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name  string
		b, l  int
		ratio float64
	}{
		{"paper", 3, 291, 0.75},
		{"fixture-like", 4, 10, 0.75},
		{"no-masking", 2, 17, 0},
		{"half", 5, 8, 0.5},
		{"one-kept", 2, 10, 0.85},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noise := UniformNoise(rng, tc.b*tc.l)
			noise[0] = noise[1] // a tie keeps index order
			m, err := NewMask(noise, tc.b, tc.l, tc.ratio)
			if err != nil {
				t.Fatal(err)
			}
			removed, restore, kept := slowMask(noise, tc.b, tc.l, tc.ratio)
			if m.K != len(kept[0]) {
				t.Fatalf("K = %d, want %d", m.K, len(kept[0]))
			}
			for i := range removed {
				if m.Removed[i] != removed[i] || m.Restore[i] != restore[i] {
					t.Fatalf("element %d: removed %v restore %d, want %v %d", i, m.Removed[i], m.Restore[i], removed[i], restore[i])
				}
			}
			for i := range tc.b {
				for j, patch := range kept[i] {
					for p := range tc.l {
						want := float32(0)
						if p == patch {
							want = 1
						}
						if got := m.Keep[(i*m.K+j)*tc.l+p]; got != want {
							t.Fatalf("Keep[%d,%d,%d] = %v, want %v", i, j, p, got, want)
						}
					}
				}
			}
		})
	}
	if _, err := NewMask(make([]float32, 5), 2, 3, 0.5); err == nil {
		t.Error("NewMask accepted noise of the wrong length")
	}
	if _, err := NewMask(make([]float32, 6), 2, 3, 0.99); err == nil {
		t.Error("NewMask accepted a ratio that keeps nothing")
	}
}

// FuzzNewMask checks NewMask's invariants on arbitrary noise: K kept
// patches per sample, each once, Restore inverting Shuffle, and Removed the
// complement of Keep.
func FuzzNewMask(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(2), 0.75)
	f.Add([]byte{9, 9, 9, 9}, uint8(1), 0.0)
	f.Fuzz(func(t *testing.T, raw []byte, b uint8, ratio float64) {
		if b == 0 || len(raw) < int(b) || math.IsNaN(ratio) {
			return
		}
		l := len(raw) / int(b)
		noise := make([]float32, int(b)*l)
		for i := range noise {
			noise[i] = float32(raw[i]) / 256
		}
		m, err := NewMask(noise, int(b), l, ratio)
		if err != nil {
			return
		}
		for i := range int(b) {
			kept := make([]float32, l)
			for j := range m.K {
				for p := range l {
					kept[p] += m.Keep[(i*m.K+j)*l+p]
				}
			}
			nKept := 0
			for p := range l {
				if kept[p]+m.Removed[i*l+p] != 1 {
					t.Fatalf("patch %d of sample %d: kept %v removed %v", p, i, kept[p], m.Removed[i*l+p])
				}
				if m.Shuffle[i*l+m.Restore[i*l+p]] != p {
					t.Fatalf("Restore does not invert Shuffle at %d", p)
				}
				if kept[p] == 1 {
					nKept++
				}
			}
			if nKept != m.K {
				t.Fatalf("sample %d keeps %d, want %d", i, nKept, m.K)
			}
		}
	})
}

// TestSinCosMatchesReference compares SinCos1D with the fixtures' fixed
// position tables (NumPy float32 evaluation).
func TestSinCosMatchesReference(t *testing.T) {
	parity.ForEach(t, "fmri_mae", "", func(t *testing.T, f *parity.Fixture) {
		for _, key := range []string{"param/pos_embed", "param/decoder_pos_embed"} {
			shape := f.Shape(t, key)
			want := f.F32(t, key)
			got := SinCos1D(shape[2], shape[1]-1, true)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6 {
					t.Fatalf("%s[%d]: got %v, want %v", key, i, got[i], want[i])
				}
			}
		}
	})
}

// paramCounts counts trainable encoder (patch embedding, cls, blocks,
// norm) and decoder-block parameters from the architecture alone.
func paramCounts(c Config) (encoder, decoderBlocks int) {
	block := func(d int) int {
		h := c.MLPHidden(d)
		return 4*d + (3*d*d + 3*d) + (d*d + d) + (d*h + h) + (h*d + d)
	}
	encoder = c.EmbedDim*c.PatchSize + c.EmbedDim + c.EmbedDim + c.Depth*block(c.EmbedDim) + 2*c.EmbedDim
	return encoder, c.DecoderDepth * block(c.DecoderEmbedDim)
}

// TestPresets validates every preset, checks Declare against the parameter
// count formula, and the formula's paper count (cad-spec §2.1: ≈151M in the
// encoder, 12.6M in the decoder blocks).
func TestPresets(t *testing.T) {
	for name, mk := range Presets {
		if err := mk().Validate(); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	cfg := PaperConfig()
	if cfg.NumPatches() != 291 || cfg.LenKeep() != 72 {
		t.Errorf("paper: %d patches, %d kept; want 291, 72", cfg.NumPatches(), cfg.LenKeep())
	}
	if enc, dec := paramCounts(cfg); math.Abs(float64(enc)/1e6-151) > 1 || math.Abs(float64(dec)/1e6-12.6) > 0.2 {
		t.Errorf("paper preset: %.2fM encoder + %.2fM decoder-block parameters, want ≈151M + 12.6M", float64(enc)/1e6, float64(dec)/1e6)
	}
	small := testModel()
	small.MLPRatio = 1.5
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, 1), small)
	enc, dec := 0, 0
	for _, p := range ps.List() {
		switch {
		case p.Frozen:
		case strings.HasPrefix(p.Name, "decoder_blocks."):
			dec += p.Size()
		case !strings.HasPrefix(p.Name, "decoder_") && p.Name != "mask_token":
			enc += p.Size()
		}
	}
	if wantEnc, wantDec := paramCounts(small); enc != wantEnc || dec != wantDec {
		t.Errorf("Declare: %d encoder + %d decoder-block parameters, want %d + %d", enc, dec, wantEnc, wantDec)
	}
	bad := cfg
	bad.NumVoxels, bad.NumHeads, bad.MaskRatio = 4650, 7, 1
	err := bad.Validate()
	for _, field := range []string{"NumVoxels", "EmbedDim", "MaskRatio"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate of %+v: %v, want a complaint about %s", bad, err, field)
		}
	}
}

// TestNearestIndex compares the position resampling with PyTorch's 1-D
// nearest interpolation (testdata/interp_nearest.json, generated with the
// reference's torch).
func TestNearestIndex(t *testing.T) {
	var golden struct {
		Cases []struct {
			In, Out int
			Index   []int
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", "interp_nearest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	for _, c := range golden.Cases {
		for j, want := range c.Index {
			if got := NearestIndex(j, c.In, c.Out); got != want {
				t.Errorf("NearestIndex(%d, %d→%d) = %d, want %d", j, c.In, c.Out, got, want)
			}
		}
	}
}

// TestImportReferenceCheckpoint reads the reference-format phase-1
// checkpoints (zip and legacy torch.save), infers the architecture from the
// weights and the pickled config, and loads them; then loads them into a
// model of another voxel count, with pos_embed resampled.
func TestImportReferenceCheckpoint(t *testing.T) {
	parity.ForEach(t, "torch_ckpt", "phase1_", func(t *testing.T, f *parity.Fixture) {
		want := f.Tensors(t, "model/")
		paths, _ := filepath.Glob(filepath.Join(f.Dir, f.Name+"*.pth"))
		if len(paths) == 0 {
			t.Fatalf("no %s*.pth beside the fixture", f.Name)
		}
		for _, path := range paths {
			c, err := ReadCheckpoint(path, TinyConfig())
			if err != nil {
				t.Fatal(err)
			}
			var fc struct {
				Config struct {
					Attributes map[string]any `json:"attributes"`
				} `json:"config"`
			}
			if raw, ok := f.Meta["structure"]; ok {
				if err := json.Unmarshal(raw, &fc); err != nil {
					t.Fatal(err)
				}
			}
			a := fc.Config.Attributes
			num := func(k string) int { v, _ := a[k].(float64); return int(v) }
			cfg := c.Config
			if a != nil && (cfg.EmbedDim != num("embed_dim") || cfg.Depth != num("depth") || cfg.NumHeads != num("num_heads") ||
				cfg.DecoderEmbedDim != num("decoder_embed_dim") || cfg.DecoderNumHeads != num("decoder_num_heads") ||
				cfg.NumVoxels != num("num_voxels") || cfg.PatchSize != num("patch_size")) {
				t.Errorf("%s: inferred %+v, checkpoint config %v", filepath.Base(path), cfg, a)
			}
			ps := nn.NewParams()
			Declare(nn.NewInit(ps, 1), cfg)
			r, err := ImportWeights(ps, c.Weights, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Missing) > 0 || len(r.Unexpected) > 0 {
				t.Errorf("%s: missing %v, unexpected %v", filepath.Base(path), r.Missing, r.Unexpected)
			}
			for name, w := range want {
				if !equalF32(ps.Get(name).Data, w.Data) {
					t.Errorf("%s: %s differs from the fixture", filepath.Base(path), name)
				}
			}

			// Another voxel count: pos tables resampled, the rest as is.
			other := cfg
			other.NumVoxels = cfg.NumVoxels + 2*cfg.PatchSize
			ps2 := nn.NewParams()
			Declare(nn.NewInit(ps2, 1), other)
			if _, err := ImportWeights(ps2, c.Weights, other); err != nil {
				t.Fatal(err)
			}
			pos, d := ps2.Get("pos_embed"), cfg.EmbedDim
			src := want["pos_embed"].Data
			for j := range other.NumPatches() {
				s := NearestIndex(j, cfg.NumPatches(), other.NumPatches())
				if !equalF32(pos.Data[(1+j)*d:(2+j)*d], src[(1+s)*d:(2+s)*d]) {
					t.Fatalf("resampled pos_embed row %d is not source row %d", 1+j, 1+s)
				}
			}
			if !equalF32(ps2.Get("blocks.0.attn.qkv.weight").Data, want["blocks.0.attn.qkv.weight"].Data) {
				t.Error("block weights changed by a voxel-count change")
			}
		}
	})
}

// TestDecoderDepthDrop loads a deeper decoder into a shallower one, as
// phase 2 loads the depth-8 phase-1 decoder into depth 6.
func TestDecoderDepthDrop(t *testing.T) {
	deep := testModel()
	deep.DecoderDepth = 3
	src := nn.NewParams()
	Declare(nn.NewInit(src, 1), deep)
	shallow := deep
	shallow.DecoderDepth = 1
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, 2), shallow)
	r, err := ImportWeights(ps, src.StateDict(), shallow)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Missing) != 0 || len(r.Unexpected) != 24 || !strings.HasPrefix(r.Unexpected[0], "decoder_blocks.1.") {
		t.Errorf("missing %v, unexpected %v; want decoder_blocks.1-2 (24 tensors) unexpected", r.Missing, r.Unexpected)
	}
}

// TestEncodeNoMaskIsPermutedEncode: with mask ratio 0 the masked encoder
// without its cls token sees every patch, in shuffled order. Without cls it
// must equal EncodeNoMask up to that permutation, which also checks that the
// one-hot selection gathers the right tokens.
func TestEncodeNoMaskIsPermutedEncode(t *testing.T) {
	cfg := testModel()
	cfg.MaskRatio = 0
	ps := nn.NewParams()
	Declare(nn.NewInit(ps, 5), cfg)
	const b = 3
	rng := rand.New(rand.NewPCG(5, 6))
	m, err := RandomMask(rng, b, cfg.NumPatches(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Depth 0 isolates the embedding and the selection from attention,
	// which mixes tokens (the cls token would change every output).
	cfg.Depth = 0
	fwd, err := nn.NewForward(backend.Default(), ps.Names(), func(v nn.Vars, in []*Node) []*Node {
		return []*Node{Encode(v, cfg, in[0], in[1]), EncodeNoMask(v, cfg, in[0])}
	})
	if err != nil {
		t.Fatal(err)
	}
	x := UniformNoise(rng, b*cfg.NumVoxels)
	outs, err := fwd.Run(nn.ParamTensors(ps), tensors.FromFlatDataAndDimensions(x, b, cfg.NumVoxels), m.KeepTensor())
	if err != nil {
		t.Fatal(err)
	}
	masked, plain := nn.ToFloat32(outs[0]), nn.ToFloat32(outs[1])
	l, d := cfg.NumPatches(), cfg.EmbedDim
	for i := range b {
		for j := range l {
			got := masked[(i*(l+1)+1+j)*d : (i*(l+1)+2+j)*d]
			p := m.Shuffle[i*l+j]
			want := plain[(i*l+p)*d : (i*l+p+1)*d]
			for c := range d {
				if math.Abs(float64(got[c]-want[c])) > 1e-5 {
					t.Fatalf("sample %d token %d (patch %d) channel %d: %v vs %v", i, j, p, c, got[c], want[c])
				}
			}
		}
	}
}
