// Package npy reads and writes NumPy .npy arrays and .npz archives in pure Go.
//
// It handles every numeric dtype NumPy writes (bool, int8..int64, uint8..uint64,
// float16/32/64), both byte orders, C and Fortran order (Fortran arrays are
// returned in C order), format versions 1.0, 2.0 and 3.0, and .npz files that are
// stored or deflated. Object arrays ('|O') are not decoded here: their raw pickle
// bytes are returned in Array.Pickle for a caller that knows what to expect
// (BOLD5000's img_dict.npy).
//
// Every error names what was being read; callers add the file name.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// DType is an element type, named as NumPy names it.
type DType string

// The dtypes this package reads and writes.
const (
	Bool    DType = "bool"
	Int8    DType = "int8"
	Int16   DType = "int16"
	Int32   DType = "int32"
	Int64   DType = "int64"
	Uint8   DType = "uint8"
	Uint16  DType = "uint16"
	Uint32  DType = "uint32"
	Uint64  DType = "uint64"
	Float16 DType = "float16"
	Float32 DType = "float32"
	Float64 DType = "float64"
	Object  DType = "object"
)

// Size is the number of bytes of one element on disk (0 for Object).
func (d DType) Size() int {
	switch d {
	case Bool, Int8, Uint8:
		return 1
	case Int16, Uint16, Float16:
		return 2
	case Int32, Uint32, Float32:
		return 4
	case Int64, Uint64, Float64:
		return 8
	}
	return 0
}

// Array is one n-dimensional array held in C (row-major) order.
//
// Data holds a slice of the Go type matching DType: []bool, []int8, []int16,
// []int32, []int64, []uint8, []uint16, []uint32, []uint64, []float32 (also for
// float16, widened exactly) or []float64. For Object arrays Data is nil and
// Pickle holds the raw pickle stream.
type Array struct {
	DType  DType
	Shape  []int
	Data   any
	Pickle []byte
	// Fortran reports that the file stored the array in column-major order; Data
	// has already been transposed to C order.
	Fortran bool
}

// Len is the number of elements (the product of Shape; 1 for a scalar).
func (a *Array) Len() int { return numElements(a.Shape) }

// Header is what a .npy header says, without the data.
type Header struct {
	DType     DType
	BigEndian bool
	Fortran   bool
	Shape     []int
	// DataOffset is the byte offset of the data from the start of the .npy stream.
	DataOffset int64
}

const magic = "\x93NUMPY"

// maxElements bounds the element count a header may claim, so that a corrupt
// header cannot make the reader allocate absurd amounts of memory.
const maxElements = 1 << 34

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ReadHeader parses the magic, version and header dictionary of a .npy stream.
func ReadHeader(r io.Reader) (*Header, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("npy: reading magic: %w", eofAsTruncated(err))
	}
	if string(pre[:6]) != magic {
		return nil, fmt.Errorf("npy: not a .npy stream (bad magic %q)", pre[:6])
	}
	major := pre[6]
	var hlen int
	var offset int64
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", eofAsTruncated(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
		offset = 10
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("npy: reading header length: %w", eofAsTruncated(err))
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		offset = 12
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d.%d", pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("npy: header length %d is implausibly large", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("npy: reading header: %w", eofAsTruncated(err))
	}
	h, err := parseHeaderDict(string(hb))
	if err != nil {
		return nil, err
	}
	h.DataOffset = offset + int64(hlen)
	return h, nil
}

func eofAsTruncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file is truncated")
	}
	return err
}

// parseHeaderDict parses the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
func parseHeaderDict(s string) (*Header, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("npy: header is not a dict: %q", abbreviate(s))
	}
	descr, ok := dictValue(s, "descr")
	if !ok {
		return nil, fmt.Errorf("npy: header has no 'descr': %q", abbreviate(s))
	}
	fortran, ok := dictValue(s, "fortran_order")
	if !ok {
		return nil, fmt.Errorf("npy: header has no 'fortran_order': %q", abbreviate(s))
	}
	shapeS, ok := dictValue(s, "shape")
	if !ok {
		return nil, fmt.Errorf("npy: header has no 'shape': %q", abbreviate(s))
	}
	h := &Header{}
	switch fortran {
	case "True":
		h.Fortran = true
	case "False":
	default:
		return nil, fmt.Errorf("npy: bad fortran_order %q", fortran)
	}
	var err error
	if h.DType, h.BigEndian, err = parseDescr(descr); err != nil {
		return nil, err
	}
	if h.Shape, err = parseShape(shapeS); err != nil {
		return nil, err
	}
	return h, nil
}

func abbreviate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// dictValue returns the literal after 'key': up to the next top-level comma or
// the closing brace.
func dictValue(s, key string) (string, bool) {
	i := strings.Index(s, "'"+key+"'")
	if i < 0 {
		i = strings.Index(s, `"`+key+`"`)
		if i < 0 {
			return "", false
		}
	}
	rest := s[i+len(key)+2:]
	rest = strings.TrimLeft(rest, " ")
	if !strings.HasPrefix(rest, ":") {
		return "", false
	}
	rest = strings.TrimSpace(rest[1:])
	depth := 0
	for j, c := range rest {
		switch c {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
			if depth < 0 {
				return "", false
			}
		case ',', '}':
			if depth == 0 {
				return strings.TrimSpace(rest[:j]), true
			}
		}
	}
	return "", false
}

func parseDescr(d string) (DType, bool, error) {
	if len(d) < 2 || (d[0] != '\'' && d[0] != '"') || d[len(d)-1] != d[0] {
		return "", false, fmt.Errorf("npy: unsupported descr %s (structured dtypes are not supported)", abbreviate(d))
	}
	d = d[1 : len(d)-1]
	if len(d) < 2 {
		return "", false, fmt.Errorf("npy: bad descr %q", d)
	}
	order, code := d[0], d[1:]
	big := false
	switch order {
	case '<', '=':
	case '>':
		big = true
	case '|':
	default:
		return "", false, fmt.Errorf("npy: bad byte order in descr %q", d)
	}
	var dt DType
	switch code {
	case "b1", "?":
		dt = Bool
	case "i1":
		dt = Int8
	case "i2":
		dt = Int16
	case "i4":
		dt = Int32
	case "i8":
		dt = Int64
	case "u1":
		dt = Uint8
	case "u2":
		dt = Uint16
	case "u4":
		dt = Uint32
	case "u8":
		dt = Uint64
	case "f2":
		dt = Float16
	case "f4":
		dt = Float32
	case "f8":
		dt = Float64
	case "O":
		dt = Object
	default:
		return "", false, fmt.Errorf("npy: unsupported dtype %q", d)
	}
	return dt, big, nil
}

func parseShape(s string) ([]int, error) {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("npy: bad shape %q", abbreviate(s))
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	shape := []int{}
	if inner == "" {
		return shape, nil
	}
	n := 1
	for _, part := range strings.Split(inner, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		part = strings.TrimSuffix(part, "L") // Python 2 longs
		v, err := strconv.Atoi(part)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("npy: bad shape %q", abbreviate(s))
		}
		if v > 0 && n > maxElements/v {
			return nil, fmt.Errorf("npy: shape %s has too many elements", s)
		}
		n *= v
		shape = append(shape, v)
	}
	return shape, nil
}

// Read reads one .npy array from r.
func Read(r io.Reader) (*Array, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	return readData(r, h)
}

// ReadFile reads a .npy file; errors name the file.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func readData(r io.Reader, h *Header) (*Array, error) {
	if h.DType == Object {
		a := &Array{DType: h.DType, Shape: h.Shape, Fortran: h.Fortran}
		b, err := io.ReadAll(io.LimitReader(r, 1<<36))
		if err != nil {
			return nil, fmt.Errorf("npy: reading object data: %w", err)
		}
		a.Pickle = b
		return a, nil
	}
	n := numElements(h.Shape)
	size := h.DType.Size()
	raw, err := readN(r, n*size)
	if err != nil {
		return nil, fmt.Errorf("npy: reading %d×%s data: %w", n, h.DType, err)
	}
	return FromBytes(raw, h.DType, h.BigEndian, h.Fortran, h.Shape)
}

// FromBytes decodes raw element bytes (as NumPy lays them out in memory or in
// a pickle) into an Array in C order. raw must hold exactly the elements of
// shape; Object arrays are not accepted.
func FromBytes(raw []byte, dt DType, bigEndian, fortran bool, shape []int) (*Array, error) {
	size := dt.Size()
	if size == 0 {
		return nil, fmt.Errorf("npy: cannot decode %s elements from bytes", dt)
	}
	n, err := checkedElements(shape)
	if err != nil {
		return nil, err
	}
	if len(raw) != n*size {
		return nil, fmt.Errorf("npy: shape %s of %s needs %d bytes, have %d", ShapeString(shape), dt, n*size, len(raw))
	}
	a := &Array{DType: dt, Shape: append([]int{}, shape...), Fortran: fortran}
	var bo binary.ByteOrder = binary.LittleEndian
	if bigEndian {
		bo = binary.BigEndian
	}
	a.Data = decode(raw, dt, n, bo)
	if fortran && len(shape) > 1 {
		a.Data = fortranToC(a.Data, shape)
	}
	return a, nil
}

// checkedElements is the element count of shape, refusing negative
// dimensions and counts beyond maxElements.
func checkedElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		if d > 0 && n > maxElements/d {
			return 0, fmt.Errorf("npy: shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

// readN reads exactly n bytes, growing the buffer as data arrives so that a
// header claiming a huge size does not allocate it up front.
func readN(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 20
	if n <= chunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, eofAsTruncated(err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, r, int64(n))
	if err != nil || got != int64(n) {
		return nil, errors.New("file is truncated")
	}
	return buf.Bytes(), nil
}

func decode(raw []byte, dt DType, n int, bo binary.ByteOrder) any {
	switch dt {
	case Bool:
		out := make([]bool, n)
		for i := range out {
			out[i] = raw[i] != 0
		}
		return out
	case Int8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(raw[i])
		}
		return out
	case Uint8:
		out := make([]uint8, n)
		copy(out, raw)
		return out
	case Int16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(bo.Uint16(raw[2*i:]))
		}
		return out
	case Uint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = bo.Uint16(raw[2*i:])
		}
		return out
	case Float16:
		out := make([]float32, n)
		for i := range out {
			out[i] = HalfToFloat32(bo.Uint16(raw[2*i:]))
		}
		return out
	case Int32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(bo.Uint32(raw[4*i:]))
		}
		return out
	case Uint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = bo.Uint32(raw[4*i:])
		}
		return out
	case Float32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(bo.Uint32(raw[4*i:]))
		}
		return out
	case Int64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(bo.Uint64(raw[8*i:]))
		}
		return out
	case Uint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = bo.Uint64(raw[8*i:])
		}
		return out
	case Float64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(bo.Uint64(raw[8*i:]))
		}
		return out
	}
	panic("npy: decode: unexpected dtype " + string(dt))
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(mant) / 1024 / 16384
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// fortranToC reorders column-major data into row-major order.
func fortranToC(data any, shape []int) any {
	n := numElements(shape)
	// perm[cIndex] = fIndex
	rank := len(shape)
	idx := make([]int, rank)
	fStrides := make([]int, rank)
	s := 1
	for i := 0; i < rank; i++ {
		fStrides[i] = s
		s *= shape[i]
	}
	src := make([]int, n)
	for c := 0; c < n; c++ {
		f := 0
		for i := 0; i < rank; i++ {
			f += idx[i] * fStrides[i]
		}
		src[c] = f
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return permute(data, src)
}

func permute(data any, src []int) any {
	switch d := data.(type) {
	case []bool:
		return gather(d, src)
	case []int8:
		return gather(d, src)
	case []int16:
		return gather(d, src)
	case []int32:
		return gather(d, src)
	case []int64:
		return gather(d, src)
	case []uint8:
		return gather(d, src)
	case []uint16:
		return gather(d, src)
	case []uint32:
		return gather(d, src)
	case []uint64:
		return gather(d, src)
	case []float32:
		return gather(d, src)
	case []float64:
		return gather(d, src)
	}
	panic(fmt.Sprintf("npy: permute: unexpected %T", data))
}

func gather[T any](d []T, src []int) []T {
	out := make([]T, len(src))
	for i, s := range src {
		out[i] = d[s]
	}
	return out
}
