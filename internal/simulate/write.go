package simulate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/visdec/visdec/internal/npy"
)

// writeGODShared writes the files every subject shares: images_256.npz, the
// class index and the two label CSVs (cad-spec §1.1), and truth/stimuli.npz.
// It returns the paths written.
func writeGODShared(dir string, st *Stimuli) ([]string, error) {
	var files []string
	add := func(name string, err error) error {
		if err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
		}
		files = append(files, filepath.Join(dir, name))
		return nil
	}
	const n = FileImageSize
	err := npy.WriteNPZFile(filepath.Join(dir, "images_256.npz"), []npy.Named{
		{Name: "train_images", Array: npy.FromUint8(st.TrainImages, len(st.Train), n, n, 3)},
		{Name: "test_images", Array: npy.FromUint8(st.TestImages, len(st.Test), n, n, 3)},
	}, false)
	if err := add("images_256.npz", err); err != nil {
		return nil, err
	}
	// Keras' imagenet_class_index.json: {"0": ["n01440764", "tench"], ...},
	// keys in numeric order.
	var buf bytes.Buffer
	buf.WriteString("{")
	for i, name := range st.CategoryNames {
		if i > 0 {
			buf.WriteString(", ")
		}
		wnid, _ := json.Marshal(fmt.Sprintf("n%08d", st.Wnids[i]))
		desc, _ := json.Marshal(className(name))
		fmt.Fprintf(&buf, "%q: [%s, %s]", strconv.Itoa(i), wnid, desc)
	}
	buf.WriteString("}\n")
	err = npy.AtomicWrite(filepath.Join(dir, "imagenet_class_index.json"), func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
	if err := add("imagenet_class_index.json", err); err != nil {
		return nil, err
	}
	for _, split := range []struct {
		name  string
		items []Item
	}{{"imagenet_training_label.csv", st.Train}, {"imagenet_testing_label.csv", st.Test}} {
		err := npy.AtomicWrite(filepath.Join(dir, split.name), func(w io.Writer) error {
			cw := csv.NewWriter(w)
			for _, it := range split.items {
				// Column 0 is the GOD stimulus id, the only column the
				// reference reads (dataset.py:219); then an ImageNet-style
				// file name and the category name.
				file := fmt.Sprintf("n%08d_%d.JPEG", st.Wnids[it.Category], stimulusNumber(it.ID))
				if err := cw.Write([]string{it.ID, file, st.CategoryNames[it.Category]}); err != nil {
					return err
				}
			}
			cw.Flush()
			return cw.Error()
		})
		if err := add(split.name, err); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "truth"), 0o755); err != nil {
		return nil, err
	}
	err = npy.WriteNPZFile(filepath.Join(dir, "truth", "stimuli.npz"), stimulusTruth(st), true)
	if err := add(filepath.Join("truth", "stimuli.npz"), err); err != nil {
		return nil, err
	}
	return files, nil
}

// stimulusNumber is the image number of a GOD id ("1000017.000003" → 3).
func stimulusNumber(id string) int {
	for i := range id {
		if id[i] == '.' {
			n, _ := strconv.Atoi(id[i+1:])
			return n
		}
	}
	return 0
}

// stimulusTruth is what the simulator knows about the images.
func stimulusTruth(st *Stimuli) []npy.Named {
	var out []npy.Named
	for _, split := range []struct {
		prefix string
		items  []Item
		stims  []*Stimulus
	}{{"train", st.Train, st.TrainStim}, {"test", st.Test, st.TestStim}} {
		n := len(split.items)
		cat := make([]int64, n)
		face := make([]bool, n)
		place := make([]bool, n)
		emb := make([]float64, n*embedDim)
		obj := make([]float64, n*4)
		lum := make([]float32, n*GridSize*GridSize)
		for i, it := range split.items {
			cat[i] = int64(it.Category)
			face[i], place[i] = it.Face, it.Place
			copy(emb[i*embedDim:], split.stims[i].Embedding)
			copy(lum[i*GridSize*GridSize:], split.stims[i].Features.Luminance)
			if it.Object != nil {
				obj[i*4], obj[i*4+1], obj[i*4+2], obj[i*4+3] = it.Object.CX, it.Object.CY, it.Object.Scale, it.Object.Angle
			} else {
				for k := 0; k < 4; k++ {
					obj[i*4+k] = math.NaN()
				}
			}
		}
		p := split.prefix
		out = append(out,
			npy.Named{Name: p + "_category", Array: npy.FromInt64(cat, n)},
			npy.Named{Name: p + "_face", Array: npy.FromBool(face, n)},
			npy.Named{Name: p + "_place", Array: npy.FromBool(place, n)},
			npy.Named{Name: p + "_embedding", Array: npy.FromFloat64(emb, n, embedDim)},
			npy.Named{Name: p + "_object", Array: npy.FromFloat64(obj, n, 4)},
			npy.Named{Name: p + "_luminance", Array: npy.FromFloat32(lum, n, GridSize, GridSize)},
		)
	}
	if st.TrainPatterns != nil {
		out = append(out,
			npy.Named{Name: "train_patterns", Array: npy.FromUint8(st.TrainPatterns, len(st.Train), 10, 10)},
			npy.Named{Name: "test_patterns", Array: npy.FromUint8(st.TestPatterns, len(st.Test), 10, 10)})
	}
	return out
}

// writeGODSubject writes sbj_N.npz and the subject's truth files.
func writeGODSubject(dir string, g *GODSubject) ([]string, error) {
	V := g.V
	nTrain := len(g.Order)
	nTest := len(g.TestMean) / V
	order := make([]int64, nTrain)
	for i, o := range g.Order {
		order[i] = int64(o)
	}
	arrays := []npy.Named{
		{Name: "arr_0", Array: npy.FromFloat32(g.Train, nTrain, V)},
		{Name: "arr_1", Array: npy.FromFloat32(g.TestTrials, nTest*g.Repeats, V)},
		{Name: "arr_2", Array: npy.FromFloat32(g.TestMean, nTest, V)},
		{Name: "arr_3", Array: npy.FromInt64(order, nTrain)},
	}
	for _, m := range MaskNames {
		arrays = append(arrays, npy.Named{Name: m, Array: npy.FromBool(g.ROIMask(m), V)})
	}
	sbj := filepath.Join(dir, g.Name+".npz")
	if err := npy.WriteNPZFile(sbj, arrays, false); err != nil {
		return nil, fmt.Errorf("write %s: %w", sbj, err)
	}
	truth := filepath.Join(dir, "truth", g.Name+".npz")
	if err := npy.WriteNPZFile(truth, subjectTruth(g.Subject, g.TrainSignal, g.TestSignal, nTrain, nTest), true); err != nil {
		return nil, fmt.Errorf("write %s: %w", truth, err)
	}
	rel := filepath.Join(dir, "truth", "reliability_"+g.Name+".npz")
	if err := npy.WriteNPZFile(rel, []npy.Named{
		{Name: "split_half", Array: npy.FromFloat64(g.SplitHalf, V)},
		{Name: "spearman_brown", Array: npy.FromFloat64(g.SpearmanBrown, V)},
	}, true); err != nil {
		return nil, fmt.Errorf("write %s: %w", rel, err)
	}
	return []string{sbj, truth, rel}, nil
}

// subjectTruth lists a subject's encoding-model parameters (see doc.go for
// each key); signals may be nil.
func subjectTruth(s *Subject, trainSignal, testSignal []float64, nTrain, nTest int) []npy.Named {
	V := s.V
	roi := make([]int64, V)
	xyz := make([]float64, V*3)
	for i := range roi {
		roi[i] = int64(s.ROI[i])
		xyz[3*i], xyz[3*i+1], xyz[3*i+2] = s.X[i], s.Y[i], s.Z[i]
	}
	vec := func(name string, x []float64) npy.Named { return npy.Named{Name: name, Array: npy.FromFloat64(x, V)} }
	groupStart := make([]int64, len(s.Noise.GroupStart))
	for i, g := range s.Noise.GroupStart {
		groupStart[i] = int64(g)
	}
	out := []npy.Named{
		{Name: "roi", Array: npy.FromInt64(roi, V)},
		{Name: "xyz_mm", Array: npy.FromFloat64(xyz, V, 3)},
		vec("prf_x", s.PRFX), vec("prf_y", s.PRFY), vec("prf_sigma", s.PRFSigma),
		vec("exponent", s.Exponent),
		{Name: "sf_weights", Array: npy.FromFloat64(s.SFWeights, V, NumLevels)},
		vec("ori_bias", s.OriBias), vec("ori_pref", s.OriPref), vec("low_weight", s.LowWeight),
		vec("colour_rg", s.ColourRG), vec("colour_by", s.ColourBY),
		vec("cat_weight", s.CatWeight),
		{Name: "cat_loadings", Array: npy.FromFloat64(s.CatLoad, V, embedDim)},
		vec("face_weight", s.FaceWeight), vec("place_weight", s.PlaceWeight),
		vec("gain", s.Gain), vec("drive", s.Drive), vec("baseline", s.Baseline),
		{Name: "noise_factors", Array: npy.FromFloat64(s.Noise.Factors, V, s.Noise.K)},
		{Name: "noise_locked", Array: npy.FromFloat64(s.Noise.Locked, s.Noise.K)},
		{Name: "noise_group_start", Array: npy.FromInt64(groupStart, len(groupStart))},
		vec("noise_diag", s.Noise.Diag), vec("noise_locked_diag", s.Noise.LockedDiag),
	}
	if trainSignal != nil {
		out = append(out, npy.Named{Name: "signal_train", Array: npy.FromFloat32(toFloat32(trainSignal), nTrain, V)})
	}
	if testSignal != nil {
		out = append(out, npy.Named{Name: "signal_test", Array: npy.FromFloat32(toFloat32(testSignal), nTest, V)})
	}
	return out
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// writeJSON writes v as indented JSON atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return npy.AtomicWrite(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}
