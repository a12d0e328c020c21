package simulate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// IDX is an unsigned-byte array in the IDX format of MNIST and
// Fashion-MNIST (LeCun's "THE MNIST DATABASE" file format): magic 0x0000
// 0x08 (ubyte) and the number of dimensions, then each dimension as a
// big-endian uint32, then the data in row-major order.
type IDX struct {
	Dims []int
	Data []uint8
}

// maxIDXBytes bounds an IDX payload (Fashion-MNIST's largest is 47 MB) so
// a corrupt header cannot ask for an absurd allocation.
const maxIDXBytes = 1 << 30

// ReadIDX decodes an IDX ubyte stream, gzip-compressed or not.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var magic [4]byte
	if _, err := io.ReadFull(br, magic[:]); err != nil {
		return nil, fmt.Errorf("idx: header: %w", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic %x, want 0000 08 nn", magic)
	}
	if magic[2] != 0x08 {
		return nil, fmt.Errorf("idx: element type 0x%02x, only unsigned bytes (0x08) are supported", magic[2])
	}
	nd := int(magic[3])
	if nd < 1 || nd > 4 {
		return nil, fmt.Errorf("idx: %d dimensions, want 1..4", nd)
	}
	out := &IDX{Dims: make([]int, nd)}
	size := 1
	for i := range out.Dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("idx: dimension %d: %w", i, err)
		}
		if d == 0 || uint64(size)*uint64(d) > maxIDXBytes {
			return nil, fmt.Errorf("idx: dimensions %v too large or zero", append(out.Dims[:i:i], int(d)))
		}
		out.Dims[i] = int(d)
		size *= int(d)
	}
	out.Data = make([]uint8, size)
	if _, err := io.ReadFull(br, out.Data); err != nil {
		return nil, fmt.Errorf("idx: data (%d bytes for dims %v): %w", size, out.Dims, err)
	}
	return out, nil
}

// ReadIDXFile reads an IDX file; errors name the file.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

// WriteIDX encodes x (uncompressed); tests and fixtures use it.
func WriteIDX(w io.Writer, x *IDX) error {
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0x08, byte(len(x.Dims))})
	for _, d := range x.Dims {
		binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	buf.Write(x.Data)
	_, err := w.Write(buf.Bytes())
	return err
}
