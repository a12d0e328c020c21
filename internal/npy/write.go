package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

func descrOf(dt DType) (string, error) {
	switch dt {
	case Bool:
		return "|b1", nil
	case Int8:
		return "|i1", nil
	case Uint8:
		return "|u1", nil
	case Int16:
		return "<i2", nil
	case Uint16:
		return "<u2", nil
	case Int32:
		return "<i4", nil
	case Uint32:
		return "<u4", nil
	case Int64:
		return "<i8", nil
	case Uint64:
		return "<u8", nil
	case Float32:
		return "<f4", nil
	case Float64:
		return "<f8", nil
	}
	return "", fmt.Errorf("npy: cannot write dtype %s", dt)
}

// Write writes a in .npy format 1.0 (2.0 when the header needs it), C order,
// little-endian. Float16 arrays cannot be written.
func Write(w io.Writer, a *Array) error {
	descr, err := descrOf(a.DType)
	if err != nil {
		return err
	}
	if n := a.Len(); dataLen(a.Data) != n {
		return fmt.Errorf("npy: shape %v wants %d elements, data has %d", a.Shape, n, dataLen(a.Data))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, ShapeString(a.Shape))
	header := sb.String()
	// Pad so that the data starts on a 64-byte boundary, header ending in '\n'.
	version := byte(1)
	pre := 10
	if len(header)+pre+1 > 65535 {
		version, pre = 2, 12
	}
	total := pre + len(header) + 1
	pad := (64 - total%64) % 64
	header += strings.Repeat(" ", pad) + "\n"
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(magic)
	bw.WriteByte(version)
	bw.WriteByte(0)
	if version == 1 {
		binary.Write(bw, binary.LittleEndian, uint16(len(header)))
	} else {
		binary.Write(bw, binary.LittleEndian, uint32(len(header)))
	}
	bw.WriteString(header)
	if err := writeData(bw, a.Data); err != nil {
		return err
	}
	return bw.Flush()
}

func dataLen(data any) int {
	switch d := data.(type) {
	case []bool:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint16:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	}
	return -1
}

func writeData(w *bufio.Writer, data any) error {
	var b [8]byte
	le := binary.LittleEndian
	switch d := data.(type) {
	case []bool:
		for _, v := range d {
			if v {
				w.WriteByte(1)
			} else {
				w.WriteByte(0)
			}
		}
	case []int8:
		for _, v := range d {
			w.WriteByte(byte(v))
		}
	case []uint8:
		w.Write(d)
	case []int16:
		for _, v := range d {
			le.PutUint16(b[:], uint16(v))
			w.Write(b[:2])
		}
	case []uint16:
		for _, v := range d {
			le.PutUint16(b[:], v)
			w.Write(b[:2])
		}
	case []int32:
		for _, v := range d {
			le.PutUint32(b[:], uint32(v))
			w.Write(b[:4])
		}
	case []uint32:
		for _, v := range d {
			le.PutUint32(b[:], v)
			w.Write(b[:4])
		}
	case []float32:
		for _, v := range d {
			le.PutUint32(b[:], math.Float32bits(v))
			w.Write(b[:4])
		}
	case []int64:
		for _, v := range d {
			le.PutUint64(b[:], uint64(v))
			w.Write(b[:8])
		}
	case []uint64:
		for _, v := range d {
			le.PutUint64(b[:], v)
			w.Write(b[:8])
		}
	case []float64:
		for _, v := range d {
			le.PutUint64(b[:], math.Float64bits(v))
			w.Write(b[:8])
		}
	default:
		return fmt.Errorf("npy: cannot write data of type %T", data)
	}
	return nil
}

// WriteFile writes a .npy file atomically (temporary file, then rename).
func WriteFile(path string, a *Array) error {
	return AtomicWrite(path, func(w io.Writer) error { return Write(w, a) })
}

// AtomicWrite creates path by writing to a temporary file in the same
// directory and renaming it into place, so readers never see a partial file.
func AtomicWrite(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; results are meant to be shared.
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
