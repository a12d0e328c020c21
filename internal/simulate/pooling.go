package simulate

import "math"

// poolWindow integrates a 2-D Gaussian pRF over the pixels of one grid:
// weight(x, y) = wx[x−x0]·wy[y−y0], where each 1-D weight is the Gaussian's
// mass over the pixel (a difference of normal CDFs), so a pRF smaller than a
// pixel is still pooled correctly. Mass beyond 3σ is dropped, and mass
// outside the image is lost: the screen there is mid-grey and carries no
// contrast energy. The window uses the coarsest pyramid resolution on which
// σ spans at least 0.75 pixel, which bounds the window to about 10×10
// pixels whatever the pRF size.
type poolWindow struct {
	r      int // pyramid step: resolution is base>>r
	res    int
	x0, y0 int
	wx, wy []float32
}

// newPoolWindow builds the window of a pRF centred at (cx, cy) degrees (y
// up, image centre at 0) with size sigma, on a pyramid whose finest grid is
// base pixels across fov degrees, with steps down to minPoolRes.
func newPoolWindow(cx, cy, sigma, fov float64, base int) poolWindow {
	r := 0
	for (base>>(r+1)) >= minPoolRes && sigma*float64(base>>(r+1))/fov >= 0.75 {
		r++
	}
	res := base >> r
	pix := fov / float64(res)
	w := poolWindow{r: r, res: res}
	// Columns: pixel i spans [−fov/2 + i·pix, −fov/2 + (i+1)·pix].
	w.x0, w.wx = gaussMass(cx, sigma, -fov/2, pix, res, false)
	// Rows: row j spans [fov/2 − (j+1)·pix, fov/2 − j·pix] (y is up).
	w.y0, w.wy = gaussMass(cy, sigma, -fov/2, pix, res, true)
	return w
}

// gaussMass returns the first pixel index and the Gaussian mass of each
// pixel within 3σ of the centre. With flip, pixel 0 is the highest interval.
func gaussMass(c, sigma, lo, pix float64, n int, flip bool) (int, []float32) {
	if flip {
		c = -c // row j of the flipped axis is column j of the mirrored one
	}
	first := int(math.Floor((c - 3*sigma - lo) / pix))
	last := int(math.Floor((c + 3*sigma - lo) / pix))
	first, last = max(first, 0), min(last, n-1)
	if first > last {
		return 0, nil
	}
	cdf := func(x float64) float64 { return 0.5 * math.Erfc(-(x-c)/(sigma*math.Sqrt2)) }
	ws := make([]float32, last-first+1)
	for i := first; i <= last; i++ {
		ws[i-first] = float32(cdf(lo+float64(i+1)*pix) - cdf(lo+float64(i)*pix))
	}
	return first, ws
}

// pool sums m interleaved maps (maps of the window's resolution) under the
// window into acc[0:m].
func (w *poolWindow) pool(maps []float32, m int, acc []float32) {
	for k := 0; k < m; k++ {
		acc[k] = 0
	}
	for j, wy := range w.wy {
		row := (w.y0 + j) * w.res
		for i, wx := range w.wx {
			wt := wy * wx
			o := (row + w.x0 + i) * m
			for k := 0; k < m; k++ {
				acc[k] += wt * maps[o+k]
			}
		}
	}
}

// overlap is ∫ pRF(x)·bump(x) dx for a normalised Gaussian pRF (centre a,
// size sa) and an unnormalised Gaussian bump (peak 1, centre b, size sb):
// what the voxel pools from a bump of feature noise.
func overlap(ax, ay, sa, bx, by, sb float64) float64 {
	s2 := sa*sa + sb*sb
	d2 := (ax-bx)*(ax-bx) + (ay-by)*(ay-by)
	return sb * sb / s2 * math.Exp(-d2/(2*s2))
}
