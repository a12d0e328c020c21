package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
)

// TestFastTimmBlockMatchesTimmBlock compares FastTimmBlock with TimmBlock:
// outputs and the gradients of a random projection of them with respect to
// every parameter and the input, on seeded random weights and inputs.
func TestFastTimmBlockMatchesTimmBlock(t *testing.T) {
	for _, tc := range []struct{ b, n, d, heads int }{
		{2, 5, 16, 2},  // Dh 8: the scale is not a power of 2
		{3, 11, 32, 2}, // Dh 16
		{1, 1, 8, 1},   // one token, one head
		{2, 17, 24, 3},
	} {
		t.Run(fmt.Sprintf("b%d_n%d_d%d_h%d", tc.b, tc.n, tc.d, tc.heads), func(t *testing.T) {
			ps := NewParams()
			in := NewInit(ps, 3)
			DeclareTimmBlock(in.In("blk"), tc.d, 1.5, InitXavier)
			for _, p := range ps.List() { // non-trivial norms and biases
				for i := range p.Data {
					p.Data[i] += float32(0.1 * in.RNG.NormFloat64())
				}
			}
			rng := rand.New(rand.NewPCG(5, 7))
			x := make([]float32, tc.b*tc.n*tc.d)
			w := make([]float32, len(x))
			for i := range x {
				x[i], w[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			run := func(block func(Vars, *Node, int) *Node) [][]float32 {
				fwd, err := NewForward(backend.Default(), ps.Names(), func(v Vars, inp []*Node) []*Node {
					y := block(v.In("blk"), inp[0], tc.heads)
					loss := ReduceAllSum(Mul(y, inp[1]))
					wrt := []*Node{inp[0]}
					for _, name := range ps.Names() {
						wrt = append(wrt, v.Get(name))
					}
					return append([]*Node{y}, Gradient(loss, wrt...)...)
				})
				if err != nil {
					t.Fatal(err)
				}
				outs, err := fwd.Run(ParamTensors(ps),
					tensors.FromFlatDataAndDimensions(x, tc.b, tc.n, tc.d),
					tensors.FromFlatDataAndDimensions(w, tc.b, tc.n, tc.d))
				if err != nil {
					t.Fatal(err)
				}
				res := make([][]float32, len(outs))
				for i, o := range outs {
					res[i] = ToFloat32(o)
				}
				return res
			}
			want, got := run(TimmBlock), run(FastTimmBlock)
			names := append([]string{"output", "d/dx"}, ps.Names()...)
			for i := range want {
				scale := 0.0
				for _, v := range want[i] {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				for j := range want[i] {
					if d := math.Abs(float64(got[i][j] - want[i][j])); d > 1e-5*(1+scale) {
						t.Errorf("%s[%d]: fast %v, reference %v", names[i], j, got[i][j], want[i][j])
						break
					}
				}
			}
		})
	}
}
