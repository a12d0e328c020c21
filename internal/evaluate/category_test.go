package evaluate

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/rundir"
)

// synthCategories draws perClass noisy 32×32 images of three easy classes:
// horizontal stripes, vertical stripes, and a bright centre square.
func synthCategories(perClass int, seed uint64) LabeledImages {
	const s = 32
	rng := rand.New(rand.NewPCG(seed, 1))
	d := LabeledImages{H: s, W: s, ClassNames: []string{"horizontal", "vertical", "square"}, Source: "synthetic"}
	for c := 0; c < 3; c++ {
		for k := 0; k < perClass; k++ {
			phase := rng.IntN(8)
			for y := 0; y < s; y++ {
				for x := 0; x < s; x++ {
					on := false
					switch c {
					case 0:
						on = (y+phase)/4%2 == 0
					case 1:
						on = (x+phase)/4%2 == 0
					case 2:
						on = x >= 8+phase/2 && x < 24 && y >= 8 && y < 24-phase/2
					}
					v := 40 + rng.IntN(60)
					if on {
						v += 120
					}
					d.Images = append(d.Images, uint8(v), uint8(v), uint8(v))
				}
			}
			d.Labels = append(d.Labels, c)
			d.N++
		}
	}
	return d
}

// TestCategoryClassifier trains the tiny classifier on synthetic classes:
// it beats chance on held-out images, reloads from its directory to the
// same probabilities, and a run stopped halfway and resumed ends where an
// uninterrupted run does.
func TestCategoryClassifier(t *testing.T) {
	ctx := context.Background()
	be := backend.Default()
	data := synthCategories(16, 3)
	cfg := TinyCategoryConfig()

	full := t.TempDir()
	m, err := TrainCategoryClassifier(ctx, be, data, cfg, full, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out accuracy %.3f", m.HeldOutAccuracy)
	if m.HeldOutAccuracy < 0.7 {
		t.Errorf("held-out accuracy %.3f, want ≥ 0.7 (chance 0.33)", m.HeldOutAccuracy)
	}
	want, _, err := m.Classify(ctx, data.Images, data.N, data.H, data.W)
	if err != nil {
		t.Fatal(err)
	}

	loaded, err := LoadCategoryClassifier(be, full)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.HeldOutAccuracy != m.HeldOutAccuracy {
		t.Errorf("reloaded held-out accuracy %v, want %v", loaded.HeldOutAccuracy, m.HeldOutAccuracy)
	}
	got, _, err := loaded.Classify(ctx, data.Images, data.N, data.H, data.W)
	if err != nil {
		t.Fatal(err)
	}
	sameProbs(t, "reloaded", got, want)

	half := t.TempDir()
	short := cfg
	short.Epochs = cfg.Epochs / 2
	if _, err := TrainCategoryClassifier(ctx, be, data, short, half, io.Discard); err != nil {
		t.Fatal(err)
	}
	resumed, err := TrainCategoryClassifier(ctx, be, data, cfg, half, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err = resumed.Classify(ctx, data.Images, data.N, data.H, data.W)
	if err != nil {
		t.Fatal(err)
	}
	sameProbs(t, "resumed", got, want)
	lines, err := rundir.ReadMetrics(half)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != cfg.Epochs {
		t.Errorf("resumed metrics.jsonl has %d lines, want %d", len(lines), cfg.Epochs)
	}
}

func sameProbs(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	for i := range want {
		for c := range want[i] {
			if got[i][c] != want[i][c] {
				t.Fatalf("%s: image %d class %d: probability %v, want %v", what, i, c, got[i][c], want[i][c])
			}
		}
	}
}

func TestSplitHoldOut(t *testing.T) {
	labels := []int{0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2}
	train, held := splitHoldOut(labels, 3, 0.25, 9)
	count := map[int]int{}
	for _, i := range held {
		count[labels[i]]++
	}
	if count[0] != 1 || count[1] != 2 || count[2] != 0 || len(train)+len(held) != len(labels) {
		t.Errorf("held out per class %v (train %d), want 1, 2, 0 and every image once", count, len(train))
	}
}
