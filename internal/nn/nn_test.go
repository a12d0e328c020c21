package nn

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
)

// TestTrainerFitsLinear checks the compiled AdamW step end to end: a linear
// model fitted to y = 2x − 1 drives the loss close to zero.
func TestTrainerFitsLinear(t *testing.T) {
	ps := NewParams()
	in := NewInit(ps, 1)
	in.Linear("fc", 1, 1, true, InitTorchDefault)
	cfg := StepConfig{Opt: AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, ClipNorm: 10}
	tr, err := NewTrainer(backend.Default(), ps, cfg, func(v Vars, in []*Node) (*Node, []*Node) {
		pred := Linear(v.In("fc"), in[0])
		return ReduceAllMean(Square(Sub(pred, in[1]))), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	xs := []float32{-1, -0.5, 0, 0.5, 1, 1.5}
	ys := make([]float32, len(xs))
	for i, x := range xs {
		ys[i] = 2*x - 1
	}
	x := tensors.FromFlatDataAndDimensions(xs, len(xs), 1)
	y := tensors.FromFlatDataAndDimensions(ys, len(ys), 1)
	var first, last float64
	for i := 0; i < 400; i++ {
		r, err := tr.Step(0.05, x, y)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.Loss
		}
		last = r.Loss
	}
	tr.Sync()
	w, b := ps.Get("fc.weight").Data[0], ps.Get("fc.bias").Data[0]
	if last > 1e-3 || last >= first || math.Abs(float64(w)-2) > 0.05 || math.Abs(float64(b)+1) > 0.05 {
		t.Errorf("loss %g → %g, w=%g b=%g; want loss→0, w≈2, b≈−1", first, last, w, b)
	}
}
