package evaluate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/npy"
)

// SamplesKey is the array name of samples.npz: uint8 [N, 1+S, H, W, 3], with
// the ground truth at index 0 of axis 1 and S reconstructions after it (the
// reference's gen_eval layout, channels last).
const SamplesKey = "samples"

// Samples holds the test images and their reconstructions.
type Samples struct {
	// N items, S reconstructions ("sample sets") per item, H×W RGB images.
	N, S, H, W int
	// Data is [N, 1+S, H, W, 3] uint8, row-major; index 0 of axis 1 is the
	// ground truth.
	Data []uint8
	// Source names the file the samples came from, for messages.
	Source string
}

// NewSamples wraps data [n, 1+s, h, w, 3] as Samples after checking its size.
func NewSamples(data []uint8, n, s, h, w int) (*Samples, error) {
	if n < 1 || s < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("samples: need N ≥ 1 items, S ≥ 1 samples and H, W ≥ 1, got N=%d S=%d H=%d W=%d", n, s, h, w)
	}
	if want := n * (1 + s) * h * w * 3; len(data) != want {
		return nil, fmt.Errorf("samples: [%d, %d, %d, %d, 3] wants %d bytes, got %d", n, 1+s, h, w, want, len(data))
	}
	return &Samples{N: n, S: s, H: h, W: w, Data: data}, nil
}

// imageSize is the number of bytes of one image.
func (s *Samples) imageSize() int { return s.H * s.W * 3 }

// Image returns image k (0 = ground truth, 1..S = samples) of item i as
// [H, W, 3] bytes, sharing memory.
func (s *Samples) Image(i, k int) []uint8 {
	n := s.imageSize()
	off := (i*(1+s.S) + k) * n
	return s.Data[off : off+n]
}

// GT returns the ground-truth image of item i.
func (s *Samples) GT(i int) []uint8 { return s.Image(i, 0) }

// Pred returns reconstruction set (0-based, 0..S-1) of item i.
func (s *Samples) Pred(set, i int) []uint8 { return s.Image(i, 1+set) }

// GTDistance is the mean absolute difference, in grey levels, between
// item i's ground truth and img ([H, W, 3]): how a caller checks that the
// samples belong to the stimuli it has.
func (s *Samples) GTDistance(i int, img []uint8) float64 {
	var sum int
	for k, v := range s.GT(i) {
		d := int(v) - int(img[k])
		sum += max(d, -d)
	}
	return float64(sum) / float64(s.imageSize())
}

// GTs returns the ground truths as one [N, H, W, 3] slice (a copy).
func (s *Samples) GTs() []uint8 {
	out := make([]uint8, 0, s.N*s.imageSize())
	for i := 0; i < s.N; i++ {
		out = append(out, s.GT(i)...)
	}
	return out
}

// Preds returns sample set set as one [N, H, W, 3] slice (a copy).
func (s *Samples) Preds(set int) []uint8 {
	out := make([]uint8, 0, s.N*s.imageSize())
	for i := 0; i < s.N; i++ {
		out = append(out, s.Pred(set, i)...)
	}
	return out
}

// ReadSamples reads and validates samples.npz. The archive must hold one
// uint8 array of rank 5 with a last axis of 3 and at least two images per
// item (the ground truth and one sample), under SamplesKey or as its only
// array. Every problem is reported with the file name, as one line.
func ReadSamples(path string) (*Samples, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err) // npy names the file
	}
	defer z.Close()
	key := SamplesKey
	if !z.Has(key) {
		keys := z.Keys()
		if len(keys) != 1 {
			sort.Strings(keys)
			return nil, fmt.Errorf("samples %s: no array %q (have: %s)", path, SamplesKey, strings.Join(keys, ", "))
		}
		key = keys[0]
	}
	// Check the header before reading what may be gigabytes of data.
	h, err := z.Header(key)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	if err := checkSamplesShape(h.DType, h.Shape); err != nil {
		return nil, fmt.Errorf("samples %s: array %q %w", path, key, err)
	}
	a, err := z.Get(key)
	if err != nil {
		return nil, fmt.Errorf("samples: %w", err)
	}
	sh := a.Shape
	s, err := NewSamples(a.Data.([]uint8), sh[0], sh[1]-1, sh[2], sh[3])
	if err != nil {
		return nil, fmt.Errorf("samples %s: %w", path, err)
	}
	s.Source = path
	if err := s.checkGroundTruth(); err != nil {
		return nil, fmt.Errorf("samples %s: %w", path, err)
	}
	return s, nil
}

// checkSamplesShape says what is wrong with a samples array's type or shape.
func checkSamplesShape(dt npy.DType, shape []int) error {
	switch {
	case dt != npy.Uint8:
		return fmt.Errorf("has dtype %s, want uint8 images (0..255)", dt)
	case len(shape) != 5:
		return fmt.Errorf("has shape %v (rank %d), want rank 5 [N, 1+S, H, W, 3]", shape, len(shape))
	case shape[4] != 3:
		return fmt.Errorf("has shape %v, want RGB channels last [N, 1+S, H, W, 3]", shape)
	case shape[0] < 1:
		return fmt.Errorf("has shape %v: no items", shape)
	case shape[1] < 2:
		return fmt.Errorf("has shape %v: %d image per item, want the ground truth at index 0 and at least one sample", shape, shape[1])
	case shape[2] < 1 || shape[3] < 1:
		return fmt.Errorf("has shape %v: empty images", shape)
	}
	return nil
}

// checkGroundTruth rejects files whose index 0 cannot be a ground truth: every
// ground-truth image a single flat colour (as left by a generator that never
// filled it in).
func (s *Samples) checkGroundTruth() error {
	for i := 0; i < s.N; i++ {
		g := s.GT(i)
		for _, v := range g[3:] {
			if v != g[0] {
				return nil
			}
		}
	}
	return fmt.Errorf("index 0 of every item is a flat image: no ground truth (want [N, 1+S, H, W, 3] with the ground truth first)")
}

// CheckExpected checks the counts a caller expects: n test items (0: any) and
// at least s samples per item (0: any).
func (s *Samples) CheckExpected(n, minSamples int) error {
	if n > 0 && s.N != n {
		return fmt.Errorf("samples %s: %d items, but the test set has %d", s.Source, s.N, n)
	}
	if minSamples > 0 && s.S < minSamples {
		return fmt.Errorf("samples %s: %d samples per item, fewer than the %d asked for", s.Source, s.S, minSamples)
	}
	return nil
}

// WriteSamples writes s to path as samples.npz (SamplesKey, compressed).
func WriteSamples(path string, s *Samples) error {
	a := npy.FromUint8(s.Data, s.N, 1+s.S, s.H, s.W, 3)
	return npy.WriteNPZFile(path, []npy.Named{{Name: SamplesKey, Array: a}}, true)
}
