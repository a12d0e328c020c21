package simulate

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Summary describes what a simulation wrote.
type Summary struct {
	Design   Design
	Dir      string
	Files    []string
	Source   string
	Subjects []SubjectSummary
	Notes    []string
	Elapsed  time.Duration
}

// SubjectSummary is one subject's voxel counts and ceiling.
type SubjectSummary struct {
	Name    string
	Voxels  int            // n_all
	ROIs    map[string]int // voxels per ROI (GOD masks, or V1..V4 for HCP)
	Ceiling *Ceiling       // nil for HCP
}

// Run simulates cfg's design and writes it under dir: the publishers'
// files, and truth/ with the encoding-model parameters, the ceiling and
// the reliabilities. Progress goes to log (nil: none).
func Run(ctx context.Context, cfg Config, dir string, log io.Writer) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	log = orDiscard(log)
	start := time.Now()
	if err := os.MkdirAll(filepath.Join(dir, "truth"), 0o755); err != nil {
		return nil, err
	}
	sum := &Summary{Design: cfg.Design, Dir: dir}
	var err error
	switch cfg.Design {
	case DesignHCP:
		sum.Source = "procedural stream"
		err = writeHCP(ctx, cfg, dir, log, sum)
	default:
		err = writeGOD(ctx, cfg, dir, log, sum)
	}
	if err != nil {
		return nil, err
	}
	cpath := filepath.Join(dir, "truth", "config.json")
	if err := writeJSON(cpath, truthConfig(cfg)); err != nil {
		return nil, err
	}
	sum.Files = append(sum.Files, cpath)
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// writeGOD simulates the god or miyawaki design: shared files, then one
// subject at a time, then the ceiling.
func writeGOD(ctx context.Context, cfg Config, dir string, log io.Writer, sum *Summary) error {
	var st *Stimuli
	var err error
	if cfg.Design == DesignMiyawaki {
		st, err = MakeMiyawakiStimuli(ctx, cfg, log)
	} else {
		st, err = MakeGODStimuli(ctx, cfg, log)
	}
	if err != nil {
		return err
	}
	sum.Source, sum.Notes = st.Source, st.Notes
	files, err := writeGODShared(dir, st)
	if err != nil {
		return err
	}
	sum.Files = append(sum.Files, files...)
	cf := CeilingFile{Design: cfg.Design, Seed: cfg.Seed, Method: ceilingMethod}
	for k := 1; k <= cfg.Subjects; k++ {
		g, err := SimulateGODSubject(ctx, cfg, st, k, log)
		if err != nil {
			return fmt.Errorf("subject %d: %w", k, err)
		}
		files, err := writeGODSubject(dir, g)
		if err != nil {
			return err
		}
		sum.Files = append(sum.Files, files...)
		rois := map[string]int{}
		for _, m := range MaskNames {
			rois[m] = len(g.ROIIndex(m))
		}
		sum.Subjects = append(sum.Subjects, SubjectSummary{Name: g.Name, Voxels: g.V, ROIs: rois, Ceiling: g.Ceiling})
		cf.Subjects = append(cf.Subjects, *g.Ceiling)
	}
	cpath := filepath.Join(dir, "truth", "ceiling.json")
	if err := writeJSON(cpath, cf); err != nil {
		return err
	}
	sum.Files = append(sum.Files, cpath)
	return nil
}

// truthConfig is truth/config.json: the settings and the model's fixed
// constants, so the truth files can be interpreted without this code.
func truthConfig(cfg Config) map[string]any {
	cfg.Workers = 0 // how many goroutines ran is not part of the simulation
	cats := []string{}
	for i, n := range ROINames {
		cats = append(cats, fmt.Sprintf("%d=%s", i, n))
	}
	return map[string]any{
		"config":            cfg,
		"roi_codes":         cats,
		"field_of_view_deg": fieldOfView,
		"feature_grid":      GridSize,
		"sf_levels_cycles_per_image": func() []float64 {
			var out []float64
			for l := 0; l < NumLevels; l++ {
				out = append(out, LevelCyclesPerImage(l))
			}
			return out
		}(),
		"orientations":        NumOrientations,
		"pooled_energy_ref":   pooledRef,
		"colour_gain":         colourGain,
		"embedding_dim":       embedDim,
		"noise_groups":        []string{"physiological", "feature", "category"},
		"noise_amplitudes":    map[string]float64{"physiological": defaultPhysio, "feature": defaultFeature, "category": defaultCategory, "thermal": defaultThermal, "locked_fraction": defaultLocked, "idiosyncratic": defaultIdio},
		"response_model":      "mu = baseline + gain*drive*(low_weight*(P/P0)^exponent + colour_gain*(colour_rg*RG + colour_by*BY) + cat_weight*cat_loadings.embedding + face_weight*face + place_weight*place)",
		"hcp_tr_seconds":      hcpTR,
		"hcp_subject_id_base": firstHCPID,
	}
}

func mkdirFor(path string) error { return os.MkdirAll(filepath.Dir(path), 0o755) }

// repeats is the number of test repeats of the design.
func (c Config) repeats() int {
	if c.Design == DesignMiyawaki {
		return c.MiyawakiRepeats
	}
	return c.TestRepeats
}
