package crossmodal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
)

// ReadConfig reads the configuration of an alignment run directory.
func ReadConfig(runDir string) (Config, error) {
	var saved struct {
		Stage  string `json:"stage"`
		Config Config `json:"config"`
	}
	if err := rundir.ReadJSON(runDir, "config.json", &saved); err != nil {
		return Config{}, err
	}
	if saved.Stage != "align" {
		return Config{}, fmt.Errorf("%s: a %q run, not an align run", filepath.Join(runDir, "config.json"), saved.Stage)
	}
	if err := saved.Config.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", filepath.Join(runDir, "config.json"), err)
	}
	return saved.Config, nil
}

// Checkpoint returns the checkpoint of an alignment run that later stages
// use: "best" when the run selected on validation and has one, else
// "final", else the newest one (a run still in progress).
func Checkpoint(runDir string) (string, error) {
	for _, name := range []string{"best", "final"} {
		p := filepath.Join(runDir, "checkpoints", name+".safetensors")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, ok := rundir.Latest(runDir); ok {
		return p, nil
	}
	return "", fmt.Errorf("%s: no checkpoint", runDir)
}

// LoadFMRIEncoder reads the fMRI model of an alignment run (Checkpoint
// picks which) as a Phase-1 model: its fmrimae configuration (DecoderDepth
// is Phase 2's cut) and the parameters fmrimae.Declare declares, with the
// Phase-1 names. The cross-attention modules are left out: only the
// encoder reaches the LDM stage (cad-spec §6 item 27), so the LDM stage can
// start from a Phase-1 run (fmrimae.LoadEncoder) or a Phase-2 run alike. It
// also returns the checkpoint path.
func LoadFMRIEncoder(runDir string) (fmrimae.Config, *nn.Params, string, error) {
	cfg, err := ReadConfig(runDir)
	if err != nil {
		return fmrimae.Config{}, nil, "", err
	}
	path, err := Checkpoint(runDir)
	if err != nil {
		return fmrimae.Config{}, nil, "", err
	}
	c, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return fmrimae.Config{}, nil, "", err
	}
	src := map[string]nn.Tensor{}
	for name, t := range c.Params {
		if rest, ok := strings.CutPrefix(name, fmriPrefix); ok {
			src[rest] = t
		}
	}
	ps := nn.NewParams()
	fmrimae.Declare(nn.NewInit(ps, cfg.Seed), cfg.FMRI)
	if err := loadAll(ps, src, path); err != nil {
		return fmrimae.Config{}, nil, "", err
	}
	return cfg.FMRI, ps, path, nil
}
