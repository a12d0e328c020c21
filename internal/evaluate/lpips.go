package evaluate

import (
	"context"
	"fmt"
	"math"
	"regexp"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/nn"
)

// LPIPS-alex, the reference's "psm" metric (eval_metrics.py:30-44 through
// torchmetrics 0.9.2 LearnedPerceptualImagePatchSimilarity(net_type='alex'),
// which wraps the lpips package's LPIPS v0.1): images scaled to [−1, 1],
// shifted and scaled per channel (ScalingLayer), torchvision AlexNet's
// features tapped after each of its five ReLUs, each tap normalised to unit
// length over channels, squared differences weighted per channel by the
// learned 1×1 "lin" layers, averaged over space and summed over taps.
// Lower is more similar. Weights are the user's files: torchvision's
// alexnet .pth (features.*) and lpips' weights/v0.1/alex.pth (lin*).

// AlexChannels are the output channels of AlexNet's five conv layers
// (torchvision: 64, 192, 384, 256, 256); tests use smaller ones.
type AlexChannels [5]int

// TorchvisionAlex is torchvision's AlexNet.
var TorchvisionAlex = AlexChannels{64, 192, 384, 256, 256}

// alexConvs are the conv layers of alexnet.features: index in the
// Sequential (hence the parameter name), kernel, stride and padding. A ReLU
// follows each; max pools (3, stride 2) follow convs 0 and 3.
var alexConvs = [5]struct{ idx, k, stride, pad int }{
	{0, 11, 4, 2}, {3, 5, 1, 2}, {6, 3, 1, 1}, {8, 3, 1, 1}, {10, 3, 1, 1},
}

// lpipsMinSize is the smallest image side AlexNet's features accept: conv 0
// (11×11, stride 4, padding 2) must leave 7 pixels for two 3×3 stride-2 pools.
const lpipsMinSize = 31

// lpipsShift and lpipsScale are lpips' ScalingLayer constants.
var (
	lpipsShift = [3]float32{-.030, -.088, -.188}
	lpipsScale = [3]float32{.458, .448, .450}
)

// DeclareLPIPS declares AlexNet's feature convs (features.N.weight/bias) and
// the five lin layers (linK.model.1.weight, [1, C, 1, 1]) with random
// values.
func DeclareLPIPS(in nn.Init, ch AlexChannels) {
	prev := 3
	for k, c := range alexConvs {
		in.Conv2D(fmt.Sprintf("features.%d", c.idx), prev, ch[k], c.k, true, false)
		prev = ch[k]
	}
	for k := range alexConvs {
		in.Uniform(fmt.Sprintf("lin%d.model.1.weight", k), 0.5, 1, ch[k], 1, 1).Data[0] += 0.5
	}
}

// lpipsRenames maps the names of the files LPIPS weights come in to ours:
// lpips' own LPIPS state dict (net.sliceK.N.*), torchmetrics'
// (net.net.sliceK.N.*, net.linK.*), DataParallel's module. prefix.
var lpipsRenames = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`^(?:.*\.)?slice\d+\.(\d+)\.(weight|bias)$`), "features.$1.$2"},
	{regexp.MustCompile(`^(?:.*\.)?(features\.\d+\.(?:weight|bias))$`), "$1"},
	{regexp.MustCompile(`^(?:.*\.)?(lin\d\.model\.1\.weight)$`), "$1"},
}

// renameLPIPS returns sd with keys renamed to DeclareLPIPS's names; keys it
// does not know (AlexNet's classifier, scaling buffers) pass through.
func renameLPIPS(sd map[string]nn.Tensor) map[string]nn.Tensor {
	out := make(map[string]nn.Tensor, len(sd))
	for k, v := range sd {
		for _, r := range lpipsRenames {
			if r.re.MatchString(k) {
				k = r.re.ReplaceAllString(k, r.repl)
				break
			}
		}
		out[k] = v
	}
	return out
}

// LPIPSForward returns the five unit-normalised taps of x [B, H, W, 3]
// (uint8 values as float32, 0..255), each [B, h_k, w_k, C_k].
func LPIPSForward(v nn.Vars, x *Node) []*Node {
	g := x.Graph()
	// eval_metrics.py: x/127.5 − 1; then lpips' ScalingLayer.
	x = AddScalar(DivScalar(x, 127.5), -1)
	shift := Reshape(Const(g, lpipsShift[:]), 1, 1, 1, 3)
	scale := Reshape(Const(g, lpipsScale[:]), 1, 1, 1, 3)
	h := Div(Sub(x, shift), scale)
	taps := make([]*Node, 0, len(alexConvs))
	for k, c := range alexConvs {
		if k == 1 || k == 2 {
			h = maxPool3s2(h)
		}
		h = MaxScalar(nn.Conv2D(v.In("features.%d", c.idx), h, c.stride, nn.Same(c.pad)), 0) // ReLU
		taps = append(taps, unitNormalize(h))
	}
	return taps
}

// unitNormalize is lpips' normalize_tensor: x / (‖x‖₂ over channels + 1e-10).
func unitNormalize(x *Node) *Node {
	norm := Sqrt(ReduceAndKeep(Square(x), ReduceSum, -1))
	return Div(x, AddScalar(norm, 1e-10))
}

// maxPool3s2 is nn.MaxPool2d(3, stride 2) (no padding, floor mode) on
// [B, H, W, C], as the max of its nine strided taps.
func maxPool3s2(x *Node) *Node {
	d := x.Shape().Dimensions
	ho, wo := (d[1]-3)/2+1, (d[2]-3)/2+1
	var out *Node
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			t := Slice(x, AxisRange(), AxisRange(i, i+2*(ho-1)+1).Stride(2), AxisRange(j, j+2*(wo-1)+1).Stride(2), AxisRange())
			if out == nil {
				out = t
			} else {
				out = Max(out, t)
			}
		}
	}
	return out
}

// LPIPSFeatures are one image's normalised taps, [h_k·w_k·C_k] each.
type LPIPSFeatures [5][]float32

// LPIPS computes LPIPS-alex distances.
type LPIPS struct {
	ch      AlexChannels
	params  *nn.Params
	tensors []*tensors.Tensor
	fwd     *nn.Forward
	lin     [5][]float32
	dims    [5][3]int // h, w, C of each tap, set by Features
}

// NewLPIPS builds LPIPS-alex from a merged state dict holding AlexNet's
// features and the lin layers (see renameLPIPS for the accepted names).
// Every parameter is required.
func NewLPIPS(be compute.Backend, ch AlexChannels, sd map[string]nn.Tensor) (*LPIPS, error) {
	ps := nn.NewParams()
	DeclareLPIPS(nn.NewInit(ps, 0), ch)
	if sd != nil {
		if err := loadParams(ps, renameLPIPS(sd), "lpips-alex weights"); err != nil {
			return nil, err
		}
	}
	m := &LPIPS{ch: ch, params: ps, tensors: nn.ParamTensors(ps)}
	for k := range m.lin {
		m.lin[k] = ps.Get(fmt.Sprintf("lin%d.model.1.weight", k)).Data
	}
	var err error
	m.fwd, err = nn.NewForward(be, ps.Names(), func(v nn.Vars, in []*Node) []*Node { return LPIPSForward(v, in[0]) })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Features computes the taps of n images [n, h, w, 3].
func (m *LPIPS) Features(ctx context.Context, images []uint8, n, h, w int) ([]LPIPSFeatures, error) {
	const bs = 4
	out := make([]LPIPSFeatures, 0, n)
	err := batches(n, bs, func(lo, hi int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		x := make([]float32, bs*h*w*3)
		for i := range x {
			x[i] = float32(images[(lo*h*w*3+i)%(hi*h*w*3)]) // pad by wrapping
		}
		res, err := m.fwd.Run(m.tensors, tensors.FromFlatDataAndDimensions(x, bs, h, w, 3))
		if err != nil {
			return fmt.Errorf("lpips: %w", err)
		}
		var flat [5][]float32
		for k, t := range res {
			d := t.Shape().Dimensions
			m.dims[k] = [3]int{d[1], d[2], d[3]}
			flat[k] = nn.ToFloat32(t)
		}
		for i := 0; i < hi-lo; i++ {
			var f LPIPSFeatures
			for k := range f {
				sz := m.dims[k][0] * m.dims[k][1] * m.dims[k][2]
				f[k] = flat[k][i*sz : (i+1)*sz]
			}
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

// Distance is LPIPS between two images from their features: Σ_k mean over
// positions of Σ_c lin_k[c]·(a_kc − b_kc)².
func (m *LPIPS) Distance(a, b LPIPSFeatures) float64 {
	var total float64
	for k := range a {
		c := m.dims[k][2]
		lin := m.lin[k]
		var sum float64
		for p := 0; p < len(a[k]); p += c {
			var s float32
			for ch := 0; ch < c; ch++ {
				d := a[k][p+ch] - b[k][p+ch]
				s += lin[ch] * d * d
			}
			sum += float64(s)
		}
		total += sum / float64(len(a[k])/c)
	}
	if math.IsNaN(total) {
		return math.Inf(1)
	}
	return total
}
