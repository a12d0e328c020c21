package crossmodal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/progress"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/stats"
)

// Options are the run-time choices of a training run that are not part of
// the experiment's configuration.
type Options struct {
	RunDir  string
	Backend compute.Backend
	// Resume continues from the run directory's newest checkpoint.
	Resume bool
	// Stderr receives the log and the progress bar (nil: the log goes to
	// RUN/train.log only, no bar).
	Stderr io.Writer
	// AfterStep, if set, runs after every optimizer step with the global
	// step count. A returned error stops training at once without a
	// checkpoint, as a crash would (tests use it to kill a run).
	AfterStep func(step int) error
	// Extra is stored in config.json beside the configuration (data
	// sources, initial weights, ...).
	Extra map[string]any
}

// position is where a run stands: completed epochs, steps into the current
// epoch, the running sums of its metrics, and the best validation score so
// far. It is stored in every checkpoint.
type position struct {
	Epoch, StepInEpoch, Step int
	Sums                     sums
	BestEpoch                int     // 0: none yet
	Best                     float64 // the selection score at BestEpoch
}

// sums accumulates one epoch's step metrics.
type sums struct {
	Steps, Samples int
	Loss, Secs     float64
	Extras         []float64
}

// loop is one training run over n items: shuffling, batching, the learning
// rate schedule, metrics, validation, checkpoints (periodic, "best",
// "final", and one on interruption), resuming, progress and the stop on a
// non-finite loss. Image pre-training and alignment both run in it.
type loop struct {
	stage  string // checkpoint metadata and log label
	dir    *rundir.Dir
	runDir string
	ps     *nn.Params
	tr     *nn.Trainer

	n, batch, epochs int
	seed             uint64
	lr               func(epoch float64) float64
	// inputs builds the step inputs for the items rows; rng is the step's
	// own generator (masks).
	inputs func(rng *rand.Rand, rows []int) ([]*tensors.Tensor, error)
	// extras names the trainer's extra outputs, logged as train_<name>.
	extras []string
	// validate, when set, returns validation metrics (logged as val_<name>);
	// selectKey, when set, names the one whose minimum is kept as "best".
	validate        func() (map[string]float64, error)
	selectKey       string
	checkpointEvery int
	keep            int
	stderr          io.Writer
	afterStep       func(step int) error
}

// result is what the loop reports when it ends.
type result struct {
	pos        position
	last       map[string]any // the last epoch's metrics line
	checkpoint string         // final checkpoint
}

func (l *loop) save(pos position, name string) (string, error) {
	l.tr.Sync()
	if err := l.ps.CheckFinite(); err != nil {
		return "", fmt.Errorf("not saving checkpoint %s: %w", name, err)
	}
	b, err := json.Marshal(pos)
	if err != nil {
		return "", err
	}
	st := l.tr.State()
	meta := map[string]string{"stage": l.stage, "position": string(b),
		"epoch": strconv.Itoa(pos.Epoch), "step": strconv.Itoa(pos.Step)}
	if err := l.dir.SaveCheckpoint(name, l.ps, &st, meta, l.keep); err != nil {
		return "", err
	}
	return filepath.Join(l.runDir, "checkpoints", name+".safetensors"), nil
}

// run trains from pos to the last epoch. A fresh run (not resumed) first
// logs the validation metrics of its starting weights as epoch 0.
func (l *loop) run(ctx context.Context, pos position, fresh bool) (result, error) {
	log := l.dir.Log
	if fresh && l.validate != nil {
		vm, err := l.validate()
		if err != nil {
			return result{pos: pos}, fmt.Errorf("validation of the starting weights: %w", err)
		}
		m := map[string]any{"epoch": 0, "step": 0}
		for k, v := range vm {
			m["val_"+k] = v
		}
		if err := l.appendMetrics(m); err != nil {
			return result{pos: pos}, err
		}
		log.Info("starting point", "stage", l.stage, "metrics", metricsString(m))
	}
	stepsPerEpoch := (l.n + l.batch - 1) / l.batch
	var bar *progress.Bar
	if l.stderr != nil {
		bar = progress.New(l.stderr, l.stage, l.epochs*stepsPerEpoch)
		bar.Resume(pos.Step)
	}
	res := result{pos: pos}
	for pos.Epoch < l.epochs {
		perm := newRNG(l.seed, streamShuffle+uint64(pos.Epoch)).Perm(l.n)
		for pos.StepInEpoch < stepsPerEpoch {
			if err := ctx.Err(); err != nil {
				path, serr := l.save(pos, fmt.Sprintf("epoch-%04d-step-%06d", pos.Epoch, pos.StepInEpoch))
				if serr != nil {
					return res, fmt.Errorf("interrupted (%w), and the checkpoint failed: %v", err, serr)
				}
				log.Info("interrupted; checkpoint saved", "checkpoint", path)
				return res, fmt.Errorf("%s interrupted at epoch %d step %d, checkpoint %s: %w", l.stage, pos.Epoch, pos.StepInEpoch, path, err)
			}
			lo := pos.StepInEpoch * l.batch
			rows := perm[lo:min(lo+l.batch, l.n)]
			inputs, err := l.inputs(newRNG(l.seed, streamMask+uint64(pos.Step)), rows)
			if err != nil {
				return res, err
			}
			lr := l.lr(float64(pos.Epoch) + float64(pos.StepInEpoch)/float64(stepsPerEpoch))
			t0 := time.Now()
			out, err := l.tr.Step(lr, inputs...)
			if err != nil {
				return res, fmt.Errorf("%s epoch %d step %d: %w", l.stage, pos.Epoch, pos.StepInEpoch, err)
			}
			secs := time.Since(t0).Seconds()
			extras := nn.Scalars(out.Extras)
			if !stats.Finite(append([]float64{out.Loss}, out.GradNorms...)...) {
				last := "none"
				if p, ok := rundir.Latest(l.runDir); ok {
					last = p
				}
				log.Error("non-finite loss", "epoch", pos.Epoch, "step", pos.StepInEpoch, "loss", out.Loss, "grad_norm", out.GradNorms)
				return res, fmt.Errorf("%s: non-finite loss %v (gradient norms %v) at epoch %d step %d (lr %.3g); stopped without saving this state; last good checkpoint: %s",
					l.stage, out.Loss, out.GradNorms, pos.Epoch, pos.StepInEpoch, lr, last)
			}
			s := &pos.Sums
			if s.Extras == nil {
				s.Extras = make([]float64, len(extras))
			}
			s.Steps++
			s.Samples += len(rows)
			s.Loss += out.Loss
			s.Secs += secs
			for i, x := range extras {
				s.Extras[i] += x
			}
			pos.Step++
			pos.StepInEpoch++
			if bar != nil {
				bar.Update(pos.Step, fmt.Sprintf("ep %d loss %.4f %s lr %.2e", pos.Epoch+1, out.Loss, l.status(extras), lr))
			}
			if l.afterStep != nil {
				if err := l.afterStep(pos.Step); err != nil {
					return res, err
				}
			}
		}

		// End of an epoch: metrics, validation, checkpoints.
		s := pos.Sums
		n := float64(s.Steps)
		m := map[string]any{
			"epoch": pos.Epoch + 1, "step": pos.Step,
			"lr":            l.lr(float64(pos.Epoch+1) - 1/float64(stepsPerEpoch)),
			"train_loss":    s.Loss / n,
			"samples_per_s": float64(s.Samples) / s.Secs,
		}
		for i, name := range l.extras {
			m["train_"+name] = s.Extras[i] / n
		}
		improved := false
		if l.validate != nil {
			vm, err := l.validate()
			if err != nil {
				return res, fmt.Errorf("validation after epoch %d: %w", pos.Epoch+1, err)
			}
			for k, v := range vm {
				m["val_"+k] = v
			}
			if score, ok := vm[l.selectKey]; ok && l.selectKey != "" && stats.Finite(score) && (pos.BestEpoch == 0 || score < pos.Best) {
				pos.Best, pos.BestEpoch, improved = score, pos.Epoch+1, true
			}
		}
		pos.Epoch++
		pos.StepInEpoch = 0
		pos.Sums = sums{}
		if err := l.appendMetrics(m); err != nil {
			return res, err
		}
		res.last = m
		log.Info("epoch done", "stage", l.stage, "epoch", pos.Epoch, "metrics", metricsString(m))
		if improved {
			if _, err := l.save(pos, "best"); err != nil {
				return res, err
			}
			log.Info("new best on validation", l.selectKey, pos.Best, "epoch", pos.Epoch)
		}
		if l.checkpointEvery > 0 && pos.Epoch%l.checkpointEvery == 0 && pos.Epoch < l.epochs {
			if _, err := l.save(pos, fmt.Sprintf("epoch-%04d", pos.Epoch)); err != nil {
				return res, err
			}
		}
	}
	if bar != nil {
		bar.Finish(fmt.Sprintf("%s done, %d epochs", l.stage, pos.Epoch))
	}
	if res.last == nil { // resumed after the last epoch: report its line
		if lines, err := rundir.ReadMetrics(l.runDir); err == nil && len(lines) > 0 {
			res.last = lines[len(lines)-1]
		}
	}
	path, err := l.save(pos, "final")
	if err != nil {
		return res, err
	}
	res.pos, res.checkpoint = pos, path
	return res, nil
}

// appendMetrics writes one metrics line; non-finite values become null
// (JSON has no NaN).
func (l *loop) appendMetrics(m map[string]any) error {
	for k, v := range m {
		if x, ok := v.(float64); ok && !stats.Finite(x) {
			m[k] = nil
		}
	}
	return l.dir.AppendMetrics(m)
}

// status formats a step's extras for the progress line.
func (l *loop) status(extras []float64) string {
	parts := make([]string, len(extras))
	for i, x := range extras {
		parts[i] = fmt.Sprintf("%s %.4f", l.extras[i], x)
	}
	return strings.Join(parts, " ")
}

// resumePosition loads the newest checkpoint of the loop's run into its
// parameters and trainer and returns where it stood; ok is false when
// there is no checkpoint.
func (l *loop) resumePosition() (pos position, ok bool, err error) {
	path, has := rundir.Latest(l.runDir)
	if !has {
		return pos, false, nil
	}
	c, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return pos, false, err
	}
	if c.Optimizer == nil {
		return pos, false, fmt.Errorf("%s: no optimizer state to resume from", path)
	}
	if s := c.Meta["stage"]; s != l.stage {
		return pos, false, fmt.Errorf("%s: a %q checkpoint, not %q", path, s, l.stage)
	}
	if err := loadAll(l.ps, c.Params, path); err != nil {
		return pos, false, err
	}
	if err := json.Unmarshal([]byte(c.Meta["position"]), &pos); err != nil {
		return pos, false, fmt.Errorf("%s: bad position metadata: %w", path, err)
	}
	if err := l.tr.SetState(*c.Optimizer); err != nil {
		return pos, false, fmt.Errorf("%s: %w", path, err)
	}
	if err := l.dir.TruncateMetrics(pos.Epoch); err != nil {
		return pos, false, err
	}
	l.dir.Log.Info("resuming", "stage", l.stage, "checkpoint", path, "epoch", pos.Epoch, "step", pos.Step)
	return pos, true, nil
}

// loadAll loads a checkpoint's parameters; every parameter must be there.
func loadAll(ps *nn.Params, src map[string]nn.Tensor, path string) error {
	r, err := ps.Load(src)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(r.Missing) > 0 {
		return fmt.Errorf("%s: lacks parameters %v", path, r.Missing)
	}
	return nil
}

func metricsString(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}
