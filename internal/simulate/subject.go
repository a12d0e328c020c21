package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// ROI codes of a voxel (truth files store them as ints).
const (
	ROINone = iota // outside visual cortex
	ROIV1
	ROIV2
	ROIV3
	ROIhV4
	ROILOC
	ROIFFA
	ROIPPA
	numROIs
)

// ROINames are the mask names GOD files use, indexed by ROI code.
var ROINames = [numROIs]string{"none", "V1", "V2", "V3", "hV4", "LOC", "FFA", "PPA"}

// roiFraction is each ROI's share of VC, close to GOD's subjects
// (Horikawa & Kamitani 2017); each subject varies around it.
var roiFraction = [numROIs]float64{0, 0.22, 0.20, 0.16, 0.10, 0.16, 0.08, 0.08}

// early reports whether ROI code r is retinotopic (V1–hV4).
func early(r int) bool { return r >= ROIV1 && r <= ROIhV4 }

// Retinotopic parameters per early ROI: pRF size σ = a + b·eccentricity
// (Dumoulin & Wandell 2008; slopes grow up the hierarchy), the compressive
// exponent (Kay et al. 2013; more compressive higher up) and the preferred
// spatial-frequency level at the fovea (falling up the hierarchy and with
// eccentricity, Henriksson et al. 2008).
var (
	prfIntercept = [numROIs]float64{0, 0.20, 0.30, 0.40, 0.60}
	prfSlope     = [numROIs]float64{0, 0.11, 0.17, 0.25, 0.36}
	roiExponent  = [numROIs]float64{0, 0.55, 0.45, 0.40, 0.35, 0.30, 0.30, 0.30}
	sfPrefFovea  = [numROIs]float64{0, 3.0, 2.7, 2.3, 1.9, 1.0, 1.0, 0.7}
)

// Model constants. pooledRef is a typical pooled Gabor energy of the
// procedural images, so (P/pooledRef)^n is of order 1.
const (
	maxEccentricity = 10.0 // degrees; the 12° image reaches 6° (8.5° in the corners)
	pooledRef       = 0.04
	embedDim        = 24 // dimensions of the category code
)

// earlyLowWeight is the weight of the pRF term in V1–hV4, which makes their
// signal about as large as the higher areas' category signal.
var earlyLowWeight = 3.0

// Subject is one simulated brain: every voxel's encoding-model parameters
// and the noise. Arrays are indexed by voxel, in file order (n_all).
type Subject struct {
	Name  string // "sbj_1"
	Index int    // 1-based
	V     int    // voxels, n_all
	ROI   []int  // ROI code per voxel

	// Position in millimetres (x right, y anterior, z up); voxels are
	// ordered as a volume mask would list them.
	X, Y, Z []float64

	// Low-level (pRF) model, used by every visual voxel; for higher areas
	// it is the "some low-level drive" term, weighted by LowWeight.
	PRFX, PRFY, PRFSigma []float64 // degrees, y up
	Exponent             []float64 // compressive exponent n < 1
	SFWeights            []float64 // [V, NumLevels], each row sums to 1
	OriBias, OriPref     []float64 // b in 1 + b·cos 2(θ−φ), and φ
	LowWeight            []float64 // weight of the pRF term

	// Colour (hV4): weights of pooled red−green and blue−yellow.
	ColourRG, ColourBY []float64
	// Category code (LOC/FFA/PPA): weight and loadings [V, embedDim], and
	// face / place selectivity.
	CatWeight, CatLoad      []float64
	FaceWeight, PlaceWeight []float64
	Gain, Drive, Baseline   []float64 // response gain, visual-drive factor (0 = no drive), offset
	// Noise is the variability around the model.
	Noise   *Noise
	windows [][NumLevels + 1]poolWindow // per voxel: each level, then colour
	fov     float64
}

// subjectSpec says what kind of subject to build.
type subjectSpec struct {
	seed      uint64
	index     int     // 1-based
	voxels    int     // mean VC size
	nonVisual float64 // fraction of VC added outside it
	earlyOnly bool    // V1–hV4 only (HCP)
	fov       float64 // degrees spanned by the image
	// Noise amplitudes before the subject's own SNR factor.
	physio, feature, category, thermal float64
	// locked is the stimulus-locked share of the feature and category
	// factors' variance.
	locked float64
	// idio is the voxels' idiosyncratic stimulus-locked deviation per unit
	// of model weight.
	idio float64
}

// newSubject draws a subject: ROI sizes, voxel positions, pRFs, tuning,
// gains and noise, all from the subject's own streams.
func newSubject(sp subjectSpec) (*Subject, error) {
	r := newRand(sp.seed, streamSubject, uint64(sp.index))
	// Per-subject variation: total size, ROI shares, pRF slopes, exponents,
	// SNR, share of voxels with little visual drive, category strength.
	total := float64(sp.voxels) * uniform(r, 0.85, 1.15)
	var counts [numROIs]int
	var shares [numROIs]float64
	sum := 0.0
	for roi := ROIV1; roi < numROIs; roi++ {
		if sp.earlyOnly && !early(roi) {
			continue
		}
		shares[roi] = roiFraction[roi] * logNormal(r, 0.2)
		sum += shares[roi]
	}
	vc := 0
	for roi := ROIV1; roi < numROIs; roi++ {
		counts[roi] = int(math.Round(total * shares[roi] / sum))
		vc += counts[roi]
	}
	if !sp.earlyOnly {
		counts[ROINone] = int(math.Round(sp.nonVisual * float64(vc)))
	}
	slopeScale := uniform(r, 0.8, 1.2)
	expShift := 0.05 * r.NormFloat64()
	snr := uniform(r, 0.75, 1.3) // divides the noise
	weakShare := uniform(r, 0.25, 0.4)
	catScale := uniform(r, 0.7, 1.3)
	rot := 0.25 * r.NormFloat64() // radians: the maps' placement in the volume
	var roiScale [numROIs]float64
	for roi := range roiScale {
		roiScale[roi] = math.Sqrt(float64(counts[roi]) / math.Max(1, total*roiFraction[roi]))
	}

	type voxel struct {
		roi      int
		x, y, z  float64
		px, py   float64
		sigma    float64
		ecc      float64
		key      [3]int
		original int
	}
	var vox []voxel
	for roi := 0; roi < numROIs; roi++ {
		vr := newRand(sp.seed, streamSubject, uint64(sp.index), uint64(roi)+100)
		for i := 0; i < counts[roi]; i++ {
			v := voxel{roi: roi}
			switch {
			case early(roi):
				v.px, v.py, v.ecc, v.x, v.y, v.z = retinotopicVoxel(vr, roi, roiScale[roi])
				v.sigma = (prfIntercept[roi] + slopeScale*prfSlope[roi]*v.ecc) * logNormal(vr, 0.15)
			case roi == ROINone:
				v.x, v.y, v.z = uniform(vr, -60, 60), uniform(vr, 0, 90), uniform(vr, -45, 45)
			default:
				v.x, v.y, v.z = higherVoxelPosition(vr, roi, sp.index, sp.seed)
				spread, lo, hi := 1.5, 2.0, 5.0
				if roi == ROIPPA {
					spread, lo, hi = 3.0, 3.0, 7.0 // peripheral, large
				}
				v.px, v.py = spread*vr.NormFloat64(), spread*vr.NormFloat64()
				v.sigma = uniform(vr, lo, hi)
				v.ecc = math.Hypot(v.px, v.py)
			}
			// The maps sit differently in each head: rotate about z.
			c, s := math.Cos(rot), math.Sin(rot)
			v.x, v.y = c*v.x-s*v.y, s*v.x+c*v.y
			v.x += 1.2 * vr.NormFloat64()
			v.y += 1.2 * vr.NormFloat64()
			v.z += 1.2 * vr.NormFloat64()
			// Volume order: 3 mm voxels indexed (x, y, z), z fastest, as a
			// C-order mask over a (X, Y, Z) EPI volume lists them.
			v.key = [3]int{int(math.Floor(v.x / 3)), int(math.Floor(v.y / 3)), int(math.Floor(v.z / 3))}
			v.original = len(vox)
			vox = append(vox, v)
		}
	}
	sort.SliceStable(vox, func(i, j int) bool {
		a, b := vox[i].key, vox[j].key
		if a != b {
			if a[0] != b[0] {
				return a[0] < b[0]
			}
			if a[1] != b[1] {
				return a[1] < b[1]
			}
			return a[2] < b[2]
		}
		return vox[i].original < vox[j].original
	})

	n := len(vox)
	if n == 0 {
		return nil, fmt.Errorf("subject %d has no voxels", sp.index)
	}
	s := &Subject{
		Name: fmt.Sprintf("sbj_%d", sp.index), Index: sp.index, V: n, ROI: make([]int, n),
		X: make([]float64, n), Y: make([]float64, n), Z: make([]float64, n),
		PRFX: make([]float64, n), PRFY: make([]float64, n), PRFSigma: make([]float64, n),
		Exponent: make([]float64, n), SFWeights: make([]float64, n*NumLevels),
		OriBias: make([]float64, n), OriPref: make([]float64, n), LowWeight: make([]float64, n),
		ColourRG: make([]float64, n), ColourBY: make([]float64, n),
		CatWeight: make([]float64, n), CatLoad: make([]float64, n*embedDim),
		FaceWeight: make([]float64, n), PlaceWeight: make([]float64, n),
		Gain: make([]float64, n), Drive: make([]float64, n), Baseline: make([]float64, n),
		windows: make([][NumLevels + 1]poolWindow, n), fov: sp.fov,
	}
	catField := newSmoothFields(newRand(sp.seed, streamSubject, uint64(sp.index), 200), embedDim, 28)
	for i, v := range vox {
		vr := newRand(sp.seed, streamSubject, uint64(sp.index), 300, uint64(v.original))
		s.ROI[i], s.X[i], s.Y[i], s.Z[i] = v.roi, v.x, v.y, v.z
		s.Baseline[i] = 0.3 * vr.NormFloat64()
		if v.roi == ROINone {
			continue
		}
		s.PRFX[i], s.PRFY[i], s.PRFSigma[i] = v.px, v.py, v.sigma
		s.Exponent[i] = math.Max(0.15, roiExponent[v.roi]+expShift+0.04*vr.NormFloat64())
		// Spatial-frequency tuning: a Gaussian over levels (octaves) whose
		// peak falls with eccentricity.
		pref := sfPrefFovea[v.roi] - 0.7*math.Log2(1+v.ecc) + 0.4*vr.NormFloat64()
		bw := 0.8
		if !early(v.roi) {
			bw = 1.3
		}
		tot := 0.0
		for l := 0; l < NumLevels; l++ {
			w := math.Exp(-sq(float64(NumLevels-1-l)-pref) / (2 * bw * bw))
			s.SFWeights[i*NumLevels+l] = w
			tot += w
		}
		for l := 0; l < NumLevels; l++ {
			s.SFWeights[i*NumLevels+l] /= tot
		}
		s.OriBias[i] = uniform(vr, 0, 0.35)
		s.OriPref[i] = uniform(vr, 0, math.Pi)
		s.Gain[i] = logNormal(vr, 0.35)
		s.Drive[i] = 1
		if vr.Float64() < weakShare {
			s.Drive[i] = uniform(vr, 0, 0.2) // little visual drive
		}
		switch v.roi {
		case ROIhV4:
			s.LowWeight[i] = earlyLowWeight
			s.ColourRG[i] = 0.35 * earlyLowWeight * vr.NormFloat64()
			s.ColourBY[i] = 0.35 * earlyLowWeight * vr.NormFloat64()
		case ROILOC, ROIFFA, ROIPPA:
			low, cat := 0.5, 0.8
			if v.roi != ROILOC {
				low, cat = 0.35, 0.6
			}
			s.LowWeight[i] = low * logNormal(vr, 0.3)
			s.CatWeight[i] = cat * catScale * logNormal(vr, 0.3)
			// Idiosyncratic, spatially smooth topography of the category
			// code plus a voxel-specific part (Haxby et al. 2001, 2011).
			field := catField.at(v.x, v.y, v.z)
			for k := 0; k < embedDim; k++ {
				s.CatLoad[i*embedDim+k] = (0.75*field[k] + 0.66*vr.NormFloat64()) / math.Sqrt(embedDim)
			}
			if v.roi == ROIFFA {
				s.FaceWeight[i] = uniform(vr, 0.5, 1.5)
			}
			if v.roi == ROIPPA {
				s.PlaceWeight[i] = uniform(vr, 0.5, 1.5)
			}
		default:
			s.LowWeight[i] = earlyLowWeight
		}
		for l := 0; l < NumLevels; l++ {
			s.windows[i][l] = newPoolWindow(v.px, v.py, v.sigma, sp.fov, GridSize>>l)
		}
		s.windows[i][NumLevels] = newPoolWindow(v.px, v.py, v.sigma, sp.fov, GridSize)
	}
	s.Noise = subjectNoise(s, sp, snr)
	return s, nil
}

func sq(x float64) float64 { return x * x }

// retinotopicVoxel draws one early-visual voxel uniformly over its ROI's
// cortical surface: log-eccentricity and polar angle are uniform on the
// cortex (cortical magnification M(E) ∝ 1/(E+0.75), Horton & Hoyt 1991).
// It returns the pRF centre (degrees), its eccentricity and the 3-D position
// of a simplified occipital layout: V1 on the calcarine with the upper field
// ventral, V2 and V3 as mirror-image bands above and below it (their borders
// at the vertical and horizontal meridians), hV4 on the ventral surface.
func retinotopicVoxel(r *rand.Rand, roi int, scale float64) (px, py, ecc, x, y, z float64) {
	lo, hi := math.Log(0.85), math.Log(maxEccentricity+0.75)
	u := r.Float64()
	ecc = math.Exp(lo+u*(hi-lo)) - 0.75
	hemi := 1.0 // +1: left visual field, right hemisphere
	if r.Float64() < 0.5 {
		hemi = -1
	}
	ang := uniform(r, -1, 1) // polar angle within the hemifield / 90°, + is upper
	switch roi {
	case ROIV2, ROIV3:
		// Half the voxels in the dorsal (lower-field) band, half ventral.
		if r.Float64() < 0.5 {
			ang = -math.Abs(ang)
		} else {
			ang = math.Abs(ang)
		}
	}
	phi := ang * math.Pi / 2
	px, py = -hemi*ecc*math.Cos(phi), ecc*math.Sin(phi)
	y = (4 + 34*u) * scale
	switch roi {
	case ROIV1:
		x, z = hemi*(8+6*u), -10*ang*scale
	case ROIV2:
		x, z = hemi*(9+7*u), -math.Copysign(10+6*(1-math.Abs(ang)), ang)*scale
		y += 1
	case ROIV3:
		x, z = hemi*(10+8*u), -math.Copysign(16+6*math.Abs(ang), ang)*scale
		y += 2
	case ROIhV4:
		x, z = hemi*(15+8*u), -(24+8*(ang+1)/2)*scale
		y += 6
	}
	return px, py, ecc, x, y, z
}

// higherVoxelPosition places LOC (lateral), FFA (ventral fusiform) and PPA
// (ventral, medial) voxels in Gaussian clouds in either hemisphere, shifted
// per subject.
func higherVoxelPosition(r *rand.Rand, roi, subject int, seed uint64) (x, y, z float64) {
	centres := map[int][3]float64{ROILOC: {38, 32, 0}, ROIFFA: {32, 46, -22}, ROIPPA: {20, 50, -16}}
	spreads := map[int][3]float64{ROILOC: {5, 8, 9}, ROIFFA: {4, 6, 4}, ROIPPA: {4, 6, 4}}
	c, sd := centres[roi], spreads[roi]
	sr := newRand(seed, streamSubject, uint64(subject), 400, uint64(roi))
	shift := [3]float64{4 * sr.NormFloat64(), 4 * sr.NormFloat64(), 4 * sr.NormFloat64()}
	hemi := 1.0
	if r.Float64() < 0.5 {
		hemi = -1
	}
	return hemi * (c[0] + shift[0] + sd[0]*r.NormFloat64()), c[1] + shift[1] + sd[1]*r.NormFloat64(), c[2] + shift[2] + sd[2]*r.NormFloat64()
}

// smoothFields is a set of unit-variance random fields over 3-D space with
// a given length scale, by random Fourier features.
type smoothFields struct {
	dims  int
	omega [][3]float64
	phase []float64
}

const fourierTerms = 12

func newSmoothFields(r *rand.Rand, dims int, scale float64) *smoothFields {
	f := &smoothFields{dims: dims}
	for i := 0; i < dims*fourierTerms; i++ {
		f.omega = append(f.omega, [3]float64{r.NormFloat64() / scale, r.NormFloat64() / scale, r.NormFloat64() / scale})
		f.phase = append(f.phase, uniform(r, 0, 2*math.Pi))
	}
	return f
}

func (f *smoothFields) at(x, y, z float64) []float64 {
	out := make([]float64, f.dims)
	norm := math.Sqrt(2.0 / fourierTerms)
	for d := 0; d < f.dims; d++ {
		s := 0.0
		for t := 0; t < fourierTerms; t++ {
			o := f.omega[d*fourierTerms+t]
			s += math.Cos(o[0]*x + o[1]*y + o[2]*z + f.phase[d*fourierTerms+t])
		}
		out[d] = norm * s
	}
	return out
}
