package evaluate

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/nn"
)

// Classifier maps images to class probabilities and a feature vector. The
// n-way semantic metric uses the probabilities; identification among test
// items uses the features.
type Classifier interface {
	// Name describes the classifier in reports.
	Name() string
	// NumClasses is the length of every probability vector.
	NumClasses() int
	// Classify takes n packed RGB images [n, h, w, 3] and returns the
	// softmax probabilities [n][NumClasses] and features [n][d].
	Classify(ctx context.Context, images []uint8, n, h, w int) (probs, feats [][]float32, err error)
}

// imagenetMean and imagenetStd are torchvision's normalisation constants.
var (
	imagenetMean = [3]float32{0.485, 0.456, 0.406}
	imagenetStd  = [3]float32{0.229, 0.224, 0.225}
)

// loadParams copies a state dict into ps by name and shape, strictly: every
// parameter must be present, and the names the model does not use are
// listed in the error, so a wrong file fails loudly. what names the model in
// messages. Keys are first stripped of any prefix in strip.
func loadParams(ps *nn.Params, sd map[string]nn.Tensor, what string, strip ...string) error {
	src := make(map[string]nn.Tensor, len(sd))
	for k, v := range sd {
		for _, p := range strip {
			k = strings.TrimPrefix(k, p)
		}
		src[k] = v
	}
	r, err := ps.Load(src)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(r.Missing) > 0 {
		sort.Strings(r.Missing)
		return fmt.Errorf("%s: %d parameters missing from the weights, e.g. %s", what, len(r.Missing), strings.Join(first(r.Missing, 5), ", "))
	}
	return nil
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// batches calls fn for consecutive [lo, hi) ranges of at most size items.
func batches(n, size int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		if err := fn(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}
