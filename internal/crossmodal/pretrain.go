package crossmodal

import (
	"context"
	"fmt"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// imageExtras names the extra outputs of an image pre-training step.
var imageExtras = []string{"image_corr", "image_corr_masked"}

// imageObjective is the image MAE's own pre-training objective: encode the
// kept patches (no cross modules), decode, masked pixel MSE. in holds
// pixel_values [B, 3, S, S] and the keep selection [B, K, L].
func imageObjective(v nn.Vars, c ImageConfig, in []*Node) (loss *Node, extras []*Node) {
	pixels, keep := in[0], in[1]
	logits := ImageDecode(v, c, ImageEncode(v, c, pixels, keep, nil), keep)
	removed := OneMinus(ReduceSum(keep, 1))
	all, masked := imageCorrs(c, pixels, logits, removed)
	return ImageLoss(c, pixels, logits, removed), []*Node{all, masked}
}

func imageInputs(rng *rand.Rand, c ImageConfig, p Pairs, rows []int) ([]*tensors.Tensor, error) {
	img := p.Size * p.Size * 3
	pix := make([]uint8, 0, len(rows)*img)
	for _, r := range rows {
		pix = append(pix, p.Images[r*img:(r+1)*img]...)
	}
	m, err := fmrimae.RandomMask(rng, len(rows), c.NumPatches(), c.MaskRatio)
	if err != nil {
		return nil, err
	}
	return []*tensors.Tensor{Normalize(pix, len(rows), p.Size), m.KeepTensor()}, nil
}

// imagePretrainRun is what an image pre-training run's config.json holds.
type imagePretrainRun struct {
	Image    ImageConfig         `json:"image"`
	Pretrain ImagePretrainConfig `json:"pretrain"`
	Seed     uint64              `json:"seed"`
}

// PretrainImage trains an image MAE (without cross modules) on the images of
// train with its masked pixel MSE at c.MaskRatio, validating on val's
// images, in opt.RunDir (config.json, metrics.jsonl, checkpoints; resumable
// like Align). It returns the trained parameters (Hugging Face names).
//
// This stands in for facebook/vit-mae-base, which the reference loads
// pre-trained on ImageNet and then freezes (cad-spec §3.1): without those
// weights (they cannot be downloaded here) visdec learns an image encoder
// from the stimulus images alone, which is far weaker. A finished run is
// reused as it is.
func PretrainImage(ctx context.Context, c ImageConfig, p ImagePretrainConfig, seed uint64, train, val Pairs, opt Options) (*nn.Params, Result, error) {
	if err := c.Validate(); err != nil {
		return nil, Result{}, err
	}
	if train.N < 1 || train.Size != c.ImageSize {
		return nil, Result{}, fmt.Errorf("image pre-training needs images of %d pixels, got %d images of %d", c.ImageSize, train.N, train.Size)
	}
	dir, err := rundir.Open(opt.RunDir, opt.Stderr)
	if err != nil {
		return nil, Result{}, err
	}
	defer dir.Close()
	run := imagePretrainRun{Image: c, Pretrain: p, Seed: seed}
	ps := nn.NewParams()
	DeclareImageMAE(nn.NewInit(ps, seed^streamInit), c, false)
	_, hasCkpt := rundir.Latest(opt.RunDir)
	switch {
	case hasCkpt && !opt.Resume:
		return nil, Result{}, fmt.Errorf("%s already holds checkpoints: pass --resume to continue it, or choose a new run directory", opt.RunDir)
	case hasCkpt:
		if err := checkSavedConfig(opt.RunDir, run); err != nil {
			return nil, Result{}, err
		}
	default:
		if err := dir.WriteJSON("config.json", map[string]any{"stage": "image-pretrain", "config": run}); err != nil {
			return nil, Result{}, err
		}
	}
	tr, err := nn.NewTrainer(opt.Backend, ps, nn.StepConfig{
		Opt: nn.AdamW{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: p.WeightDecay},
	}, func(v nn.Vars, in []*Node) (*Node, []*Node) { return imageObjective(v, c, in) })
	if err != nil {
		return nil, Result{}, err
	}
	lr := func(e float64) float64 { return nn.WarmupCosine(p.LR, 0, p.WarmupEpochs, float64(p.Epochs), e) }
	l := &loop{stage: "image-pretrain", dir: dir, runDir: opt.RunDir, ps: ps, tr: tr,
		n: train.N, batch: p.BatchSize, epochs: p.Epochs, seed: seed, lr: lr,
		inputs: func(rng *rand.Rand, rows []int) ([]*tensors.Tensor, error) { return imageInputs(rng, c, train, rows) },
		extras: imageExtras, checkpointEvery: 1, keep: 1, stderr: opt.Stderr, afterStep: opt.AfterStep}
	if val.N > 0 {
		fwd, err := nn.NewForward(opt.Backend, ps.Names(), func(v nn.Vars, in []*Node) []*Node {
			loss, extras := imageObjective(v, c, in)
			return append([]*Node{loss}, extras...)
		})
		if err != nil {
			return nil, Result{}, err
		}
		ev := &evaluator{fwd: fwd, names: append([]string{"loss"}, imageExtras...), n: val.N, batch: p.BatchSize, seed: seed,
			inputs: func(rng *rand.Rand, rows []int) ([]*tensors.Tensor, error) { return imageInputs(rng, c, val, rows) }}
		l.validate = func() (map[string]float64, error) { return ev.run(tr.Tensors()) }
	}
	pos, resumed, err := l.resumePosition()
	if err != nil {
		return nil, Result{}, err
	}
	total, _ := ps.Count()
	dir.Log.Info("image MAE pre-training (stands in for facebook/vit-mae-base)", "params", total,
		"images", train.N, "val_images", val.N, "image_size", c.ImageSize, "patches", c.NumPatches(),
		"mask_ratio", c.MaskRatio, "epochs", p.Epochs, "batch", p.BatchSize, "lr", p.LR)
	r, err := l.run(ctx, pos, !resumed)
	res := Result{Epochs: r.pos.Epoch, Steps: r.pos.Step, Metrics: r.last, Checkpoint: r.checkpoint}
	if err != nil {
		return nil, res, err
	}
	tr.Sync()
	return ps, res, nil
}
