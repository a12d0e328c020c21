package crossmodal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// StepConfig is Phase 2's optimizer step: torch AdamW (eps 1e-8) with the
// config's betas and weight decay (none on 1-D parameters and biases,
// phase2_finetune_cross.py:102-115), and global-norm clipping at ClipGrad
// separately for the fMRI and the image model (trainer.py:20-23).
func StepConfig(c Config) nn.StepConfig {
	return nn.StepConfig{
		Opt:      nn.AdamW{Beta1: c.Beta1, Beta2: c.Beta2, Eps: 1e-8, WeightDecay: c.WeightDecay},
		ClipNorm: c.ClipGrad,
		ClipGroups: []func(string) bool{
			func(name string) bool { return strings.HasPrefix(name, fmriPrefix) },
			func(name string) bool { return strings.HasPrefix(name, imagePrefix) },
		},
	}
}

// LearningRate is the per-iteration schedule at fractional epoch e: linear
// warm-up, then a half-cycle cosine (sc_mbm/utils.py:71-83).
func (c Config) LearningRate(e float64) float64 {
	return nn.WarmupCosine(c.LR, c.MinLR, c.WarmupEpochs, float64(c.Epochs), e)
}

// Start says where the two models' weights come from when a run starts
// afresh (a resumed run reads everything from its checkpoint).
type Start struct {
	// FMRI is the fMRI model's state dict with reference names: a Phase-1
	// model (its decoder blocks beyond Config.FMRI.DecoderDepth are dropped
	// and the cross modules keep their initialisation, as
	// phase2_finetune_cross.py:197-198 does) or a Phase-2 MAEforFMRICross
	// (cross modules included).
	FMRI map[string]nn.Tensor
	// Image is the image MAE's state dict with Hugging Face names
	// (facebook/vit-mae-base, or an image MAE pre-trained by visdec); its
	// cross modules keep their initialisation unless present. nil
	// pre-trains one on the training images first (Config.ImagePretrain).
	Image map[string]nn.Tensor
}

// Result summarises an alignment run.
type Result struct {
	Epochs, Steps int
	// Metrics is the last epoch's metrics line (train_*, val_*).
	Metrics map[string]any
	// Checkpoint is the final checkpoint; Best the best-on-validation one
	// ("" unless Select is "val"), from epoch BestEpoch.
	Checkpoint, Best string
	BestEpoch        int
}

// alignExtras names the extra outputs of a step (and of validation).
var alignExtras = []string{"fmri_loss", "image_loss", "fmri_corr", "image_corr", "image_corr_masked"}

func (t Terms) extras() []*Node {
	return []*Node{t.FMRILoss, t.ImageLoss, t.FMRICorr, t.ImageCorr, t.ImageCorrMasked}
}

// alignInputs are the step inputs for the pairs rows: fMRI [b, V],
// pixel_values [b, 3, S, S] and the four masks, drawn in the order the
// reference draws its noise (image support, fMRI, fMRI support, image).
func StepInputs(rng *rand.Rand, c Config, p Pairs, rows []int) ([]*tensors.Tensor, error) {
	b, img := len(rows), p.Size*p.Size*3
	x := make([]float32, 0, b*p.V)
	pix := make([]uint8, 0, b*img)
	for _, r := range rows {
		x = append(x, p.FMRI[r*p.V:(r+1)*p.V]...)
		pix = append(pix, p.Images[r*img:(r+1)*img]...)
	}
	in := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, b, p.V), Normalize(pix, b, p.Size)}
	lf, li := c.FMRI.NumPatches(), c.Image.NumPatches()
	for _, m := range []struct {
		l     int
		ratio float64
	}{{li, 0}, {lf, c.FMRI.MaskRatio}, {lf, 0}, {li, c.ImageMaskRatio}} {
		mask, err := fmrimae.RandomMask(rng, b, m.l, m.ratio)
		if err != nil {
			return nil, err
		}
		in = append(in, mask.KeepTensor())
	}
	return in, nil
}

// alignObjective is Objective over the step inputs of alignInputs.
func alignObjective(v nn.Vars, c Config, in []*Node) Terms {
	return Objective(v, c, in[0], in[1], in[2], in[3], in[4], in[5])
}

// evaluator runs a compiled inference graph of an objective over a data
// set in batches, with masks drawn from the seed alone (so every epoch's
// validation sees the same masks), and averages its outputs weighted by
// batch size.
type evaluator struct {
	fwd    *nn.Forward
	names  []string // the outputs: "loss", then the extras
	n      int
	batch  int
	seed   uint64
	inputs func(rng *rand.Rand, rows []int) ([]*tensors.Tensor, error)
}

func (e *evaluator) run(params []*tensors.Tensor) (map[string]float64, error) {
	sums := make([]float64, len(e.names))
	for lo, i := 0, 0; lo < e.n; lo, i = lo+e.batch, i+1 {
		rows := make([]int, 0, e.batch)
		for r := lo; r < min(lo+e.batch, e.n); r++ {
			rows = append(rows, r)
		}
		in, err := e.inputs(newRNG(e.seed, streamVal+uint64(i)), rows)
		if err != nil {
			return nil, err
		}
		args := make([]any, len(in))
		for j, t := range in {
			args[j] = t
		}
		outs, err := e.fwd.Run(params, args...)
		if err != nil {
			return nil, err
		}
		for j, x := range nn.Scalars(outs) {
			sums[j] += x * float64(len(rows))
		}
	}
	m := map[string]float64{}
	for j, name := range e.names {
		m[name] = sums[j] / float64(e.n)
	}
	return m, nil
}

// Align runs Phase 2 (cross-modal guidance): the fMRI MAE and the image MAE
// joined by cross-attention, trained on the (fMRI, image) pairs with
// FMRIWeight·L_fMRI + ImageWeight·L_image, the image encoder frozen
// (train_one_epoch_cross, trainer.py:64-156). A seeded ValFraction of the
// pairs is held out and evaluated after every epoch; the test set is never
// seen. When start.Image is nil, an image MAE is first pre-trained on the
// training images in RUN/image_mae (PretrainImage).
//
// It writes config.json, metrics.jsonl, train.log, checkpoints ("final";
// "best" with Select "val"; periodic ones to resume from) and
// reconstructions.png (WriteReconstructions, validation pairs) to
// opt.RunDir. On a non-finite loss it stops with an error and keeps the last
// good checkpoint; when ctx is cancelled it saves a checkpoint and returns
// an error wrapping ctx.Err(). Resuming (opt.Resume) continues bit-for-bit
// on the same backend.
func Align(ctx context.Context, cfg Config, start Start, pairs Pairs, opt Options) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("configuration: %w", err)
	}
	if pairs.V != cfg.FMRI.NumVoxels || pairs.Size != cfg.Image.ImageSize {
		return Result{}, fmt.Errorf("pairs have %d voxels and %d-pixel images; the models want %d and %d",
			pairs.V, pairs.Size, cfg.FMRI.NumVoxels, cfg.Image.ImageSize)
	}
	if pairs.N < 1 {
		return Result{}, fmt.Errorf("no training pairs")
	}
	dir, err := rundir.Open(opt.RunDir, opt.Stderr)
	if err != nil {
		return Result{}, err
	}
	defer dir.Close()
	log := dir.Log
	train, val := pairs.Holdout(cfg.ValFraction, cfg.Seed)

	ps := nn.NewParams()
	DeclareAlign(nn.NewInit(ps, cfg.Seed), cfg)
	saved := map[string]any{"stage": "align", "config": cfg, "train_pairs": train.N, "val_pairs": val.N}
	if val.StimulusID != nil {
		saved["val_stimulus_ids"] = val.StimulusID
	}
	for k, v := range opt.Extra {
		saved[k] = v
	}
	_, hasCkpt := rundir.Latest(opt.RunDir)
	switch {
	case hasCkpt && !opt.Resume:
		return Result{}, fmt.Errorf("%s already holds checkpoints: pass --resume to continue it, or choose a new run directory", opt.RunDir)
	case hasCkpt:
		if err := checkSavedConfig(opt.RunDir, cfg); err != nil {
			return Result{}, err
		}
	default:
		if err := initWeights(ctx, cfg, start, train, val, ps, opt, log); err != nil {
			return Result{}, err
		}
		if err := dir.WriteJSON("config.json", saved); err != nil {
			return Result{}, err
		}
	}

	tr, err := nn.NewTrainer(opt.Backend, ps, StepConfig(cfg), func(v nn.Vars, in []*Node) (*Node, []*Node) {
		t := alignObjective(v, cfg, in)
		return t.Total, t.extras()
	})
	if err != nil {
		return Result{}, err
	}
	l := &loop{stage: "align", dir: dir, runDir: opt.RunDir, ps: ps, tr: tr,
		n: train.N, batch: cfg.BatchSize, epochs: cfg.Epochs, seed: cfg.Seed, lr: cfg.LearningRate,
		inputs: func(rng *rand.Rand, rows []int) ([]*tensors.Tensor, error) { return StepInputs(rng, cfg, train, rows) },
		extras: alignExtras, checkpointEvery: cfg.CheckpointEvery, keep: cfg.KeepCheckpoints,
		stderr: opt.Stderr, afterStep: opt.AfterStep}
	if val.N > 0 {
		ev, err := newAlignEvaluator(opt.Backend, ps, cfg, val)
		if err != nil {
			return Result{}, err
		}
		l.validate = func() (map[string]float64, error) { return ev.run(tr.Tensors()) }
		if cfg.Select == "val" {
			l.selectKey = "loss"
		}
	}
	pos, resumed, err := l.resumePosition()
	if err != nil {
		return Result{}, err
	}

	total, trainable := ps.Count()
	log.Info("phase 2 alignment",
		"params", total, "trainable", trainable, "train_pairs", train.N, "val_pairs", val.N,
		"voxels", cfg.FMRI.NumVoxels, "fmri_tokens", cfg.FMRI.NumPatches(), "fmri_kept", cfg.FMRI.LenKeep(),
		"image_size", cfg.Image.ImageSize, "image_tokens", cfg.Image.NumPatches(),
		"image_kept", fmrimae.LenKeep(cfg.Image.NumPatches(), cfg.ImageMaskRatio),
		"batch", cfg.BatchSize, "steps_per_epoch", (train.N+cfg.BatchSize-1)/cfg.BatchSize, "epochs", cfg.Epochs,
		"lr", cfg.LR, "warmup", cfg.WarmupEpochs, "weights", fmt.Sprintf("fmri %g image %g", cfg.FMRIWeight, cfg.ImageWeight))
	r, err := l.run(ctx, pos, !resumed)
	res := Result{Epochs: r.pos.Epoch, Steps: r.pos.Step, Metrics: r.last, Checkpoint: r.checkpoint, BestEpoch: r.pos.BestEpoch}
	if err != nil {
		return res, err
	}
	if r.pos.BestEpoch > 0 {
		res.Best = filepath.Join(opt.RunDir, "checkpoints", "best.safetensors")
	}
	shown := val
	if shown.N == 0 {
		shown = train
	}
	fig := filepath.Join(opt.RunDir, "reconstructions.png")
	if err := WriteReconstructions(fig, opt.Backend, ps, tr.Tensors(), cfg, shown, 8, cfg.Seed); err != nil {
		return res, fmt.Errorf("reconstruction figure: %w", err)
	}
	log.Info("phase 2 finished", "checkpoint", res.Checkpoint, "best", res.Best, "best_epoch", res.BestEpoch)
	return res, nil
}

// newAlignEvaluator compiles the objective for validation on val.
func newAlignEvaluator(backend compute.Backend, ps *nn.Params, cfg Config, val Pairs) (*evaluator, error) {
	fwd, err := nn.NewForward(backend, ps.Names(), func(v nn.Vars, in []*Node) []*Node {
		t := alignObjective(v, cfg, in)
		return append([]*Node{t.Total}, t.extras()...)
	})
	if err != nil {
		return nil, err
	}
	return &evaluator{fwd: fwd, names: append([]string{"loss"}, alignExtras...), n: val.N, batch: cfg.BatchSize, seed: cfg.Seed,
		inputs: func(rng *rand.Rand, rows []int) ([]*tensors.Tensor, error) { return StepInputs(rng, cfg, val, rows) }}, nil
}

// initWeights fills a fresh run's parameters: the fMRI model from
// start.FMRI, the image MAE from start.Image or from an image pre-training
// in RUN/image_mae.
func initWeights(ctx context.Context, cfg Config, start Start, train, val Pairs, ps *nn.Params, opt Options, log *slog.Logger) error {
	if start.FMRI == nil {
		return fmt.Errorf("no initial fMRI weights (a Phase-1 run or checkpoint)")
	}
	fr, err := fmrimae.ImportWeights(subParams(ps, fmriPrefix), start.FMRI, cfg.FMRI)
	if err != nil {
		return fmt.Errorf("initial fMRI weights: %w", err)
	}
	if bad := notIn(fr.Missing, "cross_blocks.", "cross_map_in.", "cross_map_out."); len(bad) > 0 {
		return fmt.Errorf("initial fMRI weights lack %v (a Phase-1 or Phase-2 fMRI MAE of this architecture is needed)", bad)
	}
	log.Info("fMRI weights loaded", "loaded", len(fr.Loaded), "kept_init", fr.Missing, "ignored", fr.Unexpected)

	image := start.Image
	if image == nil {
		if cfg.ImagePretrain.Epochs == 0 {
			return fmt.Errorf("no image MAE weights, and image pre-training is off (give vit-mae-base weights or some pre-training epochs)")
		}
		ips, _, err := PretrainImage(ctx, cfg.Image, cfg.ImagePretrain, cfg.Seed, train, val,
			Options{RunDir: filepath.Join(opt.RunDir, "image_mae"), Backend: opt.Backend, Resume: opt.Resume, Stderr: opt.Stderr})
		if err != nil {
			return fmt.Errorf("image MAE pre-training: %w", err)
		}
		image = ips.StateDict()
	}
	ir, err := subParams(ps, imagePrefix).Load(image)
	if err != nil {
		return fmt.Errorf("initial image MAE weights: %w", err)
	}
	if bad := notIn(ir.Missing, "vit.encoder.cross_map_in.", "vit.encoder.layer_cross."); len(bad) > 0 {
		return fmt.Errorf("initial image MAE weights lack %v", bad)
	}
	log.Info("image MAE weights loaded", "loaded", len(ir.Loaded), "kept_init", ir.Missing, "ignored", ir.Unexpected)
	return nil
}

// subParams is the view of the parameters under prefix, with the prefix
// removed, sharing their values.
func subParams(ps *nn.Params, prefix string) *nn.Params {
	out := nn.NewParams()
	for _, p := range ps.List() {
		if name, ok := strings.CutPrefix(p.Name, prefix); ok {
			q := out.Add(name, p.Shape, p.Data)
			q.Frozen, q.NoDecay = p.Frozen, p.NoDecay
		}
	}
	return out
}

// notIn lists the names that start with none of the prefixes.
func notIn(names []string, prefixes ...string) []string {
	var out []string
	for _, n := range names {
		ok := false
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(n, p)
		}
		if !ok {
			out = append(out, n)
		}
	}
	return out
}

// checkSavedConfig refuses to resume a run with a different configuration.
func checkSavedConfig(runDir string, cfg any) error {
	var saved struct {
		Config json.RawMessage `json:"config"`
	}
	if err := rundir.ReadJSON(runDir, "config.json", &saved); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s has checkpoints but no config.json", runDir)
		}
		return err
	}
	given, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var a, b bytes.Buffer
	if err := json.Compact(&a, saved.Config); err != nil {
		return err
	}
	if err := json.Compact(&b, given); err != nil {
		return err
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		return fmt.Errorf("the configuration differs from %s:\n  saved %s\n  given %s",
			filepath.Join(runDir, "config.json"), a.Bytes(), b.Bytes())
	}
	return nil
}
