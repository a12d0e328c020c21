package simulate

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"github.com/visdec/visdec/internal/progress"
)

// FileImageSize is the side of the images in images_256.npz.
const FileImageSize = 256

// Item is one stimulus image of a design.
type Item struct {
	Category int    // index into Stimuli.CategoryNames
	Image    int    // the image's index within its category in the source
	ID       string // GOD-style stimulus id "OFFSET.NUMBER", e.g. "1000017.000003"
	Face     bool
	Place    bool
	// Object is the procedural instance (nil for other sources): the
	// object's true position, scale and pose.
	Object *Instance
}

// Stimuli is a design's images, shared by all its subjects: the training
// images in images_256 order, then the test images.
type Stimuli struct {
	Source        string
	CategoryNames []string // categories used, in class-index order
	Wnids         []int    // WordNet-style offset per category
	Train, Test   []Item
	// TrainImages and TestImages are [N, 256, 256, 3] RGB.
	TrainImages, TestImages []uint8
	// TrainStim and TestStim are what the voxels see.
	TrainStim, TestStim []*Stimulus
	// Novel reports that the test categories are absent from training, as
	// in GOD.
	Novel bool
	// Patterns holds the 10×10 binary patterns (Miyawaki design only),
	// [N, 10, 10], training then test.
	TrainPatterns, TestPatterns []uint8
	Notes                       []string
}

// MakeGODStimuli picks and renders the GOD design's images: with at least
// TrainCategories+TestCategories categories, ImagesPerCategory images of
// each training category and one of each novel test category (GOD); with
// fewer (Fashion-MNIST, small folders), the same numbers of images drawn
// round-robin over all categories, test images from the source's held-out
// split where it has one (the test categories are then not novel).
func MakeGODStimuli(ctx context.Context, cfg Config, log io.Writer) (*Stimuli, error) {
	log = orDiscard(log)
	// The procedural table always offers at least GOD's 200 categories, so
	// a smaller design picks from the same random order as the default.
	src, err := OpenSource(cfg.Stimuli, cfg.Seed, max(200, cfg.TrainCategories+cfg.TestCategories))
	if err != nil {
		return nil, err
	}
	names := src.Categories()
	r := newRand(cfg.Seed, streamDesign)
	st := &Stimuli{Source: src.Name()}
	nTrain := cfg.TrainCategories * cfg.ImagesPerCategory
	catIndex := map[int]int{} // source category → class-index position
	useCat := func(c int) int {
		if k, ok := catIndex[c]; ok {
			return k
		}
		catIndex[c] = len(st.CategoryNames)
		st.CategoryNames = append(st.CategoryNames, names[c])
		st.Wnids = append(st.Wnids, src.Wnid(c))
		return catIndex[c]
	}
	enough := func(c, n int) bool { a := src.Available(c); return a < 0 || a >= n }
	var trainPick, testPick [][2]int // (source category, image)
	// Test categories come from the end of a random order and training
	// categories from its start, so the test set does not depend on how
	// many training categories there are (a smaller design keeps the
	// default's test set and ceiling).
	perm := r.Perm(len(names))
	var trainCats, testCats []int
	isTest := map[int]bool{}
	for k := len(perm) - 1; k >= 0 && len(testCats) < cfg.TestCategories; k-- {
		if c := perm[k]; enough(c, 1) {
			testCats = append(testCats, c)
			isTest[c] = true
		}
	}
	for _, c := range perm {
		if len(trainCats) < cfg.TrainCategories && !isTest[c] && enough(c, cfg.ImagesPerCategory) {
			trainCats = append(trainCats, c)
		}
	}
	if len(trainCats) == cfg.TrainCategories && len(testCats) == cfg.TestCategories {
		st.Novel = true
		for _, c := range trainCats {
			for _, i := range pickImages(r, src, c, cfg.ImagesPerCategory, false) {
				trainPick = append(trainPick, [2]int{c, i})
			}
		}
		for _, c := range testCats {
			testPick = append(testPick, [2]int{c, pickImages(r, src, c, 1, true)[0]})
		}
	} else {
		st.Notes = append(st.Notes, fmt.Sprintf("%s has %d categories (fewer than %d train + %d test, or too few images each): images are drawn round-robin over all categories and the test categories also appear in training",
			src.Name(), len(names), cfg.TrainCategories, cfg.TestCategories))
		trainPick, testPick, err = roundRobin(r, src, nTrain, cfg.TestCategories)
		if err != nil {
			return nil, err
		}
	}
	// Class-index order: training categories by first appearance, then the
	// test categories (GOD's "naive label" order).
	ids := newRand(cfg.Seed, streamStimulusIDs)
	numbers := map[int]map[int]bool{}
	makeItem := func(p [2]int) Item {
		c, i := p[0], p[1]
		k := useCat(c)
		face, place, _ := src.Attributes(c)
		if numbers[c] == nil {
			numbers[c] = map[int]bool{}
		}
		num := i + 1
		if src.Available(c) < 0 { // procedural: GOD-like scattered numbers
			for num = 1 + ids.IntN(30000); numbers[c][num]; num = 1 + ids.IntN(30000) {
			}
		}
		numbers[c][num] = true
		it := Item{Category: k, Image: i, ID: fmt.Sprintf("%d.%06d", src.Wnid(c), num), Face: face, Place: place}
		if ps, ok := src.(*proceduralSource); ok {
			in := NewInstance(ps.seed, ps.cats[c], i)
			it.Object = &in
		}
		return it
	}
	for _, p := range trainPick {
		st.Train = append(st.Train, makeItem(p))
	}
	for _, p := range testPick {
		st.Test = append(st.Test, makeItem(p))
	}
	st.TrainImages, st.TrainStim, err = renderAll(ctx, cfg, src, trainPick, "render train", log)
	if err != nil {
		return nil, err
	}
	st.TestImages, st.TestStim, err = renderAll(ctx, cfg, src, testPick, "render test", log)
	if err != nil {
		return nil, err
	}
	setEmbeddings(cfg.Seed, src, st, trainPick, testPick)
	return st, nil
}

// pickImages chooses n distinct images of category c, preferring the
// source's held-out split for test images and avoiding it for training.
func pickImages(r *rand.Rand, src Source, c, n int, test bool) []int {
	a := src.Available(c)
	if a < 0 {
		// Procedural: instance numbers are arbitrary; test instances come
		// from a separate range so they never repeat a training image.
		out := make([]int, n)
		for i := range out {
			out[i] = i
			if test {
				out[i] = 1000 + i
			}
		}
		return out
	}
	var pref, rest []int
	for _, i := range r.Perm(a) {
		if src.HeldOut(c, i) == test {
			pref = append(pref, i)
		} else {
			rest = append(rest, i)
		}
	}
	return append(pref, rest...)[:n]
}

// roundRobin draws nTrain training and nTest test images cycling over the
// categories, without reusing an image.
func roundRobin(r *rand.Rand, src Source, nTrain, nTest int) (train, test [][2]int, err error) {
	nc := len(src.Categories())
	trainPool := make([][]int, nc)
	testPool := make([][]int, nc)
	total := 0
	for c := 0; c < nc; c++ {
		a := src.Available(c)
		if a < 0 {
			a = nTrain + nTest
		}
		total += a
		for _, i := range r.Perm(a) {
			if src.HeldOut(c, i) {
				testPool[c] = append(testPool[c], i)
			} else {
				trainPool[c] = append(trainPool[c], i)
			}
		}
	}
	if total < nTrain+nTest {
		return nil, nil, fmt.Errorf("%s: %d images, the design needs %d (%d train + %d test)", src.Name(), total, nTrain+nTest, nTrain, nTest)
	}
	take := func(c int, pools ...[][]int) (int, bool) {
		for _, p := range pools {
			if len(p[c]) > 0 {
				i := p[c][0]
				p[c] = p[c][1:]
				return i, true
			}
		}
		return 0, false
	}
	for c := 0; len(test) < nTest; c = (c + 1) % nc {
		if i, ok := take(c, testPool, trainPool); ok {
			test = append(test, [2]int{c, i})
		}
	}
	for c := 0; len(train) < nTrain; c = (c + 1) % nc {
		if i, ok := take(c, trainPool, testPool); ok {
			train = append(train, [2]int{c, i})
		}
	}
	return train, test, nil
}

// renderAll renders (or loads) the picked images at cfg.ImageSize,
// upsamples them to 256 (nearest) and computes their features.
func renderAll(ctx context.Context, cfg Config, src Source, picks [][2]int, label string, log io.Writer) ([]uint8, []*Stimulus, error) {
	const n256 = FileImageSize * FileImageSize * 3
	imgs := make([]uint8, len(picks)*n256)
	stims := make([]*Stimulus, len(picks))
	errs := make([]error, len(picks))
	bar := progress.New(log, label, len(picks))
	var done atomic.Int64
	parallel(len(picks), cfg.workers(), func(j int) {
		if ctx.Err() != nil {
			errs[j] = ctx.Err()
			return
		}
		img, err := src.Image(picks[j][0], picks[j][1], cfg.ImageSize)
		if err != nil {
			errs[j] = err
			return
		}
		dst := imgs[j*n256 : (j+1)*n256]
		upsampleNearest(img, cfg.ImageSize, FileImageSize, dst)
		stims[j] = &Stimulus{Features: ComputeFeatures(dst, FileImageSize)}
		bar.Update(int(done.Add(1)), "")
	})
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return imgs, stims, nil
}

// orDiscard lets callers pass a nil progress writer.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// upsampleNearest scales a [from, from, 3] image to [to, to, 3] by pixel
// replication (to is a multiple of from).
func upsampleNearest(src []uint8, from, to int, dst []uint8) {
	f := to / from
	for y := 0; y < to; y++ {
		sy := y / f
		for x := 0; x < to; x++ {
			s := (sy*from + x/f) * 3
			d := (y*to + x) * 3
			dst[d], dst[d+1], dst[d+2] = src[s], src[s+1], src[s+2]
		}
	}
}

// Category-code weights: the code of a category is a weighted sum of one
// vector per attribute value (shape, palette, texture, background) and a
// vector of its own, so categories sharing attributes have similar codes
// (an overlapping, distributed code, Haxby et al. 2001); each image adds
// its own variation.
var (
	codePartWeights = []float64{0.6, 0.35, 0.35, 0.4}
	codeOwnWeight   = 0.45
	codeImageWeight = 0.35
)

// setEmbeddings fills each stimulus' category code and face/place flags.
func setEmbeddings(seed uint64, src Source, st *Stimuli, train, test [][2]int) {
	catCode := map[int][]float64{}
	code := func(c int) []float64 {
		if v, ok := catCode[c]; ok {
			return v
		}
		v := make([]float64, embedDim)
		_, _, parts := src.Attributes(c)
		own := newRand(seed, streamDesign, 1, uint64(c))
		w := 1.0
		if parts != nil {
			w = codeOwnWeight
			for p, val := range parts {
				pr := newRand(seed, streamDesign, 2, uint64(p), uint64(val))
				for k := range v {
					v[k] += codePartWeights[p] * pr.NormFloat64()
				}
			}
		}
		for k := range v {
			v[k] += w * own.NormFloat64()
		}
		catCode[c] = v
		return v
	}
	set := func(picks [][2]int, items []Item, stims []*Stimulus) {
		for j, p := range picks {
			ir := newRand(seed, streamDesign, 3, uint64(p[0]), uint64(p[1]))
			base := code(p[0])
			e := make([]float64, embedDim)
			for k := range e {
				e[k] = base[k] + codeImageWeight*ir.NormFloat64()
			}
			stims[j].Embedding = e
			if items[j].Face {
				stims[j].Face = 1
			}
			if items[j].Place {
				stims[j].Place = 1
			}
		}
	}
	set(train, st.Train, st.TrainStim)
	set(test, st.Test, st.TestStim)
}

// className turns a category name into a Keras-style class description.
func className(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '/', ',', '"':
			return '_'
		}
		return r
	}, s)
}
