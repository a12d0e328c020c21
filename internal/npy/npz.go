package npy

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// NPZ is an open .npz archive. Arrays are read on demand.
type NPZ struct {
	path  string
	f     *os.File
	zr    *zip.Reader
	files map[string]*zip.File
	keys  []string
}

// OpenNPZ opens a .npz archive (np.savez or np.savez_compressed). Close it when done.
func OpenNPZ(path string) (*NPZ, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	z, err := NewNPZ(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	z.f = f
	return z, nil
}

// NewNPZ reads a .npz archive from r; name is used in error messages.
func NewNPZ(r io.ReaderAt, size int64, name string) (*NPZ, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: not a valid .npz (zip) archive: %w", name, err)
	}
	z := &NPZ{path: name, zr: zr, files: map[string]*zip.File{}}
	for _, zf := range zr.File {
		key := strings.TrimSuffix(zf.Name, ".npy")
		if _, dup := z.files[key]; dup {
			return nil, fmt.Errorf("%s: duplicate member %q", name, zf.Name)
		}
		z.files[key] = zf
		z.keys = append(z.keys, key)
	}
	return z, nil
}

// Path is the file the archive was opened from.
func (z *NPZ) Path() string { return z.path }

// Close releases the file.
func (z *NPZ) Close() error {
	if z.f != nil {
		return z.f.Close()
	}
	return nil
}

// Keys lists the array names in archive order, without the ".npy" suffix.
func (z *NPZ) Keys() []string { return append([]string{}, z.keys...) }

// Has reports whether the archive holds key.
func (z *NPZ) Has(key string) bool { _, ok := z.files[key]; return ok }

// Header reads only the header of member key.
func (z *NPZ) Header(key string) (*Header, error) {
	zf, ok := z.files[key]
	if !ok {
		return nil, fmt.Errorf("%s: no array %q (have %s)", z.path, key, strings.Join(z.keys, ", "))
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", z.path, key, err)
	}
	defer rc.Close()
	h, err := ReadHeader(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", z.path, key, err)
	}
	return h, nil
}

// Get reads member key.
func (z *NPZ) Get(key string) (*Array, error) {
	zf, ok := z.files[key]
	if !ok {
		return nil, fmt.Errorf("%s: no array %q (have %s)", z.path, key, strings.Join(z.keys, ", "))
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", z.path, key, err)
	}
	defer rc.Close()
	a, err := Read(bufio.NewReaderSize(rc, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", z.path, key, err)
	}
	if zf.UncompressedSize64 > 0 {
		// The zip reader verifies the CRC only at EOF; drain to trigger it.
		if _, err := io.Copy(io.Discard, rc); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", z.path, key, err)
		}
	}
	return a, nil
}

// ReadNPZ reads every array of a .npz file into a map.
func ReadNPZ(path string) (map[string]*Array, error) {
	z, err := OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	out := make(map[string]*Array, len(z.keys))
	for _, k := range z.keys {
		a, err := z.Get(k)
		if err != nil {
			return nil, err
		}
		out[k] = a
	}
	return out, nil
}

// Named is one array with its name in an archive.
type Named struct {
	Name  string
	Array *Array
}

// WriteNPZ writes arrays to w as a .npz archive, in the given order. The output
// is byte-for-byte deterministic: fixed timestamps, no extra fields.
func WriteNPZ(w io.Writer, arrays []Named, compress bool) error {
	zw := zip.NewWriter(w)
	if compress {
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, flate.DefaultCompression)
		})
	}
	epoch := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, na := range arrays {
		h := &zip.FileHeader{Name: na.Name + ".npy", Method: zip.Store, Modified: epoch}
		if compress {
			h.Method = zip.Deflate
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if err := Write(fw, na.Array); err != nil {
			return fmt.Errorf("array %s: %w", na.Name, err)
		}
	}
	return zw.Close()
}

// WriteNPZFile writes a .npz file atomically.
func WriteNPZFile(path string, arrays []Named, compress bool) error {
	return AtomicWrite(path, func(w io.Writer) error { return WriteNPZ(w, arrays, compress) })
}

// SortedNamed turns a map into a name-sorted list for WriteNPZ.
func SortedNamed(m map[string]*Array) []Named {
	out := make([]Named, 0, len(m))
	for k, v := range m {
		out = append(out, Named{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
