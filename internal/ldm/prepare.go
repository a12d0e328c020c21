package ldm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/visdec/visdec/internal/crossmodal"
	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/nn"
)

// Encoder is a pretrained fMRI encoder: its architecture and weights (with
// the reference's names: pos_embed, patch_embed.*, blocks.*, norm.*, …).
type Encoder struct {
	Path    string
	Config  fmrimae.Config
	Weights map[string]nn.Tensor
}

// LoadEncoder reads the fMRI encoder the LDM stage starts from: a phase-1
// (pretrain) or phase-2 (crossmodal) run directory, a visdec checkpoint, or a
// reference checkpoint (.pth: the MinD-Vis/paper fMRI encoder, whose pickled
// config gives the head count; otherwise the paper's 16 heads are assumed).
// Phase-2 runs store the fMRI encoder under the same names as phase 1, so
// both load alike.
func LoadEncoder(path string) (*Encoder, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		var head struct {
			Stage string `json:"stage"`
		}
		b, err := os.ReadFile(filepath.Join(path, "config.json"))
		if err != nil {
			return nil, fmt.Errorf("pretrained run: %w", err)
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(path, "config.json"), err)
		}
		if head.Stage == Stage {
			return nil, fmt.Errorf("%s is an LDM run; pass a phase-1 or phase-2 run (or use --resume)", path)
		}
		if head.Stage != "pretrain" {
			return loadPhase2Encoder(path)
		}
	}
	ck, err := fmrimae.ReadCheckpoint(path, fmrimae.PaperConfig())
	if err != nil {
		// A checkpoint file inside a phase-2 run needs its run's config.
		run := filepath.Dir(filepath.Dir(path))
		if filepath.Base(filepath.Dir(path)) == "checkpoints" && !isPretrainRun(run) {
			return nil, fmt.Errorf("%s is a checkpoint of the phase-2 run %s: pass the run directory (its newest checkpoint is used): %w", path, run, err)
		}
		return nil, err
	}
	return &Encoder{Path: ck.Path, Config: ck.Config, Weights: ck.Weights}, nil
}

// PrepareOptions says where a tune run's inputs come from.
type PrepareOptions struct {
	Preset Preset
	Tune   TuneConfig // settings; Model is filled in
	// Encoder is the pretrained fMRI encoder (LoadEncoder).
	Encoder *Encoder
	// AutoencoderRun is a train-autoencoder run directory. It may be empty
	// when InitLDM is given: the checkpoint's first stage is used then.
	AutoencoderRun string
	// InitLDM is an LDM checkpoint (CompVis cin256-v2 model.ckpt, or a
	// MinD-Vis fine-tuned checkpoint) whose UNet (and conditioning model, if
	// it has one) initialises ours.
	InitLDM string
	// Data is the subject's dataset; its training pairs are used.
	Data    *data.Dataset
	Sources Sources
	Backend compute.Backend
}

// PrepareTune assembles a TuneJob: the model configuration (the preset's
// UNet, the encoder's architecture at the data's voxel count, the
// autoencoder's latent shape), the initial parameters (fresh, then the
// pretrained encoder, then the LDM checkpoint) and the training pairs at
// the autoencoder's resolution (imageops.Resize, as every stage).
func PrepareTune(o PrepareOptions) (TuneJob, []string, error) {
	var job TuneJob
	var notes []string
	d := o.Data
	if d == nil || d.Train.N == 0 || d.Train.Images == nil {
		return job, nil, fmt.Errorf("tune: the dataset has no training images")
	}
	var ck *Checkpoint
	if o.InitLDM != "" {
		var err error
		if ck, err = ReadCheckpoint(o.InitLDM); err != nil {
			return job, nil, err
		}
	}
	var aeCfg autoencoder.Config
	var aePs *nn.Params
	switch {
	case o.AutoencoderRun != "":
		var err error
		if aeCfg, aePs, err = autoencoder.Load(o.AutoencoderRun); err != nil {
			return job, nil, err
		}
	case ck != nil && len(ck.FirstStage) > 0:
		aeCfg = autoencoder.Cin256()
		aePs = autoencoder.NewParams(aeCfg, 0)
		res, err := aePs.Load(ck.FirstStage)
		if err != nil {
			return job, nil, fmt.Errorf("%s first stage: %w", o.InitLDM, err)
		}
		if len(res.Missing) > 0 {
			return job, nil, fmt.Errorf("%s: the first stage lacks %s (not a cin256-v2 VQ-f4)", o.InitLDM, res.Missing[0])
		}
		notes = append(notes, "first stage: the VQ-f4 of "+o.InitLDM)
	default:
		return job, nil, fmt.Errorf("tune: no autoencoder (give a train-autoencoder run, or an LDM checkpoint with a first stage)")
	}

	enc := o.Encoder.Config
	enc.NumVoxels = d.Voxels
	if o.Encoder.Config.NumVoxels != d.Voxels {
		notes = append(notes, fmt.Sprintf("fMRI encoder pos_embed resampled from %d to %d patches (nearest, as the reference)",
			o.Encoder.Config.NumPatches(), enc.NumPatches()))
	}
	cfg := NewConfig(o.Preset, CondConfig{Encoder: enc}, aeCfg.LatentShape())
	tc := o.Tune
	tc.Model = cfg
	if err := tc.Validate(); err != nil {
		return job, nil, err
	}
	ps := NewParams(cfg, tc.Seed)
	rep, err := ImportEncoder(ps, cfg.Cond, o.Encoder.Weights)
	if err != nil {
		return job, nil, fmt.Errorf("%s: %w", o.Encoder.Path, err)
	}
	notes = append(notes, fmt.Sprintf("fMRI encoder: %d tensors from %s", rep.Loaded, o.Encoder.Path))
	if ck != nil {
		r, err := ImportLDM(ps, ck)
		if err != nil {
			return job, nil, err
		}
		notes = append(notes, fmt.Sprintf("LDM: %d tensors from %s; kept initial: %d (e.g. time_embed_condtion, the conditioning model); ignored: %v",
			r.Loaded, o.InitLDM, len(r.Missing), r.Unexpected))
	}
	res := aeCfg.Resolution
	imgs := imageops.ResizeAll(d.Train.Images, d.Train.N, d.Train.H, d.Train.W, res, res)
	src := o.Sources
	src.InitLDM = o.InitLDM
	src.Autoencoder = o.AutoencoderRun
	src.Pretrained = o.Encoder.Path
	job = TuneJob{Config: tc, Params: ps, Autoencoder: aeCfg, FirstStage: aePs,
		Pairs:   Pairs{N: d.Train.N, Voxels: d.Voxels, FMRI: d.Train.FMRI, Res: res, Images: imgs},
		Sources: src, Backend: o.Backend}
	return job, notes, nil
}

// TestItemsFrom returns a dataset's test split as reconstruction inputs.
func TestItemsFrom(d *data.Dataset) (TestItems, error) {
	t := d.Test
	if t.N == 0 || t.Images == nil {
		return TestItems{}, fmt.Errorf("%s: no test items with images", d.Name)
	}
	return TestItems{N: t.N, Voxels: d.Voxels, FMRI: t.FMRI, H: t.H, W: t.W, Images: t.Images, IDs: t.StimulusID}, nil
}

// isPretrainRun reports whether dir holds a phase-1 run's config.json (or
// no readable config at all).
func isPretrainRun(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return true
	}
	var head struct {
		Stage string `json:"stage"`
	}
	return json.Unmarshal(b, &head) != nil || head.Stage == "" || head.Stage == "pretrain"
}

// loadPhase2Encoder reads the fMRI encoder of a phase-2 (align) run.
func loadPhase2Encoder(runDir string) (*Encoder, error) {
	cfg, ps, path, err := crossmodal.LoadFMRIEncoder(runDir)
	if err != nil {
		return nil, err
	}
	return &Encoder{Path: path, Config: cfg, Weights: ps.StateDict()}, nil
}
