// Package rundir implements the run-directory conventions every training stage
// shares:
//
//	RUN/config.json                the full configuration (rebuilds the model)
//	RUN/metrics.jsonl              one JSON object per epoch, appended
//	RUN/train.log                  the log, appended across resumes
//	RUN/checkpoints/NAME.safetensors  parameters, optimizer moments and state
//	RUN/checkpoints/latest          the name of the newest checkpoint
//
// Checkpoints are written to a temporary file and renamed into place, so a
// crash never leaves a partial one; "latest" is updated only afterwards.
package rundir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/safetensors"
)

// Dir is an open run directory.
type Dir struct {
	Path    string
	Log     *slog.Logger
	logFile *os.File
}

// Open creates (or reopens) a run directory and its log. Logs go to
// RUN/train.log and to stderr.
func Open(path string, stderr io.Writer) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(path, "checkpoints"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(path, "train.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	var w io.Writer = f
	if stderr != nil {
		w = io.MultiWriter(f, stderr)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return &Dir{Path: path, Log: log, logFile: f}, nil
}

// Close closes the log file.
func (d *Dir) Close() error { return d.logFile.Close() }

// File returns a path inside the run directory.
func (d *Dir) File(name string) string { return filepath.Join(d.Path, name) }

// WriteJSON writes v as indented JSON to RUN/name, atomically.
func (d *Dir) WriteJSON(name string, v any) error { return WriteJSONFile(d.File(name), v) }

// WriteJSONFile writes v as indented JSON to path, atomically.
func WriteJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return npy.AtomicWrite(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// ReadJSON decodes RUN/name into v.
func ReadJSON(runPath, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(runPath, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(runPath, name), err)
	}
	return nil
}

// AppendMetrics appends one JSON line to RUN/metrics.jsonl and syncs it.
func (d *Dir) AppendMetrics(m map[string]any) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(d.File("metrics.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TruncateMetrics keeps only the metrics lines whose "epoch" is ≤ lastEpoch,
// so that a resumed run's metrics.jsonl equals an uninterrupted run's.
func (d *Dir) TruncateMetrics(lastEpoch int) error {
	b, err := os.ReadFile(d.File("metrics.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var m struct {
			Epoch *int `json:"epoch"`
		}
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Epoch != nil && *m.Epoch > lastEpoch {
			continue
		}
		keep.Write(sc.Bytes())
		keep.WriteByte('\n')
	}
	return npy.AtomicWrite(d.File("metrics.jsonl"), func(w io.Writer) error {
		_, err := w.Write(keep.Bytes())
		return err
	})
}

// ReadMetrics parses RUN/metrics.jsonl.
func ReadMetrics(runPath string) ([]map[string]any, error) {
	f, err := os.Open(filepath.Join(runPath, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", f.Name(), line, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// Checkpoint is what a checkpoint file holds.
type Checkpoint struct {
	Params map[string]nn.Tensor
	// Optimizer is nil for weights-only checkpoints.
	Optimizer *nn.OptimizerState
	// Meta holds string state: epoch, step, RNG state, stage, ...
	Meta map[string]string
}

const (
	prefixM = "optimizer.exp_avg."
	prefixV = "optimizer.exp_avg_sq."
)

// SaveCheckpoint writes RUN/checkpoints/NAME.safetensors atomically and then
// points RUN/checkpoints/latest at it. keep > 0 deletes older numbered
// checkpoints beyond the newest keep ("final" and "best" are never deleted).
func (d *Dir) SaveCheckpoint(name string, ps *nn.Params, opt *nn.OptimizerState, meta map[string]string, keep int) error {
	names := []string{}
	ts := map[string]safetensors.Tensor{}
	for _, p := range ps.List() {
		names = append(names, p.Name)
		ts[p.Name] = safetensors.Tensor{Shape: p.Shape, Data: p.Data}
	}
	md := map[string]string{"format": "visdec-checkpoint-1"}
	for k, v := range meta {
		md[k] = v
	}
	if opt != nil {
		md["optimizer.step"] = strconv.Itoa(opt.Step)
		for _, p := range ps.List() {
			if m, ok := opt.M[p.Name]; ok {
				names = append(names, prefixM+p.Name, prefixV+p.Name)
				ts[prefixM+p.Name] = safetensors.Tensor{Shape: p.Shape, Data: m}
				ts[prefixV+p.Name] = safetensors.Tensor{Shape: p.Shape, Data: opt.V[p.Name]}
			}
		}
	}
	path := filepath.Join(d.Path, "checkpoints", name+".safetensors")
	if err := safetensors.WriteFile(path, names, ts, md); err != nil {
		return err
	}
	latest := filepath.Join(d.Path, "checkpoints", "latest")
	if err := npy.AtomicWrite(latest, func(w io.Writer) error { _, err := io.WriteString(w, name+"\n"); return err }); err != nil {
		return err
	}
	if keep > 0 {
		return d.prune(keep)
	}
	return nil
}

// prune removes numbered checkpoints (names starting "epoch-"/"step-") beyond
// the newest keep.
func (d *Dir) prune(keep int) error {
	m, _ := filepath.Glob(filepath.Join(d.Path, "checkpoints", "*.safetensors"))
	var numbered []string
	for _, p := range m {
		b := filepath.Base(p)
		if strings.HasPrefix(b, "epoch-") || strings.HasPrefix(b, "step-") {
			numbered = append(numbered, p)
		}
	}
	sort.Strings(numbered) // zero-padded numbers sort by time
	for i := 0; i < len(numbered)-keep; i++ {
		if err := os.Remove(numbered[i]); err != nil {
			return err
		}
	}
	return nil
}

// Latest returns the path of the newest checkpoint of a run, if any.
func Latest(runPath string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(runPath, "checkpoints", "latest"))
	if err != nil {
		return "", false
	}
	p := filepath.Join(runPath, "checkpoints", strings.TrimSpace(string(b))+".safetensors")
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(f.Metadata["format"], "visdec-checkpoint") {
		return nil, fmt.Errorf("%s: not a visdec checkpoint (no format metadata)", path)
	}
	c := &Checkpoint{Params: map[string]nn.Tensor{}, Meta: f.Metadata}
	var opt *nn.OptimizerState
	if s, ok := f.Metadata["optimizer.step"]; ok {
		step, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%s: bad optimizer.step %q", path, s)
		}
		opt = &nn.OptimizerState{Step: step, M: map[string][]float32{}, V: map[string][]float32{}}
	}
	for _, name := range f.Order {
		t := f.Tensors[name]
		switch {
		case strings.HasPrefix(name, prefixM) && opt != nil:
			opt.M[strings.TrimPrefix(name, prefixM)] = t.Data
		case strings.HasPrefix(name, prefixV) && opt != nil:
			opt.V[strings.TrimPrefix(name, prefixV)] = t.Data
		default:
			c.Params[name] = nn.Tensor{Shape: t.Shape, Data: t.Data}
		}
	}
	c.Optimizer = opt
	return c, nil
}

// MetaInt reads an integer from checkpoint metadata.
func (c *Checkpoint) MetaInt(key string) (int, error) {
	v, ok := c.Meta[key]
	if !ok {
		return 0, fmt.Errorf("checkpoint has no %q", key)
	}
	return strconv.Atoi(v)
}
