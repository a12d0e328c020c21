package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/rundir"
)

// writeTinyGOD writes a GOD-format directory with one subject, sbj_3: nTrain
// training trials (one per image, shown in a shuffled order) and nTest
// averaged test trials of vc visual-cortex voxels (plus 6 others), driven by
// a 4-d latent that also draws each 32×32 image.
func writeTinyGOD(t *testing.T, dir string, nTrain, nTest, vc int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 3))
	const k, side, extra = 4, 32, 6
	all := vc + extra
	read := make([]float64, all*k)
	for i := range read {
		read[i] = rng.NormFloat64()
	}
	draw := func(n int) (fmri []float64, imgs []uint8) {
		fmri, imgs = make([]float64, n*all), make([]uint8, n*side*side*3)
		for s := 0; s < n; s++ {
			var z [k]float64
			for j := range z {
				z[j] = rng.Float64()*2 - 1
			}
			for v := 0; v < all; v++ {
				x := 0.3 * rng.NormFloat64()
				for j := range z {
					x += read[v*k+j] * z[j]
				}
				fmri[s*all+v] = x
			}
			for i := 0; i < side; i++ {
				for j := 0; j < side; j++ {
					b := math.Sin(6*float64(i)/side*(1+z[0])+2*z[1]) * math.Cos(6*float64(j)/side*(1+z[2])+2*z[3])
					for c := 0; c < 3; c++ {
						imgs[((s*side+i)*side+j)*3+c] = uint8(128 + 100*b*(0.6+0.4*math.Sin(float64(c)+z[c])))
					}
				}
			}
		}
		return fmri, imgs
	}
	trainFMRI, trainImgs := draw(nTrain)
	testFMRI, testImgs := draw(nTest)
	order := rng.Perm(nTrain)
	arr0 := make([]float64, 0, nTrain*all)
	arr3 := make([]int64, nTrain)
	for i, img := range order {
		arr0 = append(arr0, trainFMRI[img*all:(img+1)*all]...)
		arr3[i] = int64(img)
	}
	mask := make([]bool, all)
	for v := 0; v < vc; v++ {
		mask[v] = true
	}
	write := func(name string, arrays []npy.Named) {
		if err := npy.WriteNPZFile(filepath.Join(dir, name), arrays, false); err != nil {
			t.Fatal(err)
		}
	}
	write("sbj_3.npz", []npy.Named{
		{Name: "arr_0", Array: npy.FromFloat64(arr0, nTrain, all)},
		{Name: "arr_2", Array: npy.FromFloat64(testFMRI, nTest, all)},
		{Name: "arr_3", Array: npy.FromInt64(arr3, nTrain)},
		{Name: "VC", Array: npy.FromBool(mask, all)},
	})
	write("images_256.npz", []npy.Named{
		{Name: "train_images", Array: npy.FromUint8(trainImgs, nTrain, side, side, 3)},
		{Name: "test_images", Array: npy.FromUint8(testImgs, nTest, side, side, 3)},
	})
	var classes []string
	var trainCSV, testCSV strings.Builder
	for c := 0; c < 4; c++ {
		classes = append(classes, fmt.Sprintf(`"%d": ["n0%d", "class %d"]`, c, 1000000+c, c))
	}
	for i := 0; i < nTrain; i++ {
		fmt.Fprintf(&trainCSV, "%d.%06d,%d\n", 1000000+i%3, i, i)
	}
	for i := 0; i < nTest; i++ {
		fmt.Fprintf(&testCSV, "%d.%06d,%d\n", 1000003, i, i)
	}
	for name, content := range map[string]string{
		"imagenet_class_index.json":   "{" + strings.Join(classes, ", ") + "}",
		"imagenet_training_label.csv": trainCSV.String(),
		"imagenet_testing_label.csv":  testCSV.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tinyPhase1 pre-trains a very small phase-1 run on random fMRI of v voxels.
func tinyPhase1(t *testing.T, dir string, v int) {
	t.Helper()
	tc := fmrimae.DefaultTrainConfig()
	tc.Model = fmrimae.Config{NumVoxels: v, PatchSize: 16, EmbedDim: 32, Depth: 2, NumHeads: 4, MLPRatio: 1,
		DecoderEmbedDim: 16, DecoderDepth: 2, DecoderNumHeads: 2, MaskRatio: 0.75, LayerNormEps: 1e-5}
	tc.Loss = fmrimae.LossPresets["mindvis"]
	tc.Epochs, tc.Warmup, tc.BatchSize, tc.ValFraction, tc.CheckpointEvery = 1, 0, 8, 0, 0
	rng := rand.New(rand.NewPCG(5, 5))
	s := fmrimae.Samples{N: 16, V: v, FMRI: make([]float32, 16*v)}
	for i := range s.FMRI {
		s.FMRI[i] = float32(rng.NormFloat64())
	}
	if _, err := fmrimae.Train(context.Background(), tc, s, fmrimae.Samples{V: v}, fmrimae.Options{RunDir: dir, Backend: backend.Default()}); err != nil {
		t.Fatal(err)
	}
}

// TestAlignCommand runs "visdec align" on a tiny GOD directory from a tiny
// phase-1 run (with an image MAE pre-trained by visdec), checks the run
// directory, resumes the finished run, and continues from a reference
// phase-2 checkpoint with --init-from; bad usage exits with status 2.
func TestAlignCommand(t *testing.T) {
	tmp := t.TempDir()
	god, p1 := filepath.Join(tmp, "god"), filepath.Join(tmp, "p1")
	if err := os.Mkdir(god, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTinyGOD(t, god, 40, 5, 120) // 120 VC voxels pad to 128
	tinyPhase1(t, p1, 128)

	out := filepath.Join(tmp, "align")
	args := []string{"align", "--pretrained", p1, "--data", god, "--subject", "sbj_3", "--out", out,
		"--preset", "tiny", "--epochs", "2", "--batch", "8", "--pretrain-image-epochs", "1", "--val-fraction", "0.2", "--select", "val"}
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("align exited %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "align: 2 epochs") {
		t.Errorf("stdout %q, want the one-line summary", stdout.String())
	}
	for _, f := range []string{"config.json", "metrics.jsonl", "train.log", "reconstructions.png",
		"checkpoints/final.safetensors", "checkpoints/best.safetensors", "image_mae/checkpoints/final.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	lines, err := rundir.ReadMetrics(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 { // epoch 0 (starting weights), 1, 2
		t.Errorf("metrics.jsonl has %d lines, want 3", len(lines))
	}

	stdout.Reset()
	if code := run([]string{"align", "--out", out, "--resume"}, &stdout, &stderr); code != 0 {
		t.Fatalf("resume of a finished run exited %d: %s", code, stderr.String())
	}
	if code := run([]string{"align", "--out", out, "--resume", "--epochs", "3"}, &stdout, &stderr); code != 2 {
		t.Errorf("changing --epochs on resume exited %d, want 2", code)
	}
	if code := run([]string{"align", "--data", god, "--pretrained", p1}, &stdout, &stderr); code != 2 {
		t.Errorf("missing --out exited %d, want 2", code)
	}
	if code := run([]string{"align", "--data", god, "--out", filepath.Join(tmp, "x"), "--preset", "base", "--pretrained", p1}, &stdout, &stderr); code != 2 {
		t.Errorf("base preset without --image-mae exited %d, want 2", code)
	}

	// The image MAE that run pre-trained, given back with --image-mae.
	reuse := filepath.Join(tmp, "reuse")
	if code := run([]string{"align", "--pretrained", p1, "--data", god, "--out", reuse, "--preset", "tiny",
		"--epochs", "1", "--batch", "8", "--image-mae", filepath.Join(out, "image_mae")}, &stdout, &stderr); code != 0 {
		t.Fatalf("align --image-mae exited %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(reuse, "image_mae")); err == nil {
		t.Error("align --image-mae pre-trained an image MAE anyway")
	}

	ref := filepath.Join(tmp, "ref")
	stdout.Reset()
	if code := run([]string{"align", "--init-from", "../../internal/crossmodal/testdata/reference_phase2.pth", "--data", god,
		"--out", ref, "--preset", "tiny", "--epochs", "1", "--batch", "8", "--pretrain-image-epochs", "1"}, &stdout, &stderr); code != 0 {
		t.Fatalf("align --init-from exited %d: %s", code, stderr.String())
	}
}
