package ldm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/ldm/autoencoder"
	"github.com/visdec/visdec/internal/ldm/sampler"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/progress"
)

// ReconstructConfig holds the sampling settings (cad-spec §4.6).
type ReconstructConfig struct {
	Samples int     `json:"samples"` // reconstructions per test item (paper: 5)
	Steps   int     `json:"steps"`   // sampler steps S (paper: 250)
	Sampler string  `json:"sampler"` // "plms" (the reference's) or "ddim"
	Eta     float64 `json:"eta"`     // DDIM η (0: deterministic given x_T)
	// Guidance is the classifier-free guidance scale; 1 (the reference)
	// evaluates the conditional model only. Other values are an extension:
	// ε = ε_u + g·(ε_c − ε_u), with ε_u conditioned on an all-zero fMRI
	// vector, the unconditional input a model tuned with CondDropout > 0
	// has learned (the reference trains none).
	Guidance float64 `json:"guidance"`
	Seed     uint64  `json:"seed"`
	// Limit keeps only the first Limit test items (0: all).
	Limit int `json:"limit"`
	// Batch is the number of images denoised together (a multiple of
	// Samples; 0: one item's samples at a time).
	Batch int `json:"batch"`
	// Strength < 1 starts each walk from the test item's initial image
	// (TestItems.Init, e.g. a ridge decoder's reconstruction) encoded and
	// noised to the timestep Strength·T, instead of from pure noise: the
	// img2img refinement of Takagi & Nishimoto (CVPR 2023) and Ozcelik &
	// VanRullen (Brain-Diffuser, 2023), an extension (the reference: 1).
	Strength float64 `json:"strength,omitempty"`
	// NoQuantize decodes the sampled latents without snapping them to the
	// codebook (VQModelInterface.decode's force_not_quantize). The
	// reference quantises; a small codebook then costs detail.
	NoQuantize bool `json:"no_quantize,omitempty"`
}

// partial reports whether the walks start from initial images.
func (c ReconstructConfig) partial() bool { return c.Strength > 0 && c.Strength < 1 }

// DefaultReconstruct is the reference's sampling: PLMS, 250 steps, 5 samples,
// η 0, no guidance.
func DefaultReconstruct() ReconstructConfig {
	return ReconstructConfig{Samples: 5, Steps: 250, Sampler: "plms", Guidance: 1, Seed: 2022}
}

// Validate reports every problem, each naming the field.
func (c ReconstructConfig) Validate(timesteps int) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Samples < 1 {
		bad("reconstruct: Samples %d must be ≥ 1", c.Samples)
	}
	if c.Steps < 1 || c.Steps > timesteps {
		bad("reconstruct: Steps %d must be in 1..%d", c.Steps, timesteps)
	}
	if c.Sampler != "plms" && c.Sampler != "ddim" {
		bad("reconstruct: Sampler %q must be plms or ddim", c.Sampler)
	}
	if c.Sampler == "plms" && c.Eta != 0 {
		bad("reconstruct: PLMS needs Eta 0 (got %g)", c.Eta)
	}
	if c.Eta < 0 || c.Guidance <= 0 || c.Limit < 0 || c.Batch < 0 {
		bad("reconstruct: need Eta ≥ 0, Guidance > 0, Limit ≥ 0, Batch ≥ 0")
	}
	if c.Strength < 0 || c.Strength > 1 || math.IsNaN(c.Strength) {
		bad("reconstruct: Strength %g must be in [0, 1]", c.Strength)
	}
	return errors.Join(errs...)
}

// TestItems are the items to reconstruct: fMRI rows and their stimuli at
// any resolution (resized to the autoencoder's with imageops.Resize, as
// every stage resizes stimuli).
type TestItems struct {
	N, Voxels int
	FMRI      []float32 // [N, V]
	H, W      int
	Images    []uint8  // [N, H, W, 3]
	IDs       []string // stimulus ids, for file names and the report (optional)
	// Init holds each item's initial image [N, InitH, InitW, 3] for
	// ReconstructConfig.Strength < 1 (nil otherwise).
	Init         []uint8
	InitH, InitW int
	// Notes are the data loader's notes (e.g. how the test fMRI was
	// normalised, cad-spec §6 item 2); reconstruct.json records them.
	Notes []string
}

// ReconstructResult summarises a reconstruction run.
type ReconstructResult struct {
	Items          int               `json:"items"`
	Samples        int               `json:"samples"`
	Steps          int               `json:"steps"`
	Sampler        string            `json:"sampler"`
	Resolution     int               `json:"resolution"`
	Seconds        float64           `json:"seconds"`
	SecondsPerStep float64           `json:"seconds_per_step"`  // one denoising step of one batch
	SecondsPerImg  float64           `json:"seconds_per_image"` // sampling + decoding, per reconstruction
	Batch          int               `json:"batch"`
	Checkpoint     string            `json:"checkpoint"`
	Config         ReconstructConfig `json:"config"`
	Notes          []string          `json:"notes,omitempty"`
}

// Reconstruct samples rc.Samples reconstructions of every test item from a
// fine-tuned model and writes to outDir: items/NNN_gt.png and
// items/NNN_sK.png, grid.png (rows = items, columns = ground truth then the
// samples), samples.npz ("samples", uint8 [N, 1+S, H, W, 3], index 0 = the
// ground truth, as the reference's evaluation expects) and reconstruct.json.
//
// One denoising-step graph is compiled and looped over the timesteps; the
// context is computed once per batch. The initial noise x_T is drawn on the
// host from a generator seeded by (Seed, item), so for PLMS and DDIM with
// η = 0 the samples of an item do not depend on how items are batched (up
// to the backend's floating-point reductions); DDIM's per-step noise (η > 0)
// is seeded per batch. Runs are deterministic on a given backend.
func Reconstruct(ctx context.Context, m *Model, items TestItems, rc ReconstructConfig, outDir string, backend compute.Backend, stderr io.Writer) (ReconstructResult, error) {
	var res ReconstructResult
	cfg := m.Config
	if err := rc.Validate(cfg.Timesteps); err != nil {
		return res, err
	}
	if items.Voxels != cfg.Cond.Encoder.NumVoxels {
		return res, fmt.Errorf("reconstruct: the test fMRI has %d voxels, the model wants %d", items.Voxels, cfg.Cond.Encoder.NumVoxels)
	}
	if len(items.FMRI) != items.N*items.Voxels || len(items.Images) != items.N*items.H*items.W*3 || items.N < 1 {
		return res, fmt.Errorf("reconstruct: inconsistent test items (N=%d, %d fMRI values, %d image bytes)", items.N, len(items.FMRI), len(items.Images))
	}
	if rc.partial() && (items.InitH < 1 || items.InitW < 1 || len(items.Init) != items.N*items.InitH*items.InitW*3) {
		return res, fmt.Errorf("reconstruct: strength %g needs an initial image per test item (%d items, %d initial image bytes of %dx%d)",
			rc.Strength, items.N, len(items.Init), items.InitH, items.InitW)
	}
	n := items.N
	if rc.Limit > 0 && rc.Limit < n {
		n = rc.Limit
	}
	s := rc.Samples
	batch := rc.Batch
	if batch < s {
		batch = s
	}
	perBatch := batch / s // items per batch
	batch = perBatch * s

	ae := m.Run.Autoencoder
	codec, err := autoencoder.NewCodec(backend, ae, m.FirstStage)
	if err != nil {
		return res, err
	}
	den, err := newDenoiser(backend, m, rc.Guidance)
	if err != nil {
		return res, err
	}
	sched, err := Schedule(cfg)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(filepath.Join(outDir, "items"), 0o755); err != nil {
		return res, err
	}
	res = ReconstructResult{Items: n, Samples: s, Steps: rc.Steps, Sampler: rc.Sampler, Resolution: ae.Resolution,
		Batch: batch, Checkpoint: m.Checkpoint, Config: rc, Notes: items.Notes}

	r := ae.Resolution
	isz := r * r * 3
	out := make([]uint8, n*(1+s)*isz)
	ls := ae.LatentShape()
	lsz := ls[0] * ls[1] * ls[2]
	nBatches := (n + perBatch - 1) / perBatch
	taus, err := sampler.Timesteps("uniform", rc.Steps, cfg.Timesteps)
	if err != nil {
		return res, err
	}
	iters := len(taus) // more than Steps when Steps does not divide T, as the reference
	opt0 := sampler.Options{Steps: rc.Steps, Eta: rc.Eta, Strength: rc.Strength}
	startT, err := sampler.StartT(sched, opt0)
	if err != nil {
		return res, err
	}
	if rc.partial() {
		iters = 0
		for _, t := range taus {
			if t <= startT {
				iters++
			}
		}
	}
	bar := progress.New(orDiscard(stderr), "reconstruct", nBatches*iters)
	start := time.Now()
	var stepTime time.Duration
	calls := 0
	for bi := range nBatches {
		lo, hi := bi*perBatch, min((bi+1)*perBatch, n)
		// Pad the last batch with copies of its last item so that one
		// compiled graph serves every call; padded results are dropped.
		fmri := make([]float32, perBatch*items.Voxels)
		xT := make([]float32, batch*lsz)
		for k := range perBatch {
			i := min(lo+k, hi-1)
			copy(fmri[k*items.Voxels:], items.FMRI[i*items.Voxels:(i+1)*items.Voxels])
			rng := rand.New(rand.NewPCG(rc.Seed, uint64(i)))
			for j := range s * lsz {
				xT[k*s*lsz+j] = float32(rng.NormFloat64())
			}
		}
		if rc.partial() {
			if xT, err = initialLatents(codec, items, xT, lo, hi, perBatch, s, r, sched, startT, cfg.scale()); err != nil {
				return res, err
			}
		}
		if err := den.setContext(fmri, perBatch, s); err != nil {
			return res, err
		}
		eps := func(x []float32, t []int) ([]float32, error) {
			ts := time.Now()
			e, err := den.eps(x, t, ls)
			stepTime += time.Since(ts)
			calls++
			return e, err
		}
		opt := opt0
		opt.Noise = sampler.NewRNG(rc.Seed, 0xd1a+uint64(bi))
		opt.OnStep = func(st sampler.Step) {
			bar.Update(bi*iters+st.I+1, fmt.Sprintf("items %d-%d of %d", lo+1, hi, n))
		}
		var z []float32
		if rc.Sampler == "plms" {
			z, err = sampler.PLMS(ctx, sched, xT, batch, eps, opt)
		} else {
			z, err = sampler.DDIM(ctx, sched, xT, batch, eps, opt)
		}
		if err != nil {
			return res, err
		}
		scaleLatents(z, 1/cfg.scale())
		decode := codec.Decode
		if rc.NoQuantize {
			decode = codec.DecodeNoQuant
		}
		img, err := decode(z, batch)
		if err != nil {
			return res, err
		}
		u8 := autoencoder.ToUint8(img)
		for k := 0; k < hi-lo; k++ {
			i := lo + k
			base := i * (1 + s) * isz
			gt := imageops.Resize(items.Images[i*items.H*items.W*3:(i+1)*items.H*items.W*3], items.H, items.W, r, r)
			copy(out[base:], autoencoder.ToUint8(autoencoder.ImagesToFloat(gt)))
			copy(out[base+isz:base+(1+s)*isz], u8[k*s*isz:(k+1)*s*isz])
		}
	}
	bar.Finish(fmt.Sprintf("%d items", n))
	res.Seconds = time.Since(start).Seconds()
	if calls > 0 {
		res.SecondsPerStep = stepTime.Seconds() / float64(calls)
	}
	res.SecondsPerImg = res.Seconds / float64(n*s)
	if err := writeOutputs(outDir, out, n, s, r, items.IDs); err != nil {
		return res, err
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := npy.AtomicWrite(filepath.Join(outDir, "reconstruct.json"), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return res, err
	}
	return res, nil
}

// initialLatents encodes the initial images of items lo..hi (padded to
// perBatch like the fMRI) and noises each of their s copies to startT with
// the item's seeded noise, already drawn into noise [perBatch·s, …].
func initialLatents(codec *autoencoder.Codec, items TestItems, noise []float32, lo, hi, perBatch, s, r int,
	sched *sampler.Schedule, startT int, scale float32) ([]float32, error) {
	isz := items.InitH * items.InitW * 3
	img := make([]uint8, 0, perBatch*r*r*3)
	for k := range perBatch {
		i := min(lo+k, hi-1)
		img = append(img, imageops.Resize(items.Init[i*isz:(i+1)*isz], items.InitH, items.InitW, r, r)...)
	}
	z, err := codec.Encode(autoencoder.ImagesToFloat(img), perBatch)
	if err != nil {
		return nil, fmt.Errorf("reconstruct: initial images: %w", err)
	}
	scaleLatents(z, scale)
	lsz := len(z) / perBatch
	z0 := make([]float32, len(noise))
	for k := range perBatch {
		for j := range s {
			copy(z0[(k*s+j)*lsz:], z[k*lsz:(k+1)*lsz])
		}
	}
	return sampler.NoiseTo(sched, z0, noise, startT)
}

// writeOutputs writes the PNGs, the grid and samples.npz.
func writeOutputs(outDir string, data []uint8, n, s, r int, ids []string) error {
	isz := r * r * 3
	tiles := make([][]uint8, 0, n*(1+s))
	for i := range n {
		name := fmt.Sprintf("%03d", i)
		if i < len(ids) && ids[i] != "" {
			name += "_" + safeName(ids[i])
		}
		for k := 0; k <= s; k++ {
			img := data[(i*(1+s)+k)*isz : (i*(1+s)+k+1)*isz]
			tiles = append(tiles, img)
			suffix := "gt"
			if k > 0 {
				suffix = fmt.Sprintf("s%d", k)
			}
			if err := imageops.WritePNG(filepath.Join(outDir, "items", name+"_"+suffix+".png"), img, r, r); err != nil {
				return err
			}
		}
	}
	grid, gh, gw := imageops.Grid(tiles, n, 1+s, r, r, 2)
	if err := imageops.WritePNG(filepath.Join(outDir, "grid.png"), grid, gh, gw); err != nil {
		return err
	}
	smp, err := evaluate.NewSamples(data, n, s, r, r)
	if err != nil {
		return err
	}
	return evaluate.WriteSamples(filepath.Join(outDir, "samples.npz"), smp)
}

// safeName keeps letters, digits, '.', '-' and '_' of a stimulus id.
func safeName(s string) string {
	out := []rune{}
	for _, c := range s {
		if c == '.' || c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			out = append(out, c)
		}
	}
	return string(out)
}

// denoiser holds the compiled graphs of the sampling loop: the context of a
// batch (computed once) and one denoising step ε̂(x_t, t, c).
type denoiser struct {
	cfg      Config
	params   []*tensors.Tensor
	condFwd  *nn.Forward
	epsFwd   *nn.Forward
	guided   bool
	guidance float64
	sched    *sampler.Schedule
	context  *tensors.Tensor // [B, SeqLen, CondDim] (twice B with guidance: conditional then unconditional)
	concat   *tensors.Tensor // the ridge guess [B, h, w, c] with RidgeConcat (likewise doubled)
}

func newDenoiser(backend compute.Backend, m *Model, guidance float64) (*denoiser, error) {
	cfg := m.Config
	guided := guidance != 1
	d := &denoiser{cfg: cfg, params: nn.ParamTensors(m.Params), guided: guided, guidance: guidance}
	var err error
	if d.sched, err = Schedule(cfg); err != nil {
		return nil, err
	}
	d.condFwd, err = nn.NewForward(backend, m.Params.Names(), func(v nn.Vars, in []*Node) []*Node {
		out := []*Node{Condition(v.In("cond_stage_model"), cfg.Cond, in[0])}
		if cfg.RidgeConcat {
			out = append(out, RidgeLatent(v, cfg, in[0]))
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	d.epsFwd, err = nn.NewForward(backend, m.Params.Names(), func(v nn.Vars, in []*Node) []*Node {
		// x [B,h,w,c], t [B], context, √ᾱ_t [B], √(1−ᾱ_t) [B], guidance
		// scale, and with RidgeConcat the ridge guess.
		x, t, c, sa, so := in[0], in[1], in[2], in[3], in[4]
		var concat *Node
		if cfg.RidgeConcat {
			concat = in[6]
		}
		b := x.Shape().Dimensions[0]
		eps := func(x, t *Node) *Node {
			out := EpsFromContext(v, cfg, x, t, c, concat)
			if !cfg.predictsX0() {
				return out
			}
			n := x.Shape().Dimensions[0]
			a, s := Reshape(sa, b, 1, 1, 1), Reshape(so, b, 1, 1, 1)
			if n != b {
				a, s = Concatenate([]*Node{a, a}, 0), Concatenate([]*Node{s, s}, 0)
			}
			return Div(Sub(x, Mul(a, out)), s) // ε from x̂0
		}
		if !guided {
			return []*Node{eps(x, t)}
		}
		// One pass over [x; x] with [c; c_uncond].
		both := eps(Concatenate([]*Node{x, x}, 0), Concatenate([]*Node{t, t}, 0))
		ec := Slice(both, AxisRange(0, b))
		eu := Slice(both, AxisRange(b, 2*b))
		return []*Node{Add(eu, Mul(in[5], Sub(ec, eu)))}
	})
	return d, err
}

// setContext computes the context of perBatch fMRI rows and repeats each
// row for its s samples (c = cond(repeat(fmri, s)), ddpm.py:400-405).
func (d *denoiser) setContext(fmri []float32, perBatch, s int) error {
	v := d.cfg.Cond.Encoder.NumVoxels
	rows := make([]float32, 0, perBatch*s*v)
	for k := range perBatch {
		for range s {
			rows = append(rows, fmri[k*v:(k+1)*v]...)
		}
	}
	if d.guided {
		rows = append(rows, make([]float32, perBatch*s*v)...) // the unconditional (zero fMRI) context
	}
	nb := len(rows) / v
	out, err := d.condFwd.Run(d.params, nn.HostTensor(rows, nb, v))
	if err != nil {
		return fmt.Errorf("conditioning: %w", err)
	}
	d.context = out[0]
	if d.cfg.RidgeConcat {
		d.concat = out[1]
	}
	return nil
}

// eps evaluates the denoising step on x [b, h, w, c] at timesteps t [b].
func (d *denoiser) eps(x []float32, t []int, ls []int) ([]float32, error) {
	b := len(t)
	ts := make([]float32, b)
	for i, v := range t {
		ts[i] = float32(v)
	}
	sa, so := make([]float32, b), make([]float32, b)
	for i, v := range t {
		sa[i], so[i] = d.sched.SqrtAlphasCumprod[v], d.sched.SqrtOneMinusAlphasCumprod[v]
	}
	args := []any{nn.HostTensor(x, b, ls[0], ls[1], ls[2]), nn.HostTensor(ts, b), d.context,
		nn.HostTensor(sa, b), nn.HostTensor(so, b), tensors.FromScalar(float32(d.guidance))}
	if d.concat != nil {
		args = append(args, d.concat)
	}
	out, err := d.epsFwd.Run(d.params, args...)
	if err != nil {
		return nil, fmt.Errorf("denoising step: %w", err)
	}
	return nn.ToFloat32(out[0]), nil
}
