package crossmodal

import (
	"sort"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// graphResult is what runGraph returns: the outputs, the gradients of the
// loss with respect to the named parameters, and to the chosen inputs.
type graphResult struct {
	outs    []*tensors.Tensor
	grads   map[string][]float32
	inGrads [][]float32
}

// runGraph compiles and runs fn once over the parameters (all passed as
// graph inputs) and inputs. When fn returns a loss, it also returns
// d loss/d p for every p in gradParams and d loss/d inputs[i] for i in
// gradInputs.
func runGraph(t testing.TB, ps *nn.Params, inputs []*tensors.Tensor, gradParams []string, gradInputs []int,
	fn func(v nn.Vars, in []*Node) (outs []*Node, loss *Node)) graphResult {
	t.Helper()
	names := ps.Names()
	n := len(names)
	var nOuts int
	exec, err := NewExec(backend.Default(), func(g *Graph, in []*Node) []*Node {
		v := nn.NewVars(g, names, in[:n])
		outs, loss := fn(v, in[n:])
		nOuts = len(outs)
		if loss == nil {
			return outs
		}
		var targets []*Node
		idx := map[string]int{}
		for i, name := range names {
			idx[name] = i
		}
		for _, name := range gradParams {
			targets = append(targets, in[idx[name]])
		}
		for _, i := range gradInputs {
			targets = append(targets, in[n+i])
		}
		return append(outs, Gradient(loss, targets...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, 0, n+len(inputs))
	for _, p := range ps.List() {
		args = append(args, p.Tensor())
	}
	for _, x := range inputs {
		args = append(args, x)
	}
	res, err := exec.Call(args...)
	if err != nil {
		t.Fatal(err)
	}
	r := graphResult{outs: res[:nOuts], grads: map[string][]float32{}}
	for i, name := range gradParams {
		r.grads[name] = nn.ToFloat32(res[nOuts+i])
	}
	for i := range gradInputs {
		r.inGrads = append(r.inGrads, nn.ToFloat32(res[nOuts+len(gradParams)+i]))
	}
	return r
}

// fixtureTensor is a fixture array as a GoMLX float32 tensor.
func fixtureTensor(t testing.TB, f *parity.Fixture, key string) *tensors.Tensor {
	t.Helper()
	return tensors.FromFlatDataAndDimensions(f.F32(t, key), f.Shape(t, key)...)
}

// loadExact loads src into ps and fails unless every parameter was found and
// nothing in src was left over: the names must match the reference 1:1.
func loadExact(t testing.TB, ps *nn.Params, src map[string]nn.Tensor) {
	t.Helper()
	r, err := ps.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Missing) > 0 || len(r.Unexpected) > 0 {
		t.Fatalf("parameter names differ from the reference: missing %v, unexpected %v", r.Missing, r.Unexpected)
	}
}

// trainableNames lists the non-frozen parameters with the prefix, prefix
// removed, sorted.
func trainableNames(ps *nn.Params, prefix string) []string {
	var out []string
	for _, p := range ps.List() {
		if name, ok := strings.CutPrefix(p.Name, prefix); ok && !p.Frozen {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// checkTrainable compares the trainable set with the fixture's gradient
// keys (grad/<gradPrefix><name>), which list exactly the parameters the
// reference trains.
func checkTrainable(t testing.TB, f *parity.Fixture, ps *nn.Params, prefix, gradPrefix string) {
	t.Helper()
	var want []string
	for _, k := range f.Keys("grad/" + gradPrefix) {
		want = append(want, strings.TrimPrefix(k, "grad/"+gradPrefix))
	}
	got := trainableNames(ps, prefix)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("trainable parameters differ from the reference:\n got %v\nwant %v", got, want)
	}
}

func intsToF32(x []int) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
