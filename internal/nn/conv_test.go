package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
)

// slowConv2D is a direct NCHW-free reference: x [B,H,W,C], w [O,I,kh,kw].
func slowConv2D(x []float64, b, h, w, c int, wt []float64, o, kh, kw, stride int, p Padding) ([]float64, int, int) {
	hp, wp := h+p.Top+p.Bottom, w+p.Left+p.Right
	ho, wo := (hp-kh)/stride+1, (wp-kw)/stride+1
	out := make([]float64, b*ho*wo*o)
	for n := 0; n < b; n++ {
		for yo := 0; yo < ho; yo++ {
			for xo := 0; xo < wo; xo++ {
				for oc := 0; oc < o; oc++ {
					var s float64
					for i := 0; i < kh; i++ {
						for j := 0; j < kw; j++ {
							yi, xi := yo*stride+i-p.Top, xo*stride+j-p.Left
							if yi < 0 || yi >= h || xi < 0 || xi >= w {
								continue
							}
							for ic := 0; ic < c; ic++ {
								s += x[((n*h+yi)*w+xi)*c+ic] * wt[((oc*c+ic)*kh+i)*kw+j]
							}
						}
					}
					out[((n*ho+yo)*wo+xo)*o+oc] = s
				}
			}
		}
	}
	return out, ho, wo
}

func TestConv2DMatchesDirect(t *testing.T) {
	cases := []struct {
		name          string
		h, w, c, o, k int
		stride        int
		pad           Padding
	}{
		{"3x3 same", 6, 5, 3, 4, 3, 1, Same(1)},
		{"3x3 stride2 asym", 8, 8, 2, 3, 3, 2, Padding{0, 1, 0, 1}},
		{"1x1", 4, 4, 5, 2, 1, 1, Padding{}},
		{"4x4 stride2 even", 8, 6, 2, 2, 4, 2, Same(1)},
		{"11x11 stride4", 23, 23, 3, 2, 11, 4, Same(2)},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := 2
			x := make([]float32, b*tc.h*tc.w*tc.c)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			ps := NewParams()
			NewInit(ps, 3).Conv2D("conv", tc.c, tc.o, tc.k, false, false)
			wt := ps.Get("conv.weight").Data
			got, err := runOnce2(func(x, w *Node) *Node {
				v := NewVars(x.Graph(), []string{"conv.weight"}, []*Node{w})
				return Conv2D(v.In("conv"), x, tc.stride, tc.pad)
			}, tensors.FromFlatDataAndDimensions(x, b, tc.h, tc.w, tc.c), ps.Get("conv.weight").Tensor())
			if err != nil {
				t.Fatal(err)
			}
			want, _, _ := slowConv2D(f64(x), b, tc.h, tc.w, tc.c, f64(wt), tc.o, tc.k, tc.k, tc.stride, tc.pad)
			gv := tensors.MustCopyFlatData[float32](got)
			if len(gv) != len(want) {
				t.Fatalf("got %d values, want %d", len(gv), len(want))
			}
			for i := range want {
				if math.Abs(float64(gv[i])-want[i]) > 1e-4*(1+math.Abs(want[i])) {
					t.Fatalf("[%d] got %g want %g", i, gv[i], want[i])
				}
			}
		})
	}
}

// TestConv2DInputGradient checks the input gradient against finite
// differences, for the even kernel whose native GoMLX gradient is wrong.
func TestConv2DInputGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b, h, w, c, o, k := 1, 6, 6, 2, 2, 4
	x := make([]float64, b*h*w*c)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	wt := make([]float64, o*c*k*k)
	for i := range wt {
		wt[i] = rng.NormFloat64() * 0.3
	}
	pad := Same(1)
	grad, err := runOnce2(func(xn, wn *Node) *Node {
		v := NewVars(xn.Graph(), []string{"weight"}, []*Node{wn})
		y := Conv2D(v, xn, 2, pad)
		return Gradient(ReduceAllSum(Square(y)), xn)[0]
	}, tensors.FromFlatDataAndDimensions(x, b, h, w, c), tensors.FromFlatDataAndDimensions(wt, o, c, k, k))
	if err != nil {
		t.Fatal(err)
	}
	g := tensors.MustCopyFlatData[float64](grad)
	loss := func(xx []float64) float64 {
		y, _, _ := slowConv2D(xx, b, h, w, c, wt, o, k, k, 2, pad)
		s := 0.0
		for _, v := range y {
			s += v * v
		}
		return s
	}
	for _, i := range []int{0, 7, 13, 35, len(x) - 1} {
		xp := append([]float64{}, x...)
		xm := append([]float64{}, x...)
		xp[i] += 1e-5
		xm[i] -= 1e-5
		num := (loss(xp) - loss(xm)) / 2e-5
		if math.Abs(num-g[i]) > 1e-5*(1+math.Abs(num)) {
			t.Errorf("dx[%d] = %g, finite difference %g", i, g[i], num)
		}
	}
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// runOnce2 compiles and runs a two-input graph once on the default backend.
func runOnce2(fn func(a, b *Node) *Node, a, b *tensors.Tensor) (*tensors.Tensor, error) {
	e, err := NewExec(backend.Default(), fn)
	if err != nil {
		return nil, err
	}
	out, err := e.Call(a, b)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}
