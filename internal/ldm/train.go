package ldm

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
	"slices"
	"strconv"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/baseline"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/ldm/sampler"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/safetensors"
)

// TuneConfig holds the fine-tuning settings (cad-spec §4.5). DefaultTune
// returns the reference's values for a preset.
type TuneConfig struct {
	Model Config `json:"model"`
	// Preset names the model size the configuration came from.
	Preset    string `json:"preset"`
	Epochs    int    `json:"epochs"`
	BatchSize int    `json:"batch_size"` // reference V: 2 (§6 item 21)
	// LR is AdamW's learning rate, constant (no schedule; reference 5.3e-5).
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay"` // torch AdamW default 0.01, applied to every parameter
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	ClipNorm    float64 `json:"clip_norm"` // global gradient-norm clip (Lightning gradient_clip_val 0.5)
	// Trainable is the updated set: "reference" (the conditioning model and
	// the UNet's attn2/norm2/time_embed_condtion) or "all".
	Trainable Trainable `json:"trainable"`
	// DuplicateNorm2 reproduces the reference's double listing of the fMRI
	// encoder's blocks.*.norm2 in its optimizer (§6 item 24): those
	// parameters count twice in the clipped norm, their gradients are
	// scaled twice, and they get two AdamW updates per step. Off by default:
	// each parameter is updated once.
	DuplicateNorm2 bool `json:"duplicate_norm2"`
	// FreezeEncoder keeps the pretrained fMRI encoder fixed and computes its
	// latents once, so that a step costs only the mappers and the UNet.
	// Differs from the reference (which trains the encoder too); meant for
	// CPU runs, where the encoder dominates the step time.
	FreezeEncoder bool `json:"freeze_encoder"`
	// CondDropout replaces the fMRI of a training item by zeros with this
	// probability, so that the model also learns an unconditional ε for
	// classifier-free guidance at sampling time. An extension: the reference
	// trains no unconditional model (0).
	CondDropout float64 `json:"cond_dropout"`
	Augment     Augment `json:"augment"`
	// ValFraction of the training pairs is held out, seeded, to measure
	// the validation ε-MSE; the test set is never used for selection.
	ValFraction     float64 `json:"val_fraction"`
	ValEvery        int     `json:"val_every"`        // epochs between validation passes
	CheckpointEvery int     `json:"checkpoint_every"` // epochs between numbered checkpoints
	Keep            int     `json:"keep"`             // numbered checkpoints kept (0 = all)
	// SelectVal also keeps checkpoints/best (lowest validation ε-MSE).
	SelectVal bool   `json:"select_val"`
	Seed      uint64 `json:"seed"`
}

// DefaultTune returns the reference's optimisation settings with the
// preset's batch size, learning rate and epochs.
func DefaultTune(p Preset) TuneConfig {
	trainable := p.Train.Trainable
	if trainable == "" {
		trainable = TrainReference
	}
	return TuneConfig{
		Preset: p.Name, Epochs: p.Train.Epochs, BatchSize: p.Train.BatchSize, LR: p.Train.LR,
		FreezeEncoder: p.Train.FreezeEncoder,
		WeightDecay:   0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, ClipNorm: 0.5,
		Trainable: trainable, Augment: ReferenceAugment,
		ValFraction: 0.1, ValEvery: 1, CheckpointEvery: 5, Keep: 2, Seed: 2022,
	}
}

// Validate reports every problem, each naming the field.
func (c TuneConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := c.Model.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Epochs < 1 {
		bad("tune: Epochs %d must be ≥ 1", c.Epochs)
	}
	if c.BatchSize < 1 {
		bad("tune: BatchSize %d must be ≥ 1", c.BatchSize)
	}
	if !(c.LR > 0) || c.WeightDecay < 0 || c.ClipNorm < 0 {
		bad("tune: need LR > 0, WeightDecay ≥ 0, ClipNorm ≥ 0 (got %g, %g, %g)", c.LR, c.WeightDecay, c.ClipNorm)
	}
	if !(c.Beta1 >= 0 && c.Beta1 < 1 && c.Beta2 >= 0 && c.Beta2 < 1 && c.Eps > 0) {
		bad("tune: AdamW betas must be in [0,1) and eps > 0 (got %g, %g, %g)", c.Beta1, c.Beta2, c.Eps)
	}
	if c.Trainable != TrainReference && c.Trainable != TrainAll {
		bad("tune: Trainable %q must be %q or %q", c.Trainable, TrainReference, TrainAll)
	}
	if !(c.CondDropout >= 0 && c.CondDropout < 1) {
		bad("tune: CondDropout %g must be in [0, 1)", c.CondDropout)
	}
	if !(c.ValFraction >= 0 && c.ValFraction < 1) {
		bad("tune: ValFraction %g must be in [0, 1)", c.ValFraction)
	}
	if c.SelectVal && c.ValFraction == 0 {
		bad("tune: SelectVal needs a validation split (ValFraction > 0)")
	}
	if c.ValEvery < 1 || c.CheckpointEvery < 1 || c.Keep < 0 {
		bad("tune: ValEvery and CheckpointEvery must be ≥ 1, Keep ≥ 0")
	}
	if !(c.Augment.Prob >= 0 && c.Augment.Prob <= 1 && c.Augment.CropRatio >= 0 && c.Augment.CropRatio < 1) {
		bad("tune: Augment needs Prob in [0,1] and CropRatio in [0,1)")
	}
	return errors.Join(errs...)
}

// Pairs are the training pairs of one subject: fMRI rows and their stimuli,
// already at the autoencoder's resolution.
type Pairs struct {
	N      int
	Voxels int
	FMRI   []float32 // [N, Voxels]
	Res    int
	Images []uint8 // [N, Res, Res, 3]
}

// Check reports inconsistent sizes.
func (p Pairs) Check() error {
	if p.N < 1 || p.Voxels < 1 || p.Res < 1 {
		return fmt.Errorf("pairs: need N, Voxels, Res ≥ 1 (got %d, %d, %d)", p.N, p.Voxels, p.Res)
	}
	if len(p.FMRI) != p.N*p.Voxels {
		return fmt.Errorf("pairs: %d fMRI values for %d×%d", len(p.FMRI), p.N, p.Voxels)
	}
	if len(p.Images) != p.N*p.Res*p.Res*3 {
		return fmt.Errorf("pairs: %d image bytes for %d×%d×%d×3", len(p.Images), p.N, p.Res, p.Res)
	}
	return nil
}

func (p Pairs) image(i int) []uint8 {
	n := p.Res * p.Res * 3
	return p.Images[i*n : (i+1)*n]
}

// ValidationSplit returns a seeded partition of n items into training and
// validation indices (the first ⌈frac·n⌉ of a permutation), each sorted.
func ValidationSplit(n int, frac float64, seed uint64) (train, val []int) {
	perm := rand.New(rand.NewPCG(seed, 0x7a11d)).Perm(n)
	nv := int(math.Ceil(frac * float64(n)))
	if frac > 0 && nv >= n {
		nv = n - 1
	}
	val, train = append([]int(nil), perm[:nv]...), append([]int(nil), perm[nv:]...)
	slices.Sort(val)
	slices.Sort(train)
	return train, val
}

// TuneResult summarises a fine-tuning run.
type TuneResult struct {
	Epochs     int
	Steps      int
	TrainLoss  float64 // last epoch's mean training ε-MSE
	ValLoss    float64 // last validation ε-MSE (NaN without a split)
	FirstVal   float64 // the validation ε-MSE before any training step
	BestVal    float64
	BestEpoch  int
	Seconds    float64
	StepSecond float64 // mean wall time of one training step
}

// Sources records where a run's inputs came from; it is written to
// config.json so that the next stage can find the autoencoder.
type Sources struct {
	Autoencoder string `json:"autoencoder"`           // autoencoder run directory
	Pretrained  string `json:"pretrained,omitempty"`  // phase-1/2 run or reference checkpoint of the fMRI encoder
	InitLDM     string `json:"init_ldm,omitempty"`    // CompVis checkpoint the UNet started from
	Data        string `json:"data,omitempty"`        // dataset directory
	Subject     string `json:"subject,omitempty"`     // subject id
	TestNorm    string `json:"test_norm,omitempty"`   // the data's test normalisation
	Voxels      int    `json:"voxels"`                // fMRI length V
	ValItems    []int  `json:"val_items,omitempty"`   // training-pair indices held out for validation
	Backend     string `json:"backend,omitempty"`     // backend used
	Description string `json:"description,omitempty"` // free text
}

// RunConfig is a tune run's config.json.
type RunConfig struct {
	Stage   string     `json:"stage"` // "ldm"
	Tune    TuneConfig `json:"tune"`
	Sources Sources    `json:"sources"`
	// Autoencoder is the first stage's configuration, copied for reference.
	Autoencoder autoencoder.Config `json:"autoencoder"`
}

// Stage is the "stage" value of an LDM run's config.json.
const Stage = "ldm"

// TuneJob is everything Tune needs, loaded.
type TuneJob struct {
	Config      TuneConfig
	Params      *nn.Params         // initial LDM parameters (UNet + conditioning)
	Autoencoder autoencoder.Config // the frozen first stage's configuration
	FirstStage  *nn.Params         // and its parameters
	Pairs       Pairs              // the subject's training pairs
	Sources     Sources            // recorded in config.json
	Backend     compute.Backend
	Stderr      io.Writer // progress and log (nil: quiet)
	// Resume continues from the run directory's newest checkpoint; without
	// it a run directory that already holds checkpoints is an error.
	Resume bool
}

// Tune fine-tunes the LDM on the job's pairs, writing config.json,
// metrics.jsonl, train.log, first_stage.safetensors and checkpoints to
// runDir; with job.Resume it continues from the newest checkpoint, also one
// written mid-epoch when the context was cancelled (ldm_finetune.py +
// ddpm.py training_step). Each epoch re-encodes the (augmented) training images with
// the frozen VQ encoder once, in batches, outside the training graph: the
// encoder has no trainable parameter, and one encoder pass per image and
// epoch is what encoding inside the step graph would cost too.
func Tune(ctx context.Context, job TuneJob, runDir string) (TuneResult, error) {
	cfg := job.Config
	var res TuneResult
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("tune: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	if err := job.Pairs.Check(); err != nil {
		return res, err
	}
	if job.Pairs.Voxels != cfg.Model.Cond.Encoder.NumVoxels {
		return res, fmt.Errorf("tune: the data has %d voxels, the fMRI encoder wants %d", job.Pairs.Voxels, cfg.Model.Cond.Encoder.NumVoxels)
	}
	ae := job.Autoencoder
	codec, err := autoencoder.NewCodec(job.Backend, ae, job.FirstStage)
	if err != nil {
		return res, err
	}
	if ae.Resolution != job.Pairs.Res {
		return res, fmt.Errorf("tune: images are %d², the autoencoder wants %d²", job.Pairs.Res, ae.Resolution)
	}
	if ls := ae.LatentShape(); cfg.Model.UNet.ImageSize != ls[0] || cfg.Model.latentChannels() != ls[2] {
		return res, fmt.Errorf("tune: the UNet takes %d²×%d latents, the autoencoder makes %v", cfg.Model.UNet.ImageSize, cfg.Model.latentChannels(), ls)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return res, err
	}
	run, err := rundir.Open(runDir, job.Stderr)
	if err != nil {
		return res, err
	}
	defer run.Close()
	log := run.Log

	trainIdx, valIdx := ValidationSplit(job.Pairs.N, cfg.ValFraction, cfg.Seed)
	src := job.Sources
	src.Voxels, src.ValItems = job.Pairs.Voxels, valIdx
	rc := RunConfig{Stage: Stage, Tune: cfg, Sources: src, Autoencoder: ae}

	ps := job.Params
	SetTrainable(ps, cfg.Trainable)
	if cfg.FreezeEncoder {
		ps.Freeze(CondPrefix + "mae.")
	}
	// startEpoch epochs are complete; skip steps of the next one were done
	// before an interruption (their loss sum is lossSoFar).
	startEpoch, skip, lossSoFar, bestVal, bestEpoch := 0, 0, 0.0, math.Inf(1), 0
	var opt *nn.OptimizerState
	path, hasCkpt := rundir.Latest(runDir)
	if hasCkpt && !job.Resume {
		return res, fmt.Errorf("%s already holds checkpoints: resume it, or choose a new run directory", runDir)
	}
	if hasCkpt {
		var old RunConfig
		if err := rundir.ReadJSON(runDir, "config.json", &old); err != nil {
			return res, fmt.Errorf("resume: %w", err)
		}
		if cfg.Model.ScaleByStd && cfg.Model.ScaleFactor == 0 {
			cfg.Model.ScaleFactor = old.Tune.Model.ScaleFactor
		}
		if a, b := mustJSON(old.Tune.Model), mustJSON(cfg.Model); a != b {
			return res, fmt.Errorf("resume %s: the model configuration differs from the run's config.json", runDir)
		}
		ck, err := rundir.LoadCheckpoint(path)
		if err != nil {
			return res, fmt.Errorf("resume: %w", err)
		}
		if _, err := ps.Load(ck.Params); err != nil {
			return res, fmt.Errorf("resume %s: %w", path, err)
		}
		if startEpoch, err = ck.MetaInt("epoch"); err != nil {
			return res, fmt.Errorf("resume %s: %w", path, err)
		}
		if v, err := strconv.ParseFloat(ck.Meta["best_val"], 64); err == nil {
			bestVal = v
		}
		bestEpoch, _ = ck.MetaInt("best_epoch")
		if v, err := ck.MetaInt("step_in_epoch"); err == nil {
			skip = v
		}
		if v, err := strconv.ParseFloat(ck.Meta["epoch_loss_sum"], 64); err == nil {
			lossSoFar = v
		}
		opt = ck.Optimizer
		if opt == nil {
			return res, fmt.Errorf("resume: %s holds no optimizer state", path)
		}
		if err := run.TruncateMetrics(startEpoch); err != nil {
			return res, err
		}
		log.Info("resuming", "checkpoint", path, "epoch", startEpoch, "step_in_epoch", skip)
	}
	if cfg.Model.ScaleByStd && cfg.Model.ScaleFactor == 0 {
		z, err := encodePairs(codec, job.Pairs, trainIdx, Augment{}, nil)
		if err != nil {
			return res, err
		}
		cfg.Model.ScaleFactor = 1 / stdOf(z)
		log.Info("latent scale", "scale_factor", cfg.Model.ScaleFactor)
	}
	rc.Tune = cfg
	if err := run.WriteJSON("config.json", rc); err != nil {
		return res, err
	}
	if err := SaveFirstStage(runDir, job.FirstStage); err != nil {
		return res, err
	}

	cond, err := newCondInputs(job, cfg)
	if err != nil {
		return res, err
	}
	if cfg.Model.RidgeConcat {
		lambda, err := fitRidgeConcat(job, codec, cfg, cond, trainIdx, valIdx)
		if err != nil {
			return res, err
		}
		log.Info("ridge concat", "lambda", lambda, "fit_items", len(trainIdx))
	}
	if !hasCkpt && cfg.Model.Cond.Standardize {
		if err := setLatentStatsFrom(job, cfg, cond, trainIdx); err != nil {
			return res, err
		}
	}
	stepper, err := newStepper(job.Backend, ps, cfg)
	if err != nil {
		return res, err
	}
	if opt != nil {
		if err := stepper.SetState(*opt); err != nil {
			return res, fmt.Errorf("resume: %w", err)
		}
	}
	sched, err := Schedule(cfg.Model)
	if err != nil {
		return res, err
	}
	valSet, err := newValidation(job, codec, cfg, sched, cond, valIdx)
	if err != nil {
		return res, err
	}

	total, trainable := ps.Count()
	stepsPerEpoch := (len(trainIdx) + cfg.BatchSize - 1) / cfg.BatchSize
	log.Info("ldm tune", "preset", cfg.Preset, "train_pairs", len(trainIdx), "val_pairs", len(valIdx),
		"batch", cfg.BatchSize, "steps_per_epoch", stepsPerEpoch, "epochs", cfg.Epochs, "lr", cfg.LR,
		"trainable_set", cfg.Trainable, "params", total, "trainable_params", trainable,
		"duplicate_norm2", cfg.DuplicateNorm2, "latent", ae.LatentShape())

	res.FirstVal, res.BestVal, res.BestEpoch, res.Epochs = math.NaN(), bestVal, bestEpoch, startEpoch
	if !hasCkpt && valSet != nil {
		v, err := valSet.loss(stepper.Tensors())
		if err != nil {
			return res, err
		}
		res.FirstVal = v
		log.Info("validation before training", "val_loss", v)
		if err := run.AppendMetrics(map[string]any{"epoch": 0, "val_loss": v}); err != nil {
			return res, err
		}
	}

	bar := progress.New(orDiscard(job.Stderr), "tune", cfg.Epochs*stepsPerEpoch)
	bar.Resume(startEpoch*stepsPerEpoch + skip)
	// interrupted saves the state after step s of epoch e (1-based epoch,
	// s steps done) so that a resumed run continues exactly there.
	interrupted := func(e, s int, sum float64, cause error) error {
		stepper.Sync()
		st := stepper.State()
		meta := ckptMeta(e-1, stepper.Steps(), bestVal, bestEpoch)
		meta["step_in_epoch"] = strconv.Itoa(s)
		meta["epoch_loss_sum"] = strconv.FormatFloat(sum, 'g', -1, 64)
		name := fmt.Sprintf("epoch-%04d-step-%05d", e-1, s)
		if err := run.SaveCheckpoint(name, ps, &st, meta, cfg.Keep); err != nil {
			return fmt.Errorf("tune interrupted at epoch %d step %d; saving the checkpoint failed: %v: %w", e, s, err, cause)
		}
		log.Info("interrupted", "epoch", e, "step", s, "checkpoint", name)
		return fmt.Errorf("tune interrupted at epoch %d step %d (checkpoint %s; resume to continue): %w", e, s, name, cause)
	}
	start := time.Now()
	var stepTime time.Duration
	steps := 0
	res.ValLoss = math.NaN()
	for epoch := startEpoch + 1; epoch <= cfg.Epochs; epoch++ {
		if err := ctx.Err(); err != nil {
			return res, interrupted(epoch, skip, lossSoFar, err)
		}
		t0 := time.Now()
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(epoch)))
		order := append([]int(nil), trainIdx...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		latents, err := encodePairs(codec, job.Pairs, order, cfg.Augment, rng)
		if err != nil {
			return res, err
		}
		scaleLatents(latents, cfg.Model.scale())
		lsz := len(latents) / len(order)
		sum := lossSoFar
		for s := 0; s < stepsPerEpoch; s++ {
			lo, hi := s*cfg.BatchSize, min((s+1)*cfg.BatchSize, len(order))
			b := hi - lo
			in := newBatch(sched, cfg.Model, rng, b)
			drop := dropped(rng, b, cfg.CondDropout)
			if s < skip {
				continue // done before the interruption: only replay the random draws
			}
			if err := ctx.Err(); err != nil {
				return res, interrupted(epoch, s, sum, err)
			}
			copy(in.z0, latents[lo*lsz:hi*lsz])
			ts := time.Now()
			r, err := stepper.Step(cfg.LR, in.tensors(cfg.Model, cond.batch(order[lo:hi], drop)...)...)
			if err != nil {
				return res, err
			}
			stepTime += time.Since(ts)
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				return res, fmt.Errorf("tune: epoch %d step %d: loss is %v", epoch, s+1, r.Loss)
			}
			sum += r.Loss
			steps++
			bar.Update((epoch-1)*stepsPerEpoch+s+1, fmt.Sprintf("epoch %d loss %.4f", epoch, r.Loss))
		}
		res.TrainLoss = sum / float64(stepsPerEpoch)
		skip, lossSoFar = 0, 0
		m := map[string]any{"epoch": epoch, "train_loss": res.TrainLoss, "lr": cfg.LR,
			"samples_per_s": float64(len(order)) / time.Since(t0).Seconds(), "seconds": time.Since(t0).Seconds(),
			"steps": stepper.Steps()}
		if valSet != nil && (epoch%cfg.ValEvery == 0 || epoch == cfg.Epochs) {
			v, err := valSet.loss(stepper.Tensors())
			if err != nil {
				return res, err
			}
			res.ValLoss = v
			m["val_loss"] = v
			if v < bestVal {
				bestVal, bestEpoch = v, epoch
				res.BestVal, res.BestEpoch = v, epoch
				if cfg.SelectVal {
					stepper.Sync()
					if err := saveBest(runDir, ps, ckptMeta(epoch, stepper.Steps(), bestVal, bestEpoch)); err != nil {
						return res, err
					}
				}
			}
		}
		if err := run.AppendMetrics(m); err != nil {
			return res, err
		}
		log.Info("epoch", "epoch", epoch, "train_loss", res.TrainLoss, "val_loss", m["val_loss"], "seconds", m["seconds"])
		if epoch%cfg.CheckpointEvery == 0 || epoch == cfg.Epochs {
			stepper.Sync()
			st := stepper.State()
			name := fmt.Sprintf("epoch-%04d", epoch)
			if epoch == cfg.Epochs {
				name = "final"
			}
			if err := run.SaveCheckpoint(name, ps, &st, ckptMeta(epoch, stepper.Steps(), bestVal, bestEpoch), cfg.Keep); err != nil {
				return res, err
			}
		}
		res.Epochs = epoch
	}
	bar.Finish(fmt.Sprintf("train %.4f val %.4f", res.TrainLoss, res.ValLoss))
	res.Steps, res.Seconds = steps, time.Since(start).Seconds()
	if steps > 0 {
		res.StepSecond = stepTime.Seconds() / float64(steps)
	}
	stepper.Sync()
	return res, nil
}

// saveBest writes RUN/checkpoints/best.safetensors (weights only) without
// moving RUN/checkpoints/latest, which must keep naming a checkpoint with
// optimizer state for resuming.
func saveBest(runDir string, ps *nn.Params, meta map[string]string) error {
	names := ps.Names()
	ts := map[string]safetensors.Tensor{}
	for _, p := range ps.List() {
		ts[p.Name] = safetensors.Tensor{Shape: p.Shape, Data: p.Data}
	}
	md := map[string]string{"format": "visdec-checkpoint-1"}
	for k, v := range meta {
		md[k] = v
	}
	return safetensors.WriteFile(filepath.Join(runDir, "checkpoints", "best.safetensors"), names, ts, md)
}

func ckptMeta(epoch, steps int, best float64, bestEpoch int) map[string]string {
	return map[string]string{
		"stage": Stage, "epoch": strconv.Itoa(epoch), "step": strconv.Itoa(steps),
		"best_val": strconv.FormatFloat(best, 'g', -1, 64), "best_epoch": strconv.Itoa(bestEpoch),
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// encodeChunk is the number of images per VQ-encoder call; the last chunk
// is padded so that one compiled graph serves every call.
const encodeChunk = 16

// encodePairs prepares (and, with rng, augments) the images of items and
// encodes them to latents [len(items), h, w, c].
func encodePairs(codec *autoencoder.Codec, p Pairs, items []int, aug Augment, rng *rand.Rand) ([]float32, error) {
	res := codec.Config.Resolution
	isz := res * res * 3
	ls := codec.Config.LatentShape()
	lsz := ls[0] * ls[1] * ls[2]
	out := make([]float32, 0, len(items)*lsz)
	buf := make([]float32, encodeChunk*isz)
	for lo := 0; lo < len(items); lo += encodeChunk {
		hi := min(lo+encodeChunk, len(items))
		for k := range encodeChunk {
			i := items[min(lo+k, hi-1)]
			var r *rand.Rand
			if lo+k < hi {
				r = rng // padding rows draw no random numbers
			}
			copy(buf[k*isz:], PrepareImage(p.image(i), res, res, res, aug, r))
		}
		z, err := codec.Encode(buf, encodeChunk)
		if err != nil {
			return nil, err
		}
		out = append(out, z[:(hi-lo)*lsz]...)
	}
	return out, nil
}

// stdOf is the standard deviation of all values of z (1 when constant).
func stdOf(z []float32) float64 {
	var s, s2 float64
	for _, v := range z {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	m := s / float64(len(z))
	sd := math.Sqrt(math.Max(s2/float64(len(z))-m*m, 0))
	if sd < 1e-8 || math.IsNaN(sd) {
		return 1
	}
	return sd
}

// batch is one training (or validation) batch on the host.
type batch struct {
	b                 int
	z0, noise         []float32
	t, sqrtA, sqrtOMA []float32
}

// newBatch draws t ~ U{0..T−1} and ε ~ N(0, I) for b items (ddpm.py:1016,
// 1070) and looks up the schedule coefficients; z0 is left for the caller
// to fill.
func newBatch(s *sampler.Schedule, cfg Config, rng *rand.Rand, b int) *batch {
	lsz := cfg.latentSize()
	in := &batch{b: b, z0: make([]float32, b*lsz), noise: make([]float32, b*lsz),
		t: make([]float32, b), sqrtA: make([]float32, b), sqrtOMA: make([]float32, b)}
	for k := range b {
		ti := rng.IntN(cfg.Timesteps)
		in.t[k] = float32(ti)
		in.sqrtA[k], in.sqrtOMA[k] = s.SqrtAlphasCumprod[ti], s.SqrtOneMinusAlphasCumprod[ti]
	}
	for i := range in.noise {
		in.noise[i] = float32(rng.NormFloat64())
	}
	return in
}

// tensors returns the step inputs in lossFn order, the conditioning inputs
// (fMRI or encoder latents, then the ridge guess with RidgeConcat) last.
func (in *batch) tensors(cfg Config, cond ...*tensors.Tensor) []*tensors.Tensor {
	u := cfg.UNet
	h, c := u.ImageSize, cfg.latentChannels()
	return append([]*tensors.Tensor{
		nn.HostTensor(in.z0, in.b, h, h, c), nn.HostTensor(in.noise, in.b, h, h, c),
		nn.HostTensor(in.t, in.b), nn.HostTensor(in.sqrtA, in.b), nn.HostTensor(in.sqrtOMA, in.b),
	}, cond...)
}

// lossOutputs builds the objective over the batch inputs (z0, noise, t,
// √ᾱ_t, √(1−ᾱ_t), fMRI [B, V] or, with a frozen encoder, its latents
// [B, L, D], and with RidgeConcat the ridge guess [B, h, w, c]).
func lossOutputs(v nn.Vars, cfg Config, frozenEncoder bool, in []*Node) LossOutputs {
	var ctx, concat *Node
	if frozenEncoder {
		ctx = MapLatent(v.In("cond_stage_model"), in[5]).Context
	} else {
		ctx = Condition(v.In("cond_stage_model"), cfg.Cond, in[5])
	}
	if cfg.RidgeConcat {
		concat = in[6]
	}
	return LossWithContext(v, cfg, in[0], in[1], in[2], in[3], in[4], ctx, concat)
}

// lossFn is the training objective.
func lossFn(cfg Config, frozenEncoder bool) nn.LossFn {
	return func(v nn.Vars, in []*Node) (*Node, []*Node) {
		return lossOutputs(v, cfg, frozenEncoder, in).Loss, nil
	}
}

// condInputs holds what the conditioning model reads per pair: the fMRI
// rows, or the frozen encoder's latents computed once; null is the row of
// an all-zero fMRI (the unconditional input of CondDropout). With
// RidgeConcat, concat holds each pair's ridge guess (fitRidgeConcat) and
// concatNull the guess for an all-zero fMRI.
type condInputs struct {
	rows  []float32
	null  []float32
	shape []int // per item

	concat, concatNull []float32
	concatShape        []int // per item [h, w, c]
}

// dropped draws which of b items lose their fMRI (nil when p is 0, so that
// the reference setting draws no extra random numbers).
func dropped(rng *rand.Rand, b int, p float64) []bool {
	if p == 0 {
		return nil
	}
	out := make([]bool, b)
	for i := range out {
		out[i] = rng.Float64() < p
	}
	return out
}

func (c *condInputs) size() int { return numel(c.shape) }

// numel is the number of values of one item of the given shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// batch gathers the items' rows into one tensor [len(items), shape...],
// the unconditional row for the dropped ones, followed with RidgeConcat by
// their ridge guesses [len(items), h, w, c].
func (c *condInputs) batch(items []int, drop []bool) []*tensors.Tensor {
	out := []*tensors.Tensor{gatherRows(c.rows, c.null, c.shape, items, drop)}
	if c.concat != nil {
		out = append(out, gatherRows(c.concat, c.concatNull, c.concatShape, items, drop))
	}
	return out
}

func gatherRows(rows, null []float32, shape []int, items []int, drop []bool) *tensors.Tensor {
	n := numel(shape)
	out := make([]float32, len(items)*n)
	for k, i := range items {
		row := rows[i*n : (i+1)*n]
		if drop != nil && drop[k] {
			row = null
		}
		copy(out[k*n:(k+1)*n], row)
	}
	return tensors.FromFlatDataAndDimensions(out, append([]int{len(items)}, shape...)...)
}

// fitRidgeConcat fits the ridge map fMRI → (scaled) latent on the training
// items, stores it in the model (SetRidge; sampling evaluates it in the
// graph) and fills cond.concat with the guesses the UNet trains on: for a
// training item its leave-one-out prediction, so that the guesses it learns
// to refine are as far from their targets as a test item's are (the
// in-sample fit would be nearly exact); for a validation item the map's
// prediction, exactly as for a test item. λ is chosen by leave-one-out
// error on the training items; it is returned.
func fitRidgeConcat(job TuneJob, codec *autoencoder.Codec, cfg TuneConfig, cond *condInputs, trainIdx, valIdx []int) (float64, error) {
	p := job.Pairs
	z, err := encodePairs(codec, p, trainIdx, Augment{}, nil)
	if err != nil {
		return 0, err
	}
	scaleLatents(z, cfg.Model.scale())
	lsz := cfg.Model.latentSize()
	rows := func(idx []int) []float32 {
		x := make([]float32, 0, len(idx)*p.Voxels)
		for _, i := range idx {
			x = append(x, p.FMRI[i*p.Voxels:(i+1)*p.Voxels]...)
		}
		return x
	}
	r, err := baseline.FitRidge(rows(trainIdx), len(trainIdx), p.Voxels, z, lsz, nil)
	if err != nil {
		return 0, fmt.Errorf("tune: ridge concat: %w", err)
	}
	w, b := r.Linear()
	if err := SetRidge(job.Params, w, b); err != nil {
		return 0, err
	}
	cond.concat = make([]float32, p.N*lsz)
	loo := r.LeaveOneOut()
	for k, i := range trainIdx {
		copy(cond.concat[i*lsz:(i+1)*lsz], loo[k*lsz:(k+1)*lsz])
	}
	if len(valIdx) > 0 {
		pv, err := r.Predict(rows(valIdx), len(valIdx))
		if err != nil {
			return 0, err
		}
		for k, i := range valIdx {
			copy(cond.concat[i*lsz:(i+1)*lsz], pv[k*lsz:(k+1)*lsz])
		}
	}
	if cond.concatNull, err = r.Predict(make([]float32, p.Voxels), 1); err != nil {
		return 0, err
	}
	h := cfg.Model.UNet.ImageSize
	cond.concatShape = []int{h, h, cfg.Model.latentChannels()}
	return r.Lambda(), nil
}

// setLatentStatsFrom stores the training items' encoder-latent statistics
// in the conditioning model (CondConfig.Standardize), computed with the
// initial encoder: the frozen encoder's precomputed latents, or one encoder
// pass when the encoder trains (the statistics then stay fixed).
func setLatentStatsFrom(job TuneJob, cfg TuneConfig, cond *condInputs, trainIdx []int) error {
	lat := cond
	if !cfg.FreezeEncoder {
		frozen := cfg
		frozen.FreezeEncoder = true
		var err error
		if lat, err = newCondInputs(job, frozen); err != nil {
			return err
		}
	}
	n := lat.size()
	rows := make([]float32, 0, len(trainIdx)*n)
	for _, i := range trainIdx {
		rows = append(rows, lat.rows[i*n:(i+1)*n]...)
	}
	return SetLatentStats(job.Params, rows, len(trainIdx))
}

func newCondInputs(job TuneJob, cfg TuneConfig) (*condInputs, error) {
	p := job.Pairs
	if !cfg.FreezeEncoder {
		return &condInputs{rows: p.FMRI, null: make([]float32, p.Voxels), shape: []int{p.Voxels}}, nil
	}
	enc := cfg.Model.Cond.Encoder
	fwd, err := nn.NewForward(job.Backend, job.Params.Names(), func(v nn.Vars, in []*Node) []*Node {
		return []*Node{EncodeFMRI(v.In("cond_stage_model"), cfg.Model.Cond, in[0])}
	})
	if err != nil {
		return nil, err
	}
	params := nn.ParamTensors(job.Params)
	l, d := enc.NumPatches(), enc.EmbedDim
	c := &condInputs{rows: make([]float32, 0, p.N*l*d), shape: []int{l, d}}
	const chunk = 16
	buf := make([]float32, chunk*p.Voxels)
	// The rows of the N items, then one all-zero fMRI row (the null input).
	for lo := 0; lo <= p.N; lo += chunk {
		hi := min(lo+chunk, p.N+1)
		for k := range chunk {
			i := min(lo+k, hi-1)
			row := buf[k*p.Voxels : (k+1)*p.Voxels]
			if i == p.N {
				clear(row)
			} else {
				copy(row, p.FMRI[i*p.Voxels:(i+1)*p.Voxels])
			}
		}
		out, err := fwd.Run(params, nn.HostTensor(buf, chunk, p.Voxels))
		if err != nil {
			return nil, fmt.Errorf("encoding fMRI: %w", err)
		}
		c.rows = append(c.rows, nn.ToFloat32(out[0])[:(hi-lo)*l*d]...)
	}
	c.null = c.rows[p.N*l*d:]
	c.rows = c.rows[:p.N*l*d]
	return c, nil
}

// validation holds the held-out pairs with fixed, seeded (t, ε), so that
// the validation ε-MSE is comparable across epochs.
type validation struct {
	fwd     *nn.Forward
	batches [][]*tensors.Tensor
	sizes   []int
}

func newValidation(job TuneJob, codec *autoencoder.Codec, cfg TuneConfig, s *sampler.Schedule, cond *condInputs, idx []int) (*validation, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	z, err := encodePairs(codec, job.Pairs, idx, Augment{}, nil)
	if err != nil {
		return nil, err
	}
	scaleLatents(z, cfg.Model.scale())
	model := cfg.Model
	fwd, err := nn.NewForward(job.Backend, job.Params.Names(), func(v nn.Vars, in []*Node) []*Node {
		return []*Node{lossOutputs(v, model, cfg.FreezeEncoder, in).PerItem}
	})
	if err != nil {
		return nil, err
	}
	val := &validation{fwd: fwd}
	rng := rand.New(rand.NewPCG(cfg.Seed^0x5a17, 0xe7a1))
	lsz := len(z) / len(idx)
	bs := max(cfg.BatchSize, 8)
	for lo := 0; lo < len(idx); lo += bs {
		hi := min(lo+bs, len(idx))
		in := newBatch(s, model, rng, bs)
		items := make([]int, bs)
		for k := range bs {
			j := min(lo+k, hi-1) // pad with the last item; padded rows are ignored
			copy(in.z0[k*lsz:(k+1)*lsz], z[j*lsz:(j+1)*lsz])
			items[k] = idx[j]
		}
		val.batches = append(val.batches, in.tensors(model, cond.batch(items, nil)...))
		val.sizes = append(val.sizes, hi-lo)
	}
	return val, nil
}

// loss is the mean validation ε-MSE under the given parameter values.
func (val *validation) loss(params []*tensors.Tensor) (float64, error) {
	var sum float64
	n := 0
	for i, b := range val.batches {
		args := make([]any, len(b))
		for k, t := range b {
			args[k] = t
		}
		out, err := val.fwd.Run(params, args...)
		if err != nil {
			return 0, fmt.Errorf("validation: %w", err)
		}
		per := nn.ToFloat32(out[0])
		for k := range val.sizes[i] {
			sum += float64(per[k])
		}
		n += val.sizes[i]
	}
	return sum / float64(n), nil
}
