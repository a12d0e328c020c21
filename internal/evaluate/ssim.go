package evaluate

import (
	"context"
	"fmt"
)

// SSIM constants of skimage 0.19.3 structural_similarity with its defaults
// (skimage/metrics/_structural_similarity.py): a 7×7 uniform window, K1 .01,
// K2 .03 and the sample covariance.
const (
	ssimWin = 7
	ssimK1  = 0.01
	ssimK2  = 0.03
)

// SSIM is skimage's structural_similarity(a, b, data_range=dataRange,
// channel_axis=-1) for two [h, w, c] images, as the reference calls it with
// dataRange 255 (eval_metrics.py:24-25). Per channel: local means, variances
// and covariance from scipy's uniform_filter (mode "reflect"), scaled by
// NP/(NP−1) with NP = 49; the SSIM map cropped by (7−1)/2 = 3 pixels on every
// side and averaged; then the mean over channels. Images smaller than 7×7
// are an error, as in skimage.
func SSIM(a, b []uint8, h, w, c int, dataRange float64) (float64, error) {
	if h < ssimWin || w < ssimWin {
		return 0, fmt.Errorf("ssim: %d×%d image is smaller than the %d×%d window", h, w, ssimWin, ssimWin)
	}
	if len(a) != h*w*c || len(b) != h*w*c {
		return 0, fmt.Errorf("ssim: images have %d and %d values, want %d", len(a), len(b), h*w*c)
	}
	sc := newSSIMScratch(h, w)
	sa, sb := sc.stats(a, c), sc.stats(b, c)
	return sc.pair(a, b, sa, sb, dataRange), nil
}

// ssimStats are one image's local means and mean squares per channel
// ([c][h·w]); computing them once per image leaves one filter per pair.
type ssimStats struct{ u, uu [][]float64 }

// ssimScratch holds the buffers of SSIM evaluations at one image size.
type ssimScratch struct {
	h, w             int
	in, tmp, out     []float64
	line, lineOut    []float64
	runSum, extBelow []float64
}

func newSSIMScratch(h, w int) *ssimScratch {
	n := h * w
	m := max(h, w)
	return &ssimScratch{h: h, w: w, in: make([]float64, n), tmp: make([]float64, n), out: make([]float64, n),
		line: make([]float64, m+ssimWin-1), lineOut: make([]float64, m), runSum: make([]float64, w)}
}

// stats filters every channel of img and its square.
func (s *ssimScratch) stats(img []uint8, c int) ssimStats {
	st := ssimStats{u: make([][]float64, c), uu: make([][]float64, c)}
	for ch := 0; ch < c; ch++ {
		for i := range s.in {
			s.in[i] = float64(img[i*c+ch])
		}
		st.u[ch] = s.uniform(s.in, make([]float64, len(s.in)))
		for i := range s.in {
			v := float64(img[i*c+ch])
			s.in[i] = v * v
		}
		st.uu[ch] = s.uniform(s.in, make([]float64, len(s.in)))
	}
	return st
}

// pair is the SSIM of images x and y with their stats: the mean over
// channels of each channel's cropped mean SSIM map.
func (s *ssimScratch) pair(x, y []uint8, sx, sy ssimStats, dataRange float64) float64 {
	h, w, c := s.h, s.w, len(sx.u)
	const np = ssimWin * ssimWin
	covNorm := float64(np) / float64(np-1) // sample covariance
	c1 := (ssimK1 * dataRange) * (ssimK1 * dataRange)
	c2 := (ssimK2 * dataRange) * (ssimK2 * dataRange)
	pad := (ssimWin - 1) / 2
	var total float64
	for ch := 0; ch < c; ch++ {
		for i := range s.in {
			s.in[i] = float64(x[i*c+ch]) * float64(y[i*c+ch])
		}
		uxy := s.uniform(s.in, s.out)
		ux, uy, uxx, uyy := sx.u[ch], sy.u[ch], sx.uu[ch], sy.uu[ch]
		var sum float64
		for r := pad; r < h-pad; r++ {
			for q := pad; q < w-pad; q++ {
				i := r*w + q
				mx, my := ux[i], uy[i]
				vx := covNorm * (uxx[i] - mx*mx)
				vy := covNorm * (uyy[i] - my*my)
				vxy := covNorm * (uxy[i] - mx*my)
				a1, a2 := 2*mx*my+c1, 2*vxy+c2
				b1, b2 := mx*mx+my*my+c1, vx+vy+c2
				sum += (a1 * a2) / (b1 * b2)
			}
		}
		total += sum / float64((h-2*pad)*(w-2*pad))
	}
	return total / float64(c)
}

// uniform is scipy.ndimage.uniform_filter(src, size=7) on an [h, w] float64
// image, mode "reflect", written into dst: a 1-D running mean along axis 0,
// then along axis 1. Each line is computed as scipy's NI_UniformFilter1D
// does it (the first window summed in order and divided by 7, then
// (entering − leaving)/7 added per step), so the rounding is scipy's. The
// axis-0 pass runs all columns at once, for memory locality; each column
// still sees exactly scipy's sequence of operations.
func (s *ssimScratch) uniform(src, dst []float64) []float64 {
	const size = ssimWin
	const before = size / 2 // scipy: size1 = size/2, size2 = size − size1 − 1
	h, w := s.h, s.w
	row := func(k int) []float64 { r := reflectIndex(k, h); return src[r*w : (r+1)*w] }
	// Axis 0 into tmp.
	sum := s.runSum
	clear(sum)
	for k := 0; k < size; k++ {
		for q, v := range row(k - before) {
			sum[q] += v
		}
	}
	for q := range sum {
		sum[q] /= size
	}
	copy(s.tmp[:w], sum)
	for r := 1; r < h; r++ {
		in, out := row(r+size-1-before), row(r-1-before)
		for q := range sum {
			sum[q] += (in[q] - out[q]) / size
		}
		copy(s.tmp[r*w:(r+1)*w], sum)
	}
	// Axis 1, row by row, into dst.
	for r := 0; r < h; r++ {
		copy(s.lineOut[:w], s.tmp[r*w:(r+1)*w])
		s.filterLine(w)
		copy(dst[r*w:(r+1)*w], s.lineOut[:w])
	}
	return dst
}

// filterLine replaces lineOut[:n] by its size-7 running mean, extending the
// line by reflection ("d c b a | a b c d | d c b a").
func (s *ssimScratch) filterLine(n int) {
	const size = ssimWin
	const before = size / 2
	ext := s.line[:n+size-1]
	for k := range ext {
		ext[k] = s.lineOut[reflectIndex(k-before, n)]
	}
	tmp := 0.0
	for k := 0; k < size; k++ {
		tmp += ext[k]
	}
	tmp /= size
	s.lineOut[0] = tmp
	for k := 1; k < n; k++ {
		tmp += (ext[k+size-1] - ext[k-1]) / size
		s.lineOut[k] = tmp
	}
}

// reflectIndex maps a position outside [0, n) into it by half-sample
// symmetric reflection (scipy's mode "reflect"), repeating for long overhangs.
func reflectIndex(k, n int) int {
	if n == 1 {
		return 0
	}
	period := 2 * n
	k %= period
	if k < 0 {
		k += period
	}
	if k >= n {
		k = period - 1 - k
	}
	return k
}

// ssimMatrix is ScoreMatrix for SSIM: the ground truths' stats are computed
// once, each reconstruction's once per worker job, leaving one filter per
// pair and channel.
func ssimMatrix(ctx context.Context, s *Samples, tick func()) ([][][]float64, error) {
	sc := newSSIMScratch(s.H, s.W)
	gt := make([]ssimStats, s.N)
	for j := range gt {
		gt[j] = sc.stats(s.GT(j), 3)
	}
	return forEachPred(ctx, s, "ssim", tick, func() func(set, i int, row []float64) {
		sc := newSSIMScratch(s.H, s.W)
		return func(set, i int, row []float64) {
			p := s.Pred(set, i)
			sp := sc.stats(p, 3)
			for j := range row {
				row[j] = sc.pair(p, s.GT(j), sp, gt[j], 255)
			}
		}
	})
}
