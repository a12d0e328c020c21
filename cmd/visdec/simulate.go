package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/visdec/visdec/internal/simulate"
)

func init() {
	register(&command{
		name:  "simulate",
		args:  "--out DIR [--seed N] [--design god|hcp|miyawaki] [--subjects K] [--stimuli procedural|fashion-mnist|DIR]",
		short: "write simulated subjects in the publishers' formats, with their known ceiling",
		long: `Simulates visual cortex with a seeded forward encoding model (pRF-pooled
Gabor energy in V1-hV4, a distributed category code in LOC/FFA/PPA,
correlated and stimulus-locked noise) and writes:

  god, miyawaki: DIR/sbj_N.npz, images_256.npz, imagenet_class_index.json,
                 imagenet_{training,testing}_label.csv (the GOD loader's layout)
  hcp:           DIR/<subject>/HCP_visual_voxel.npz (V1..V4, frames x voxels)
  all:           DIR/truth/ (model parameters, ceiling.json, reliabilities)

The same seed gives byte-identical files. The ideal-observer ceiling printed
at the end is the accuracy every decoder is measured against.
--stimuli fashion-mnist reads ` + simulate.FashionMNISTDir + `
(Debian package dataset-fashion-mnist); fashion-mnist:DIR reads another folder.`,
		run: runSimulate,
	})
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := simulate.DefaultConfig()
	fs := newFlagSet(commands["simulate"], stdout)
	out := fs.String("out", "", "output directory (required)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed gives byte-identical files")
	design := fs.String("design", string(cfg.Design), "experiment to mirror: god, hcp or miyawaki")
	subjects := fs.Int("subjects", 0, "number of subjects (default 1; hcp: 20)")
	fs.StringVar(&cfg.Stimuli, "stimuli", cfg.Stimuli, "procedural, fashion-mnist[:DIR], or a folder of PNG/JPEG images with one sub-folder per category")
	tiny := fs.Bool("tiny", false, "a tiny design (64-pixel renders, 20+10 categories, 600 voxels) that runs in seconds")
	imageSize := fs.Int("image-size", 0, "render size in pixels, a divisor of 256 (files are always 256x256; default 256, 64 with --tiny)")
	voxels := fs.Int("voxels", 0, "mean visual-cortex voxels per subject (default 4500, 600 with --tiny)")
	noise := fs.Float64("noise", cfg.NoiseScale, "noise scale: multiplies every noise standard deviation")
	fs.IntVar(&cfg.Workers, "workers", 0, "goroutines (0: all cores)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *out == "" {
		return usagef("--out is required")
	}
	if *tiny {
		t := simulate.TinyConfig()
		t.Seed, t.Stimuli, t.Workers = cfg.Seed, cfg.Stimuli, cfg.Workers
		cfg = t
	}
	cfg.Design = simulate.Design(*design)
	cfg.NoiseScale = *noise
	if *subjects > 0 {
		cfg.Subjects = *subjects
	}
	cfg = cfg.WithDesignDefaults(*subjects > 0)
	if *imageSize > 0 {
		cfg.ImageSize = *imageSize
	}
	if *voxels > 0 {
		cfg.Voxels = *voxels
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	sum, err := simulate.Run(ctx, cfg, *out, stderr)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("simulate: %w", err)
		}
		return err
	}
	printSimulateSummary(stdout, cfg, sum)
	return nil
}

func printSimulateSummary(w io.Writer, cfg simulate.Config, s *simulate.Summary) {
	fmt.Fprintf(w, "simulated design %s, seed %d, stimuli %s, noise scale %g, in %.1f s\n", s.Design, cfg.Seed, s.Source, cfg.NoiseScale, s.Elapsed.Seconds())
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "files (%d):\n", len(s.Files))
	for _, f := range s.Files {
		fmt.Fprintf(w, "  %s\n", f)
	}
	for _, sub := range s.Subjects {
		fmt.Fprintf(w, "%s: %d voxels:", sub.Name, sub.Voxels)
		names := simulate.MaskNames
		if s.Design == simulate.DesignHCP {
			names = []string{"V1", "V2", "V3", "V4"}
		}
		for _, n := range names {
			fmt.Fprintf(w, " %s %d", n, sub.ROIs[n])
		}
		fmt.Fprintln(w)
		c := sub.Ceiling
		if c == nil {
			continue
		}
		fmt.Fprintf(w, "  ideal-observer identification (%s voxels, mean of %d repeats):", c.Voxels, c.Repeats)
		for _, id := range c.Identification {
			fmt.Fprintf(w, "  %d-way %.3f (expected %.3f±%.3f, chance %.3f)", id.N, id.Accuracy, id.Expected, id.ExpectedSD, id.Chance)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  split-half reliability (VC): median %.3f, above 0.3: %.0f%%\n", c.Reliability.MedianVC, 100*c.Reliability.FractionAbove["0.3"])
	}
}
