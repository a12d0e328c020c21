package nn

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Convolutions are written as zero-padding by Concatenate (Pad has no
// gradient in GoMLX), one strided Slice per kernel tap, and a single matmul
// (im2col): 20–40× faster than GoMLX's native convolution on the Go backend,
// and correct for even kernels, whose native input gradient is wrong
// (gomlx-notes §2.1, §3c). Activations are NHWC; weights keep PyTorch's
// [out, in, kh, kw] layout so checkpoints import unchanged.

// Padding is the zero padding of a 2-D convolution, per side.
type Padding struct{ Top, Bottom, Left, Right int }

// Same returns symmetric padding p on every side.
func Same(p int) Padding { return Padding{p, p, p, p} }

// ZeroPad2D pads x [B, H, W, C] with zeros.
func ZeroPad2D(x *Node, p Padding) *Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	g, dt := x.Graph(), x.DType()
	if p.Top > 0 || p.Bottom > 0 {
		parts := []*Node{}
		if p.Top > 0 {
			parts = append(parts, Zeros(g, shapes.Make(dt, b, p.Top, w, c)))
		}
		parts = append(parts, x)
		if p.Bottom > 0 {
			parts = append(parts, Zeros(g, shapes.Make(dt, b, p.Bottom, w, c)))
		}
		x = Concatenate(parts, 1)
		h += p.Top + p.Bottom
	}
	if p.Left > 0 || p.Right > 0 {
		parts := []*Node{}
		if p.Left > 0 {
			parts = append(parts, Zeros(g, shapes.Make(dt, b, h, p.Left, c)))
		}
		parts = append(parts, x)
		if p.Right > 0 {
			parts = append(parts, Zeros(g, shapes.Make(dt, b, h, p.Right, c)))
		}
		x = Concatenate(parts, 2)
	}
	return x
}

// Conv2D applies a PyTorch Conv2d whose weight is v "weight" [O, I, kh, kw]
// (plus "bias" [O] when declared) to x [B, H, W, I] with the given stride and
// padding. The result is [B, Ho, Wo, O].
func Conv2D(v Vars, x *Node, stride int, pad Padding) *Node {
	w := v.Get("weight")
	wd := w.Shape().Dimensions
	if len(wd) != 4 {
		panic(fmt.Sprintf("nn: Conv2D weight %s must be [out,in,kh,kw], got %v", v.prefix+"weight", wd))
	}
	out, in, kh, kw := wd[0], wd[1], wd[2], wd[3]
	if c := x.Shape().Dimensions[3]; c != in {
		panic(fmt.Sprintf("nn: Conv2D %s: input has %d channels, weight wants %d", v.prefix+"weight", c, in))
	}
	var y *Node
	if kh == 1 && kw == 1 && stride == 1 && pad == (Padding{}) {
		y = DotGeneral(x, []int{3}, nil, Reshape(w, out, in), []int{1}, nil)
	} else {
		xp := ZeroPad2D(x, pad)
		d := xp.Shape().Dimensions
		ho := (d[1]-kh)/stride + 1
		wo := (d[2]-kw)/stride + 1
		cols := make([]*Node, 0, kh*kw)
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				cols = append(cols, Slice(xp, AxisRange(),
					AxisRange(i, i+stride*(ho-1)+1).Stride(stride),
					AxisRange(j, j+stride*(wo-1)+1).Stride(stride),
					AxisRange()))
			}
		}
		patches := cols[0]
		if len(cols) > 1 {
			patches = Concatenate(cols, 3) // [B, Ho, Wo, kh·kw·I], tap-major
		}
		// [O, I, kh, kw] → [kh, kw, I, O] → [kh·kw·I, O], matching the patch order.
		wm := Reshape(TransposeAllAxes(w, 2, 3, 1, 0), kh*kw*in, out)
		y = DotGeneral(patches, []int{3}, nil, wm, []int{0}, nil)
	}
	if v.Has("bias") {
		y = Add(y, ExpandLeftToRank(v.Get("bias"), 4))
	}
	return y
}

// DeclareConv2D declares a PyTorch Conv2d's weight [out, in, k, k] and bias
// with PyTorch's default init, or zeros when zero is set (zero_module).
func (in Init) Conv2D(name string, inCh, outCh, k int, bias, zero bool) {
	l := in.In("%s", name)
	if zero {
		l.Zeros("weight", outCh, inCh, k, k)
		if bias {
			l.Zeros("bias", outCh)
		}
		return
	}
	l.KaimingUniform("weight", outCh, inCh, k, k)
	if bias {
		l.Uniform("bias", 1/sqrtf(float64(inCh*k*k)), outCh)
	}
}

// GroupNorm normalises x [B, H, W, C] (or [B, N, C]) over groups of channels
// and all spatial positions, with biased variance and eps, then applies
// "weight" and "bias" [C] (PyTorch nn.GroupNorm).
func GroupNorm(v Vars, x *Node, groups int, eps float64) *Node {
	d := x.Shape().Dimensions
	c := d[len(d)-1]
	if c%groups != 0 {
		panic(fmt.Sprintf("nn: GroupNorm %s: %d channels not divisible by %d groups", v.prefix, c, groups))
	}
	b := d[0]
	spatial := 1
	for _, s := range d[1 : len(d)-1] {
		spatial *= s
	}
	r := Reshape(x, b, spatial, groups, c/groups)
	mean := ReduceAndKeep(r, ReduceMean, 1, 3)
	cen := Sub(r, mean)
	variance := ReduceAndKeep(Square(cen), ReduceMean, 1, 3)
	y := Reshape(Div(cen, Sqrt(AddScalar(variance, eps))), d...)
	y = Mul(y, ExpandLeftToRank(v.Get("weight"), len(d)))
	return Add(y, ExpandLeftToRank(v.Get("bias"), len(d)))
}

// UpsampleNearest2x doubles H and W of x [B, H, W, C] by repetition
// (F.interpolate(scale_factor=2, mode="nearest")), using Reshape and
// broadcasting, whose gradients are exact.
func UpsampleNearest2x(x *Node) *Node {
	d := x.Shape().Dimensions
	b, h, w, c := d[0], d[1], d[2], d[3]
	y := Reshape(x, b, h, 1, w, 1, c)
	y = BroadcastToDims(y, b, h, 2, w, 2, c)
	return Reshape(y, b, 2*h, 2*w, c)
}

// NCHWToNHWC and NHWCToNCHW convert between PyTorch's layout and ours.
func NCHWToNHWC(x *Node) *Node { return TransposeAllAxes(x, 0, 2, 3, 1) }

// NHWCToNCHW converts [B, H, W, C] to [B, C, H, W].
func NHWCToNCHW(x *Node) *Node { return TransposeAllAxes(x, 0, 3, 1, 2) }
