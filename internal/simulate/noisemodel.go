package simulate

import "math"

// Default noise amplitudes, in response units (a typical visually driven
// voxel's signal standard deviation across images is about 0.3–0.5). They
// were tuned so that, at NoiseScale 1, the 50-way ideal-observer ceiling of a
// GOD-like subject lies well inside (chance, 1) while the best early voxels
// have single-trial reliabilities like real ones; see doc.go.
var (
	defaultPhysio   = 0.5  // smooth physiological factors
	defaultFeature  = 0.07 // feature-channel noise (energy units per bump)
	defaultCategory = 4.5  // category-code noise (code units)
	defaultThermal  = 2.5  // independent voxel noise
	defaultLocked   = 0.9  // stimulus-locked share of feature and category noise
	defaultIdio     = 1.2  // idiosyncratic stimulus-locked deviation per unit of model weight
)

const (
	physioBumps     = 24
	physioFalloffLo = 8.0  // mm
	physioFalloffHi = 16.0 // mm
	factorTolerance = 1e-3 // relative size below which a loading is zero
)

// featureBump is one Gaussian blob of noise in the visual field.
type featureBump struct{ x, y, sigma float64 }

// featureNoiseGrid is a log-polar grid of blobs whose size grows with
// eccentricity like the pRFs, so noise is as fine as the voxels' sampling
// everywhere in the field: the trial-to-trial noise of the feature channels
// that every voxel reads through its own pRF.
func featureNoiseGrid() []featureBump {
	bumps := []featureBump{{0, 0, 0.35}}
	rings := []float64{0.5, 1.0, 1.7, 2.7, 4.1, 6.0, 8.6}
	counts := []int{6, 8, 10, 12, 14, 16, 16}
	for i, e := range rings {
		for k := 0; k < counts[i]; k++ {
			a := 2 * math.Pi * (float64(k) + 0.5*float64(i%2)) / float64(counts[i])
			bumps = append(bumps, featureBump{e * math.Cos(a), e * math.Sin(a), 0.25 + 0.3*e})
		}
	}
	return bumps
}

// inImage is the share of a voxel's pRF mass that falls on the image.
func (s *Subject) inImage(v int) float64 {
	w := &s.windows[v][0]
	var sx, sy float64
	for _, x := range w.wx {
		sx += float64(x)
	}
	for _, y := range w.wy {
		sy += float64(y)
	}
	return sx * sy
}

// subjectNoise builds the subject's noise factors L and diagonals.
func subjectNoise(s *Subject, sp subjectSpec, snr float64) *Noise {
	r := newRand(sp.seed, streamSubject, uint64(sp.index), 500)
	grid := featureNoiseGrid()
	groups := []string{"physiological", "feature", "category"}
	nPhys := 1 + physioBumps
	nFeat := len(grid) * NumLevels
	nCat := embedDim + 2
	k := nPhys + nFeat + nCat
	starts := []int{0, nPhys, nPhys + nFeat, k}
	L := make([]float64, s.V*k)
	diag := make([]float64, s.V)
	idio := make([]float64, s.V)

	// Physiological: a global fluctuation and smooth blobs centred on
	// randomly chosen voxels.
	type blob struct{ x, y, z, sd float64 }
	blobs := make([]blob, physioBumps)
	for b := range blobs {
		v := r.IntN(s.V)
		blobs[b] = blob{s.X[v], s.Y[v], s.Z[v], uniform(r, physioFalloffLo, physioFalloffHi)}
	}
	for i := 0; i < s.V; i++ {
		vr := newRand(sp.seed, streamSubject, uint64(sp.index), 600, uint64(i))
		row := L[i*k : (i+1)*k]
		amp := sp.physio * logNormal(vr, 0.3) / snr
		row[0] = 0.5 * amp
		for b, bl := range blobs {
			d2 := sq(s.X[i]-bl.x) + sq(s.Y[i]-bl.y) + sq(s.Z[i]-bl.z)
			row[1+b] = amp * math.Exp(-d2/(2*bl.sd*bl.sd))
		}
		diag[i] = sp.thermal * logNormal(vr, 0.3) / snr
		if s.ROI[i] == ROINone {
			continue
		}
		gd := s.Gain[i] * s.Drive[i]
		// Idiosyncratic stimulus-locked deviations, as large as the terms
		// the voxel's model has, on the part of the field that shows the
		// image.
		scale := math.Max(s.LowWeight[i]*s.inImage(i), s.CatWeight[i])
		idio[i] = sp.idio * gd * scale / snr
		// Feature noise, linearised through the compressive exponent at
		// the typical drive: ∂μ/∂P ≈ gain·n/P₀.
		if s.LowWeight[i] > 0 {
			// Only the part of the pRF on the image sees stimulus-driven
			// channels.
			f := sp.feature * gd * s.LowWeight[i] * s.Exponent[i] / pooledRef / snr * s.inImage(i)
			for j, bm := range grid {
				ov := overlap(s.PRFX[i], s.PRFY[i], s.PRFSigma[i], bm.x, bm.y, bm.sigma)
				for l := 0; l < NumLevels; l++ {
					row[nPhys+j*NumLevels+l] = f * s.SFWeights[i*NumLevels+l] * ov
				}
			}
		}
		c := sp.category * gd / snr
		for e := 0; e < embedDim; e++ {
			row[nPhys+nFeat+e] = c * s.CatWeight[i] * s.CatLoad[i*embedDim+e]
		}
		row[nPhys+nFeat+embedDim] = c * s.FaceWeight[i]
		row[nPhys+nFeat+embedDim+1] = c * s.PlaceWeight[i]
	}
	locked := make([]float64, k)
	for c := nPhys; c < k; c++ {
		locked[c] = sp.locked
	}
	return newNoise(s.V, k, L, diag, locked, idio, groups, starts, factorTolerance)
}
