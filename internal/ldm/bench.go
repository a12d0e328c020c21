package ldm

import (
	"math/rand/v2"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/ldm/sampler"
	"github.com/visdec/visdec/internal/nn"
)

// SampleBench times the pieces of Reconstruct on random inputs: the
// compiled denoising step and the VQ decoder (visdec bench sample).
type SampleBench struct {
	den   *denoiser
	codec *autoencoder.Codec
	ls    []int
	batch int
	x     []float32
}

// NewSampleBench prepares m's denoising step for a batch, with the context
// of random fMRI.
func NewSampleBench(backend compute.Backend, m *Model, batch int, seed uint64) (*SampleBench, error) {
	den, err := newDenoiser(backend, m, 1)
	if err != nil {
		return nil, err
	}
	codec, err := autoencoder.NewCodec(backend, m.Run.Autoencoder, m.FirstStage)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	v := m.Config.Cond.Encoder.NumVoxels
	if err := den.setContext(sampler.Normal(rng, batch*v), batch, 1); err != nil {
		return nil, err
	}
	ls := m.Run.Autoencoder.LatentShape()
	return &SampleBench{den: den, codec: codec, ls: ls, batch: batch, x: sampler.Normal(rng, batch*ls[0]*ls[1]*ls[2])}, nil
}

// Step runs one denoising step at timestep t.
func (s *SampleBench) Step(t int) error {
	ts := make([]int, s.batch)
	for i := range ts {
		ts[i] = t
	}
	_, err := s.den.eps(s.x, ts, s.ls)
	return err
}

// Decode decodes the batch and returns its wall time in seconds.
func (s *SampleBench) Decode() (float64, error) {
	t0 := time.Now()
	_, err := s.codec.Decode(s.x, s.batch)
	return time.Since(t0).Seconds(), err
}

// TuneBench times fine-tuning steps on random inputs (visdec bench tune).
type TuneBench struct {
	st    stepper
	cfg   TuneConfig
	sched *sampler.Schedule
	rng   *rand.Rand
	cond  *tensors.Tensor
	lr    float64
}

// NewTuneBench prepares the training step of cfg over ps (its trainable set
// is applied here).
func NewTuneBench(backend compute.Backend, ps *nn.Params, cfg TuneConfig, rng *rand.Rand) (*TuneBench, error) {
	SetTrainable(ps, cfg.Trainable)
	if cfg.FreezeEncoder {
		ps.Freeze(CondPrefix + "mae.")
	}
	st, err := newStepper(backend, ps, cfg)
	if err != nil {
		return nil, err
	}
	sched, err := Schedule(cfg.Model)
	if err != nil {
		return nil, err
	}
	b, enc := cfg.BatchSize, cfg.Model.Cond.Encoder
	var cond *tensors.Tensor
	if cfg.FreezeEncoder {
		cond = nn.HostTensor(sampler.Normal(rng, b*enc.NumPatches()*enc.EmbedDim), b, enc.NumPatches(), enc.EmbedDim)
	} else {
		cond = nn.HostTensor(sampler.Normal(rng, b*enc.NumVoxels), b, enc.NumVoxels)
	}
	return &TuneBench{st: st, cfg: cfg, sched: sched, rng: rng, cond: cond, lr: cfg.LR}, nil
}

// Step runs one training step on fresh random latents, t and ε.
func (b *TuneBench) Step() error {
	in := newBatch(b.sched, b.cfg.Model, b.rng, b.cfg.BatchSize)
	for i := range in.z0 {
		in.z0[i] = float32(b.rng.NormFloat64())
	}
	_, err := b.st.Step(b.lr, in.tensors(b.cfg.Model, b.cond)...)
	return err
}
