package torchckpt

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/visdec/visdec/internal/npy"
)

// storageClass is a torch.<Type>Storage global as it appears in a storage's
// persistent id: the element type.
type storageClass struct {
	dtype string // PyTorch dtype name: float32, float16, bfloat16, ...
	size  int    // bytes per element
}

// storageClasses maps the pickled storage class names to element types
// (torch/storage.py _TypedStorage subclasses).
var storageClasses = map[string]*storageClass{
	"torch.FloatStorage":    {"float32", 4},
	"torch.HalfStorage":     {"float16", 2},
	"torch.BFloat16Storage": {"bfloat16", 2},
	"torch.DoubleStorage":   {"float64", 8},
	"torch.LongStorage":     {"int64", 8},
	"torch.IntStorage":      {"int32", 4},
	"torch.ShortStorage":    {"int16", 2},
	"torch.CharStorage":     {"int8", 1},
	"torch.ByteStorage":     {"uint8", 1},
	"torch.BoolStorage":     {"bool", 1},
}

// storage is one typed storage: numel elements of class, stored in data
// (set when the bytes are read). A legacy view storage points at its base
// with an element offset.
type storage struct {
	class     *storageClass
	key       string
	numel     int
	data      []byte
	bigEndian bool
	base      *storage
	baseOff   int
}

// root follows views to the storage that owns the bytes, returning it and
// the element offset of s inside it.
func (s *storage) root() (*storage, int) {
	off := 0
	for s.base != nil {
		off += s.baseOff
		s = s.base
	}
	return s, off
}

// element returns a decoder of element i of the storage's bytes.
func (s *storage) decoder() (func(i int) float32, error) {
	r, _ := s.root()
	if r.data == nil {
		return nil, fmt.Errorf("storage %q has no data", r.key)
	}
	if len(r.data) != r.numel*r.class.size {
		return nil, fmt.Errorf("storage %q: %d bytes for %d×%s", r.key, len(r.data), r.numel, r.class.dtype)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if r.bigEndian {
		bo = binary.BigEndian
	}
	b := r.data
	switch r.class.dtype {
	case "float32":
		return func(i int) float32 { return math.Float32frombits(bo.Uint32(b[4*i:])) }, nil
	case "float16":
		return func(i int) float32 { return npy.HalfToFloat32(bo.Uint16(b[2*i:])) }, nil
	case "bfloat16":
		return func(i int) float32 { return math.Float32frombits(uint32(bo.Uint16(b[2*i:])) << 16) }, nil
	case "float64":
		return func(i int) float32 { return float32(math.Float64frombits(bo.Uint64(b[8*i:]))) }, nil
	case "int64":
		return func(i int) float32 { return float32(int64(bo.Uint64(b[8*i:]))) }, nil
	case "int32":
		return func(i int) float32 { return float32(int32(bo.Uint32(b[4*i:]))) }, nil
	case "int16":
		return func(i int) float32 { return float32(int16(bo.Uint16(b[2*i:]))) }, nil
	case "int8":
		return func(i int) float32 { return float32(int8(b[i])) }, nil
	case "uint8":
		return func(i int) float32 { return float32(b[i]) }, nil
	case "bool":
		return func(i int) float32 {
			if b[i] != 0 {
				return 1
			}
			return 0
		}, nil
	}
	return nil, fmt.Errorf("storage %q: unsupported dtype %s", r.key, r.class.dtype)
}

// tensorRef is a tensor as the pickle describes it: a strided view of a
// storage. Its values are gathered on demand.
type tensorRef struct {
	st     *storage
	offset int
	size   []int
	stride []int
}

// DType is the element type of the storage the tensor was saved with.
func (t *tensorRef) DType() string { return t.st.class.dtype }

// Shape is the tensor's size.
func (t *tensorRef) Shape() []int { return append([]int{}, t.size...) }

// numel is the element count (overflow-checked by check).
func (t *tensorRef) numel() int {
	n := 1
	for _, d := range t.size {
		n *= d
	}
	return n
}

// check verifies that every element the view addresses lies in the storage.
func (t *tensorRef) check() error {
	if len(t.size) != len(t.stride) {
		return fmt.Errorf("tensor has %d dimensions but %d strides", len(t.size), len(t.stride))
	}
	if t.offset < 0 {
		return fmt.Errorf("negative storage offset %d", t.offset)
	}
	n := 1
	last := t.offset
	for i, d := range t.size {
		if d < 0 || t.stride[i] < 0 {
			return fmt.Errorf("bad size %v / stride %v", t.size, t.stride)
		}
		if d > 0 && n > math.MaxInt32*64/d {
			return fmt.Errorf("size %v is too large", t.size)
		}
		n *= d
		if d > 0 {
			if t.stride[i] > 0 && (d-1) > (math.MaxInt64-last)/t.stride[i] {
				return fmt.Errorf("stride %v overflows", t.stride)
			}
			last += (d - 1) * t.stride[i]
		}
	}
	// Broadcast views (stride 0) are legal, but a corrupt file could make a
	// one-element storage describe billions of elements.
	if n > max(64*t.st.numel, 1<<20) {
		return fmt.Errorf("view of size %v is far larger than its %d-element storage", t.size, t.st.numel)
	}
	_, base := t.st.root()
	if n > 0 && last >= t.st.numel {
		return fmt.Errorf("view (offset %d, size %v, stride %v) reaches element %d of a %d-element storage",
			t.offset, t.size, t.stride, last, t.st.numel)
	}
	if r, _ := t.st.root(); base+t.st.numel > r.numel {
		return fmt.Errorf("storage view reaches past its base storage %q", r.key)
	}
	return nil
}

// float32s gathers the view's elements in C order, converted to float32.
func (t *tensorRef) float32s() ([]float32, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	dec, err := t.st.decoder()
	if err != nil {
		return nil, err
	}
	_, base := t.st.root()
	n := t.numel()
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	rank := len(t.size)
	// Contiguous fast path.
	contiguous, want := true, 1
	for i := rank - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != want {
			contiguous = false
			break
		}
		want *= t.size[i]
	}
	start := base + t.offset
	if contiguous {
		for i := range out {
			out[i] = dec(start + i)
		}
		return out, nil
	}
	idx := make([]int, rank)
	pos := start
	for i := range out {
		out[i] = dec(pos)
		for a := rank - 1; a >= 0; a-- {
			idx[a]++
			pos += t.stride[a]
			if idx[a] < t.size[a] {
				break
			}
			pos -= t.stride[a] * t.size[a]
			idx[a] = 0
		}
	}
	return out, nil
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) and
// the older _rebuild_tensor(storage, storage_offset, size, stride).
type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor: %d arguments, want at least 4", len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: storage is %T", args[0])
	}
	off, ok := args[1].(int)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: storage offset is %T", args[1])
	}
	size, err := ints(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: size: %w", err)
	}
	stride, err := ints(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: stride: %w", err)
	}
	t := &tensorRef{st: st, offset: off, size: size, stride: stride}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: %w", err)
	}
	return t, nil
}

// rebuildFromType implements torch._tensor._rebuild_from_type_v2(func, type,
// args, state): the tensor is func(*args); the subclass and its state are
// dropped.
type rebuildFromType struct{}

func (rebuildFromType) Call(args ...any) (any, error) {
	if len(args) < 3 {
		return nil, fmt.Errorf("_rebuild_from_type_v2: %d arguments", len(args))
	}
	fn, ok := args[0].(types.Callable)
	if !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: %T is not a rebuild function", args[0])
	}
	if _, ok := fn.(rebuildTensor); !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: unsupported rebuild function")
	}
	a, ok := args[2].(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: args are %T", args[2])
	}
	return fn.Call(*a...)
}

func ints(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("want a tuple, got %T", v)
	}
	out := make([]int, t.Len())
	for i := range out {
		d, ok := t.Get(i).(int)
		if !ok {
			return nil, fmt.Errorf("element %d is %T, not an int", i, t.Get(i))
		}
		out[i] = d
	}
	return out, nil
}
