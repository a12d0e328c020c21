// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length, a JSON header mapping tensor names to dtype,
// shape and byte offsets (plus an optional "__metadata__" string map), then the
// raw little-endian tensor bytes. visdec uses it for its own checkpoints
// (readable by Python's safetensors) and to import Hugging Face weights.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/visdec/visdec/internal/npy"
)

// Tensor is one named float32 tensor (other dtypes are converted on read).
type Tensor struct {
	Shape []int
	Data  []float32
	// DType is the dtype stored in the file (F32, F16, BF16, F64, I64, ...).
	DType string
}

// File is a decoded safetensors file.
type File struct {
	Tensors  map[string]Tensor
	Order    []string // names in the order of their data offsets
	Metadata map[string]string
}

type entry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header (the format's own limit is 100 MB).
const maxHeader = 100 << 20

// Read decodes a whole safetensors stream of the given size.
func Read(r io.Reader, size int64) (*File, error) {
	var hl [8]byte
	if _, err := io.ReadFull(r, hl[:]); err != nil {
		return nil, errors.New("safetensors: file is truncated (no header length)")
	}
	n := binary.LittleEndian.Uint64(hl[:])
	if n == 0 || n > maxHeader || (size > 0 && int64(n) > size-8) {
		return nil, fmt.Errorf("safetensors: implausible header length %d", n)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, errors.New("safetensors: file is truncated (header)")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimRight(hb, " "), &raw); err != nil {
		return nil, fmt.Errorf("safetensors: bad JSON header: %w", err)
	}
	f := &File{Tensors: map[string]Tensor{}, Metadata: map[string]string{}}
	entries := map[string]entry{}
	var end int64
	for name, v := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: bad __metadata__: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		if e.Offsets[0] < 0 || e.Offsets[1] < e.Offsets[0] {
			return nil, fmt.Errorf("safetensors: tensor %q: bad offsets %v", name, e.Offsets)
		}
		entries[name] = e
		end = max(end, e.Offsets[1])
		f.Order = append(f.Order, name)
	}
	if size > 0 && end > size-8-int64(n) {
		return nil, fmt.Errorf("safetensors: file is truncated (data needs %d bytes, has %d)", end, size-8-int64(n))
	}
	data := make([]byte, 0, min(end, 1<<30))
	buf := bytes.NewBuffer(data)
	if _, err := io.CopyN(buf, r, end); err != nil {
		return nil, errors.New("safetensors: file is truncated (data)")
	}
	all := buf.Bytes()
	sort.Slice(f.Order, func(i, j int) bool { return entries[f.Order[i]].Offsets[0] < entries[f.Order[j]].Offsets[0] })
	for _, name := range f.Order {
		e := entries[name]
		t, err := decode(e, all[e.Offsets[0]:e.Offsets[1]])
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		f.Tensors[name] = t
	}
	return f, nil
}

// ReadFile reads a .safetensors file; errors name the file.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	f, err := Read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func decode(e entry, b []byte) (Tensor, error) {
	n := 1
	for _, d := range e.Shape {
		if d < 0 {
			return Tensor{}, fmt.Errorf("negative dimension in shape %v", e.Shape)
		}
		if d > 0 && n > math.MaxInt32*64/d {
			return Tensor{}, fmt.Errorf("shape %v is implausibly large", e.Shape)
		}
		n *= d
	}
	size := map[string]int{"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}[e.DType]
	if size == 0 {
		return Tensor{}, fmt.Errorf("unsupported dtype %s", e.DType)
	}
	if len(b) != n*size {
		return Tensor{}, fmt.Errorf("shape %v of %s needs %d bytes, has %d", e.Shape, e.DType, n*size, len(b))
	}
	out := make([]float32, n)
	le := binary.LittleEndian
	for i := range out {
		switch e.DType {
		case "F32":
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		case "F16":
			out[i] = npy.HalfToFloat32(le.Uint16(b[2*i:]))
		case "BF16":
			out[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		case "F64":
			out[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		case "I64":
			out[i] = float32(int64(le.Uint64(b[8*i:])))
		case "I32":
			out[i] = float32(int32(le.Uint32(b[4*i:])))
		case "I16":
			out[i] = float32(int16(le.Uint16(b[2*i:])))
		case "I8":
			out[i] = float32(int8(b[i]))
		case "U8", "BOOL":
			out[i] = float32(b[i])
		}
	}
	return Tensor{Shape: append([]int{}, e.Shape...), Data: out, DType: e.DType}, nil
}

// Write encodes float32 tensors (in the order of names) with metadata.
func Write(w io.Writer, names []string, tensors map[string]Tensor, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, name := range names {
		t, ok := tensors[name]
		if !ok {
			return fmt.Errorf("safetensors: no tensor %q", name)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != len(t.Data) {
			return fmt.Errorf("safetensors: tensor %q: shape %v but %d values", name, t.Shape, len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[name] = entry{DType: "F32", Shape: shape, Offsets: [2]int64{off, off + int64(4*n)}}
		off += int64(4 * n)
	}
	hb, err := json.Marshal(header) // map keys are sorted: deterministic output
	if err != nil {
		return err
	}
	if pad := (8 - len(hb)%8) % 8; pad > 0 {
		hb = append(hb, bytes.Repeat([]byte(" "), pad)...)
	}
	var hl [8]byte
	binary.LittleEndian.PutUint64(hl[:], uint64(len(hb)))
	if _, err := w.Write(hl[:]); err != nil {
		return err
	}
	if _, err := w.Write(hb); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, name := range names {
		for _, v := range tensors[name].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) >= 1<<16 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err = w.Write(buf)
	return err
}

// WriteFile writes a .safetensors file atomically.
func WriteFile(path string, names []string, tensors map[string]Tensor, metadata map[string]string) error {
	return npy.AtomicWrite(path, func(w io.Writer) error { return Write(w, names, tensors, metadata) })
}
