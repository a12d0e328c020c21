package simulate

import "math"

// The feature model of early visual cortex (Kay et al. 2008): phase-invariant
// Gabor energy at several spatial frequencies and orientations, computed on
// the image's luminance at low resolution. Voxels pool these maps over their
// population receptive fields (pRFs) in pooling.go.
//
// Layout: the image is converted to luminance at GridSize×GridSize (box
// average of the 256×256 file image), minus the mean grey of the screen, so
// that the world outside the image is zero. A Gaussian pyramid gives the
// image at 64, 32, 16 and 8 pixels; at each level one quadrature Gabor
// (wavelength 4 px, envelope σ 2 px, 8 orientations) measures energy, so the
// levels' preferred frequencies are 16, 8, 4 and 2 cycles per image, one
// octave apart. The complex Gabor with an isotropic envelope is separable
// (e^{−(x²+y²)/2σ²} e^{i(kx·x+ky·y)} is a product of two 1-D complex
// filters), which keeps the cost at two short passes per orientation.
//
// Each level's eight orientation maps are summarised as three maps: the mean
// energy E0 and the second-harmonic components Ec = mean cos(2θ)E_θ and
// Es = mean sin(2θ)E_θ. A voxel weighting orientations by 1 + b·cos 2(θ−φ)
// then sees E0 + b(cos 2φ·Ec + sin 2φ·Es) exactly. Two colour-opponent maps
// (red−green, blue−yellow) feed hV4's colour term.

const (
	// GridSize is the side of the luminance image the features see.
	GridSize = 64
	// NumLevels is the number of spatial-frequency levels.
	NumLevels = 4
	// NumOrientations is the number of Gabor orientations over 180°.
	NumOrientations = 8
	gaborWavelength = 4.0 // pixels at every level
	gaborSigma      = 2.0 // envelope, pixels
	gaborRadius     = 6   // taps on each side (3σ)
	minPoolRes      = 2   // coarsest pooling grid
)

// LevelCyclesPerImage is the preferred spatial frequency of level s.
func LevelCyclesPerImage(s int) float64 {
	return float64(int(GridSize)>>s) / gaborWavelength
}

// Features are one image's feature maps, each kept at every pooling
// resolution (a box-average pyramid), so a voxel can pool at a resolution that
// matches its pRF size.
type Features struct {
	// Energy[s][r] is level s at resolution GridSize>>(s+r): three
	// interleaved maps (E0, Ec, Es), index (y·res+x)·3+m, y from the top.
	Energy [NumLevels][][]float32
	// Colour[r] holds the red−green and blue−yellow means at GridSize>>r,
	// interleaved, index (y·res+x)·2+m.
	Colour [][]float32
	// Luminance is the GridSize×GridSize luminance minus mid-grey, in
	// [−0.5, 0.5]; kept for tests and for the pixel-level truth.
	Luminance []float32
}

// gaborBank holds the 1-D complex filters of every orientation.
type gaborBank struct {
	re, im [NumOrientations][2][2*gaborRadius + 1]float64 // [orientation][axis x|y][tap]
	cos2   [NumOrientations]float64
	sin2   [NumOrientations]float64
}

var bank = newGaborBank()

func newGaborBank() *gaborBank {
	b := &gaborBank{}
	k := 2 * math.Pi / gaborWavelength
	var g [2*gaborRadius + 1]float64
	sum := 0.0
	for i := range g {
		t := float64(i - gaborRadius)
		g[i] = math.Exp(-t * t / (2 * gaborSigma * gaborSigma))
		sum += g[i]
	}
	for i := range g {
		g[i] /= sum // a full-contrast grating of amplitude A gives energy ≈ A
	}
	for o := 0; o < NumOrientations; o++ {
		// θ is the wave vector's angle counter-clockwise with y up, the
		// convention of the pRF coordinates; pixel rows run downwards,
		// hence the minus sign on ky.
		th := math.Pi * float64(o) / NumOrientations
		kx, ky := k*math.Cos(th), -k*math.Sin(th)
		for i := range g {
			t := float64(i - gaborRadius)
			b.re[o][0][i], b.im[o][0][i] = g[i]*math.Cos(kx*t), g[i]*math.Sin(kx*t)
			b.re[o][1][i], b.im[o][1][i] = g[i]*math.Cos(ky*t), g[i]*math.Sin(ky*t)
		}
		b.cos2[o], b.sin2[o] = math.Cos(2*th), math.Sin(2*th)
	}
	return b
}

// ComputeFeatures computes the feature maps of one RGB image [h, h, 3]
// whose side is a multiple of GridSize.
func ComputeFeatures(img []uint8, side int) *Features {
	lum, rg, by := lowResChannels(img, side)
	f := &Features{Luminance: lum}
	level := lum
	for s := 0; s < NumLevels; s++ {
		res := GridSize >> s
		if s > 0 {
			level = blurDecimate(level, res*2)
		}
		f.Energy[s] = boxPyramid(gaborEnergy(level, res), res, 3)
	}
	col := make([]float32, GridSize*GridSize*2)
	for i := range rg {
		col[2*i], col[2*i+1] = rg[i], by[i]
	}
	f.Colour = boxPyramid(col, GridSize, 2)
	return f
}

// lowResChannels box-averages the image to GridSize² luminance (Rec. 601,
// minus mid-grey) and the two opponent colour channels.
func lowResChannels(img []uint8, side int) (lum, rg, by []float32) {
	n := GridSize * GridSize
	lum, rg, by = make([]float32, n), make([]float32, n), make([]float32, n)
	f := side / GridSize
	norm := 1 / (255 * float64(f*f))
	for y := 0; y < GridSize; y++ {
		for x := 0; x < GridSize; x++ {
			var r, g, b int
			for dy := 0; dy < f; dy++ {
				row := ((y*f+dy)*side + x*f) * 3
				for dx := 0; dx < f; dx++ {
					r += int(img[row+3*dx])
					g += int(img[row+3*dx+1])
					b += int(img[row+3*dx+2])
				}
			}
			R, G, B := float64(r)*norm, float64(g)*norm, float64(b)*norm
			i := y*GridSize + x
			lum[i] = float32(0.299*R + 0.587*G + 0.114*B - 0.5)
			rg[i] = float32(R - G)
			by[i] = float32(B - (R+G)/2)
		}
	}
	return lum, rg, by
}

// blurDecimate applies the binomial filter [1 4 6 4 1]/16 in both directions
// (zero outside, which is mid-grey) and keeps every second sample.
func blurDecimate(src []float32, res int) []float32 {
	w := [5]float32{1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16}
	half := res / 2
	tmp := make([]float32, res*half)
	for y := 0; y < res; y++ {
		for x := 0; x < half; x++ {
			var s float32
			for t := -2; t <= 2; t++ {
				if xx := 2*x + t; xx >= 0 && xx < res {
					s += w[t+2] * src[y*res+xx]
				}
			}
			tmp[y*half+x] = s
		}
	}
	out := make([]float32, half*half)
	for y := 0; y < half; y++ {
		for x := 0; x < half; x++ {
			var s float32
			for t := -2; t <= 2; t++ {
				if yy := 2*y + t; yy >= 0 && yy < res {
					s += w[t+2] * tmp[yy*half+x]
				}
			}
			out[y*half+x] = s
		}
	}
	return out
}

// gaborEnergy returns the three orientation-summary maps of one level,
// interleaved (E0, Ec, Es).
func gaborEnergy(img []float32, res int) []float32 {
	out := make([]float32, res*res*3)
	n := res * res
	rowRe, rowIm := make([]float64, n), make([]float64, n)
	const R = gaborRadius
	for o := 0; o < NumOrientations; o++ {
		fxr, fxi := &bank.re[o][0], &bank.im[o][0]
		fyr, fyi := &bank.re[o][1], &bank.im[o][1]
		// Row pass: real image × complex filter along x.
		for y := 0; y < res; y++ {
			row := img[y*res : (y+1)*res]
			for x := 0; x < res; x++ {
				lo, hi := max(-R, -x), min(R, res-1-x)
				var sr, si float64
				for t := lo; t <= hi; t++ {
					v := float64(row[x+t])
					sr += fxr[t+R] * v
					si += fxi[t+R] * v
				}
				rowRe[y*res+x], rowIm[y*res+x] = sr, si
			}
		}
		// Column pass: complex × complex along y; energy is the modulus.
		c2, s2 := float32(bank.cos2[o]/NumOrientations), float32(bank.sin2[o]/NumOrientations)
		for y := 0; y < res; y++ {
			lo, hi := max(-R, -y), min(R, res-1-y)
			for x := 0; x < res; x++ {
				var sr, si float64
				for t := lo; t <= hi; t++ {
					i := (y+t)*res + x
					a, b := rowRe[i], rowIm[i]
					c, d := fyr[t+R], fyi[t+R]
					sr += a*c - b*d
					si += a*d + b*c
				}
				e := float32(math.Sqrt(sr*sr + si*si))
				k := (y*res + x) * 3
				out[k] += e / NumOrientations
				out[k+1] += c2 * e
				out[k+2] += s2 * e
			}
		}
	}
	return out
}

// boxPyramid returns maps (res×res, m interleaved) at res, res/2, …, down to
// minPoolRes, each the 2×2 mean of the previous.
func boxPyramid(maps []float32, res, m int) [][]float32 {
	out := [][]float32{maps}
	for res > minPoolRes {
		half := res / 2
		next := make([]float32, half*half*m)
		for y := 0; y < half; y++ {
			for x := 0; x < half; x++ {
				for k := 0; k < m; k++ {
					i := func(yy, xx int) int { return (yy*res+xx)*m + k }
					next[(y*half+x)*m+k] = 0.25 * (maps[i(2*y, 2*x)] + maps[i(2*y, 2*x+1)] + maps[i(2*y+1, 2*x)] + maps[i(2*y+1, 2*x+1)])
				}
			}
		}
		out = append(out, next)
		maps, res = next, half
	}
	return out
}
