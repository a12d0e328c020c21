package ldm

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/safetensors"
)

// FirstStageFile is where a tune run keeps a copy of its frozen first stage,
// so that the run directory alone rebuilds the whole pipeline.
const FirstStageFile = "first_stage.safetensors"

// SaveFirstStage writes the autoencoder's parameters to RUN/first_stage.safetensors
// (atomically; its configuration goes to config.json).
func SaveFirstStage(runDir string, ps *nn.Params) error {
	names := ps.Names()
	ts := map[string]safetensors.Tensor{}
	for _, p := range ps.List() {
		ts[p.Name] = safetensors.Tensor{Shape: p.Shape, Data: p.Data}
	}
	return safetensors.WriteFile(filepath.Join(runDir, FirstStageFile), names, ts, map[string]string{"format": "visdec-first-stage-1"})
}

// Model is a fine-tuned LDM read back from its run directory.
type Model struct {
	Run        RunConfig
	Config     Config
	Params     *nn.Params // UNet + conditioning
	Checkpoint string     // the file the parameters came from
	FirstStage *nn.Params // the autoencoder, configured by Run.Autoencoder
}

// LoadRun reads a tune run: config.json, the named checkpoint ("" for the
// newest, else "final", "best", "epoch-0005", … or a path to a
// .safetensors file) and the first stage.
func LoadRun(runDir, checkpoint string) (*Model, error) {
	var rc RunConfig
	if err := rundir.ReadJSON(runDir, "config.json", &rc); err != nil {
		return nil, err
	}
	if rc.Stage != Stage {
		return nil, fmt.Errorf("%s: stage %q is not an LDM tune run", filepath.Join(runDir, "config.json"), rc.Stage)
	}
	cfg := rc.Tune.Model
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, "config.json"), err)
	}
	if err := rc.Autoencoder.Validate(); err != nil {
		return nil, fmt.Errorf("%s: autoencoder: %w", filepath.Join(runDir, "config.json"), err)
	}
	if ls := rc.Autoencoder.LatentShape(); cfg.UNet.ImageSize != ls[0] || cfg.latentChannels() != ls[2] {
		return nil, fmt.Errorf("%s: the UNet takes %d²×%d latents, the autoencoder makes %v", filepath.Join(runDir, "config.json"),
			cfg.UNet.ImageSize, cfg.latentChannels(), ls)
	}
	path := checkpoint
	switch {
	case checkpoint == "":
		p, ok := rundir.Latest(runDir)
		if !ok {
			return nil, fmt.Errorf("%s: no checkpoint", runDir)
		}
		path = p
	case filepath.Ext(checkpoint) != ".safetensors":
		path = filepath.Join(runDir, "checkpoints", checkpoint+".safetensors")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	ck, err := rundir.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	ps := NewParams(cfg, 0)
	res, err := ps.Load(ck.Params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(res.Missing) > 0 {
		return nil, fmt.Errorf("%s: lacks %d parameters of the configured model (first: %s)", path, len(res.Missing), res.Missing[0])
	}
	fs, err := loadFirstStage(filepath.Join(runDir, FirstStageFile), rc.Autoencoder)
	if err != nil {
		return nil, err
	}
	return &Model{Run: rc, Config: cfg, Params: ps, Checkpoint: path, FirstStage: fs}, nil
}

func loadFirstStage(path string, cfg autoencoder.Config) (*nn.Params, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("first stage: %w", err)
	}
	src := map[string]nn.Tensor{}
	for name, t := range f.Tensors {
		src[name] = nn.Tensor{Shape: t.Shape, Data: t.Data}
	}
	ps := autoencoder.NewParams(cfg, 0)
	res, err := ps.Load(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(res.Missing) > 0 {
		return nil, fmt.Errorf("%s: lacks %d autoencoder parameters (first: %s)", path, len(res.Missing), res.Missing[0])
	}
	return ps, nil
}
