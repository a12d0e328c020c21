package simulate

import "math"

// Stimulus is what the voxels see of one image: its feature maps and its
// place in the category code.
type Stimulus struct {
	Features  *Features
	Embedding []float64 // category code (embedDim)
	Face      float64   // 1 for face-like objects
	Place     float64   // 1 for scene-like backgrounds
}

// Response writes the noiseless response of every voxel to st into out
// (length V). The encoding model of voxel i is
//
//	μᵢ = baselineᵢ + gainᵢ·driveᵢ·( lowᵢ·(Pᵢ/P₀)^nᵢ
//	                               + rgᵢ·RGᵢ + byᵢ·BYᵢ                   (hV4)
//	                               + catᵢ·aᵢ·c(image) + faceᵢ·face + placeᵢ·place )  (LOC/FFA/PPA)
//
// with Pᵢ = Σ_levels wᵢ,ₗ·pool_pRF(E0 + b·cos 2φ·Ec + b·sin 2φ·Es), the pRF-
// pooled Gabor energy (Kay et al. 2008) raised to a compressive exponent
// nᵢ < 1 (Kay et al. 2013), RG/BY the pRF-pooled colour opponents, and a
// category code c shared by all subjects, read out with subject-specific
// loadings aᵢ.
func (s *Subject) Response(st *Stimulus, out []float64) {
	var acc [3]float32
	f := st.Features
	for i := 0; i < s.V; i++ {
		mu := s.Baseline[i]
		if s.ROI[i] == ROINone || s.Drive[i] == 0 {
			out[i] = mu
			continue
		}
		c2, s2 := s.OriBias[i]*math.Cos(2*s.OriPref[i]), s.OriBias[i]*math.Sin(2*s.OriPref[i])
		p := 0.0
		for l := 0; l < NumLevels; l++ {
			w := &s.windows[i][l]
			w.pool(f.Energy[l][w.r], 3, acc[:])
			p += s.SFWeights[i*NumLevels+l] * (float64(acc[0]) + c2*float64(acc[1]) + s2*float64(acc[2]))
		}
		drive := s.LowWeight[i] * math.Pow(math.Max(p, 0)/pooledRef, s.Exponent[i])
		if s.ColourRG[i] != 0 || s.ColourBY[i] != 0 {
			w := &s.windows[i][NumLevels]
			w.pool(f.Colour[w.r], 2, acc[:2])
			drive += colourGain * (s.ColourRG[i]*float64(acc[0]) + s.ColourBY[i]*float64(acc[1]))
		}
		if s.CatWeight[i] != 0 {
			a := s.CatLoad[i*embedDim : (i+1)*embedDim]
			dot := 0.0
			for k, e := range st.Embedding {
				dot += a[k] * e
			}
			drive += s.CatWeight[i] * dot
		}
		drive += s.FaceWeight[i]*st.Face + s.PlaceWeight[i]*st.Place
		out[i] = mu + s.Gain[i]*s.Drive[i]*drive
	}
}

// colourGain scales pooled colour opponents (about ±0.3 for saturated
// objects) to the size of the other terms.
const colourGain = 3.0

// Responses returns the noiseless responses to every stimulus, [N, V].
func (s *Subject) Responses(stims []*Stimulus, workers int) []float64 {
	out := make([]float64, len(stims)*s.V)
	parallel(len(stims), workers, func(j int) {
		s.Response(stims[j], out[j*s.V:(j+1)*s.V])
	})
	return out
}
