package simulate

import (
	"context"
	"fmt"
	"io"
)

// The Miyawaki design (Miyawaki et al. 2008, Neuron 60:915): 10×10 patches
// of flickering checkerboard, on or off. Training uses random patterns (each
// patch on with probability 1/2, each pattern shown once); testing uses
// figure patterns (five geometric shapes and the letters of "neuron"), each
// shown MiyawakiRepeats times. Every patch spans 1/10 of the 12° image; an
// "on" patch is a 2×2 black-and-white checkerboard, an "off" patch is the
// mid-grey background, so the patterns drive contrast energy and nothing
// else. The output is a GOD-layout directory (images upsampled to 256×256),
// plus the patterns themselves in truth/stimuli.npz (train_patterns,
// test_patterns, [N, 10, 10] uint8, row-major with row 0 at the top; the
// nilearn CSVs list the same patterns column-major).

// miyawakiNoise scales the noise of the miyawaki design relative to god.
// At god's noise a 10×10 pattern carries too little information to decode
// (its 10-way ceiling is about 0.6): the patterns vary only in the layout
// of one texture, while the god noise is set so that natural images, which
// differ in every feature and in category, stay below a 50-way ceiling of
// 1. Miyawaki et al. decoded single patches of single trials well, from a
// V1-optimised protocol, so this design is quieter.
const miyawakiNoise = 0.3

// figurePatterns are the test figures, one 10-character string per row.
var figurePatterns = []struct {
	name string
	rows [10]string
}{
	{"square", [10]string{"..........", "..........", "..######..", "..######..", "..######..", "..######..", "..######..", "..######..", "..........", ".........."}},
	{"small frame", [10]string{"..........", "..........", "..######..", "..#....#..", "..#....#..", "..#....#..", "..#....#..", "..######..", "..........", ".........."}},
	{"large frame", [10]string{"##########", "#........#", "#........#", "#........#", "#........#", "#........#", "#........#", "#........#", "#........#", "##########"}},
	{"plus", [10]string{"....##....", "....##....", "....##....", "....##....", "##########", "##########", "....##....", "....##....", "....##....", "....##...."}},
	{"x", [10]string{"##......##", "###....###", ".###..###.", "..######..", "...####...", "...####...", "..######..", ".###..###.", "###....###", "##......##"}},
	{"letter n", [10]string{"..........", "..........", ".#######..", ".##....##.", ".##....##.", ".##....##.", ".##....##.", ".##....##.", ".##....##.", ".........."}},
	{"letter e", [10]string{"..........", "..######..", ".##....##.", ".##....##.", ".########.", ".##.......", ".##.......", ".##....##.", "..######..", ".........."}},
	{"letter u", [10]string{"..........", "..........", ".##....##.", ".##....##.", ".##....##.", ".##....##.", ".##....##.", ".##...###.", "..#####.#.", ".........."}},
	{"letter r", [10]string{"..........", "..........", ".##.####..", ".####..##.", ".##.......", ".##.......", ".##.......", ".##.......", ".##.......", ".........."}},
	{"letter o", [10]string{"..........", "..........", "..######..", ".##....##.", ".##....##.", ".##....##.", ".##....##.", ".##....##.", "..######..", ".........."}},
}

// MakeMiyawakiStimuli draws the random training patterns and renders every
// pattern.
func MakeMiyawakiStimuli(ctx context.Context, cfg Config, log io.Writer) (*Stimuli, error) {
	log = orDiscard(log)
	st := &Stimuli{Source: "miyawaki patterns"}
	st.CategoryNames = append(st.CategoryNames, "random pattern")
	for _, f := range figurePatterns {
		st.CategoryNames = append(st.CategoryNames, f.name)
	}
	for c := range st.CategoryNames {
		st.Wnids = append(st.Wnids, syntheticWnid(c))
	}
	r := newRand(cfg.Seed, streamMiyawaki)
	st.TrainPatterns = make([]uint8, cfg.MiyawakiTrain*100)
	for i := range st.TrainPatterns {
		st.TrainPatterns[i] = uint8(r.IntN(2))
	}
	for _, f := range figurePatterns {
		for _, row := range f.rows {
			if len(row) != 10 {
				return nil, fmt.Errorf("miyawaki: figure %q has a row of %d cells", f.name, len(row))
			}
			for _, ch := range row {
				if ch == '#' {
					st.TestPatterns = append(st.TestPatterns, 1)
				} else {
					st.TestPatterns = append(st.TestPatterns, 0)
				}
			}
		}
	}
	for i := 0; i < cfg.MiyawakiTrain; i++ {
		st.Train = append(st.Train, Item{Category: 0, Image: i, ID: fmt.Sprintf("%d.%06d", st.Wnids[0], i+1)})
	}
	for k := range figurePatterns {
		st.Test = append(st.Test, Item{Category: k + 1, Image: 0, ID: fmt.Sprintf("%d.%06d", st.Wnids[k+1], 1)})
	}
	var err error
	st.TrainImages, st.TrainStim, err = renderPatterns(ctx, cfg, st.TrainPatterns, "render train", log)
	if err != nil {
		return nil, err
	}
	st.TestImages, st.TestStim, err = renderPatterns(ctx, cfg, st.TestPatterns, "render test", log)
	if err != nil {
		return nil, err
	}
	st.Notes = append(st.Notes, "miyawaki: training patterns have one category (random); each test figure is its own category; the higher areas see no category code")
	return st, nil
}

// renderPatterns draws each 10×10 pattern at 256×256 and computes features.
func renderPatterns(ctx context.Context, cfg Config, patterns []uint8, label string, log io.Writer) ([]uint8, []*Stimulus, error) {
	n := len(patterns) / 100
	const S = FileImageSize
	imgs := make([]uint8, n*S*S*3)
	stims := make([]*Stimulus, n)
	parallel(n, cfg.workers(), func(j int) {
		if ctx.Err() != nil {
			return
		}
		img := imgs[j*S*S*3 : (j+1)*S*S*3]
		renderPattern(patterns[j*100:(j+1)*100], img)
		stims[j] = &Stimulus{Features: ComputeFeatures(img, S), Embedding: make([]float64, embedDim)}
	})
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(log, "%s: %d patterns\n", label, n)
	return imgs, stims, nil
}

// renderPattern draws one pattern into a 256×256 RGB image: "on" patches
// as a 2×2 checkerboard, "off" patches mid-grey.
func renderPattern(p []uint8, img []uint8) {
	const S = FileImageSize
	for y := 0; y < S; y++ {
		cy := y * 10 / S
		sy := (y * 20 / S) % 2 // which half of the patch, vertically
		for x := 0; x < S; x++ {
			cx := x * 10 / S
			v := uint8(128)
			if p[cy*10+cx] == 1 {
				if (x*20/S)%2 == sy {
					v = 255
				} else {
					v = 0
				}
			}
			o := (y*S + x) * 3
			img[o], img[o+1], img[o+2] = v, v, v
		}
	}
}
