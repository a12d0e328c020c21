package ldm

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// pairedData simulates an experiment with learnable structure: each
// stimulus is drawn from a few latent factors (background colour, a square's
// colour and position), and the "fMRI" is a fixed random linear read-out of
// those factors plus noise.
func pairedData(rng *rand.Rand, n, side, voxels int, w []float64) (fmri []float32, imgs []uint8) {
	const factors = 8
	fmri = make([]float32, n*voxels)
	imgs = make([]uint8, n*side*side*3)
	for i := range n {
		f := make([]float64, factors)
		for k := range f {
			f[k] = rng.Float64()
		}
		x0, y0 := int(f[6]*float64(side/2)), int(f[7]*float64(side/2))
		for y := range side {
			for x := range side {
				in := x >= x0 && x < x0+side/2 && y >= y0 && y < y0+side/2
				for c := range 3 {
					v := f[c]
					if in {
						v = f[3+c]
					}
					imgs[((i*side+y)*side+x)*3+c] = uint8(255 * v)
				}
			}
		}
		for j := range voxels {
			s := 0.0
			for k := range factors {
				s += w[j*factors+k] * (f[k] - 0.5)
			}
			fmri[i*voxels+j] = float32(s + 0.3*rng.NormFloat64())
		}
	}
	return fmri, imgs
}

// TestTinyPipelineEndToEnd runs the LDM stage on simulated pairs, on the
// CPU: train a small autoencoder, fine-tune the LDM (which must lower the
// validation ε-MSE), reconstruct the test items, and identify them: the
// reconstructions must correlate better with their own stimulus than with
// the others more often than chance.
func TestTinyPipelineEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end training takes about a minute")
	}
	start := time.Now()
	const side, voxels, nTrain, nTest = 16, 64, 160, 16
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float64, voxels*8)
	for i := range w {
		w[i] = rng.NormFloat64()
	}
	trF, trI := pairedData(rng, nTrain, side, voxels, w)
	teF, teI := pairedData(rng, nTest, side, voxels, w)
	be := backend.Default()
	dir := t.TempDir()
	if d := os.Getenv("VISDEC_E2E_DIR"); d != "" {
		dir = d // keep the runs for inspection
	}

	// First stage: a small f2 VQ autoencoder (16² images ↔ 8×8×3 latents)
	// trained on these stimuli by TestRegenerateAutoencoder and kept in
	// testdata: training one that reconstructs well takes minutes.
	aeDir := filepath.Join("testdata", "ae16")
	if d := os.Getenv("VISDEC_E2E_AE"); d != "" {
		aeDir = d
	}

	// The fMRI encoder would come from phase 1 or 2; here a fresh one
	// stands in, its patch embedding scaled up so that its tokens vary with
	// the fMRI as a trained encoder's do (a fresh N(0, 0.02²) embedding
	// leaves them dominated by the sin-cos positions).
	enc := fmrimae.TinyConfig()
	enc.NumVoxels, enc.EmbedDim, enc.Depth, enc.NumHeads = voxels, 32, 1, 2
	eps := nn.NewParams()
	fmrimae.DeclareEncoder(nn.NewInit(eps, 6), enc)
	for i := range eps.Get("patch_embed.proj.weight").Data {
		eps.Get("patch_embed.proj.weight").Data[i] *= 10
	}
	p, err := LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	// Half the tiny UNet's width: the toy task needs no more, and twice the
	// steps fit in the same time.
	p.UNet.ModelChannels, p.UNet.NormGroups, p.CondDim = 16, 16, 16
	tc := DefaultTune(p)
	tc.Epochs, tc.CheckpointEvery, tc.SelectVal, tc.FreezeEncoder = 30, 10, true, false
	ds := &data.Dataset{Name: "paired", Voxels: voxels,
		Train: data.Split{N: nTrain, FMRI: trF, Images: trI, H: side, W: side},
		Test:  data.Split{N: nTest, FMRI: teF, Images: teI, H: side, W: side}}
	job, notes, err := PrepareTune(PrepareOptions{Preset: p, Tune: tc, AutoencoderRun: aeDir, Data: ds, Backend: be,
		Encoder: &Encoder{Path: "fresh encoder", Config: enc, Weights: eps.StateDict()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(notes)
	tuneStart := time.Now()
	res, err := Tune(context.Background(), job, filepath.Join(dir, "ldm"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tune: %d steps in %.1fs (%.3fs/step), validation loss %.4f → %.4f (best %.4f at epoch %d)",
		res.Steps, time.Since(tuneStart).Seconds(), res.StepSecond, res.FirstVal, res.ValLoss, res.BestVal, res.BestEpoch)
	if !(res.ValLoss < 0.6*res.FirstVal) {
		t.Errorf("validation loss did not fall: %.4f → %.4f", res.FirstVal, res.ValLoss)
	}

	m, err := LoadRun(filepath.Join(dir, "ldm"), "best")
	if err != nil {
		t.Fatal(err)
	}
	rc := DefaultReconstruct()
	rc.Samples, rc.Steps, rc.Sampler, rc.Batch = 2, 25, "ddim", 24
	out := filepath.Join(dir, "rec")
	items, err := TestItemsFrom(ds)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := Reconstruct(context.Background(), m, items, rc, out, be, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reconstruct: %.1fs, %.4fs per denoising step of %d images", rr.Seconds, rr.SecondsPerStep, rr.Batch)

	s, err := evaluate.ReadSamples(filepath.Join(out, "samples.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if s.N != nTest || s.S != rc.Samples || s.H != side {
		t.Fatalf("samples.npz holds N=%d S=%d H=%d, want %d, %d, %d", s.N, s.S, s.H, nTest, rc.Samples, side)
	}
	// Pair-wise identification by pixel correlation, chance 0.5.
	var acc float64
	for set := range s.S {
		for i := range s.N {
			own := evaluate.PCC(s.Pred(set, i), s.GT(i))
			wins := 0
			for j := range s.N {
				if j != i && own > evaluate.PCC(s.Pred(set, i), s.GT(j)) {
					wins++
				}
			}
			acc += float64(wins) / float64(s.N-1)
		}
	}
	acc /= float64(s.N * s.S)
	t.Logf("pair-wise identification (PCC): %.3f; total %.1fs", acc, time.Since(start).Seconds())
	if !(acc > 0.65) || math.IsNaN(acc) {
		t.Errorf("pair-wise identification %.3f is not above chance (0.5) by the margin 0.15", acc)
	}
}

// TestRegenerateAutoencoder re-creates testdata/ae16, the first stage of
// TestTinyPipelineEndToEnd: `visdec train-autoencoder`'s training on the
// test's training stimuli, kept weights-only. It runs only with
// VISDEC_REGEN_TESTDATA=1 (several minutes on two cores).
func TestRegenerateAutoencoder(t *testing.T) {
	if os.Getenv("VISDEC_REGEN_TESTDATA") == "" {
		t.Skip("set VISDEC_REGEN_TESTDATA=1 to retrain testdata/ae16")
	}
	// Stimuli from the same distribution as the test's (not the same draws).
	const side, voxels, nTrain = 16, 64, 160
	trF, trI := pairedData(rand.New(rand.NewPCG(3, 4)), nTrain, side, voxels, make([]float64, voxels*8))
	ds := &data.Dataset{Name: "paired", Voxels: voxels, Train: data.Split{N: nTrain, FMRI: trF, Images: trI, H: side, W: side}}
	ac := autoencoder.DefaultTrainConfig()
	ac.Model = autoencoder.Config{Resolution: side, InChannels: 3, OutChannels: 3, Ch: 32, ChMult: []int{1, 1},
		NumResBlocks: 1, ZChannels: 3, EmbedDim: 3, NEmbed: 128, Beta: 0.25, Groups: 32, NormEps: 1e-6}
	ac.Epochs, ac.BatchSize, ac.LR, ac.Recon, ac.Holdout, ac.GridImages = 26, 8, 2e-3, autoencoder.ReconL2, 16, 4
	work := t.TempDir()
	if d := os.Getenv("VISDEC_REGEN_WORK"); d != "" {
		work = d
	}
	res, err := autoencoder.Train(context.Background(), backend.Default(), ac, ds, work, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out PSNR %.2f dB after %d steps", res.ValPSNR, res.Steps)
	_, ps, err := autoencoder.Load(work)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join("testdata", "ae16")
	run, err := rundir.Open(dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		run.Close()
		os.Remove(filepath.Join(dst, "train.log"))
	}()
	cfg, err := os.ReadFile(filepath.Join(work, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"stage": "autoencoder", "note": "weights only, written by TestRegenerateAutoencoder",
		"val_psnr": fmt.Sprintf("%.2f", res.ValPSNR)}
	if err := run.SaveCheckpoint("final", ps, nil, meta, 0); err != nil {
		t.Fatal(err)
	}
}
