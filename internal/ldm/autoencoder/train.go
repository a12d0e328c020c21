package autoencoder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/rundir"
)

// TrainConfig holds every setting of `visdec train-autoencoder`. The
// optimiser follows taming's VQModel (Adam, betas 0.5/0.9, no weight decay);
// the losses are described at Objective.
type TrainConfig struct {
	Model     Config  `json:"model"`
	Epochs    int     `json:"epochs"`     // passes over the training images
	BatchSize int     `json:"batch_size"` // images per step; a last partial batch is dropped
	LR        float64 `json:"lr"`         // constant learning rate
	Beta1     float64 `json:"beta1"`      // Adam β₁ (taming: 0.5)
	Beta2     float64 `json:"beta2"`      // Adam β₂ (taming: 0.9)
	ClipNorm  float64 `json:"clip_norm"`  // global gradient-norm clip; 0 = none
	Recon     string  `json:"recon"`      // reconstruction loss: "l1" or "l2"
	// RestartEvery re-initialises dead codes every this many steps (and
	// after the first step): codes no image chose since the last check are
	// replaced by encoder outputs of the current batch, and their Adam
	// moments are reset. 0 disables restarts.
	RestartEvery int `json:"restart_every"`
	// Holdout > 0 holds that many training images out (chosen by Seed) for
	// the held-out metrics and never trains on them; 0 uses the dataset's
	// test images instead (also never trained on).
	Holdout int `json:"holdout"`
	// GridImages is how many held-out images reconstructions.png shows.
	GridImages int `json:"grid_images"`
	// CheckpointEvery saves a checkpoint every this many steps as well as
	// after every epoch; 0 = only after epochs.
	CheckpointEvery int `json:"checkpoint_every"`
	// Keep is how many step checkpoints to keep (0 = all).
	Keep int    `json:"keep"`
	Seed uint64 `json:"seed"`
}

// DefaultTrainConfig trains Small() for 20 epochs with batch 8.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Model: Small(), Epochs: 20, BatchSize: 8, LR: 2e-4, Beta1: 0.5, Beta2: 0.9,
		Recon: ReconL1, RestartEvery: 100, GridImages: 8, Keep: 2, Seed: 2022,
	}
}

// Validate reports every problem with the configuration.
func (c TrainConfig) Validate() error {
	var errs []error
	if err := c.Model.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model: %w", err))
	}
	if c.Epochs < 0 {
		errs = append(errs, fmt.Errorf("epochs must be ≥ 0, got %d", c.Epochs))
	}
	if c.BatchSize <= 0 {
		errs = append(errs, fmt.Errorf("batch size must be positive, got %d", c.BatchSize))
	}
	if !(c.LR > 0) {
		errs = append(errs, fmt.Errorf("lr must be positive, got %g", c.LR))
	}
	if c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 {
		errs = append(errs, fmt.Errorf("Adam betas must be in [0,1), got %g, %g", c.Beta1, c.Beta2))
	}
	if c.Recon != ReconL1 && c.Recon != ReconL2 {
		errs = append(errs, fmt.Errorf("recon must be %q or %q, got %q", ReconL1, ReconL2, c.Recon))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"restart every", c.RestartEvery}, {"holdout", c.Holdout}, {"grid images", c.GridImages},
		{"checkpoint every", c.CheckpointEvery}, {"keep", c.Keep}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be ≥ 0, got %d", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}

// runConfig is config.json: the training configuration and what it ran on.
type runConfig struct {
	Stage string `json:"stage"`
	TrainConfig
	Data       string `json:"data"`
	DataSource string `json:"data_source"`
}

const stage = "autoencoder"

// Result summarises a finished run.
type Result struct {
	Steps     int
	ValPSNR   float64 // dB, mean over held-out images, on [0, 1] pixels
	ValRecon  float64 // reconstruction loss on the held-out images
	CodesUsed float64 // fraction of codes chosen on the held-out images
}

// outputs of the training step, after the loss
const (
	extraRecon = iota
	extraVQ
	extraMSE
	extraIndices
	extraZ
)

// Train fits cfg.Model to the images of ds (resized to the model's
// resolution) and writes the run directory runDir: config.json,
// metrics.jsonl (one line per epoch), train.log, checkpoints/ and
// reconstructions.png (held-out originals above their reconstructions).
// With resume it continues from the newest checkpoint and produces what an
// uninterrupted run would. On cancellation it checkpoints and returns an
// error wrapping ctx.Err().
func Train(ctx context.Context, backend compute.Backend, cfg TrainConfig, ds *data.Dataset, runDir string, resume bool, stderr io.Writer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("train-autoencoder config: %w", err)
	}
	if stderr == nil {
		stderr = io.Discard
	}
	trainImgs, heldImgs, err := splitImages(cfg, ds)
	if err != nil {
		return Result{}, err
	}
	res := cfg.Model.Resolution
	nTrain, nHeld := len(trainImgs)/(res*res*3), len(heldImgs)/(res*res*3)
	stepsPerEpoch := nTrain / cfg.BatchSize
	if stepsPerEpoch == 0 {
		return Result{}, fmt.Errorf("%d training images are fewer than one batch of %d", nTrain, cfg.BatchSize)
	}

	dir, err := rundir.Open(runDir, stderr)
	if err != nil {
		return Result{}, err
	}
	defer dir.Close()
	log := dir.Log
	rc := runConfig{Stage: stage, TrainConfig: cfg, Data: ds.Name, DataSource: ds.Source}
	ckptPath, hasCkpt := rundir.Latest(runDir)
	switch {
	case hasCkpt && !resume:
		return Result{}, fmt.Errorf("%s already holds checkpoints: pass --resume to continue it, or choose a new run directory", runDir)
	case hasCkpt:
		if err := sameRun(runDir, rc); err != nil {
			return Result{}, err
		}
	}
	if err := dir.WriteJSON("config.json", rc); err != nil {
		return Result{}, err
	}

	ps := NewParams(cfg.Model, cfg.Seed)
	st := trainState{usage: make([]int, cfg.Model.NEmbed), epochUsed: make([]bool, cfg.Model.NEmbed)}
	var opt *nn.OptimizerState
	if hasCkpt {
		if opt, err = restore(ckptPath, ps, &st, cfg.Model.NEmbed); err != nil {
			return Result{}, err
		}
		if err := dir.TruncateMetrics(st.epoch - 1); err != nil {
			return Result{}, err
		}
		log.Info("resuming", "checkpoint", ckptPath, "epoch", st.epoch, "batch", st.batch, "step", st.step)
	}

	stepCfg := nn.StepConfig{Opt: nn.AdamW{Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: 1e-8}, ClipNorm: cfg.ClipNorm}
	tr, err := nn.NewTrainer(backend, ps, stepCfg, func(v nn.Vars, in []*Node) (*Node, []*Node) {
		l := Objective(v, cfg.Model, cfg.Recon, in[0])
		return l.Total, []*Node{l.Recon, l.VQ, l.MSE, l.Indices, l.Z}
	})
	if err != nil {
		return Result{}, err
	}
	if opt != nil {
		if err := tr.SetState(*opt); err != nil {
			return Result{}, fmt.Errorf("%s: %w", ckptPath, err)
		}
	}
	eval, err := newEvaluator(backend, cfg, ps.Names())
	if err != nil {
		return Result{}, err
	}

	total, _ := ps.Count()
	log.Info("train-autoencoder",
		"data", ds.Name, "train_images", nTrain, "heldout_images", nHeld, "resolution", res,
		"latent", fmt.Sprintf("%dx%dx%d", cfg.Model.LatentSize(), cfg.Model.LatentSize(), cfg.Model.EmbedDim),
		"codebook", cfg.Model.NEmbed, "parameters", total, "batch", cfg.BatchSize,
		"steps_per_epoch", stepsPerEpoch, "epochs", cfg.Epochs, "lr", cfg.LR, "recon", cfg.Recon)

	bar := progress.New(stderr, "train-autoencoder", cfg.Epochs*stepsPerEpoch)
	bar.Resume(st.step)
	save := func(name string) error {
		tr.Sync()
		o := tr.State()
		return dir.SaveCheckpoint(name, ps, &o, st.encode(), cfg.Keep)
	}
	batchBuf := make([]float32, cfg.BatchSize*res*res*3)
	var last Result
	for st.epoch < cfg.Epochs {
		perm := rand.New(rand.NewPCG(cfg.Seed, 1000+uint64(st.epoch))).Perm(nTrain)
		for st.batch < stepsPerEpoch {
			if err := ctx.Err(); err != nil {
				if serr := save(fmt.Sprintf("step-%08d", st.step)); serr != nil {
					return Result{}, errors.Join(err, serr)
				}
				log.Info("interrupted; checkpoint written", "step", st.step)
				return Result{}, fmt.Errorf("train-autoencoder interrupted at step %d (checkpoint written; rerun with --resume): %w", st.step, err)
			}
			fillBatch(batchBuf, trainImgs, perm[st.batch*cfg.BatchSize:(st.batch+1)*cfg.BatchSize], res)
			r, err := tr.Step(cfg.LR, nn.HostTensor(batchBuf, cfg.BatchSize, res, res, 3))
			if err != nil {
				return Result{}, fmt.Errorf("step %d: %w", st.step+1, err)
			}
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				return Result{}, fmt.Errorf("loss is %v at step %d (epoch %d); stopping without saving this state", r.Loss, st.step+1, st.epoch)
			}
			st.step++
			st.batch++
			st.acc.add(r.Loss, scalar(r.Extras[extraRecon]), scalar(r.Extras[extraVQ]), scalar(r.Extras[extraMSE]))
			idx := tensors.MustCopyFlatData[int32](r.Extras[extraIndices])
			for _, k := range idx {
				st.usage[k]++
				st.epochUsed[k] = true
			}
			if cfg.RestartEvery > 0 && !cfg.Model.Continuous && (st.step == 1 || st.step%cfg.RestartEvery == 0) {
				n, err := restartDeadCodes(tr, ps, cfg, &st, nn.ToFloat32(r.Extras[extraZ]))
				if err != nil {
					return Result{}, err
				}
				st.restarted += n
			}
			if cfg.CheckpointEvery > 0 && st.step%cfg.CheckpointEvery == 0 && st.batch < stepsPerEpoch {
				if err := save(fmt.Sprintf("step-%08d", st.step)); err != nil {
					return Result{}, err
				}
			}
			bar.Update(st.step, fmt.Sprintf("epoch %d loss %.4f recon %.4f vq %.4f", st.epoch, r.Loss,
				scalar(r.Extras[extraRecon]), scalar(r.Extras[extraVQ])))
		}

		m, err := eval.run(tr.Tensors(), heldImgs, nHeld)
		if err != nil {
			return Result{}, fmt.Errorf("held-out evaluation after epoch %d: %w", st.epoch, err)
		}
		line := st.metrics(cfg)
		for k, v := range m.metrics() {
			line[k] = v
		}
		if err := dir.AppendMetrics(line); err != nil {
			return Result{}, err
		}
		if err := writeReconstructions(dir.File("reconstructions.png"), heldImgs, m.recon, min(cfg.GridImages, nHeld), res); err != nil {
			return Result{}, err
		}
		log.Info("epoch done", "epoch", st.epoch, "step", st.step, "train_loss", line["train_loss"],
			"val_psnr", m.psnr, "val_codes_used", m.used, "restarted_codes", st.restarted,
			"elapsed", progress.FormatDuration(bar.Elapsed()))
		last = Result{Steps: st.step, ValPSNR: m.psnr, ValRecon: m.reconLoss, CodesUsed: m.used}
		st.nextEpoch()
		name := fmt.Sprintf("step-%08d", st.step)
		if st.epoch == cfg.Epochs {
			name = "final"
		}
		if err := save(name); err != nil {
			return Result{}, err
		}
	}
	bar.Finish("done")
	if last.Steps == 0 { // resumed a finished run: report its last metrics
		last.Steps = st.step
		if ms, err := rundir.ReadMetrics(runDir); err == nil && len(ms) > 0 {
			l := ms[len(ms)-1]
			last.ValPSNR, _ = l["val_psnr"].(float64)
			last.ValRecon, _ = l["val_recon"].(float64)
			last.CodesUsed, _ = l["val_codes_used"].(float64)
		}
	}
	return last, nil
}

// splitImages resizes the dataset's images and separates the training set
// from the held-out set.
func splitImages(cfg TrainConfig, ds *data.Dataset) (train, held []uint8, err error) {
	if ds == nil || ds.Train.Images == nil || ds.Train.N == 0 {
		return nil, nil, fmt.Errorf("dataset %q has no training images", dsName(ds))
	}
	res := cfg.Model.Resolution
	all, err := ResizeImages(ds.Train.Images, ds.Train.N, ds.Train.H, ds.Train.W, res)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %q train images: %w", ds.Name, err)
	}
	size := res * res * 3
	if cfg.Holdout > 0 {
		if cfg.Holdout >= ds.Train.N {
			return nil, nil, fmt.Errorf("holdout %d leaves no training images of %d", cfg.Holdout, ds.Train.N)
		}
		perm := rand.New(rand.NewPCG(cfg.Seed, 1)).Perm(ds.Train.N)
		isHeld := make([]bool, ds.Train.N)
		for _, i := range perm[:cfg.Holdout] {
			isHeld[i] = true
		}
		for i := 0; i < ds.Train.N; i++ {
			if isHeld[i] {
				held = append(held, all[i*size:(i+1)*size]...)
			} else {
				train = append(train, all[i*size:(i+1)*size]...)
			}
		}
		return train, held, nil
	}
	if ds.Test.Images == nil || ds.Test.N == 0 {
		return nil, nil, fmt.Errorf("dataset %q has no test images for the held-out metrics; set a holdout", ds.Name)
	}
	held, err = ResizeImages(ds.Test.Images, ds.Test.N, ds.Test.H, ds.Test.W, res)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset %q test images: %w", ds.Name, err)
	}
	return all, held, nil
}

func dsName(ds *data.Dataset) string {
	if ds == nil {
		return ""
	}
	return ds.Name
}

// sameRun checks that a resumed run keeps its configuration; only the
// number of epochs may grow.
func sameRun(runDir string, rc runConfig) error {
	var old runConfig
	if err := rundir.ReadJSON(runDir, "config.json", &old); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	a, b := old, rc
	a.Epochs, b.Epochs = 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return fmt.Errorf("resume: the configuration differs from %s/config.json (only --epochs may change):\n  was %s\n  now %s", runDir, ja, jb)
	}
	return nil
}

// restore loads a checkpoint's parameters into ps and its loop state into
// st, and returns its optimizer state.
func restore(path string, ps *nn.Params, st *trainState, nEmbed int) (*nn.OptimizerState, error) {
	ck, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	lr, err := ps.Load(ck.Params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(lr.Missing) > 0 {
		return nil, fmt.Errorf("%s lacks %d parameters, e.g. %s", path, len(lr.Missing), lr.Missing[0])
	}
	if ck.Optimizer == nil {
		return nil, fmt.Errorf("%s holds no optimizer state; cannot resume from it", path)
	}
	if err := st.decode(ck.Meta, nEmbed); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ck.Optimizer, nil
}

// fillBatch copies the chosen images into buf as floats in [-1, 1].
func fillBatch(buf []float32, imgs []uint8, idx []int, res int) {
	size := res * res * 3
	for j, i := range idx {
		src := imgs[i*size : (i+1)*size]
		dst := buf[j*size : (j+1)*size]
		for k, v := range src {
			dst[k] = float32(v)/127.5 - 1
		}
	}
}

func scalar(t *tensors.Tensor) float64 { return float64(nn.ToFloat32(t)[0]) }

// trainState is the loop position and the running sums a checkpoint must
// carry so that a resumed run continues exactly.
type trainState struct {
	epoch, batch, step int
	acc                sums
	usage              []int  // code counts since the last restart check
	epochUsed          []bool // codes chosen during this epoch
	restarted          int    // codes restarted during this epoch
}

type sums struct {
	n                    int
	loss, recon, vq, mse float64
}

func (s *sums) add(loss, recon, vq, mse float64) {
	s.n++
	s.loss += loss
	s.recon += recon
	s.vq += vq
	s.mse += mse
}

func (s *trainState) nextEpoch() {
	s.epoch++
	s.batch = 0
	s.acc = sums{}
	clear(s.epochUsed)
	s.restarted = 0
}

// metrics is the training half of an epoch's metrics line.
func (s *trainState) metrics(cfg TrainConfig) map[string]any {
	n := float64(max(s.acc.n, 1))
	used := 0
	for _, u := range s.epochUsed {
		if u {
			used++
		}
	}
	return map[string]any{
		"epoch": s.epoch, "step": s.step, "lr": cfg.LR,
		"train_loss": s.acc.loss / n, "train_recon": s.acc.recon / n, "train_vq": s.acc.vq / n,
		"train_psnr":       psnr(s.acc.mse / n),
		"train_codes_used": float64(used) / float64(cfg.Model.NEmbed),
		"restarted_codes":  s.restarted,
	}
}

// psnr converts a mean squared error of [-1, 1] images to the PSNR of the
// same images on [0, 1] (peak 1): 10·log10(4/mse).
func psnr(mse float64) float64 { return 10 * math.Log10(4/mse) }

// encode and decode store the state in checkpoint metadata.
func (s *trainState) encode() map[string]string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	ints := func(v []int) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.Itoa(x)
		}
		return strings.Join(parts, ",")
	}
	used := make([]int, 0)
	for k, u := range s.epochUsed {
		if u {
			used = append(used, k)
		}
	}
	return map[string]string{
		"stage": stage, "epoch": strconv.Itoa(s.epoch), "batch": strconv.Itoa(s.batch), "step": strconv.Itoa(s.step),
		"acc.n": strconv.Itoa(s.acc.n), "acc.loss": f(s.acc.loss), "acc.recon": f(s.acc.recon),
		"acc.vq": f(s.acc.vq), "acc.mse": f(s.acc.mse),
		"usage": ints(s.usage), "epoch_used": ints(used), "restarted": strconv.Itoa(s.restarted),
	}
}

func (s *trainState) decode(m map[string]string, nEmbed int) error {
	if m["stage"] != stage {
		return fmt.Errorf("checkpoint of stage %q, not %q", m["stage"], stage)
	}
	var errs []error
	atoi := func(k string) int {
		v, err := strconv.Atoi(m[k])
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
		}
		return v
	}
	atof := func(k string) float64 {
		v, err := strconv.ParseFloat(m[k], 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
		}
		return v
	}
	ints := func(k string) []int {
		if m[k] == "" {
			return nil
		}
		parts := strings.Split(m[k], ",")
		out := make([]int, len(parts))
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil {
				errs = append(errs, fmt.Errorf("metadata %s: %w", k, err))
				return nil
			}
			out[i] = v
		}
		return out
	}
	s.epoch, s.batch, s.step = atoi("epoch"), atoi("batch"), atoi("step")
	s.acc = sums{n: atoi("acc.n"), loss: atof("acc.loss"), recon: atof("acc.recon"), vq: atof("acc.vq"), mse: atof("acc.mse")}
	s.restarted = atoi("restarted")
	s.usage = ints("usage")
	if len(s.usage) != nEmbed {
		errs = append(errs, fmt.Errorf("metadata usage has %d codes, the model %d", len(s.usage), nEmbed))
	}
	s.epochUsed = make([]bool, nEmbed)
	for _, k := range ints("epoch_used") {
		if k < 0 || k >= nEmbed {
			errs = append(errs, fmt.Errorf("metadata epoch_used: code %d out of range", k))
			break
		}
		s.epochUsed[k] = true
	}
	return errors.Join(errs...)
}

// restartDeadCodes replaces every code chosen no time since the last check
// by a random encoder output of the current batch (z, [N, EmbedDim]), and
// zeroes those rows' Adam moments. The choice is seeded by the step, so a
// resumed run restarts the same codes with the same vectors.
func restartDeadCodes(tr *nn.Trainer, ps *nn.Params, cfg TrainConfig, st *trainState, z []float32) (int, error) {
	dim := cfg.Model.EmbedDim
	var dead []int
	for k, n := range st.usage {
		if n == 0 {
			dead = append(dead, k)
		}
		st.usage[k] = 0
	}
	if len(dead) == 0 {
		return 0, nil
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 1<<32+uint64(st.step)))
	nz := len(z) / dim
	tr.Sync()
	const name = "quantize.embedding.weight"
	e := ps.Get(name).Data
	for _, k := range dead {
		j := rng.IntN(nz)
		copy(e[k*dim:(k+1)*dim], z[j*dim:(j+1)*dim])
	}
	o := tr.State()
	for _, k := range dead {
		clear(o.M[name][k*dim : (k+1)*dim])
		clear(o.V[name][k*dim : (k+1)*dim])
	}
	if err := tr.SetState(o); err != nil {
		return 0, fmt.Errorf("restart codes: %w", err)
	}
	return len(dead), nil
}

// Load reads a train-autoencoder run directory: its model configuration and
// the parameters of its newest checkpoint ("final" once training ended).
func Load(runDir string) (Config, *nn.Params, error) {
	var rc runConfig
	if err := rundir.ReadJSON(runDir, "config.json", &rc); err != nil {
		return Config{}, nil, fmt.Errorf("load autoencoder: %w", err)
	}
	if rc.Stage != stage {
		return Config{}, nil, fmt.Errorf("load autoencoder: %s/config.json is of stage %q, not %q", runDir, rc.Stage, stage)
	}
	if err := rc.Model.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("load autoencoder: %s/config.json: %w", runDir, err)
	}
	path, ok := rundir.Latest(runDir)
	if !ok {
		return Config{}, nil, fmt.Errorf("load autoencoder: %s has no checkpoint", runDir)
	}
	ck, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("load autoencoder: %w", err)
	}
	ps := NewParams(rc.Model, 0)
	lr, err := ps.Load(ck.Params)
	if err != nil {
		return Config{}, nil, fmt.Errorf("load autoencoder: %s: %w", path, err)
	}
	if len(lr.Missing) > 0 {
		return Config{}, nil, fmt.Errorf("load autoencoder: %s lacks %d parameters, e.g. %s", path, len(lr.Missing), lr.Missing[0])
	}
	if err := ps.CheckFinite(); err != nil {
		return Config{}, nil, fmt.Errorf("load autoencoder: %s: %w", path, err)
	}
	return rc.Model, ps, nil
}

// evaluator reconstructs held-out images with the current parameters.
type evaluator struct {
	cfg TrainConfig
	fwd *nn.Forward
}

func newEvaluator(backend compute.Backend, cfg TrainConfig, names []string) (*evaluator, error) {
	fwd, err := nn.NewForward(backend, names, func(v nn.Vars, in []*Node) []*Node {
		l := Objective(v, cfg.Model, cfg.Recon, in[0])
		return []*Node{l.XRec, l.Indices, l.Recon}
	})
	if err != nil {
		return nil, err
	}
	return &evaluator{cfg: cfg, fwd: fwd}, nil
}

// heldOut is the held-out evaluation of one epoch.
type heldOut struct {
	reconLoss  float64 // the training reconstruction loss, mean over images
	psnr       float64 // mean per-image PSNR (dB) of clamped reconstructions on [0, 1]
	used       float64 // fraction of codes chosen
	perplexity float64 // exp(entropy) of the code histogram
	recon      []uint8 // reconstructions as bytes, for the grid
}

func (h heldOut) metrics() map[string]any {
	return map[string]any{"val_recon": h.reconLoss, "val_psnr": h.psnr,
		"val_codes_used": h.used, "val_perplexity": h.perplexity}
}

func (e *evaluator) run(params []*tensors.Tensor, imgs []uint8, n int) (heldOut, error) {
	res := e.cfg.Model.Resolution
	size := res * res * 3
	counts := make([]int, e.cfg.Model.NEmbed)
	var out heldOut
	out.recon = make([]uint8, 0, len(imgs))
	bs := e.cfg.BatchSize
	buf := make([]float32, bs*size)
	for start := 0; start < n; start += bs {
		b := min(bs, n-start)
		idx := make([]int, b)
		for j := range idx {
			idx[j] = start + j
		}
		fillBatch(buf, imgs, idx, res)
		outs, err := e.fwd.Run(params, nn.HostTensor(buf[:b*size], b, res, res, 3))
		if err != nil {
			return heldOut{}, err
		}
		xr := nn.ToFloat32(outs[0])
		for _, k := range tensors.MustCopyFlatData[int32](outs[1]) {
			counts[k]++
		}
		out.reconLoss += scalar(outs[2]) * float64(b)
		for j := 0; j < b; j++ {
			var se float64
			for k := 0; k < size; k++ {
				r := (min(max(float64(xr[j*size+k]), -1), 1) + 1) / 2
				o := float64(imgs[(start+j)*size+k]) / 255
				se += (r - o) * (r - o)
			}
			out.psnr += 10 * math.Log10(1/math.Max(se/float64(size), 1e-12))
		}
		out.recon = append(out.recon, ToUint8(xr)...)
	}
	out.reconLoss /= float64(n)
	out.psnr /= float64(n)
	total, used, ent := 0, 0, 0.0
	for _, c := range counts {
		total += c
	}
	for _, c := range counts {
		if c > 0 {
			used++
			p := float64(c) / float64(total)
			ent -= p * math.Log(p)
		}
	}
	out.used = float64(used) / float64(len(counts))
	out.perplexity = math.Exp(ent)
	return out, nil
}

// writeReconstructions writes the first k held-out images above their
// reconstructions.
func writeReconstructions(path string, orig, recon []uint8, k, res int) error {
	if k == 0 {
		return nil
	}
	size := res * res * 3
	if err := WriteGrid(path, [][]uint8{orig[:k*size], recon[:k*size]}, k, res); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
