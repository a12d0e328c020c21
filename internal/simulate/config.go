package simulate

import (
	"errors"
	"fmt"
	"runtime"
)

// Design names an experiment the simulator mirrors.
type Design string

const (
	// DesignGOD mirrors Generic Object Decoding (Horikawa & Kamitani 2017):
	// 150 training categories × 8 images shown once, 50 novel test categories
	// × 1 image shown 35 times.
	DesignGOD Design = "god"
	// DesignHCP writes HCP-style visual-cortex time series (no images) for
	// phase-1 pre-training.
	DesignHCP Design = "hcp"
	// DesignMiyawaki mirrors Miyawaki et al. 2008: 10×10 binary random
	// patterns for training and figure patterns for testing.
	DesignMiyawaki Design = "miyawaki"
)

// Config holds every setting of a simulation. DefaultConfig returns the
// GOD-like defaults; every count can be shrunk for tests (TinyConfig).
type Config struct {
	Design Design // god, hcp or miyawaki
	Seed   uint64 // the same seed gives byte-identical files
	// Subjects is the number of simulated subjects (GOD: 5 real ones; the
	// default 1 keeps a first run short; HCP default 20).
	Subjects int
	// Stimuli is "procedural", "fashion-mnist", "fashion-mnist:DIR" or a
	// directory of PNG/JPEG images whose sub-folders are categories.
	Stimuli string
	// ImageSize is the side at which images are rendered. The GOD files are
	// always 256×256; smaller renders are upsampled (nearest) into them.
	ImageSize int

	// GOD design counts (paper: 150, 8, 50, 35).
	TrainCategories   int
	ImagesPerCategory int
	TestCategories    int
	TestRepeats       int

	// Miyawaki design counts (Miyawaki 2008: 440 random patterns; figure
	// patterns tested with repeats).
	MiyawakiTrain   int
	MiyawakiRepeats int

	// HCP design: frames per subject (HCP REST1: 1200 at TR 0.72 s).
	HCPFrames int

	// Voxels is the mean number of visual-cortex (VC) voxels per subject;
	// each subject varies around it. GOD sbj_3 has 4,643.
	Voxels int
	// NonVisual is the number of voxels outside VC per subject, as a
	// fraction of Voxels; they carry only noise, so ROI selection matters.
	NonVisual float64
	// NoiseScale multiplies every noise standard deviation (1 = default).
	NoiseScale float64
	// CeilingDraws is the number of fresh noise draws over which the
	// expected ideal-observer accuracy is averaged.
	CeilingDraws int
	// Workers bounds the goroutines (0 = GOMAXPROCS).
	Workers int
}

// DefaultConfig returns the GOD-like design used by `visdec simulate`.
func DefaultConfig() Config {
	return Config{
		Design:            DesignGOD,
		Seed:              1,
		Subjects:          1,
		Stimuli:           "procedural",
		ImageSize:         256,
		TrainCategories:   150,
		ImagesPerCategory: 8,
		TestCategories:    50,
		TestRepeats:       35,
		MiyawakiTrain:     440,
		MiyawakiRepeats:   35,
		HCPFrames:         1200,
		Voxels:            4500,
		NonVisual:         0.12,
		NoiseScale:        1,
		CeilingDraws:      40,
	}
}

// TinyConfig returns a design that simulates in about a second: small
// images, few categories and voxels. Tests and quick starts use it.
func TinyConfig() Config {
	c := DefaultConfig()
	c.ImageSize = 64
	c.TrainCategories = 20
	c.ImagesPerCategory = 4
	c.TestCategories = 10
	c.TestRepeats = 8
	c.MiyawakiTrain = 60
	c.MiyawakiRepeats = 6
	c.HCPFrames = 200
	c.Voxels = 600
	c.CeilingDraws = 8
	return c
}

// WithDesignDefaults fills the design-specific defaults that a zero value
// leaves open (the HCP design has 20 subjects unless set).
func (c Config) WithDesignDefaults(subjectsSet bool) Config {
	if c.Design == DesignHCP && !subjectsSet {
		c.Subjects = 20
	}
	return c
}

// Validate reports every problem, each naming the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Design {
	case DesignGOD, DesignHCP, DesignMiyawaki:
	default:
		bad("Design = %q, want god, hcp or miyawaki", c.Design)
	}
	if c.Subjects < 1 || c.Subjects > 999 {
		bad("Subjects = %d, want 1..999", c.Subjects)
	}
	if c.ImageSize < 16 || c.ImageSize > 256 || 256%c.ImageSize != 0 {
		bad("ImageSize = %d, want a divisor of 256 in 16..256", c.ImageSize)
	}
	if c.TrainCategories < 1 || c.ImagesPerCategory < 1 || c.TestCategories < 2 {
		bad("TrainCategories, ImagesPerCategory, TestCategories = %d, %d, %d; want ≥ 1, ≥ 1, ≥ 2",
			c.TrainCategories, c.ImagesPerCategory, c.TestCategories)
	}
	if c.TestRepeats < 2 {
		bad("TestRepeats = %d, want ≥ 2 (split-half reliability needs two halves)", c.TestRepeats)
	}
	if c.MiyawakiTrain < 1 || c.MiyawakiRepeats < 2 {
		bad("MiyawakiTrain, MiyawakiRepeats = %d, %d; want ≥ 1, ≥ 2", c.MiyawakiTrain, c.MiyawakiRepeats)
	}
	if c.HCPFrames < 40 {
		bad("HCPFrames = %d, want ≥ 40", c.HCPFrames)
	}
	if c.Voxels < 100 || c.Voxels > 100000 {
		bad("Voxels = %d, want 100..100000", c.Voxels)
	}
	if c.NonVisual < 0 || c.NonVisual > 10 {
		bad("NonVisual = %g, want 0..10", c.NonVisual)
	}
	if !(c.NoiseScale >= 0) || c.NoiseScale > 1000 {
		bad("NoiseScale = %g, want 0..1000", c.NoiseScale)
	}
	if c.CeilingDraws < 1 {
		bad("CeilingDraws = %d, want ≥ 1", c.CeilingDraws)
	}
	if c.Workers < 0 {
		bad("Workers = %d, want ≥ 0", c.Workers)
	}
	if c.Stimuli == "" {
		bad("Stimuli is empty, want procedural, fashion-mnist or a directory")
	}
	return errors.Join(errs...)
}

func (c Config) workers() int {
	if c.Workers > 0 {
		return c.Workers
	}
	return runtime.GOMAXPROCS(0)
}
