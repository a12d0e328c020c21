// Package nn holds the building blocks every visdec model is made of: a named
// parameter set kept on the host (named exactly as the PyTorch reference names
// its state_dict, in PyTorch's layouts, so that checkpoints import 1:1), a
// graph-side view of it, the layers (Linear, LayerNorm, attention, GELU,
// convolutions written for GoMLX's autodiff), AdamW with the reference's
// parameter groups, gradient clipping and the learning-rate schedules.
//
// Models are plain functions of (Vars, inputs) → outputs. Training compiles one
// graph that takes every parameter and optimizer moment as an input and returns
// their updated values, so the optimizer semantics are ours and exact, and the
// same code runs on every GoMLX backend.
package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Param is one named tensor of a model.
type Param struct {
	Name  string
	Shape []int
	// Data is the host copy, float32, row-major, in PyTorch's layout.
	Data []float32
	// Frozen parameters are never updated (fixed sin-cos positions, the frozen
	// image encoder of phase 2).
	Frozen bool
	// NoDecay excludes the parameter from weight decay (timm's add_weight_decay:
	// 1-D parameters and biases).
	NoDecay bool
}

// Size is the number of elements.
func (p *Param) Size() int { return len(p.Data) }

// Tensor wraps the host data as a GoMLX tensor (copying it).
func (p *Param) Tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float32(nil), p.Data...), p.Shape...)
}

// Params is an ordered set of parameters.
type Params struct {
	list  []*Param
	index map[string]int
}

// NewParams returns an empty set.
func NewParams() *Params { return &Params{index: map[string]int{}} }

// Add appends a parameter; the name must be new and data must match shape.
// The default NoDecay follows timm: 1-D tensors and names ending in ".bias".
func (ps *Params) Add(name string, shape []int, data []float32) *Param {
	if _, dup := ps.index[name]; dup {
		panic(fmt.Sprintf("nn: parameter %q declared twice", name))
	}
	if n := numel(shape); n != len(data) {
		panic(fmt.Sprintf("nn: parameter %q: shape %v wants %d values, got %d", name, shape, n, len(data)))
	}
	p := &Param{Name: name, Shape: append([]int{}, shape...), Data: data,
		NoDecay: len(shape) == 1 || strings.HasSuffix(name, ".bias")}
	ps.index[name] = len(ps.list)
	ps.list = append(ps.list, p)
	return p
}

// Get returns the named parameter or nil.
func (ps *Params) Get(name string) *Param {
	if i, ok := ps.index[name]; ok {
		return ps.list[i]
	}
	return nil
}

// List returns the parameters in declaration order.
func (ps *Params) List() []*Param { return ps.list }

// Names returns the parameter names in declaration order.
func (ps *Params) Names() []string {
	out := make([]string, len(ps.list))
	for i, p := range ps.list {
		out[i] = p.Name
	}
	return out
}

// Len is the number of parameters.
func (ps *Params) Len() int { return len(ps.list) }

// Count is the total number of scalar values, and of trainable ones.
func (ps *Params) Count() (total, trainable int) {
	for _, p := range ps.list {
		total += p.Size()
		if !p.Frozen {
			trainable += p.Size()
		}
	}
	return
}

// Freeze marks every parameter whose name has one of the prefixes as frozen.
func (ps *Params) Freeze(prefixes ...string) {
	for _, p := range ps.list {
		for _, pre := range prefixes {
			if strings.HasPrefix(p.Name, pre) {
				p.Frozen = true
			}
		}
	}
}

// Clone deep-copies the set.
func (ps *Params) Clone() *Params {
	out := NewParams()
	for _, p := range ps.list {
		q := out.Add(p.Name, p.Shape, append([]float32(nil), p.Data...))
		q.Frozen, q.NoDecay = p.Frozen, p.NoDecay
	}
	return out
}

// LoadResult reports what Load did.
type LoadResult struct {
	Loaded     []string
	Missing    []string // in the model, absent from the source
	Unexpected []string // in the source, absent from the model
}

// Load copies values from src (name → tensor) into matching parameters, like
// PyTorch's load_state_dict(strict=False). A shape mismatch is an error.
func (ps *Params) Load(src map[string]Tensor) (LoadResult, error) {
	var r LoadResult
	for _, p := range ps.list {
		t, ok := src[p.Name]
		if !ok {
			r.Missing = append(r.Missing, p.Name)
			continue
		}
		if !sameShape(t.Shape, p.Shape) {
			return r, fmt.Errorf("parameter %s: checkpoint has shape %v, model wants %v", p.Name, t.Shape, p.Shape)
		}
		copy(p.Data, t.Data)
		r.Loaded = append(r.Loaded, p.Name)
	}
	for name := range src {
		if ps.Get(name) == nil {
			r.Unexpected = append(r.Unexpected, name)
		}
	}
	sort.Strings(r.Unexpected)
	return r, nil
}

// Tensor is a plain named-array value: float32 data in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// StateDict returns every parameter as a Tensor map (sharing the data).
func (ps *Params) StateDict() map[string]Tensor {
	out := make(map[string]Tensor, len(ps.list))
	for _, p := range ps.list {
		out[p.Name] = Tensor{Shape: p.Shape, Data: p.Data}
	}
	return out
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// CheckFinite returns an error naming the first parameter holding NaN or Inf.
func (ps *Params) CheckFinite() error {
	for _, p := range ps.list {
		for i, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("parameter %s[%d] is %v", p.Name, i, v)
			}
		}
	}
	return nil
}

// Init declares parameters under a name prefix with seeded initial values.
// Model packages write a declare function per block that mirrors its forward
// function, as a PyTorch module's __init__ mirrors its forward.
type Init struct {
	Params *Params
	RNG    *rand.Rand
	prefix string
}

// NewInit starts declaring into ps with a generator seeded by seed.
func NewInit(ps *Params, seed uint64) Init {
	return Init{Params: ps, RNG: rand.New(rand.NewPCG(seed, 0x5eed))}
}

// In returns an Init whose names get "name." prepended.
func (in Init) In(format string, args ...any) Init {
	in.prefix += fmt.Sprintf(format, args...) + "."
	return in
}

// Name is the full name of a parameter declared here.
func (in Init) Name(name string) string { return in.prefix + name }

// Add declares a parameter with explicit data.
func (in Init) Add(name string, shape []int, data []float32) *Param {
	return in.Params.Add(in.prefix+name, shape, data)
}

// Zeros declares a zero-filled parameter.
func (in Init) Zeros(name string, shape ...int) *Param {
	return in.Add(name, shape, make([]float32, numel(shape)))
}

// Ones declares a one-filled parameter.
func (in Init) Ones(name string, shape ...int) *Param {
	d := make([]float32, numel(shape))
	for i := range d {
		d[i] = 1
	}
	return in.Add(name, shape, d)
}

// Normal declares a parameter drawn from N(0, std²).
func (in Init) Normal(name string, std float64, shape ...int) *Param {
	d := make([]float32, numel(shape))
	for i := range d {
		d[i] = float32(in.RNG.NormFloat64() * std)
	}
	return in.Add(name, shape, d)
}

// TruncNormal declares a parameter drawn from N(0, std²) truncated to ±2 (as
// timm's trunc_normal_ with its default absolute bounds).
func (in Init) TruncNormal(name string, std float64, shape ...int) *Param {
	d := make([]float32, numel(shape))
	for i := range d {
		for {
			v := in.RNG.NormFloat64() * std
			if v >= -2 && v <= 2 {
				d[i] = float32(v)
				break
			}
		}
	}
	return in.Add(name, shape, d)
}

// Uniform declares a parameter drawn from U(-bound, bound).
func (in Init) Uniform(name string, bound float64, shape ...int) *Param {
	d := make([]float32, numel(shape))
	for i := range d {
		d[i] = float32((in.RNG.Float64()*2 - 1) * bound)
	}
	return in.Add(name, shape, d)
}

// XavierUniform declares a [out, in, k...] weight with bound √(6/(fan_in+fan_out)).
func (in Init) XavierUniform(name string, shape ...int) *Param {
	fanIn, fanOut := fans(shape)
	return in.Uniform(name, math.Sqrt(6/float64(fanIn+fanOut)), shape...)
}

// KaimingUniform declares a weight as PyTorch's default Linear/Conv init:
// U(±1/√fan_in) (kaiming_uniform with a=√5).
func (in Init) KaimingUniform(name string, shape ...int) *Param {
	fanIn, _ := fans(shape)
	return in.Uniform(name, 1/math.Sqrt(float64(fanIn)), shape...)
}

// fans returns PyTorch's fan_in and fan_out of a [out, in, k...] weight.
func fans(shape []int) (int, int) {
	if len(shape) < 2 {
		return shape[0], shape[0]
	}
	rf := 1
	for _, d := range shape[2:] {
		rf *= d
	}
	return shape[1] * rf, shape[0] * rf
}

// LinearInit selects how Linear declares its weight.
type LinearInit int

const (
	// InitXavier: xavier_uniform weight, zero bias (MAE/timm _init_weights).
	InitXavier LinearInit = iota
	// InitTorchDefault: PyTorch's nn.Linear default, U(±1/√fan_in) for both.
	InitTorchDefault
	// InitNormal02: N(0, 0.02²) weight, zero bias (Hugging Face _init_weights).
	InitNormal02
	// InitZero: zero weight and bias (zero_module in the LDM UNet).
	InitZero
)

// Linear declares weight [out, in] and, if bias, bias [out].
func (in Init) Linear(name string, inDim, outDim int, bias bool, how LinearInit) {
	l := in.In("%s", name)
	switch how {
	case InitXavier:
		l.XavierUniform("weight", outDim, inDim)
		if bias {
			l.Zeros("bias", outDim)
		}
	case InitTorchDefault:
		l.KaimingUniform("weight", outDim, inDim)
		if bias {
			l.Uniform("bias", 1/math.Sqrt(float64(inDim)), outDim)
		}
	case InitNormal02:
		l.Normal("weight", 0.02, outDim, inDim)
		if bias {
			l.Zeros("bias", outDim)
		}
	case InitZero:
		l.Zeros("weight", outDim, inDim)
		if bias {
			l.Zeros("bias", outDim)
		}
	}
}

// LayerNorm declares weight (ones) and bias (zeros) of size dim.
func (in Init) LayerNorm(name string, dim int) {
	l := in.In("%s", name)
	l.Ones("weight", dim)
	l.Zeros("bias", dim)
}

// HostTensor makes a GoMLX float32 tensor from data and shape (copying).
func HostTensor(data []float32, shape ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float32(nil), data...), shape...)
}

// ToFloat32 copies any float tensor's values to a []float32.
// Scalars reads the first value of each tensor (scalar outputs of a graph)
// as float64.
func Scalars(ts []*tensors.Tensor) []float64 {
	out := make([]float64, len(ts))
	for i, t := range ts {
		out[i] = float64(ToFloat32(t)[0])
	}
	return out
}

func ToFloat32(t *tensors.Tensor) []float32 {
	switch t.DType() {
	case dtypes.Float32:
		return tensors.MustCopyFlatData[float32](t)
	case dtypes.Float64:
		d := tensors.MustCopyFlatData[float64](t)
		out := make([]float32, len(d))
		for i, v := range d {
			out[i] = float32(v)
		}
		return out
	}
	panic(fmt.Sprintf("nn: ToFloat32 on %s tensor", t.DType()))
}

func sqrtf(x float64) float64 { return math.Sqrt(x) }
