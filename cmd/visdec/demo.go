package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/rundir"
)

func init() {
	register(&command{
		name:  "demo",
		args:  "[--out DIR] [--preset default|smoke]",
		short: "the whole pipeline on a simulated subject: simulate, pretrain, align, train the autoencoder, tune, reconstruct, evaluate",
		long: `Runs every stage of visdec on the built-in simulated data with the tiny (CPU) presets, through
the same code as the subcommands, and writes one directory:

  DIR/sim/god, DIR/sim/hcp   simulated GOD-design subject and HCP-design pre-training data
  DIR/pretrain               phase 1 (DC-MAE) on HCP + the subject's fMRI
  DIR/align                  phase 2 (cross-modal guidance with an image MAE)
  DIR/autoencoder            the VQ autoencoder of the latent diffusion model
  DIR/tune                   the fMRI-conditioned LDM
  DIR/baseline               the ridge-regression decoder (fMRI → pixels), the yardstick
  DIR/baseline-latents       ridge regression fMRI → autoencoder latents, decoded by the LDM's first stage
  DIR/reconstruct            LDM samples from pure noise (the reference's sampling)
  DIR/reconstruct-init       LDM samples started from the ridge reconstruction (img2img)
  DIR/eval, DIR/eval-*       metrics.json, metrics.csv and report.html of each
  DIR/summary.json, demo.log

Every stage shows its own progress; an interrupted demo continues where it stopped when run
again with the same --out (finished stages are skipped; a stage cut short resumes from its
checkpoint where the stage supports it, or restarts). The default preset takes about 14 minutes
on 2 cores; --preset smoke (16×16 images, fewer epochs) about 3 minutes and is what the
end-to-end test runs.

The subject's test fMRI is normalised with the training statistics (--test-norm train-stats, the
fix of cad-spec §6 item 2), for the LDM and the baseline alike: with the reference's literal
normalisation the averaged test fMRI keeps the file's scale while the training trials are
z-scored, which the linear baseline shrugs off (pair-wise identification is scale-free) but the
LDM does not (pair-wise 0.506 against 0.688 in a default demo before --ridge-concat).

It ends by printing the report's path and a five-line summary: the reconstructions' pair-wise
(PCC) and 50-way pixel identification against the ridge baseline and the simulator's
ideal-observer ceiling.`,
		run: runDemo,
	})
}

// demoPreset sizes every stage of the demo.
type demoPreset struct {
	Name string
	// Simulation.
	GODVoxels, HCPVoxels, HCPSubjects int
	Noise                             float64
	ImageSize                         int // render size of the simulator
	Tiny                              bool
	// Training.
	PretrainEpochs, AlignEpochs, ImageMAEEpochs, AEEpochs, TuneEpochs int
	PretrainBatch                                                     int
	// The autoencoder's learning rate, codebook size and latent channels.
	AELR             float64
	AECodes, AELatCh int
	// LatentBaseline adds the ridge to the autoencoder's latents (and its
	// evaluation), the LDM's like-for-like linear yardstick.
	LatentBaseline bool
	// Sampling.
	Samples, Steps int
	Strength       float64 // img2img strength of reconstruct-init
	Size           int     // side of the decoded images (the autoencoder's resolution)
	// Evaluation.
	Bootstrap, Trials int
}

var demoPresets = map[string]demoPreset{
	"default": {Name: "default", GODVoxels: 1500, HCPVoxels: 1200, HCPSubjects: 6, Noise: 0.1, ImageSize: 64,
		PretrainEpochs: 6, AlignEpochs: 1, ImageMAEEpochs: 10, AEEpochs: 2, TuneEpochs: 4, PretrainBatch: 64,
		AELR: 1e-3, AECodes: 256, AELatCh: 3, LatentBaseline: true,
		Samples: 5, Steps: 25, Strength: 0.3, Size: 32, Bootstrap: 1000, Trials: 1000},
	"smoke": {Name: "smoke", GODVoxels: 600, HCPVoxels: 500, HCPSubjects: 2, Noise: 0.1, ImageSize: 64,
		PretrainEpochs: 1, AlignEpochs: 1, ImageMAEEpochs: 1, AEEpochs: 1, TuneEpochs: 2, PretrainBatch: 32,
		AELR: 1e-3, AECodes: 256, AELatCh: 3,
		Samples: 2, Steps: 10, Strength: 0.3, Size: 16, Bootstrap: 200, Trials: 200},
}

// demoStage is one step of the demo: a subcommand run with arguments.
type demoStage struct {
	name, cmd, what string
	args            []string
}

func demoStages(p demoPreset, out string, backendArgs []string) []demoStage {
	d := func(parts ...string) string { return filepath.Join(append([]string{out}, parts...)...) }
	itoa := strconv.Itoa
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	god, hcp := d("sim", "god"), d("sim", "hcp")
	sim := func(design, dir string, voxels, subjects int) []string {
		a := []string{"--design", design, "--out", dir, "--voxels", itoa(voxels), "--noise", ftoa(p.Noise),
			"--image-size", itoa(p.ImageSize)}
		if subjects > 0 {
			a = append(a, "--subjects", itoa(subjects))
		}
		if p.Tiny {
			a = append(a, "--tiny")
		}
		return a
	}
	be := func(a ...string) []string { return append(a, backendArgs...) }
	stages := []demoStage{
		{"simulate-god", "simulate", "a GOD-design subject (1200 training trials, 50 test images × 35 repeats)",
			sim("god", god, p.GODVoxels, 0)},
		{"simulate-hcp", "simulate", "HCP-design resting/movie fMRI for pre-training",
			sim("hcp", hcp, p.HCPVoxels, p.HCPSubjects)},
		{"pretrain", "pretrain", "phase 1: DC-MAE on HCP + the subject's fMRI",
			be("--preset", "tiny", "--data", hcp, "--data", god, "--epochs", itoa(p.PretrainEpochs),
				"--warmup", "1", "--lr", "1e-3", "--batch", itoa(p.PretrainBatch), "--out", d("pretrain"))},
		{"align", "align", "phase 2: cross-modal guidance with an image MAE",
			be("--preset", "tiny", "--data", god, "--subject", "sbj_1", "--pretrained", d("pretrain"),
				"--epochs", itoa(p.AlignEpochs), "--pretrain-image-epochs", itoa(p.ImageMAEEpochs), "--out", d("align"))},
		{"autoencoder", "train-autoencoder", "the LDM's VQ autoencoder on the training images",
			be("--preset", "tiny", "--resolution", itoa(p.Size), "--data", god, "--subjects", "sbj_1",
				"--epochs", itoa(p.AEEpochs), "--lr", ftoa(p.AELR), "--latent-channels", itoa(p.AELatCh),
				"--codes", itoa(p.AECodes), "--out", d("autoencoder"))},
		{"tune", "tune", "the fMRI-conditioned latent diffusion model",
			be("--preset", "tiny", "--data", god, "--subject", "sbj_1", "--pretrained", d("align"),
				"--autoencoder", d("autoencoder"), "--epochs", itoa(p.TuneEpochs), "--test-norm", "train-stats", "--out", d("tune"))},
		{"baseline", "baseline", "ridge regression fMRI → pixels (the yardstick)",
			[]string{"--data", god, "--subject", "sbj_1", "--target", "pixels", "--size", itoa(p.Size), "--test-norm", "train-stats",
				"--out", d("baseline")}},
		{"baseline-latents", "baseline", "ridge regression fMRI → autoencoder latents, decoded (the same first stage as the LDM)",
			be("--data", god, "--subject", "sbj_1", "--target", "latents", "--autoencoder", d("autoencoder"), "--size", itoa(p.Size),
				"--test-norm", "train-stats", "--out", d("baseline-latents"))},
		{"reconstruct", "reconstruct", "LDM samples from pure noise (the reference's sampling)",
			be("--run", d("tune"), "--samples", itoa(p.Samples), "--steps", itoa(p.Steps), "--batch", itoa(5*p.Samples),
				"--out", d("reconstruct"))},
		{"reconstruct-init", "reconstruct", "LDM samples refining the ridge reconstruction (img2img)",
			be("--run", d("tune"), "--samples", itoa(p.Samples), "--steps", itoa(p.Steps), "--batch", itoa(5*p.Samples),
				"--init", d("baseline", "samples.npz"), "--strength", ftoa(p.Strength), "--out", d("reconstruct-init"))},
		{"eval-baseline", "eval", "metrics of the ridge baseline",
			demoEvalArgs(p, d("baseline", "samples.npz"), d("eval-baseline"), "", god, "")},
		{"eval-baseline-latents", "eval", "metrics of the ridge baseline through the autoencoder",
			demoEvalArgs(p, d("baseline-latents", "samples.npz"), d("eval-baseline-latents"), "", god, "")},
		{"eval-noise", "eval", "metrics of the LDM sampled from noise",
			demoEvalArgs(p, d("reconstruct", "samples.npz"), d("eval-noise"), d("baseline", "samples.npz"), god,
				strings.Join([]string{d("pretrain"), d("align"), d("autoencoder"), d("tune")}, ","))},
		{"eval", "eval", "metrics and report of the LDM refining the ridge reconstruction",
			demoEvalArgs(p, d("reconstruct-init", "samples.npz"), d("eval"), d("baseline", "samples.npz"), god,
				strings.Join([]string{d("pretrain"), d("align"), d("autoencoder"), d("tune")}, ","))},
	}
	if p.LatentBaseline {
		return stages
	}
	kept := stages[:0]
	for _, st := range stages {
		if st.name != "baseline-latents" && st.name != "eval-baseline-latents" {
			kept = append(kept, st)
		}
	}
	return kept
}

func demoEvalArgs(p demoPreset, samples, out, baseline, god, runs string) []string {
	a := []string{"--samples", samples, "--out", out, "--ceiling", god, "--subject", "sbj_1",
		"--bootstrap", strconv.Itoa(p.Bootstrap), "--identify-trials", strconv.Itoa(p.Trials), "--trials", strconv.Itoa(p.Trials)}
	if baseline != "" {
		a = append(a, "--baseline", baseline)
	}
	if runs != "" {
		a = append(a, "--runs", runs)
	}
	return a
}

// demoSummary is what the demo reports at the end (summary.json).
type demoSummary struct {
	Preset   string             `json:"preset"`
	Seconds  float64            `json:"seconds"` // sum of the stages' run times
	Stages   map[string]float64 `json:"stage_seconds"`
	Report   string             `json:"report"`
	Methods  []demoMethod       `json:"methods"`
	Ceiling  map[string]float64 `json:"ceiling"`
	Verdicts []string           `json:"verdicts"`
}

// demoMethod is one decoder's headline numbers.
type demoMethod struct {
	Name    string             `json:"name"`
	Metrics map[string]float64 `json:"metrics"`
	CILow   map[string]float64 `json:"ci_low"`
	CIHigh  map[string]float64 `json:"ci_high"`
}

// The headline metrics: pair-wise identification by PCC (chance 0.5) and
// 50-way identification among the test items by pixel correlation (chance
// 0.02), both averaged over sample sets.
var demoHeadline = []string{"pairwise_pcc", "identify_pixel_50way"}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["demo"], stdout)
	out := fs.String("out", "demo-out", "output directory (reused: finished stages are skipped)")
	presetName := fs.String("preset", "default", "size of the demo: default (about 13 min on 2 cores) or smoke (about 3 min)")
	backendSpec := fs.String("backend", "", "compute backend for every stage (default $VISDEC_BACKEND or go:parallelism=-1)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	p, ok := demoPresets[*presetName]
	if !ok {
		return usagef("--preset must be default or smoke, got %q", *presetName)
	}
	// Runs record their inputs' paths; absolute ones keep them valid from
	// any working directory.
	if abs, err := filepath.Abs(*out); err == nil {
		*out = abs
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(*out, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	log := io.MultiWriter(stderr, logf)
	var backendArgs []string
	if *backendSpec != "" {
		backendArgs = []string{"--backend", *backendSpec}
	}
	stages := demoStages(p, *out, backendArgs)
	sum := demoSummary{Preset: p.Name, Stages: map[string]float64{}}
	start := time.Now()
	fmt.Fprintf(log, "visdec demo (preset %s) into %s, %s\n", p.Name, *out, time.Now().Format(time.RFC3339))
	for i, st := range stages {
		done := filepath.Join(*out, ".done", st.name)
		if b, err := os.ReadFile(done); err == nil {
			// The marker holds the stage's run time in seconds.
			sec, _ := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			sum.Stages[st.name] = sec
			fmt.Fprintf(log, "[%d/%d] %s: done before, skipped\n", i+1, len(stages), st.name)
			continue
		}
		fmt.Fprintf(log, "[%d/%d] %s: %s (elapsed %s)\n  visdec %s %s\n", i+1, len(stages), st.name, st.what,
			time.Since(start).Round(time.Second), st.cmd, strings.Join(st.args, " "))
		t0 := time.Now()
		if err := runDemoStage(ctx, st, *out, log); err != nil {
			return fmt.Errorf("demo stage %s (visdec %s): %w", st.name, st.cmd, err)
		}
		sum.Stages[st.name] = time.Since(t0).Seconds()
		if err := os.MkdirAll(filepath.Dir(done), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(done, []byte(strconv.FormatFloat(sum.Stages[st.name], 'f', 1, 64)+"\n"), 0o644); err != nil {
			return err
		}
	}
	// The demo's run time is the sum of its stages' times, also when
	// some of them ran in an earlier, interrupted invocation.
	for _, sec := range sum.Stages {
		sum.Seconds += sec
	}
	if err := summariseDemo(&sum, *out, p); err != nil {
		return err
	}
	if err := rundir.WriteJSONFile(filepath.Join(*out, "summary.json"), sum); err != nil {
		return err
	}
	lines := demoLines(sum)
	for _, l := range lines {
		fmt.Fprintln(logf, l)
	}
	_, err = fmt.Fprintln(stdout, strings.Join(lines, "\n"))
	return err
}

// runDemoStage runs one subcommand; its stdout (its results) goes to
// OUT/logs/<stage>.txt and to the log, its progress to stderr.
func runDemoStage(ctx context.Context, st demoStage, out string, log io.Writer) error {
	c, ok := commands[st.cmd]
	if !ok {
		return fmt.Errorf("no command %q", st.cmd)
	}
	if err := os.MkdirAll(filepath.Join(out, "logs"), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "logs", st.name+".txt"))
	if err != nil {
		return err
	}
	defer f.Close()
	args := st.args
	if resumable(st.cmd) && hasCheckpoint(st.args) {
		args = append(append([]string(nil), args...), "--resume")
	} else if dir := flagValue(st.args, "--out"); dir != "" && st.cmd != "simulate" {
		// A stage cut short without a checkpoint starts again cleanly.
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	err = c.run(ctx, args, io.MultiWriter(f, log), log)
	if errors.Is(err, errHelp) {
		return fmt.Errorf("unexpected help request")
	}
	return err
}

// resumable lists the commands with --resume.
func resumable(cmd string) bool {
	switch cmd {
	case "pretrain", "align", "train-autoencoder", "tune":
		return true
	}
	return false
}

// hasCheckpoint reports whether a training stage's --out holds a
// checkpoint to resume from.
func hasCheckpoint(args []string) bool {
	dir := flagValue(args, "--out")
	if dir == "" {
		return false
	}
	_, ok := rundir.Latest(dir)
	return ok
}

func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// summariseDemo reads the evaluations (the first three always, the ridge
// to latents when the preset has it) and the ceiling.
func summariseDemo(sum *demoSummary, out string, p demoPreset) error {
	evals := []struct{ name, dir string }{
		{"ridge regression (pixels)", "eval-baseline"},
		{"LDM from noise (reference sampling)", "eval-noise"},
		{"LDM refining the ridge reconstruction", "eval"},
	}
	if p.LatentBaseline {
		evals = append(evals, struct{ name, dir string }{"ridge regression (autoencoder latents)", "eval-baseline-latents"})
	}
	for _, m := range evals {
		path := filepath.Join(out, m.dir, "metrics.json")
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var r struct {
			Metrics []evaluate.Metric `json:"metrics"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dm := demoMethod{Name: m.name, Metrics: map[string]float64{}, CILow: map[string]float64{}, CIHigh: map[string]float64{}}
		for _, x := range r.Metrics {
			dm.Metrics[x.Key], dm.CILow[x.Key], dm.CIHigh[x.Key] = x.Value, x.CILow, x.CIHigh
		}
		sum.Methods = append(sum.Methods, dm)
	}
	c, err := readCeiling(filepath.Join(out, "sim", "god"), "sbj_1")
	if err != nil {
		return err
	}
	sum.Ceiling = c.Values
	sum.Report = filepath.Join(out, "eval", "report.html")
	base, noise, init := sum.Methods[0], sum.Methods[1], sum.Methods[2]
	for _, k := range demoHeadline {
		for _, m := range []demoMethod{init, noise} {
			verdict := "does not beat"
			if m.Metrics[k] > base.Metrics[k] {
				verdict = "beats"
			}
			sum.Verdicts = append(sum.Verdicts, fmt.Sprintf("%s: %s %s the ridge baseline (%.3f vs %.3f)", k, m.Name, verdict, m.Metrics[k], base.Metrics[k]))
		}
	}
	return nil
}

// demoLines is the five-line summary printed at the end.
func demoLines(s demoSummary) []string {
	f := func(m demoMethod) string {
		return fmt.Sprintf("pair-wise %.3f [%.3f, %.3f], 50-way %.3f [%.3f, %.3f]",
			m.Metrics["pairwise_pcc"], m.CILow["pairwise_pcc"], m.CIHigh["pairwise_pcc"],
			m.Metrics["identify_pixel_50way"], m.CILow["identify_pixel_50way"], m.CIHigh["identify_pixel_50way"])
	}
	ceil := func(k string) string {
		if v, ok := s.Ceiling[k]; ok {
			return fmt.Sprintf("%.3f", v)
		}
		return "n/a"
	}
	return []string{
		fmt.Sprintf("report: %s  (demo took %s; metrics in %s)", s.Report, time.Duration(s.Seconds*float64(time.Second)).Round(time.Second), filepath.Dir(s.Report)),
		"LDM + ridge init:    " + f(s.Methods[2]),
		"LDM from noise:      " + f(s.Methods[1]),
		"ridge (pixels):      " + f(s.Methods[0]),
		fmt.Sprintf("chance 0.500 / 0.020; simulator's ideal observer (fMRI-space identification) 2-way %s, 50-way %s",
			ceil("identify_pixel_2way"), ceil("identify_pixel_50way")),
	}
}
