package evaluate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/rundir"
)

// A category classifier that visdec trains itself, for data without
// ImageNet classes (the simulator's categories): the stand-in for the
// reference's ViT-H/14 when its weights are absent. It is a small CNN on
// downsampled images (four 3×3 convs with ReLU, three of stride 2, global
// mean pool, a linear head), trained with AdamW and cross-entropy on
// training images only, with a stratified held-out part of them for its
// reported accuracy. Differs from the reference: n-way "semantic" accuracy
// under it measures the simulator's categories, not ImageNet's.

// CategoryConfig sets the category classifier and its training.
type CategoryConfig struct {
	Size        int     `json:"size"`         // images are box-resized to Size×Size (32)
	Widths      [4]int  `json:"widths"`       // conv channels (16, 32, 64, 64)
	Epochs      int     `json:"epochs"`       // passes over the training images (30)
	Batch       int     `json:"batch"`        // images per step (64)
	LR          float64 `json:"lr"`           // AdamW learning rate (2e-3)
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled weight decay (1e-4)
	HoldOut     float64 `json:"hold_out"`     // fraction of each class kept out of training for the accuracy (0.1)
	Augment     bool    `json:"augment"`      // random horizontal flips and shifts of up to Size/8
	Seed        uint64  `json:"seed"`
}

// DefaultCategoryConfig is the setting `visdec eval` trains with.
func DefaultCategoryConfig() CategoryConfig {
	return CategoryConfig{Size: 32, Widths: [4]int{16, 32, 64, 64}, Epochs: 30, Batch: 64, LR: 2e-3, WeightDecay: 1e-4, HoldOut: 0.1, Augment: true, Seed: 2022}
}

// TinyCategoryConfig trains in about a second (tests).
func TinyCategoryConfig() CategoryConfig {
	return CategoryConfig{Size: 16, Widths: [4]int{8, 8, 16, 16}, Epochs: 8, Batch: 16, LR: 5e-3, WeightDecay: 0, HoldOut: 0.25, Augment: false, Seed: 1}
}

// Validate checks every field.
func (c CategoryConfig) Validate() error {
	switch {
	case c.Size < 8 || c.Size%8 != 0:
		return fmt.Errorf("category classifier: size %d, want a multiple of 8", c.Size)
	case c.Epochs < 1 || c.Batch < 1 || c.LR <= 0:
		return fmt.Errorf("category classifier: epochs %d, batch %d, lr %g must be positive", c.Epochs, c.Batch, c.LR)
	case c.HoldOut < 0 || c.HoldOut >= 1:
		return fmt.Errorf("category classifier: hold-out fraction %g, want [0, 1)", c.HoldOut)
	}
	for _, w := range c.Widths {
		if w < 1 {
			return fmt.Errorf("category classifier: widths %v must be positive", c.Widths)
		}
	}
	return nil
}

// LabeledImages are training images with a class per image.
type LabeledImages struct {
	Images     []uint8 // [N, H, W, 3]
	N, H, W    int
	Labels     []int    // [N], 0..len(ClassNames)−1
	ClassNames []string // one name per class
	Source     string   // where they came from, for the record
}

// Validate checks sizes and labels.
func (d LabeledImages) Validate() error {
	if d.N < 2 || len(d.Images) != d.N*d.H*d.W*3 || len(d.Labels) != d.N {
		return fmt.Errorf("labelled images %s: %d images of %d×%d need %d bytes and %d labels, got %d and %d",
			d.Source, d.N, d.H, d.W, d.N*d.H*d.W*3, d.N, len(d.Images), len(d.Labels))
	}
	if len(d.ClassNames) < 2 {
		return fmt.Errorf("labelled images %s: %d classes, want ≥ 2", d.Source, len(d.ClassNames))
	}
	for i, l := range d.Labels {
		if l < 0 || l >= len(d.ClassNames) {
			return fmt.Errorf("labelled images %s: image %d has label %d, want 0..%d", d.Source, i, l, len(d.ClassNames)-1)
		}
	}
	return nil
}

// categoryConvs are the four convs: stride of each (padding 1, kernel 3).
var categoryStrides = [4]int{1, 2, 2, 2}

func declareCategory(in nn.Init, c CategoryConfig, classes int) {
	prev := 3
	for k, w := range c.Widths {
		in.Conv2D(fmt.Sprintf("conv%d", k), prev, w, 3, true, false)
		prev = w
	}
	in.Linear("head", prev, classes, true, nn.InitTorchDefault)
}

// categoryForward maps x [B, S, S, 3] in [−1, 1] to logits [B, classes] and
// pooled features [B, Widths[3]].
func categoryForward(v nn.Vars, x *Node) (logits, feats *Node) {
	h := x
	for k, s := range categoryStrides {
		h = MaxScalar(nn.Conv2D(v.In("conv%d", k), h, s, nn.Same(1)), 0)
	}
	feats = ReduceMean(h, 1, 2)
	return nn.Linear(v.In("head"), feats), feats
}

// CategoryClassifier is a trained category classifier.
type CategoryClassifier struct {
	Config  CategoryConfig
	Classes []string
	// HeldOutAccuracy is the top-1 accuracy on the held-out training images
	// (NaN when none were held out).
	HeldOutAccuracy float64
	Dir             string
	params          *nn.Params
	tensors         []*tensors.Tensor
	fwd             *nn.Forward
}

// categoryRecord is DIR/classifier.json.
type categoryRecord struct {
	Kind            string         `json:"kind"`
	Config          CategoryConfig `json:"config"`
	Classes         []string       `json:"classes"`
	HeldOutAccuracy *float64       `json:"held_out_accuracy"`
	TrainImages     int            `json:"train_images"`
	HeldOutImages   int            `json:"held_out_images"`
	Source          string         `json:"source"`
}

const categoryKind = "visdec-category-classifier"

// Name implements Classifier.
func (m *CategoryClassifier) Name() string {
	return fmt.Sprintf("visdec category CNN (%d classes, %s)", len(m.Classes), m.Dir)
}

// NumClasses implements Classifier.
func (m *CategoryClassifier) NumClasses() int { return len(m.Classes) }

// input box-resizes images to Size and scales them to [−1, 1].
func (m *CategoryClassifier) input(images []uint8, n, h, w int) []float32 {
	return categoryInput(imageops.ResizeAll(images, n, h, w, m.Config.Size, m.Config.Size))
}

func categoryInput(small []uint8) []float32 {
	x := make([]float32, len(small))
	for i, v := range small {
		x[i] = float32(v)/127.5 - 1
	}
	return x
}

// Classify implements Classifier.
func (m *CategoryClassifier) Classify(ctx context.Context, images []uint8, n, h, w int) (probs, feats [][]float32, err error) {
	s := m.Config.Size
	x := m.input(images, n, h, w)
	const bs = 64
	err = batches(n, bs, func(lo, hi int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		out, err := m.fwd.Run(m.tensors, tensors.FromFlatDataAndDimensions(x[lo*s*s*3:hi*s*s*3], hi-lo, s, s, 3))
		if err != nil {
			return fmt.Errorf("category classifier: %w", err)
		}
		p, f := nn.ToFloat32(out[0]), nn.ToFloat32(out[1])
		c, d := len(m.Classes), m.Config.Widths[3]
		for i := 0; i < hi-lo; i++ {
			probs = append(probs, p[i*c:(i+1)*c])
			feats = append(feats, f[i*d:(i+1)*d])
		}
		return nil
	})
	return probs, feats, err
}

func newCategoryClassifier(be compute.Backend, c CategoryConfig, classes []string) (*CategoryClassifier, error) {
	ps := nn.NewParams()
	declareCategory(nn.NewInit(ps, c.Seed), c, len(classes))
	fwd, err := nn.NewForward(be, ps.Names(), func(v nn.Vars, in []*Node) []*Node {
		logits, feats := categoryForward(v, in[0])
		return []*Node{Softmax(logits, -1), feats}
	})
	if err != nil {
		return nil, err
	}
	return &CategoryClassifier{Config: c, Classes: classes, params: ps, fwd: fwd, HeldOutAccuracy: math.NaN()}, nil
}

// LoadCategoryClassifier reads a classifier trained into dir.
func LoadCategoryClassifier(be compute.Backend, dir string) (*CategoryClassifier, error) {
	var rec categoryRecord
	if err := rundir.ReadJSON(dir, "classifier.json", &rec); err != nil {
		return nil, fmt.Errorf("category classifier %s: %w", dir, err)
	}
	if rec.Kind != categoryKind {
		return nil, fmt.Errorf("category classifier %s: classifier.json is not a %s (kind %q)", dir, categoryKind, rec.Kind)
	}
	if err := rec.Config.Validate(); err != nil {
		return nil, fmt.Errorf("category classifier %s: %w", dir, err)
	}
	m, err := newCategoryClassifier(be, rec.Config, rec.Classes)
	if err != nil {
		return nil, err
	}
	ck, err := rundir.LoadCheckpoint(filepath.Join(dir, "checkpoints", "final.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("category classifier %s: %w", dir, err)
	}
	if err := loadParams(m.params, ck.Params, "category classifier "+dir); err != nil {
		return nil, err
	}
	m.tensors = nn.ParamTensors(m.params)
	m.Dir = dir
	if rec.HeldOutAccuracy != nil {
		m.HeldOutAccuracy = *rec.HeldOutAccuracy
	}
	return m, nil
}

// splitHoldOut returns training and held-out indices: per class, the first
// round(frac·count) of a seeded shuffle are held out (none from a class with
// a single image).
func splitHoldOut(labels []int, classes int, frac float64, seed uint64) (train, held []int) {
	byClass := make([][]int, classes)
	for i, l := range labels {
		byClass[l] = append(byClass[l], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x686f6c64)) // stream "hold"
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		k := int(math.Round(frac * float64(len(idx))))
		if len(idx) < 2 {
			k = 0
		}
		held = append(held, idx[:k]...)
		train = append(train, idx[k:]...)
	}
	return train, held
}

// augment copies image i of small [·, s, s, 3] into dst with a random
// horizontal flip and a shift of up to s/8 pixels (edges replicated).
func augment(dst []float32, small []uint8, i, s int, rng *rand.Rand) {
	flip := rng.IntN(2) == 1
	m := s / 8
	dy, dx := rng.IntN(2*m+1)-m, rng.IntN(2*m+1)-m
	src := small[i*s*s*3:]
	for y := 0; y < s; y++ {
		sy := min(max(y+dy, 0), s-1)
		for x := 0; x < s; x++ {
			sx := min(max(x+dx, 0), s-1)
			if flip {
				sx = s - 1 - sx
			}
			for c := 0; c < 3; c++ {
				dst[(y*s+x)*3+c] = float32(src[(sy*s+sx)*3+c])/127.5 - 1
			}
		}
	}
}

// TrainCategoryClassifier trains a classifier on data into dir (a run
// directory: classifier.json, config.json, metrics.jsonl with one line per
// epoch, train.log, checkpoints/), resuming from its newest checkpoint. Give
// it training images only: the held-out part it reports on is carved from
// them.
func TrainCategoryClassifier(ctx context.Context, be compute.Backend, data LabeledImages, c CategoryConfig, dir string, stderr io.Writer) (*CategoryClassifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := data.Validate(); err != nil {
		return nil, err
	}
	rd, err := rundir.Open(dir, stderr)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	if err := rd.WriteJSON("config.json", c); err != nil {
		return nil, err
	}
	m, err := newCategoryClassifier(be, c, data.ClassNames)
	if err != nil {
		return nil, err
	}
	m.Dir = dir
	s, classes := c.Size, len(data.ClassNames)
	small := imageops.ResizeAll(data.Images, data.N, data.H, data.W, s, s)
	train, held := splitHoldOut(data.Labels, classes, c.HoldOut, c.Seed)
	rd.Log.Info("category classifier", "classes", classes, "train", len(train), "held_out", len(held), "size", s, "epochs", c.Epochs, "batch", c.Batch)

	start := 0
	var resumed *nn.OptimizerState
	if path, ok := latestEpochCheckpoint(dir); ok {
		ck, err := rundir.LoadCheckpoint(path)
		if err != nil {
			return nil, err
		}
		if start, err = ck.MetaInt("epoch"); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := loadParams(m.params, ck.Params, path); err != nil {
			return nil, err
		}
		resumed = ck.Optimizer
		if err := rd.TruncateMetrics(start); err != nil {
			return nil, err
		}
		rd.Log.Info("resumed", "checkpoint", path, "epoch", start)
	}
	tr, err := nn.NewTrainer(be, m.params, nn.StepConfig{Opt: nn.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: c.WeightDecay}},
		func(v nn.Vars, in []*Node) (*Node, []*Node) {
			logits, _ := categoryForward(v, in[0])
			onehot := in[1] // [B, classes]
			return Neg(ReduceAllMean(ReduceSum(Mul(onehot, LogSoftmax(logits, -1)), -1))), nil
		})
	if err != nil {
		return nil, err
	}
	if resumed != nil {
		if err := tr.SetState(*resumed); err != nil {
			return nil, fmt.Errorf("category classifier %s: %w", dir, err)
		}
	}
	m.tensors = nn.ParamTensors(m.params)

	steps := (len(train) + c.Batch - 1) / c.Batch
	bar := progress.New(stderr, "category classifier", c.Epochs*steps)
	bar.Resume(start * steps)
	x := make([]float32, c.Batch*s*s*3)
	onehot := make([]float32, c.Batch*classes)
	for epoch := start; epoch < c.Epochs; epoch++ {
		// One generator per epoch, so a resumed run repeats an uninterrupted one.
		rng := rand.New(rand.NewPCG(c.Seed, uint64(epoch)))
		order := append([]int(nil), train...)
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		var lossSum float64
		for st := 0; st < steps; st++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("category classifier: %w", err)
			}
			clear(onehot)
			for k := 0; k < c.Batch; k++ {
				// The last batch wraps around to stay full-sized (one graph).
				i := order[(st*c.Batch+k)%len(order)]
				dst := x[k*s*s*3 : (k+1)*s*s*3]
				if c.Augment {
					augment(dst, small, i, s, rng)
				} else {
					copy(dst, categoryInput(small[i*s*s*3:(i+1)*s*s*3]))
				}
				onehot[k*classes+data.Labels[i]] = 1
			}
			r, err := tr.Step(c.LR, tensors.FromFlatDataAndDimensions(x, c.Batch, s, s, 3),
				tensors.FromFlatDataAndDimensions(onehot, c.Batch, classes))
			if err != nil {
				return nil, err
			}
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				return nil, fmt.Errorf("category classifier: loss is %v at epoch %d step %d", r.Loss, epoch+1, st)
			}
			lossSum += r.Loss
			bar.Update((epoch)*steps+st+1, fmt.Sprintf("epoch %d loss %.4f", epoch+1, r.Loss))
		}
		tr.Sync()
		m.tensors = nn.ParamTensors(m.params)
		rec := map[string]any{"epoch": epoch + 1, "loss": lossSum / float64(steps)}
		if len(held) > 0 {
			acc, err := m.accuracy(ctx, small, data.Labels, held)
			if err != nil {
				return nil, err
			}
			rec["held_out_accuracy"] = acc
			m.HeldOutAccuracy = acc
		}
		if err := rd.AppendMetrics(rec); err != nil {
			return nil, err
		}
		st := tr.State()
		if err := rd.SaveCheckpoint(fmt.Sprintf("epoch-%04d", epoch+1), m.params, &st, map[string]string{"epoch": strconv.Itoa(epoch + 1)}, 1); err != nil {
			return nil, err
		}
	}
	if len(held) > 0 && math.IsNaN(m.HeldOutAccuracy) { // resumed after the last epoch
		if m.HeldOutAccuracy, err = m.accuracy(ctx, small, data.Labels, held); err != nil {
			return nil, err
		}
	}
	bar.Finish(fmt.Sprintf("held-out accuracy %.3f", m.HeldOutAccuracy))
	if err := rd.SaveCheckpoint("final", m.params, nil, map[string]string{"epoch": strconv.Itoa(c.Epochs)}, 0); err != nil {
		return nil, err
	}
	rec := categoryRecord{Kind: categoryKind, Config: c, Classes: data.ClassNames, TrainImages: len(train), HeldOutImages: len(held), Source: data.Source}
	if !math.IsNaN(m.HeldOutAccuracy) {
		rec.HeldOutAccuracy = &m.HeldOutAccuracy
	}
	if err := rd.WriteJSON("classifier.json", rec); err != nil {
		return nil, err
	}
	rd.Log.Info("category classifier trained", "held_out_accuracy", m.HeldOutAccuracy)
	return m, nil
}

// accuracy is the top-1 accuracy on the images idx of small.
func (m *CategoryClassifier) accuracy(ctx context.Context, small []uint8, labels, idx []int) (float64, error) {
	s := m.Config.Size
	imgs := make([]uint8, 0, len(idx)*s*s*3)
	for _, i := range idx {
		imgs = append(imgs, small[i*s*s*3:(i+1)*s*s*3]...)
	}
	probs, _, err := m.Classify(ctx, imgs, len(idx), s, s)
	if err != nil {
		return 0, err
	}
	ok := 0
	for k, p := range probs {
		if Argmax(p) == labels[idx[k]] {
			ok++
		}
	}
	return float64(ok) / float64(len(idx)), nil
}

// latestEpochCheckpoint is the newest checkpoints/epoch-NNNN.safetensors:
// it carries the optimizer moments, which "final" (what "latest" names once
// training ends) does not, so training longer resumes exactly.
func latestEpochCheckpoint(dir string) (string, bool) {
	m, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "epoch-*.safetensors"))
	if len(m) == 0 {
		return "", false
	}
	sort.Strings(m) // zero-padded epoch numbers
	return m[len(m)-1], true
}

// IsCategoryClassifierDir reports whether dir holds a trained classifier.
func IsCategoryClassifierDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "classifier.json"))
	if err != nil {
		return false
	}
	var rec categoryRecord
	return json.Unmarshal(b, &rec) == nil && rec.Kind == categoryKind
}
