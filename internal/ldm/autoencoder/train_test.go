package autoencoder

import (
	"context"
	"errors"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/rundir"
)

// synthImages draws n smooth test pictures [n, side, side, 3]: a colour
// gradient plus a disc, different per image.
func synthImages(rng *rand.Rand, n, side int) []uint8 {
	out := make([]uint8, n*side*side*3)
	for i := 0; i < n; i++ {
		var base, slope, disc [3]float64
		for c := range 3 {
			base[c], slope[c], disc[c] = rng.Float64(), rng.Float64()-0.5, rng.Float64()
		}
		cx, cy, r := rng.Float64()*float64(side), rng.Float64()*float64(side), (0.15+0.25*rng.Float64())*float64(side)
		for y := 0; y < side; y++ {
			for x := 0; x < side; x++ {
				inDisc := math.Hypot(float64(x)-cx, float64(y)-cy) < r
				for c := range 3 {
					v := base[c] + slope[c]*float64(x+y)/float64(2*side)
					if inDisc {
						v = disc[c]
					}
					out[((i*side+y)*side+x)*3+c] = uint8(255 * min(max(v, 0), 1))
				}
			}
		}
	}
	return out
}

func synthDataset(nTrain, nTest, side int) *data.Dataset {
	rng := rand.New(rand.NewPCG(11, 12))
	return &data.Dataset{
		Name:  "synthetic",
		Train: data.Split{N: nTrain, Images: synthImages(rng, nTrain, side), H: side, W: side},
		Test:  data.Split{N: nTest, Images: synthImages(rng, nTest, side), H: side, W: side},
	}
}

// cancelAfter is a context whose Err reports cancellation from its n-th
// call on; Train asks once before every step, so it interrupts a run at a
// chosen step.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	c.n--
	if c.n < 0 {
		return context.Canceled
	}
	return nil
}

func tinyTrainConfig() TrainConfig {
	cfg := DefaultTrainConfig()
	cfg.Model = Tiny()
	cfg.Model.Resolution = 16 // f2 at 16², a quarter of Tiny's cost
	cfg.Model.ChMult = []int{1, 2}
	cfg.Model.NEmbed = 16
	cfg.Epochs = 4
	cfg.BatchSize = 4
	cfg.LR = 1e-3
	cfg.RestartEvery = 3
	cfg.GridImages = 4
	cfg.Keep = 0
	return cfg
}

// TestTrainSmokeAndResume trains a miniature model for 4 epochs of 2 steps:
// the training loss falls and every run-directory file appears. A second run
// is interrupted at step 3 (mid-epoch), checkpoints, and is resumed: its
// metrics.jsonl and final parameters equal the uninterrupted run's.
func TestTrainSmokeAndResume(t *testing.T) {
	ds := synthDataset(8, 4, 20) // 20² stimuli resized to the model's 16²
	cfg := tinyTrainConfig()
	b := backend.Default()

	full := t.TempDir()
	res, err := Train(context.Background(), b, cfg, ds, full, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := rundir.ReadMetrics(full)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != cfg.Epochs {
		t.Fatalf("metrics.jsonl has %d lines, want %d", len(ms), cfg.Epochs)
	}
	first, last := ms[0]["train_loss"].(float64), ms[len(ms)-1]["train_loss"].(float64)
	t.Logf("train loss %.4f → %.4f; held-out PSNR %.2f dB, codes used %.2f", first, last, res.ValPSNR, res.CodesUsed)
	if !(last < first) {
		t.Errorf("training loss did not fall: epoch 0 %.5f, epoch %d %.5f", first, len(ms)-1, last)
	}
	for _, k := range []string{"val_recon", "val_psnr", "val_codes_used", "val_perplexity", "train_codes_used", "restarted_codes"} {
		if _, ok := ms[len(ms)-1][k]; !ok {
			t.Errorf("metrics line lacks %s", k)
		}
	}
	if res.Steps != cfg.Epochs*2 {
		t.Errorf("Result.Steps = %d, want %d", res.Steps, cfg.Epochs*2)
	}
	for _, f := range []string{"config.json", "metrics.jsonl", "train.log", "checkpoints/final.safetensors"} {
		if _, err := os.Stat(filepath.Join(full, f)); err != nil {
			t.Error(err)
		}
	}
	pf, err := os.Open(filepath.Join(full, "reconstructions.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(pf)
	pf.Close()
	if err != nil {
		t.Fatalf("reconstructions.png: %v", err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w != 4*64+5*2 || h != 2*64+3*2 {
		t.Errorf("grid is %d×%d, want two rows of four 64-pixel tiles", w, h)
	}

	// Interrupted at step 3, then resumed.
	part := t.TempDir()
	_, err = Train(&cancelAfter{Context: context.Background(), n: 3}, b, cfg, ds, part, false, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run returned %v, want context.Canceled", err)
	}
	if _, err := Train(context.Background(), b, cfg, ds, part, false, nil); err == nil {
		t.Errorf("a second run into a directory with checkpoints must ask for --resume")
	}
	if _, err := Train(context.Background(), b, cfg, ds, part, true, nil); err != nil {
		t.Fatal(err)
	}
	ms2, err := rundir.ReadMetrics(part)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ms, ms2) {
		t.Errorf("resumed metrics differ from the uninterrupted run's:\n got %v\nwant %v", ms2, ms)
	}
	_, p1, err := Load(full)
	if err != nil {
		t.Fatal(err)
	}
	_, p2, err := Load(part)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range p1.List() {
		if !reflect.DeepEqual(p.Data, p2.Get(p.Name).Data) {
			t.Errorf("parameter %s differs after resume", p.Name)
			break
		}
	}
}

func TestTrainConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*TrainConfig)
	}{
		{"batch", func(c *TrainConfig) { c.BatchSize = 0 }},
		{"lr", func(c *TrainConfig) { c.LR = 0 }},
		{"recon", func(c *TrainConfig) { c.Recon = "lpips" }},
		{"beta", func(c *TrainConfig) { c.Beta1 = 1 }},
		{"groups", func(c *TrainConfig) { c.Model.Ch = 48 }},
		{"resolution", func(c *TrainConfig) { c.Model.Resolution = 30 }},
	}
	if err := DefaultTrainConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tt := range tests {
		cfg := DefaultTrainConfig()
		tt.modify(&cfg)
		if cfg.Validate() == nil {
			t.Errorf("%s: invalid config accepted", tt.name)
		}
	}
}

func TestTrainRejectsBadData(t *testing.T) {
	cfg := tinyTrainConfig()
	tests := []struct {
		name string
		ds   *data.Dataset
	}{
		{"no images", &data.Dataset{Name: "x", Train: data.Split{N: 4}}},
		{"short buffer", &data.Dataset{Name: "x", Train: data.Split{N: 4, H: 8, W: 8, Images: make([]uint8, 10)}}},
		{"no test images", &data.Dataset{Name: "x", Train: data.Split{N: 8, H: 8, W: 8, Images: make([]uint8, 8*8*8*3)}}},
		{"fewer than a batch", synthDataset(3, 2, 8)},
	}
	for _, tt := range tests {
		if _, err := Train(context.Background(), backend.Default(), cfg, tt.ds, t.TempDir(), false, nil); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestResizeImages(t *testing.T) {
	// A 4×4 image of four flat 2×2 quadrants halves to those four colours.
	src := make([]uint8, 4*4*3)
	quad := [4][3]uint8{{10, 20, 30}, {40, 50, 60}, {70, 80, 90}, {200, 210, 220}}
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			copy(src[(y*4+x)*3:], quad[(y/2)*2+x/2][:])
		}
	}
	got, err := ResizeImages(src, 1, 4, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	for q := 0; q < 4; q++ {
		if !reflect.DeepEqual(got[q*3:q*3+3], quad[q][:]) {
			t.Errorf("quadrant %d: got %v, want %v", q, got[q*3:q*3+3], quad[q])
		}
	}
	// 3 → 2 mixes the middle pixel half-and-half: (0·1 + 100·½)/1.5.
	row := []uint8{0, 0, 0, 100, 100, 100, 200, 200, 200}
	src3 := append(append(append([]uint8{}, row...), row...), row...)
	got, err = ResizeImages(src3, 1, 3, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 33 || got[3] != 167 {
		t.Errorf("3→2: got %d and %d, want 33 and 167", got[0], got[3])
	}
	if _, err := ResizeImages(src, 2, 4, 4, 2); err == nil {
		t.Errorf("a short buffer was accepted")
	}
}

func TestToUint8Truncates(t *testing.T) {
	tests := []struct {
		x    float32
		want uint8
	}{
		{-2, 0}, {-1, 0}, {1, 255}, {3, 255}, {0, 127}, // 127.5 truncates to 127
		{float32(math.NaN()), 0},
	}
	for _, tt := range tests {
		if got := ToUint8([]float32{tt.x})[0]; got != tt.want {
			t.Errorf("ToUint8(%v) = %d, want %d", tt.x, got, tt.want)
		}
	}
}

// TestTrainStopsOnNaN: an absurd learning rate blows the weights up; the run
// must stop with an error naming the step instead of training on NaN.
func TestTrainStopsOnNaN(t *testing.T) {
	cfg := tinyTrainConfig()
	cfg.LR = 1e30
	cfg.Epochs = 3
	_, err := Train(context.Background(), backend.Default(), cfg, synthDataset(8, 2, 16), t.TempDir(), false, nil)
	if err == nil || !strings.Contains(err.Error(), "loss is") {
		t.Fatalf("got %v, want a non-finite loss error", err)
	}
	t.Log(err)
}

// TestTrainContinuous: a Continuous model trains without VQ terms and
// restarts, its loss falls, and its codec decodes latents as they are.
func TestTrainContinuous(t *testing.T) {
	ds := synthDataset(8, 4, 20)
	cfg := tinyTrainConfig()
	cfg.Model.Continuous = true
	b := backend.Default()
	dir := t.TempDir()
	if _, err := Train(context.Background(), b, cfg, ds, dir, false, nil); err != nil {
		t.Fatal(err)
	}
	ms, err := rundir.ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, last := ms[0]["train_loss"].(float64), ms[len(ms)-1]["train_loss"].(float64)
	if !(last < first) {
		t.Errorf("training loss did not fall: %.5f → %.5f", first, last)
	}
	for _, m := range ms {
		if m["train_vq"].(float64) != 0 || m["restarted_codes"].(float64) != 0 {
			t.Fatalf("VQ loss %v, restarted codes %v; want 0 without a quantiser", m["train_vq"], m["restarted_codes"])
		}
	}
	mc, ps, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !mc.Continuous {
		t.Fatal("config.json lost continuous")
	}
	c, err := NewCodec(b, mc, ps)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	s := mc.LatentSize()
	lat := make([]float32, 2*s*s*mc.EmbedDim)
	for i := range lat {
		lat[i] = float32(rng.NormFloat64())
	}
	a, err := c.Decode(lat, 2)
	if err != nil {
		t.Fatal(err)
	}
	nq, err := c.DecodeNoQuant(lat, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, nq) {
		t.Error("Decode of a continuous model differs from DecodeNoQuant")
	}
}
