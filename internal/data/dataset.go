// Package data holds the in-memory dataset every pipeline stage consumes, and
// the reference preprocessing (ROI selection, wrap-padding to a multiple of the
// patch size, scalar z-scoring). Readers for the publishers' formats live in
// this package too (god.go, bold5000.go, hcp.go, nifti.go).
package data

// Dataset is fMRI responses with (optionally) the images that evoked them,
// split into train and test.
type Dataset struct {
	// Name describes the data, e.g. "GOD sbj_3 (VC)".
	Name string
	// Source is the file or directory it was read from.
	Source string
	// Voxels is V, the length of every fMRI vector: a multiple of 16 after
	// the reference padding.
	Voxels int
	// RawVoxels is the number of voxels before padding (per subject when
	// several were combined, the largest).
	RawVoxels int
	// ROIs maps an ROI name to its voxel count in the source, for reports
	// (prefixed "subject/" when the source has several subjects).
	ROIs map[string]int
	// Subjects lists the subjects included, in order.
	Subjects []string
	// Normalization says how the fMRI were scaled, so results can state it:
	// "literal" or "train-stats" (GOD test normalisation, BOLD5000), "none",
	// "per-subject" (HCP, NIfTI: each subject z-scored on its own), or
	// "mixed" after Concat of differently scaled parts.
	Normalization string
	Train, Test   Split
	// Notes lists deviations and facts a user should see (e.g. the
	// reference's test-normalisation bug when it is matched).
	Notes []string
}

// Split is one part (train or test) of a dataset. Item i is fMRI row i, image i
// (when there are images) and the labels at index i.
type Split struct {
	// N is the number of items.
	N int
	// FMRI is [N, V] float32, row-major. For test items it is the mean over
	// repeats, as the reference evaluates.
	FMRI []float32
	// Images is [N, H, W, 3] uint8 (RGB), or nil when there are none (HCP).
	Images []uint8
	H, W   int
	// StimulusID is the stimulus' identifier, kept as a string because GOD ids
	// such as "1518878.005958" lose digits as float32.
	StimulusID []string
	// Category is a category index per item (-1 when unknown) and
	// CategoryName its name.
	Category     []int
	CategoryName []string
	// Subject names the subject of each item.
	Subject []string
	// Repeats holds, per item, the raw single-trial responses ([R, V] each)
	// that were averaged into FMRI; nil when there were none.
	Repeats [][]float32
}

// Row returns fMRI row i (sharing memory).
func (s *Split) Row(i, voxels int) []float32 { return s.FMRI[i*voxels : (i+1)*voxels] }

// Image returns image i as [H, W, 3] bytes (sharing memory), or nil.
func (s *Split) Image(i int) []uint8 {
	if s.Images == nil {
		return nil
	}
	n := s.H * s.W * 3
	return s.Images[i*n : (i+1)*n]
}
