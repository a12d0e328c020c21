package evaluate

import "math"

// The ViT-H/14 transforms resize a PIL image (torchvision
// ImageClassification → F.resize on a PIL.Image → Image.resize(BICUBIC)).
// PIL resamples 8-bit images in two passes (horizontal, then vertical) with
// fixed-point weights, rounding and clipping to uint8 after each pass
// (Pillow 9.x src/libImaging/Resample.c). This is that algorithm, so the
// classifier sees the reference's pixels.

// pilPrecisionBits is Resample.c's PRECISION_BITS (32 − 8 − 2).
const pilPrecisionBits = 32 - 8 - 2

// pilBicubic is Pillow's bicubic kernel (a = −0.5), support 2.
func pilBicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return ((a+2)*x-(a+3))*x*x + 1
	}
	if x < 2 {
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// pilCoeffs are one pass's resampling weights: for output pixel o, the input
// range [lo[o], lo[o]+len(k[o])) with fixed-point weights k[o].
type pilCoeffs struct {
	lo []int
	k  [][]int64
}

// pilPrecompute is Resample.c precompute_coeffs plus normalize_coeffs_8bpc
// for a full-image box [0, inSize).
func pilPrecompute(inSize, outSize int) pilCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := 2 * filterscale
	c := pilCoeffs{lo: make([]int, outSize), k: make([][]int64, outSize)}
	for o := 0; o < outSize; o++ {
		center := (float64(o) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C's (int) truncates toward zero
		xmin = max(xmin, 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		w := make([]float64, xmax)
		var ww float64
		for x := range w {
			w[x] = pilBicubic((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		k := make([]int64, xmax)
		for x := range w {
			if ww != 0 {
				w[x] /= ww
			}
			if w[x] < 0 {
				k[x] = int64(int32(-0.5 + w[x]*(1<<pilPrecisionBits)))
			} else {
				k[x] = int64(int32(0.5 + w[x]*(1<<pilPrecisionBits)))
			}
		}
		c.lo[o], c.k[o] = xmin, k
	}
	return c
}

// pilClip8 is Resample.c clip8: the fixed-point sum back to a byte.
func pilClip8(v int64) uint8 {
	if v >= 1<<pilPrecisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> pilPrecisionBits)
}

// PILResizeBicubic resizes an RGB image [h, w, 3] to [nh, nw, 3] as
// PIL.Image.resize((nw, nh), Image.BICUBIC) does.
func PILResizeBicubic(img []uint8, h, w, nh, nw int) []uint8 {
	if h == nh && w == nw {
		return append([]uint8(nil), img...)
	}
	vert := pilPrecompute(h, nh)
	src := img
	if nw != w {
		// Horizontal pass over only the rows the vertical pass reads.
		first := vert.lo[0]
		last := vert.lo[nh-1] + len(vert.k[nh-1])
		if nh == h {
			first, last = 0, h
		}
		hor := pilPrecompute(w, nw)
		tmp := make([]uint8, (last-first)*nw*3)
		for y := first; y < last; y++ {
			row := img[y*w*3 : (y+1)*w*3]
			out := tmp[(y-first)*nw*3:]
			for o := 0; o < nw; o++ {
				lo, k := hor.lo[o], hor.k[o]
				for ch := 0; ch < 3; ch++ {
					s := int64(1) << (pilPrecisionBits - 1)
					for x, kx := range k {
						s += int64(row[(lo+x)*3+ch]) * kx
					}
					out[o*3+ch] = pilClip8(s)
				}
			}
		}
		for o := range vert.lo {
			vert.lo[o] -= first
		}
		src = tmp
	}
	if nh == h {
		return src
	}
	out := make([]uint8, nh*nw*3)
	for o := 0; o < nh; o++ {
		lo, k := vert.lo[o], vert.k[o]
		for x := 0; x < nw*3; x++ {
			s := int64(1) << (pilPrecisionBits - 1)
			for y, ky := range k {
				s += int64(src[(lo+y)*nw*3+x]) * ky
			}
			out[o*nw*3+x] = pilClip8(s)
		}
	}
	return out
}

// resizeShorter returns the size torchvision's Resize(size) gives an h×w
// image: the shorter side becomes size, the longer int(size·long/short)
// (torchvision transforms/functional.py _compute_resized_output_size).
func resizeShorter(h, w, size int) (int, int) {
	if h <= w {
		return size, int(float64(size) * float64(w) / float64(h))
	}
	return int(float64(size) * float64(h) / float64(w)), size
}

// centerCropOffsets is torchvision center_crop's top-left corner:
// int(round((h − ch)/2)), int(round((w − cw)/2)).
func centerCropOffsets(h, w, ch, cw int) (int, int) {
	return int(math.RoundToEven(float64(h-ch) / 2)), int(math.RoundToEven(float64(w-cw) / 2))
}
