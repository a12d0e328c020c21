package crossmodal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/imageops"
)

// Pairs are (fMRI, image) pairs: row i of FMRI was recorded while the
// subject saw image i.
type Pairs struct {
	N, V int
	// FMRI is [N, V] float32, row-major.
	FMRI []float32
	// Images is [N, Size, Size, 3] uint8 RGB, already at the image MAE's
	// input size (PreparePairs resizes them).
	Images []uint8
	Size   int
	// StimulusID names each image (for reports; may be nil).
	StimulusID []string
}

// PreparePairs takes the training split of ds: the fMRI wrap-padded or
// truncated to voxels (the checkpoint's length, as phase2_finetune_cross.py:
// 215-224 does) and the images resized to size×size. The test split is never
// read.
//
// Image preprocessing differs from the reference on purpose: it calls the
// Hugging Face feature extractor, whose behaviour depends on the
// transformers version (cad-spec §6 item 16). The intent is done explicitly
// here: resize to the model size with imageops.Resize (Catmull-Rom, close to
// the processor's PIL bicubic resample=3; an exact box average for integer
// factors), then ImageNet mean/std normalisation per batch (Normalize).
func PreparePairs(ds *data.Dataset, voxels, size int) (Pairs, error) {
	tr := &ds.Train
	if tr.N == 0 {
		return Pairs{}, fmt.Errorf("%s: no training pairs", ds.Source)
	}
	if tr.Images == nil {
		return Pairs{}, fmt.Errorf("%s: the training split has no stimulus images; alignment needs (fMRI, image) pairs", ds.Source)
	}
	if len(tr.FMRI) != tr.N*ds.Voxels || len(tr.Images) != tr.N*tr.H*tr.W*3 {
		return Pairs{}, fmt.Errorf("%s: training split holds %d fMRI values and %d image bytes, want %d×%d and %d×%d×%d×3",
			ds.Source, len(tr.FMRI), len(tr.Images), tr.N, ds.Voxels, tr.N, tr.H, tr.W)
	}
	p := Pairs{N: tr.N, V: voxels, Size: size, StimulusID: tr.StimulusID,
		FMRI: make([]float32, 0, tr.N*voxels), Images: make([]uint8, 0, tr.N*size*size*3)}
	for i := 0; i < tr.N; i++ {
		p.FMRI = append(p.FMRI, fmrimae.WrapPad(tr.Row(i, ds.Voxels), voxels)...)
		p.Images = append(p.Images, imageops.Resize(tr.Image(i), tr.H, tr.W, size, size)...)
	}
	for i, x := range p.FMRI {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return Pairs{}, fmt.Errorf("%s: training fMRI row %d voxel %d is %v", ds.Source, i/voxels, i%voxels, x)
		}
	}
	return p, nil
}

// subset returns the pairs idx.
func (p Pairs) subset(idx []int) Pairs {
	img := p.Size * p.Size * 3
	out := Pairs{N: len(idx), V: p.V, Size: p.Size,
		FMRI: make([]float32, 0, len(idx)*p.V), Images: make([]uint8, 0, len(idx)*img)}
	for _, i := range idx {
		out.FMRI = append(out.FMRI, p.FMRI[i*p.V:(i+1)*p.V]...)
		out.Images = append(out.Images, p.Images[i*img:(i+1)*img]...)
		if p.StimulusID != nil {
			out.StimulusID = append(out.StimulusID, p.StimulusID[i])
		}
	}
	return out
}

// Holdout splits off a seeded validation part of round(frac·N) pairs (at
// least one when frac > 0) and returns both parts in their original order.
// The reference has no validation set and selects checkpoints on the test
// set (cad-spec §6 item 15); visdec validates on held-out training pairs.
func (p Pairs) Holdout(frac float64, seed uint64) (train, val Pairs) {
	if frac <= 0 || p.N < 2 {
		return p, Pairs{V: p.V, Size: p.Size}
	}
	n := min(p.N-1, max(1, int(math.Round(frac*float64(p.N)))))
	perm := newRNG(seed, streamHoldout).Perm(p.N)
	valIdx, trainIdx := append([]int(nil), perm[:n]...), append([]int(nil), perm[n:]...)
	sort.Ints(valIdx)
	sort.Ints(trainIdx)
	return p.subset(trainIdx), p.subset(valIdx)
}

// ImageNet channel statistics used by the vit-mae-base preprocessor.
var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406}
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Normalize turns images [n, size, size, 3] uint8 into the image MAE's
// pixel_values [n, 3, size, size]: u/255, then (u − mean)/std per channel
// with the ImageNet statistics.
func Normalize(images []uint8, n, size int) *tensors.Tensor {
	out := make([]float32, n*3*size*size)
	hw := size * size
	for i := 0; i < n; i++ {
		img := images[i*hw*3 : (i+1)*hw*3]
		for c := 0; c < 3; c++ {
			dst := out[(i*3+c)*hw : (i*3+c+1)*hw]
			for j := range dst {
				dst[j] = (float32(img[j*3+c])/255 - imageNetMean[c]) / imageNetStd[c]
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(out, n, 3, size, size)
}

// Denormalize maps pixel values [3, size, size] (ImageNet-normalised) back
// to an RGB image [size, size, 3], clipped to 0..255: for pictures of
// reconstructions.
func Denormalize(pix []float32, size int) []uint8 {
	hw := size * size
	out := make([]uint8, hw*3)
	for c := 0; c < 3; c++ {
		for j := 0; j < hw; j++ {
			v := (pix[c*hw+j]*imageNetStd[c] + imageNetMean[c]) * 255
			out[j*3+c] = uint8(math.Round(math.Min(255, math.Max(0, float64(v)))))
		}
	}
	return out
}

// RNG streams: every random draw is a pure function of (seed, stream,
// counter), so a resumed run draws exactly the batches and masks of an
// uninterrupted one without storing generator state (as fmrimae does).
const (
	streamHoldout = 11
	streamInit    = 12
	streamShuffle = 13 << 32 // + epoch
	streamMask    = 14 << 32 // + global step
	streamVal     = 15 << 32 // + validation batch
)

func newRNG(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
