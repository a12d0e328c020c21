package ldm

import (
	"math/rand/v2"

	"github.com/visdec/visdec/internal/ldm/autoencoder"
)

// Image preparation of the LDM stage, on the host (cad-spec §1.5): the
// reference maps uint8 RGB to [-1, 1] (x/255·2−1), and for training, with
// probability 0.5, takes a random square crop of side S − int(0.2·S), then
// resizes bilinearly back to the model's resolution (stageB_ldm_finetune.py
// normalize, random_crop, transforms.Resize). It runs here rather than in the
// graph because the images only feed the frozen first stage, and GoMLX's
// bilinear-interpolation gradient is unreliable anyway.

// ResizeBilinear resizes an HWC float image (c channels) from h×w to
// oh×ow with bilinear interpolation, half-pixel centres and no antialiasing
// (F.interpolate(mode="bilinear", align_corners=False), which torchvision's
// Resize calls on tensors). Equal sizes return a copy.
func ResizeBilinear(x []float32, h, w, c, oh, ow int) []float32 {
	out := make([]float32, oh*ow*c)
	if h == oh && w == ow {
		copy(out, x)
		return out
	}
	ys0, ys1, yl := bilinearTaps(h, oh)
	xs0, xs1, xl := bilinearTaps(w, ow)
	for i := range oh {
		r0, r1, ly := x[ys0[i]*w*c:], x[ys1[i]*w*c:], yl[i]
		for j := range ow {
			a, b, lx := xs0[j]*c, xs1[j]*c, xl[j]
			o := out[(i*ow+j)*c:]
			for k := range c {
				top := r0[a+k] + lx*(r0[b+k]-r0[a+k])
				bot := r1[a+k] + lx*(r1[b+k]-r1[a+k])
				o[k] = top + ly*(bot-top)
			}
		}
	}
	return out
}

// bilinearTaps returns, per output index, the two source indices and the
// weight of the second (PyTorch's area_pixel_compute_source_index with
// align_corners=False: src = (dst+½)·in/out − ½, clamped at 0).
func bilinearTaps(in, out int) (i0, i1 []int, l []float32) {
	i0, i1, l = make([]int, out), make([]int, out), make([]float32, out)
	scale := float32(in) / float32(out)
	for d := range out {
		src := (float32(d)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		a := int(src)
		if a > in-1 {
			a = in - 1
		}
		b := a + 1
		if b > in-1 {
			b = in - 1
		}
		i0[d], i1[d], l[d] = a, b, src-float32(a)
	}
	return i0, i1, l
}

// Crop returns the size×size window of an HWC image at (top, left).
func Crop(x []float32, w, c, top, left, size int) []float32 {
	out := make([]float32, size*size*c)
	for i := range size {
		copy(out[i*size*c:(i+1)*size*c], x[((top+i)*w+left)*c:((top+i)*w+left+size)*c])
	}
	return out
}

// Augment holds the training-time image augmentation's settings.
type Augment struct {
	// Prob is the probability of cropping an image (reference: 0.5).
	Prob float64
	// CropRatio is the fraction of the side cut off (reference: 0.2, so a
	// 256² image is cropped to 205²).
	CropRatio float64
}

// ReferenceAugment is the reference's augmentation.
var ReferenceAugment = Augment{Prob: 0.5, CropRatio: 0.2}

// PrepareImage maps one uint8 h×w RGB image to the model's res×res input in
// [-1, 1]. With rng non-nil it applies the augmentation: with probability
// Prob, a uniformly placed square crop of side S − int(CropRatio·S) (S the
// image's shorter side), then the bilinear resize. The random numbers drawn do not depend on
// whether the crop changes the image, so streams stay aligned across sizes.
func PrepareImage(u8 []uint8, h, w, res int, aug Augment, rng *rand.Rand) []float32 {
	x := autoencoder.ImagesToFloat(u8)
	if rng != nil && aug.Prob > 0 && rng.Float64() < aug.Prob {
		size := max(1, min(h, w)-int(aug.CropRatio*float64(min(h, w))))
		top := rng.IntN(h - size + 1)
		left := rng.IntN(w - size + 1)
		x = Crop(x, w, 3, top, left, size)
		h, w = size, size
	}
	return ResizeBilinear(x, h, w, 3, res, res)
}
