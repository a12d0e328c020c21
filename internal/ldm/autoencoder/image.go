package autoencoder

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/visdec/visdec/internal/npy"
)

// ResizeImages resamples n RGB images [n, h, w, 3] (uint8) to side×side by
// area averaging: each output pixel is the mean of the input area it covers,
// fractional pixels weighted by their overlap. For the usual down-sizing
// (GOD's 500² stimuli to 256² or 64²) this is the box filter PIL calls
// "area"; the result is rounded to the nearest byte.
func ResizeImages(src []uint8, n, h, w, side int) ([]uint8, error) {
	if n < 0 || h <= 0 || w <= 0 || side <= 0 {
		return nil, fmt.Errorf("resize: bad sizes n=%d h=%d w=%d side=%d", n, h, w, side)
	}
	if len(src) != n*h*w*3 {
		return nil, fmt.Errorf("resize: %d bytes for %d images of %d×%d×3", len(src), n, h, w)
	}
	if h == side && w == side {
		return append([]uint8(nil), src...), nil
	}
	ys := areaWeights(h, side)
	xs := areaWeights(w, side)
	out := make([]uint8, n*side*side*3)
	for i := 0; i < n; i++ {
		img := src[i*h*w*3 : (i+1)*h*w*3]
		dst := out[i*side*side*3 : (i+1)*side*side*3]
		for oy, wy := range ys {
			for ox, wx := range xs {
				var acc [3]float64
				for _, ty := range wy {
					for _, tx := range wx {
						wt := ty.w * tx.w
						p := (ty.i*w + tx.i) * 3
						acc[0] += wt * float64(img[p])
						acc[1] += wt * float64(img[p+1])
						acc[2] += wt * float64(img[p+2])
					}
				}
				q := (oy*side + ox) * 3
				for c := 0; c < 3; c++ {
					dst[q+c] = uint8(min(max(acc[c]+0.5, 0), 255))
				}
			}
		}
	}
	return out, nil
}

type tap struct {
	i int
	w float64
}

// areaWeights lists, for each of m output cells over n input cells, the input
// cells it overlaps and the normalised overlap weights.
func areaWeights(n, m int) [][]tap {
	out := make([][]tap, m)
	scale := float64(n) / float64(m)
	for o := range out {
		lo, hi := float64(o)*scale, float64(o+1)*scale
		var taps []tap
		sum := 0.0
		for i := int(lo); i < n && float64(i) < hi; i++ {
			ov := min(hi, float64(i+1)) - max(lo, float64(i))
			if ov <= 0 {
				continue
			}
			taps = append(taps, tap{i, ov})
			sum += ov
		}
		for k := range taps {
			taps[k].w /= sum
		}
		out[o] = taps
	}
	return out
}

// WriteGrid writes a PNG with one row of images per entry of rows (each
// [k, side, side, 3] uint8, k images side by side), 2-pixel gaps, every
// image enlarged by an integer factor to at least 64 pixels so small models'
// outputs stay visible. The file is written atomically.
func WriteGrid(path string, rows [][]uint8, k, side int) error {
	scale := max(1, (64+side-1)/side)
	s := side * scale
	const gap = 2
	gw, gh := k*s+(k+1)*gap, len(rows)*s+(len(rows)+1)*gap
	img := image.NewRGBA(image.Rect(0, 0, gw, gh))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for r, row := range rows {
		if len(row) != k*side*side*3 {
			return fmt.Errorf("grid row %d: %d bytes for %d images of %d²×3", r, len(row), k, side)
		}
		for j := 0; j < k; j++ {
			x0, y0 := gap+j*(s+gap), gap+r*(s+gap)
			for y := 0; y < s; y++ {
				for x := 0; x < s; x++ {
					p := ((j*side+y/scale)*side + x/scale) * 3
					img.Set(x0+x, y0+y, color.RGBA{row[p], row[p+1], row[p+2], 255})
				}
			}
		}
	}
	return npy.AtomicWrite(path, func(w io.Writer) error { return png.Encode(w, img) })
}
