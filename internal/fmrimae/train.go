package fmrimae

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/stats"
)

// TrainConfig holds every setting of a phase-1 run. DefaultTrainConfig gives
// the paper's values (vis_dec code/config.py:55-117 and the README command;
// cad-spec §2.5).
type TrainConfig struct {
	Preset      string      `json:"preset,omitempty"` // model preset the sizes came from (informational)
	Model       Config      `json:"model"`
	LossPreset  string      `json:"loss_preset,omitempty"` // cad, cad-literal, mindvis (informational)
	Loss        LossWeights `json:"loss"`
	Epochs      int         `json:"epochs"`       // paper README: 140 (config.py: 500)
	Warmup      float64     `json:"warmup"`       // warm-up epochs (paper: 40)
	BatchSize   int         `json:"batch_size"`   // paper README: 250 per GPU (config.py: 100)
	LR          float64     `json:"lr"`           // peak learning rate, not batch-scaled (paper: 2.5e-4)
	MinLR       float64     `json:"min_lr"`       // end of the cosine (paper: 0)
	Beta1       float64     `json:"beta1"`        // AdamW (paper: 0.9)
	Beta2       float64     `json:"beta2"`        // AdamW (paper: 0.95)
	Eps         float64     `json:"eps"`          // AdamW (torch default: 1e-8)
	WeightDecay float64     `json:"weight_decay"` // decoupled, not for 1-D params and biases (paper: 0.05)
	ClipGrad    float64     `json:"clip_grad"`    // global gradient-norm clip (paper: 0.8; 0 = off)
	Seed        uint64      `json:"seed"`         // initialisation, shuffling, masks, holdout (paper: 2022)
	// ValFraction is the share of the data held out for validation metrics
	// (whole subjects when there are several). The reference has none.
	ValFraction float64 `json:"val_fraction"`
	// CheckpointEvery saves a checkpoint every this many epochs (paper: 20),
	// besides the final one; KeepCheckpoints keeps the newest this many
	// periodic ones (0 keeps all).
	CheckpointEvery int `json:"checkpoint_every"`
	KeepCheckpoints int `json:"keep_checkpoints"`
}

// DefaultTrainConfig is the paper's phase-1 training with the cad objective.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Preset: "paper", Model: PaperConfig(),
		LossPreset: "cad", Loss: LossPresets["cad"],
		Epochs: 140, Warmup: 40, BatchSize: 250,
		LR: 2.5e-4, MinLR: 0, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.05, ClipGrad: 0.8,
		Seed: 2022, ValFraction: 0.05, CheckpointEvery: 20, KeepCheckpoints: 2,
	}
}

// Validate reports every problem of the configuration.
func (c TrainConfig) Validate() error {
	errs := []error{c.Model.Validate(), c.Loss.Validate()}
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Epochs < 1 {
		bad("epochs %d must be at least 1", c.Epochs)
	}
	if c.Warmup < 0 {
		bad("warmup %g must not be negative", c.Warmup)
	}
	if c.BatchSize < 1 {
		bad("batch size %d must be at least 1", c.BatchSize)
	}
	if !(c.LR > 0) || !(c.MinLR >= 0) || c.MinLR > c.LR {
		bad("learning rates lr %g, min_lr %g: want 0 ≤ min_lr ≤ lr, lr > 0", c.LR, c.MinLR)
	}
	if !(c.Beta1 >= 0 && c.Beta1 < 1) || !(c.Beta2 >= 0 && c.Beta2 < 1) || !(c.Eps > 0) {
		bad("AdamW betas (%g, %g) must be in [0, 1) and eps %g positive", c.Beta1, c.Beta2, c.Eps)
	}
	if !(c.WeightDecay >= 0) || !(c.ClipGrad >= 0) {
		bad("weight decay %g and clip %g must not be negative", c.WeightDecay, c.ClipGrad)
	}
	if !(c.ValFraction >= 0 && c.ValFraction < 1) {
		bad("validation fraction %g must be in [0, 1)", c.ValFraction)
	}
	if c.CheckpointEvery < 0 || c.KeepCheckpoints < 0 {
		bad("checkpoint_every %d and keep_checkpoints %d must not be negative", c.CheckpointEvery, c.KeepCheckpoints)
	}
	return errors.Join(errs...)
}

// LearningRate is the reference's per-iteration schedule at fractional epoch
// e (sc_mbm/utils.py:71-83).
func (c TrainConfig) LearningRate(e float64) float64 {
	return nn.WarmupCosine(c.LR, c.MinLR, c.Warmup, float64(c.Epochs), e)
}

// Options are the run-time choices of Train that are not part of the
// experiment's configuration.
type Options struct {
	RunDir  string
	Backend compute.Backend
	// Resume continues from the run directory's newest checkpoint.
	Resume bool
	// Init holds starting weights (visdec pretrain --init-from), imported
	// with ImportWeights; ignored when resuming.
	Init map[string]nn.Tensor
	// Stderr receives the log and the progress bar (nil: the log goes to
	// RUN/train.log only, no bar).
	Stderr io.Writer
	// AfterStep, if set, runs after every optimizer step with the global
	// step count. A returned error stops training at once without a
	// checkpoint, as a crash would (tests use it to kill a run).
	AfterStep func(step int) error
	// Extra is stored in config.json beside the configuration (data
	// sources, held-out subjects, ...).
	Extra map[string]any
}

// Result summarises a finished (or resumed-to-finish) run.
type Result struct {
	Epochs     int     // completed epochs
	Steps      int     // optimizer steps
	Loss       float64 // mean training loss of the last epoch
	ValMask    float64 // held-out masked loss after the last epoch (NaN without validation)
	ValCorr    float64 // held-out reconstruction correlation (NaN without validation)
	Checkpoint string  // path of the final checkpoint
}

// RNG streams: every random draw is a pure function of (seed, stream,
// counter), so a resumed run draws exactly the batches and masks of an
// uninterrupted one without storing generator state.
const (
	streamHoldout = 1
	streamShuffle = 2 << 32 // + epoch
	streamMask    = 3 << 32 // + global step
	streamVal     = 4 << 32
)

func newRNG(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// epochPermutation is the shuffled order of n training rows in epoch e.
func epochPermutation(seed uint64, epoch, n int) []int {
	return newRNG(seed, streamShuffle+uint64(epoch)).Perm(n)
}

// position is where training stands: completed epochs plus steps into the
// current epoch, and the running sums of its metrics.
type position struct {
	Epoch, StepInEpoch, Step int
	Sums                     epochSums
	TrainN                   int // training rows, which fix the batches
}

// epochSums accumulates one epoch's step metrics.
type epochSums struct {
	Steps, Samples                 int
	Loss, Mask, SC, CC, Corr, Secs float64
}

func (s *epochSums) add(loss float64, extras []float64, samples int, secs float64) {
	s.Steps++
	s.Samples += samples
	s.Loss += loss
	s.Mask += extras[0]
	s.SC += extras[1]
	s.CC += extras[2]
	s.Corr += extras[3]
	s.Secs += secs
}

// Train runs phase 1 on train (validating on val after every epoch when it
// has rows), writing config.json, metrics.jsonl, train.log and checkpoints
// to opt.RunDir. On a non-finite loss it stops with an error and keeps the
// last good checkpoint; when ctx is cancelled it saves a checkpoint and
// returns an error wrapping ctx.Err().
func Train(ctx context.Context, cfg TrainConfig, train, val Samples, opt Options) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("configuration: %w", err)
	}
	if train.V != cfg.Model.NumVoxels || (val.N > 0 && val.V != cfg.Model.NumVoxels) {
		return Result{}, fmt.Errorf("data has %d voxels, the model %d", train.V, cfg.Model.NumVoxels)
	}
	if train.N == 0 {
		return Result{}, fmt.Errorf("no training samples")
	}
	dir, err := rundir.Open(opt.RunDir, opt.Stderr)
	if err != nil {
		return Result{}, err
	}
	defer dir.Close()
	log := dir.Log

	ps := nn.NewParams()
	Declare(nn.NewInit(ps, cfg.Seed), cfg.Model)
	var pos position
	var resumed *rundir.Checkpoint
	latest, hasCkpt := rundir.Latest(opt.RunDir)
	switch {
	case opt.Resume && hasCkpt:
		if err := checkSavedConfig(opt.RunDir, cfg); err != nil {
			return Result{}, err
		}
		if resumed, err = rundir.LoadCheckpoint(latest); err != nil {
			return Result{}, err
		}
		if resumed.Optimizer == nil {
			return Result{}, fmt.Errorf("%s: no optimizer state to resume from", latest)
		}
		if err := loadExact(ps, resumed.Params, latest); err != nil {
			return Result{}, err
		}
		if err := json.Unmarshal([]byte(resumed.Meta["position"]), &pos); err != nil {
			return Result{}, fmt.Errorf("%s: bad position metadata: %w", latest, err)
		}
		if pos.TrainN != train.N {
			return Result{}, fmt.Errorf("%s was trained on %d samples, the data given now has %d: resume with the run's data", latest, pos.TrainN, train.N)
		}
		if pos.Epoch >= cfg.Epochs {
			log.Info("the run has already finished", "checkpoint", latest)
			return finishedResult(opt.RunDir, pos, latest)
		}
		log.Info("resuming", "checkpoint", latest, "epoch", pos.Epoch, "step", pos.Step)
	case hasCkpt:
		return Result{}, fmt.Errorf("%s already holds checkpoints: pass --resume to continue it, or choose a new run directory", opt.RunDir)
	default:
		if opt.Resume {
			log.Info("no checkpoint to resume from; starting afresh", "run", opt.RunDir)
		}
		if opt.Init != nil {
			r, err := ImportWeights(ps, opt.Init, cfg.Model)
			if err != nil {
				return Result{}, fmt.Errorf("initial weights: %w", err)
			}
			if len(r.Loaded) == 0 {
				return Result{}, fmt.Errorf("initial weights: no parameter name matches the model (unexpected: %v)", r.Unexpected)
			}
			log.Info("initial weights loaded", "loaded", len(r.Loaded), "missing", r.Missing, "unexpected", r.Unexpected)
		}
		saved := map[string]any{"stage": "pretrain", "config": cfg}
		for k, v := range opt.Extra {
			saved[k] = v
		}
		if err := dir.WriteJSON("config.json", saved); err != nil {
			return Result{}, err
		}
		if err := dir.TruncateMetrics(0); err != nil { // lines of an earlier attempt that never checkpointed
			return Result{}, err
		}
	}

	tr, err := nn.NewTrainer(opt.Backend, ps, nn.StepConfig{
		Opt:      nn.AdamW{Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps, WeightDecay: cfg.WeightDecay},
		ClipNorm: cfg.ClipGrad,
	}, func(v nn.Vars, in []*Node) (*Node, []*Node) {
		var keepB *Node
		if len(in) > 2 {
			keepB = in[2]
		}
		t := Objective(v, cfg.Model, cfg.Loss, in[0], in[1], keepB)
		return t.Total, termExtras(t)
	})
	if err != nil {
		return Result{}, err
	}
	if resumed != nil {
		if err := tr.SetState(*resumed.Optimizer); err != nil {
			return Result{}, fmt.Errorf("%s: %w", latest, err)
		}
		if err := dir.TruncateMetrics(pos.Epoch); err != nil {
			return Result{}, err
		}
	}
	ev, err := NewEvaluator(opt.Backend, ps, cfg.Model, cfg.Loss)
	if err != nil {
		return Result{}, err
	}

	total, trainable := ps.Count()
	stepsPerEpoch := (train.N + cfg.BatchSize - 1) / cfg.BatchSize
	log.Info("phase 1 pre-training",
		"params", total, "trainable", trainable, "train_samples", train.N, "val_samples", val.N,
		"voxels", cfg.Model.NumVoxels, "tokens", cfg.Model.NumPatches(), "kept", cfg.Model.LenKeep(),
		"batch", cfg.BatchSize, "steps_per_epoch", stepsPerEpoch, "epochs", cfg.Epochs,
		"lr", cfg.LR, "warmup", cfg.Warmup, "loss", fmt.Sprintf("%+v", cfg.Loss))

	var bar *progress.Bar
	if opt.Stderr != nil {
		bar = progress.New(opt.Stderr, "pretrain", cfg.Epochs*stepsPerEpoch)
		bar.Resume(pos.Step)
	}
	save := func(name string) (string, error) {
		tr.Sync()
		if err := ps.CheckFinite(); err != nil {
			return "", fmt.Errorf("not saving checkpoint %s: %w", name, err)
		}
		b, _ := json.Marshal(pos)
		st := tr.State()
		meta := map[string]string{"stage": "pretrain", "position": string(b),
			"epoch": strconv.Itoa(pos.Epoch), "step": strconv.Itoa(pos.Step)}
		keep := cfg.KeepCheckpoints
		if err := dir.SaveCheckpoint(name, ps, &st, meta, keep); err != nil {
			return "", err
		}
		return filepath.Join(opt.RunDir, "checkpoints", name+".safetensors"), nil
	}

	pos.TrainN = train.N
	x := make([]float32, cfg.BatchSize*train.V)
	var res Result
	res.ValMask, res.ValCorr = math.NaN(), math.NaN()
	for pos.Epoch < cfg.Epochs {
		perm := epochPermutation(cfg.Seed, pos.Epoch, train.N)
		for pos.StepInEpoch < stepsPerEpoch {
			if err := ctx.Err(); err != nil {
				path, serr := save(fmt.Sprintf("epoch-%04d-step-%06d", pos.Epoch, pos.StepInEpoch))
				if serr != nil {
					return res, fmt.Errorf("interrupted (%w), and the checkpoint failed: %v", err, serr)
				}
				log.Info("interrupted; checkpoint saved", "checkpoint", path)
				return res, fmt.Errorf("interrupted at epoch %d step %d, checkpoint %s: %w", pos.Epoch, pos.StepInEpoch, path, err)
			}
			t0 := time.Now()
			lo := pos.StepInEpoch * cfg.BatchSize
			rows := perm[lo:min(lo+cfg.BatchSize, train.N)]
			b := len(rows)
			for j, r := range rows {
				copy(x[j*train.V:(j+1)*train.V], train.Row(r))
			}
			rng := newRNG(cfg.Seed, streamMask+uint64(pos.Step))
			inputs, err := batchInputs(rng, cfg, x[:b*train.V], b)
			if err != nil {
				return res, err
			}
			lr := cfg.LearningRate(float64(pos.Epoch) + float64(pos.StepInEpoch)/float64(stepsPerEpoch))
			out, err := tr.Step(lr, inputs...)
			if err != nil {
				return res, fmt.Errorf("epoch %d step %d: %w", pos.Epoch, pos.StepInEpoch, err)
			}
			extras := nn.Scalars(out.Extras)
			if !stats.Finite(append([]float64{out.Loss}, out.GradNorms...)...) {
				last := "none"
				if p, ok := rundir.Latest(opt.RunDir); ok {
					last = p
				}
				log.Error("non-finite loss", "epoch", pos.Epoch, "step", pos.StepInEpoch, "loss", out.Loss, "grad_norm", out.GradNorms)
				return res, fmt.Errorf("non-finite loss %v (gradient norm %v) at epoch %d step %d (lr %.3g); stopped without saving this state; last good checkpoint: %s",
					out.Loss, out.GradNorms, pos.Epoch, pos.StepInEpoch, lr, last)
			}
			pos.Sums.add(out.Loss, extras, b, time.Since(t0).Seconds())
			pos.Step++
			pos.StepInEpoch++
			if bar != nil {
				bar.Update(pos.Step, fmt.Sprintf("ep %d loss %.4f mask %.4f sc %.4f cc %.4f cor %.3f lr %.2e",
					pos.Epoch+1, out.Loss, extras[0], extras[1], extras[2], extras[3], lr))
			}
			if opt.AfterStep != nil {
				if err := opt.AfterStep(pos.Step); err != nil {
					return res, err
				}
			}
		}

		// End of an epoch: metrics, validation, checkpoint.
		s := pos.Sums
		n := float64(s.Steps)
		m := map[string]any{
			"epoch": pos.Epoch + 1, "step": pos.Step,
			"lr":            cfg.LearningRate(float64(pos.Epoch+1) - 1/float64(stepsPerEpoch)),
			"loss":          s.Loss / n,
			"loss_mask":     s.Mask / n,
			"loss_sc":       s.SC / n,
			"loss_cc":       s.CC / n,
			"corr":          s.Corr / n,
			"samples_per_s": float64(s.Samples) / s.Secs,
		}
		res.Loss = s.Loss / n
		if val.N > 0 {
			vm, err := ev.Evaluate(tr.Tensors(), val, cfg.BatchSize, cfg.Seed)
			if err != nil {
				return res, fmt.Errorf("validation after epoch %d: %w", pos.Epoch+1, err)
			}
			m["val_loss"], m["val_loss_mask"], m["val_loss_sc"], m["val_loss_cc"], m["val_corr"] =
				vm.Loss, vm.Mask, vm.SelfContrast, vm.CrossContrast, vm.Corr
			res.ValMask, res.ValCorr = vm.Mask, vm.Corr
		}
		pos.Epoch++
		pos.StepInEpoch = 0
		pos.Sums = epochSums{}
		if err := dir.AppendMetrics(m); err != nil {
			return res, err
		}
		log.Info("epoch done", "epoch", pos.Epoch, "loss", m["loss"], "loss_mask", m["loss_mask"],
			"corr", m["corr"], "val_loss_mask", m["val_loss_mask"], "val_corr", m["val_corr"],
			"samples_per_s", m["samples_per_s"])
		if cfg.CheckpointEvery > 0 && pos.Epoch%cfg.CheckpointEvery == 0 && pos.Epoch < cfg.Epochs {
			if _, err := save(fmt.Sprintf("epoch-%04d", pos.Epoch)); err != nil {
				return res, err
			}
		}
	}
	if bar != nil {
		bar.Finish(fmt.Sprintf("loss %.4f", res.Loss))
	}
	res.Epochs, res.Steps = pos.Epoch, pos.Step
	path, err := save("final")
	if err != nil {
		return res, err
	}
	res.Checkpoint = path
	log.Info("phase 1 finished", "checkpoint", path, "epochs", res.Epochs, "steps", res.Steps)
	return res, nil
}

// finishedResult describes a run that had finished before a resume.
func finishedResult(runDir string, pos position, ckpt string) (Result, error) {
	res := Result{Epochs: pos.Epoch, Steps: pos.Step, Checkpoint: ckpt, ValMask: math.NaN(), ValCorr: math.NaN()}
	ms, err := rundir.ReadMetrics(runDir)
	if err != nil || len(ms) == 0 {
		return res, err
	}
	last := ms[len(ms)-1]
	num := func(k string) float64 {
		if v, ok := last[k].(float64); ok {
			return v
		}
		return math.NaN()
	}
	res.Loss, res.ValMask, res.ValCorr = num("loss"), num("val_loss_mask"), num("val_corr")
	return res, nil
}

// batchInputs draws masks A and B for a batch and returns the step inputs:
// x [b, V], keepA [b, K, L] and, when the objective needs it, keepB.
func batchInputs(rng *rand.Rand, cfg TrainConfig, x []float32, b int) ([]*tensors.Tensor, error) {
	l := cfg.Model.NumPatches()
	ma, err := RandomMask(rng, b, l, cfg.Model.MaskRatio)
	if err != nil {
		return nil, err
	}
	in := []*tensors.Tensor{nn.HostTensor(x, b, cfg.Model.NumVoxels), ma.KeepTensor()}
	if cfg.Loss.NeedsSecondPass() {
		mb, err := RandomMask(rng, b, l, cfg.Model.MaskRatio)
		if err != nil {
			return nil, err
		}
		in = append(in, mb.KeepTensor())
	}
	return in, nil
}

// termExtras lists mask, self-contrast, cross-contrast and correlation,
// with zeros for terms the objective leaves out.
func termExtras(t Terms) []*Node {
	out := []*Node{t.Mask, t.SelfContrast, t.CrossContrast, t.Corr}
	for i, n := range out {
		if n == nil {
			out[i] = ScalarLike(t.Total, 0)
		}
	}
	return out
}

// loadExact loads a checkpoint's parameters; every parameter must be there.
func loadExact(ps *nn.Params, src map[string]nn.Tensor, path string) error {
	r, err := ps.Load(src)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Missing) > 0 {
		return fmt.Errorf("%s: lacks parameters %v", path, r.Missing)
	}
	return nil
}

// checkSavedConfig refuses to resume a run with a different configuration.
func checkSavedConfig(runDir string, cfg TrainConfig) error {
	var saved struct {
		Config TrainConfig `json:"config"`
	}
	if err := rundir.ReadJSON(runDir, "config.json", &saved); err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s has checkpoints but no config.json", runDir)
		}
		return err
	}
	// Compare through JSON so float formatting cannot differ.
	a, _ := json.Marshal(saved.Config)
	b, _ := json.Marshal(cfg)
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("the configuration differs from %s:\n  saved %s\n  given %s",
			filepath.Join(runDir, "config.json"), a, b)
	}
	return nil
}

// ReadConfig reads the training configuration of a run directory.
func ReadConfig(runDir string) (TrainConfig, error) {
	var saved struct {
		Stage  string      `json:"stage"`
		Config TrainConfig `json:"config"`
	}
	if err := rundir.ReadJSON(runDir, "config.json", &saved); err != nil {
		return TrainConfig{}, err
	}
	if saved.Stage != "" && saved.Stage != "pretrain" {
		return TrainConfig{}, fmt.Errorf("%s: a %q run, not a pretrain run", filepath.Join(runDir, "config.json"), saved.Stage)
	}
	if err := saved.Config.Model.Validate(); err != nil {
		return TrainConfig{}, fmt.Errorf("%s: %w", filepath.Join(runDir, "config.json"), err)
	}
	return saved.Config, nil
}
