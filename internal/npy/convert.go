package npy

import (
	"fmt"
	"math"
)

// FromFloat32 wraps data of the given shape as a float32 array.
func FromFloat32(data []float32, shape ...int) *Array {
	return &Array{DType: Float32, Shape: append([]int{}, shape...), Data: data}
}

// FromFloat64 wraps data of the given shape as a float64 array.
func FromFloat64(data []float64, shape ...int) *Array {
	return &Array{DType: Float64, Shape: append([]int{}, shape...), Data: data}
}

// FromUint8 wraps data of the given shape as a uint8 array.
func FromUint8(data []uint8, shape ...int) *Array {
	return &Array{DType: Uint8, Shape: append([]int{}, shape...), Data: data}
}

// FromInt64 wraps data of the given shape as an int64 array.
func FromInt64(data []int64, shape ...int) *Array {
	return &Array{DType: Int64, Shape: append([]int{}, shape...), Data: data}
}

// FromBool wraps data of the given shape as a bool array.
func FromBool(data []bool, shape ...int) *Array {
	return &Array{DType: Bool, Shape: append([]int{}, shape...), Data: data}
}

// Float64 returns the elements converted to float64 (bools as 0/1).
func (a *Array) Float64() ([]float64, error) {
	switch d := a.Data.(type) {
	case []float64:
		return d, nil
	case []float32:
		return conv[float32, float64](d), nil
	case []int8:
		return conv[int8, float64](d), nil
	case []int16:
		return conv[int16, float64](d), nil
	case []int32:
		return conv[int32, float64](d), nil
	case []int64:
		return conv[int64, float64](d), nil
	case []uint8:
		return conv[uint8, float64](d), nil
	case []uint16:
		return conv[uint16, float64](d), nil
	case []uint32:
		return conv[uint32, float64](d), nil
	case []uint64:
		return conv[uint64, float64](d), nil
	case []bool:
		out := make([]float64, len(d))
		for i, b := range d {
			if b {
				out[i] = 1
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("npy: cannot convert %s array to numbers", a.DType)
}

// Float32 returns the elements converted to float32 (bools as 0/1). A float32
// array's own slice is returned without copying.
func (a *Array) Float32() ([]float32, error) {
	if d, ok := a.Data.([]float32); ok {
		return d, nil
	}
	f, err := a.Float64()
	if err != nil {
		return nil, err
	}
	return conv[float64, float32](f), nil
}

// Int64 returns integer or bool elements as int64. Float arrays are accepted
// only when every element is integral (NumPy often stores indices as floats).
func (a *Array) Int64() ([]int64, error) {
	switch d := a.Data.(type) {
	case []int64:
		return d, nil
	case []int8:
		return conv[int8, int64](d), nil
	case []int16:
		return conv[int16, int64](d), nil
	case []int32:
		return conv[int32, int64](d), nil
	case []uint8:
		return conv[uint8, int64](d), nil
	case []uint16:
		return conv[uint16, int64](d), nil
	case []uint32:
		return conv[uint32, int64](d), nil
	case []uint64:
		out := make([]int64, len(d))
		for i, v := range d {
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("npy: uint64 value %d does not fit in int64", v)
			}
			out[i] = int64(v)
		}
		return out, nil
	case []bool:
		out := make([]int64, len(d))
		for i, b := range d {
			if b {
				out[i] = 1
			}
		}
		return out, nil
	case []float32, []float64:
		f, _ := a.Float64()
		out := make([]int64, len(f))
		for i, v := range f {
			if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
				return nil, fmt.Errorf("npy: %s element %d (%v) is not an integer", a.DType, i, v)
			}
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("npy: cannot convert %s array to integers", a.DType)
}

// Uint8 returns the elements of a uint8 array (no conversion: images only).
func (a *Array) Uint8() ([]uint8, error) {
	if d, ok := a.Data.([]uint8); ok {
		return d, nil
	}
	return nil, fmt.Errorf("npy: want a uint8 array, got %s", a.DType)
}

// Bool returns the elements of a bool array.
func (a *Array) Bool() ([]bool, error) {
	if d, ok := a.Data.([]bool); ok {
		return d, nil
	}
	return nil, fmt.Errorf("npy: want a bool array, got %s", a.DType)
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func conv[S, D number](s []S) []D {
	out := make([]D, len(s))
	for i, v := range s {
		out[i] = D(v)
	}
	return out
}

// ShapeString formats a shape as NumPy does: (3, 4).
func ShapeString(shape []int) string {
	s := "("
	for i, d := range shape {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(d)
	}
	if len(shape) == 1 {
		s += ","
	}
	return s + ")"
}
