package pyobj

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/visdec/visdec/internal/npy"
)

// ObjectArray is a NumPy array of dtype object: its elements, converted, in C
// order. np.save of a dict gives a 0-d ObjectArray holding one *Dict.
type ObjectArray struct {
	Shape []int
	Items []any
}

// dtype is what numpy.dtype(code, align, copy) + BUILD(state) leave: the
// type code ("f8", "u1", "O8") and the byte order ('<', '>', '|', '=').
type dtype struct {
	code  string
	order string
}

func newDType(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("numpy.dtype: no arguments")
	}
	code, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("numpy.dtype: type code is %T, not a string", args[0])
	}
	return &dtype{code: code, order: "|"}, nil
}

// PySetState takes numpy's dtype state (version, byteorder, subdescr, names,
// fields, elsize, alignment, flags[, metadata]).
func (d *dtype) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() < 2 {
		return fmt.Errorf("numpy.dtype: unexpected state %T", state)
	}
	order, ok := t.Get(1).(string)
	if !ok {
		return fmt.Errorf("numpy.dtype: byte order is %T", t.Get(1))
	}
	d.order = order
	if t.Len() >= 4 && t.Get(3) != nil {
		return fmt.Errorf("numpy.dtype %s: structured dtypes are not supported", d.code)
	}
	return nil
}

func (d *dtype) descr() string { return d.order + d.code }

// npyType maps the dtype to npy's element type and byte order.
func (d *dtype) npyType() (npy.DType, bool, error) {
	var dt npy.DType
	switch d.code {
	case "b1", "?":
		dt = npy.Bool
	case "i1":
		dt = npy.Int8
	case "i2":
		dt = npy.Int16
	case "i4":
		dt = npy.Int32
	case "i8":
		dt = npy.Int64
	case "u1":
		dt = npy.Uint8
	case "u2":
		dt = npy.Uint16
	case "u4":
		dt = npy.Uint32
	case "u8":
		dt = npy.Uint64
	case "f2":
		dt = npy.Float16
	case "f4":
		dt = npy.Float32
	case "f8":
		dt = npy.Float64
	case "O8", "O4", "O":
		dt = npy.Object
	default:
		return "", false, fmt.Errorf("numpy dtype %q is not supported", d.descr())
	}
	return dt, d.order == ">", nil
}

// ndarray collects numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')
// and its BUILD state (version, shape, dtype, is_fortran, data).
type ndarray struct {
	built   bool
	shape   []int
	dt      *dtype
	fortran bool
	raw     []byte
	objects []any // for dtype object
}

func (a *ndarray) PySetState(state any) error {
	t, ok := state.(*types.Tuple)
	if !ok {
		return fmt.Errorf("numpy.ndarray: unexpected state %T", state)
	}
	s := []any(*t)
	if len(s) == 5 { // leading version number
		s = s[1:]
	}
	if len(s) != 4 {
		return fmt.Errorf("numpy.ndarray: state has %d fields, want 4 or 5", len(*t))
	}
	shape, err := intTuple(s[0])
	if err != nil {
		return fmt.Errorf("numpy.ndarray shape: %w", err)
	}
	dt, ok := s[1].(*dtype)
	if !ok {
		return fmt.Errorf("numpy.ndarray: dtype is %T", s[1])
	}
	fortran, ok := s[2].(bool)
	if !ok {
		return fmt.Errorf("numpy.ndarray: is_fortran is %T", s[2])
	}
	a.shape, a.dt, a.fortran, a.built = shape, dt, fortran, true
	switch d := s[3].(type) {
	case []byte:
		a.raw = d
	case string: // protocol 0/1 pickles of Python 2 strings
		a.raw = []byte(d)
	case *types.ByteArray:
		a.raw = []byte(*d)
	case *types.List:
		a.objects = []any(*d)
	default:
		return fmt.Errorf("numpy.ndarray: data is %T", s[3])
	}
	return nil
}

// array decodes a numeric array; it returns nil, nil for an object array.
func (a *ndarray) array() (*npy.Array, error) {
	if !a.built {
		return nil, fmt.Errorf("numpy.ndarray: reconstructed without state")
	}
	dt, big, err := a.dt.npyType()
	if err != nil {
		return nil, err
	}
	if dt == npy.Object {
		if a.objects == nil {
			return nil, fmt.Errorf("numpy.ndarray: object array without a list of elements")
		}
		n := 1
		for _, d := range a.shape {
			n *= d
		}
		if n != len(a.objects) {
			return nil, fmt.Errorf("numpy.ndarray: object array of shape %v has %d elements", a.shape, len(a.objects))
		}
		return nil, nil
	}
	if a.raw == nil {
		return nil, fmt.Errorf("numpy.ndarray: %s array without raw data", a.dt.descr())
	}
	return npy.FromBytes(a.raw, dt, big, a.fortran, a.shape)
}

func intTuple(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("want a tuple, got %T", v)
	}
	out := make([]int, t.Len())
	for i := range out {
		d, ok := t.Get(i).(int)
		if !ok || d < 0 {
			return nil, fmt.Errorf("bad dimension %v", t.Get(i))
		}
		out[i] = d
	}
	return out, nil
}

// numpyScalar decodes numpy.core.multiarray.scalar(dtype, bytes) into a Go
// number; other scalars stay inert objects.
func numpyScalar(args ...any) (any, error) {
	if len(args) != 2 {
		return &Object{Class: "numpy.scalar", Args: args}, nil
	}
	dt, ok := args[0].(*dtype)
	raw, ok2 := args[1].([]byte)
	if !ok || !ok2 {
		return &Object{Class: "numpy.scalar", Args: args}, nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if dt.order == ">" {
		bo = binary.BigEndian
	}
	size, err := strconv.Atoi(dt.code[1:])
	if err != nil || len(raw) != size {
		return &Object{Class: "numpy.scalar", Args: []any{dt.descr(), raw}}, nil
	}
	switch dt.code[0] {
	case 'f':
		switch size {
		case 2:
			return float64(npy.HalfToFloat32(bo.Uint16(raw))), nil
		case 4:
			return float64(math.Float32frombits(bo.Uint32(raw))), nil
		case 8:
			return math.Float64frombits(bo.Uint64(raw)), nil
		}
	case 'i':
		switch size {
		case 1:
			return int64(int8(raw[0])), nil
		case 2:
			return int64(int16(bo.Uint16(raw))), nil
		case 4:
			return int64(int32(bo.Uint32(raw))), nil
		case 8:
			return int64(bo.Uint64(raw)), nil
		}
	case 'u':
		switch size {
		case 1:
			return int64(raw[0]), nil
		case 2:
			return int64(bo.Uint16(raw)), nil
		case 4:
			return int64(bo.Uint32(raw)), nil
		case 8:
			if u := bo.Uint64(raw); u <= math.MaxInt64 {
				return int64(u), nil
			}
		}
	case 'b':
		return raw[0] != 0, nil
	}
	return &Object{Class: "numpy.scalar", Args: []any{dt.descr(), raw}}, nil
}
