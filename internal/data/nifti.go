package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// NIfTI is a NIfTI-1 or NIfTI-2 image (https://nifti.nimh.nih.gov/nifti-1,
// nifti2.h): the header fields a decoder needs and, when read, the voxel
// values.
type NIfTI struct {
	// Path is the file it was read from.
	Path string
	// Version is 1 or 2.
	Version int
	// Dims are dim[1..dim[0]]: X, Y, Z, then time and further dimensions.
	Dims []int
	// PixDim are pixdim[1..dim[0]] (voxel sizes, then the TR).
	PixDim []float64
	// DataType is the NIfTI datatype code and DataTypeName its name.
	DataType     int
	DataTypeName string
	BitPix       int
	// VoxOffset is the byte offset of the data in the file.
	VoxOffset int64
	// SclSlope and SclInter scale stored values: v·slope + inter, unless
	// slope is 0 or not finite (then no scaling, as nibabel does).
	SclSlope, SclInter float64
	// XYZTUnits is the units code; TR is pixdim[4] converted to seconds
	// (0 when the image has no time axis).
	XYZTUnits  int
	TR         float64
	IntentCode int
	Descrip    string
	BigEndian  bool
	// Data holds the scaled values as float32 in file order (X fastest),
	// or nil when only the header was read.
	Data []float32
}

// Volume is the number of voxels in one 3-D volume (X·Y·Z).
func (n *NIfTI) Volume() int {
	v := 1
	for i := 0; i < 3 && i < len(n.Dims); i++ {
		v *= n.Dims[i]
	}
	return v
}

// Volumes is the number of 3-D volumes (the product of dims 4 and up; 1 for
// a 3-D image).
func (n *NIfTI) Volumes() int {
	t := 1
	for i := 3; i < len(n.Dims); i++ {
		t *= n.Dims[i]
	}
	return t
}

type niftiType struct {
	name string
	size int
}

var niftiTypes = map[int]niftiType{
	2: {"uint8", 1}, 4: {"int16", 2}, 8: {"int32", 4}, 16: {"float32", 4}, 64: {"float64", 8},
	256: {"int8", 1}, 512: {"uint16", 2}, 768: {"uint32", 4}, 1024: {"int64", 8}, 1280: {"uint64", 8},
}

// maxVoxels bounds what a header may claim (2^33 values = 32 GiB as float32).
const maxVoxels = 1 << 33

// ReadNIfTIHeader reads only the header of a .nii or .nii.gz file.
func ReadNIfTIHeader(path string) (*NIfTI, error) {
	n, _, closer, err := openNIfTI(path)
	if err != nil {
		return nil, err
	}
	closer()
	return n, nil
}

// ReadNIfTI reads a .nii or .nii.gz file (NIfTI-1 or -2, either byte order)
// with its data, scaled by scl_slope/scl_inter. Extensions are skipped.
func ReadNIfTI(path string) (*NIfTI, error) {
	n, r, closer, err := openNIfTI(path)
	if err != nil {
		return nil, err
	}
	defer closer()
	if err := n.ReadData(r); err != nil {
		return nil, err
	}
	return n, nil
}

// LoadNIfTIMasked reads a 3-D or 4-D BOLD image and a 3-D mask with the same
// X, Y, Z, and returns the voxel matrix [T, V] (row-major) of the voxels
// where the mask is > 0, with T volumes and V selected voxels. Voxels are
// ordered as NumPy's img[mask] orders them (C order over X, Y, Z: Z fastest),
// so the columns match nibabel/nilearn's apply_mask. The BOLD image is
// streamed one volume at a time. A mask selecting nothing, or NaN/Inf among
// the selected values, is an error.
func LoadNIfTIMasked(bold, mask string) ([]float32, int, int, error) {
	m, err := ReadNIfTI(mask)
	if err != nil {
		return nil, 0, 0, err
	}
	n, r, closer, err := openNIfTI(bold)
	if err != nil {
		return nil, 0, 0, err
	}
	defer closer()
	if len(m.Dims) < 3 || len(n.Dims) < 3 || m.Dims[0] != n.Dims[0] || m.Dims[1] != n.Dims[1] || m.Dims[2] != n.Dims[2] {
		return nil, 0, 0, fmt.Errorf("%s: mask dims %v do not match the image %s dims %v", mask, m.Dims, bold, n.Dims)
	}
	if m.Volumes() != 1 {
		return nil, 0, 0, fmt.Errorf("%s: mask has %d volumes, want one 3-D volume", mask, m.Volumes())
	}
	nx, ny, nz := n.Dims[0], n.Dims[1], n.Dims[2]
	var sel []int
	for x := range nx {
		for y := range ny {
			for z := range nz {
				i := x + nx*(y+ny*z)
				if m.Data[i] > 0 {
					sel = append(sel, i)
				}
			}
		}
	}
	if len(sel) == 0 {
		return nil, 0, 0, fmt.Errorf("%s: mask selects no voxels (no value > 0)", mask)
	}
	T, V := n.Volumes(), len(sel)
	out := make([]float32, 0, min(T*V, 1<<26))
	var buf []float32
	for t := range T {
		if buf, err = n.appendVolume(r, buf[:0]); err != nil {
			return nil, 0, 0, fmt.Errorf("%s: volume %d: %w", bold, t, err)
		}
		for _, i := range sel {
			out = append(out, buf[i])
		}
	}
	if err := checkFinite(bold, "masked voxels", out); err != nil {
		return nil, 0, 0, err
	}
	return out, T, V, nil
}

// openNIfTI parses the header and returns a reader positioned at the data.
func openNIfTI(path string) (*NIfTI, io.Reader, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	n, r, err := NewNIfTIReader(f, path)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return n, r, func() { f.Close() }, nil
}

// NewNIfTIReader parses the header of the NIfTI stream in (gzip-compressed
// or not) and returns it with a reader positioned at the data; name is used
// in errors.
func NewNIfTIReader(in io.Reader, name string) (*NIfTI, io.Reader, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt gzip stream: %w", name, err)
		}
		r = bufio.NewReaderSize(gz, 64<<10)
	} else if strings.HasSuffix(name, ".gz") {
		return nil, nil, fmt.Errorf("%s: named .gz but not gzip-compressed", name)
	}
	n, consumed, err := parseNIfTIHeader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	n.Path = name
	if n.VoxOffset < consumed {
		return nil, nil, fmt.Errorf("%s: vox_offset %d lies inside the %d-byte header", name, n.VoxOffset, consumed)
	}
	if _, err := io.CopyN(io.Discard, r, n.VoxOffset-consumed); err != nil {
		return nil, nil, fmt.Errorf("%s: file is truncated before the data (vox_offset %d)", name, n.VoxOffset)
	}
	return n, r, nil
}

// ReadData reads the image's volumes from r (as NewNIfTIReader returns it)
// into n.Data.
func (n *NIfTI) ReadData(r io.Reader) error {
	n.Data = n.Data[:0]
	var err error
	for t := range n.Volumes() {
		if n.Data, err = n.appendVolume(r, n.Data); err != nil {
			return fmt.Errorf("%s: volume %d: %w", n.Path, t, err)
		}
	}
	return nil
}

// parseNIfTIHeader decodes a NIfTI-1 (348-byte) or NIfTI-2 (540-byte)
// header, returning the bytes consumed.
func parseNIfTIHeader(r io.Reader) (*NIfTI, int64, error) {
	hdr := make([]byte, 540)
	if _, err := io.ReadFull(r, hdr[:348]); err != nil {
		return nil, 0, errors.New("file is truncated (no complete NIfTI header)")
	}
	n := &NIfTI{}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(hdr) == 348:
		bo, n.Version = binary.LittleEndian, 1
	case binary.BigEndian.Uint32(hdr) == 348:
		bo, n.Version, n.BigEndian = binary.BigEndian, 1, true
	case binary.LittleEndian.Uint32(hdr) == 540:
		bo, n.Version = binary.LittleEndian, 2
	case binary.BigEndian.Uint32(hdr) == 540:
		bo, n.Version, n.BigEndian = binary.BigEndian, 2, true
	default:
		return nil, 0, errors.New("not a NIfTI file (sizeof_hdr is neither 348 nor 540)")
	}
	var consumed int64 = 348
	var rank int
	if n.Version == 1 {
		magic := string(hdr[344:347])
		if magic == "ni1" {
			return nil, 0, errors.New("NIfTI-1 header/image pairs (.hdr/.img) are not supported; convert to .nii")
		}
		if magic != "n+1" {
			return nil, 0, fmt.Errorf("bad NIfTI-1 magic %q", hdr[344:348])
		}
		rank = int(int16(bo.Uint16(hdr[40:])))
		if rank < 1 || rank > 7 {
			return nil, 0, fmt.Errorf("dim[0] = %d, want 1..7", rank)
		}
		for i := 1; i <= rank; i++ {
			n.Dims = append(n.Dims, int(int16(bo.Uint16(hdr[40+2*i:]))))
			n.PixDim = append(n.PixDim, float64(math.Float32frombits(bo.Uint32(hdr[76+4*i:]))))
		}
		n.IntentCode = int(int16(bo.Uint16(hdr[68:])))
		n.DataType = int(int16(bo.Uint16(hdr[70:])))
		n.BitPix = int(int16(bo.Uint16(hdr[72:])))
		n.VoxOffset = int64(math.Float32frombits(bo.Uint32(hdr[108:])))
		n.SclSlope = float64(math.Float32frombits(bo.Uint32(hdr[112:])))
		n.SclInter = float64(math.Float32frombits(bo.Uint32(hdr[116:])))
		n.XYZTUnits = int(hdr[123])
		n.Descrip = cString(hdr[148:228])
		if n.VoxOffset == 0 { // single-file images store their data after the header and extender
			n.VoxOffset = 352
		}
	} else {
		if _, err := io.ReadFull(r, hdr[348:540]); err != nil {
			return nil, 0, errors.New("file is truncated (no complete NIfTI-2 header)")
		}
		consumed = 540
		if string(hdr[4:7]) != "n+2" {
			if string(hdr[4:7]) == "ni2" {
				return nil, 0, errors.New("NIfTI-2 header/image pairs are not supported; convert to .nii")
			}
			return nil, 0, fmt.Errorf("bad NIfTI-2 magic %q", hdr[4:12])
		}
		n.DataType = int(int16(bo.Uint16(hdr[12:])))
		n.BitPix = int(int16(bo.Uint16(hdr[14:])))
		rank = int(int64(bo.Uint64(hdr[16:])))
		if rank < 1 || rank > 7 {
			return nil, 0, fmt.Errorf("dim[0] = %d, want 1..7", rank)
		}
		for i := 1; i <= rank; i++ {
			d := int64(bo.Uint64(hdr[16+8*i:]))
			if d > maxVoxels {
				return nil, 0, fmt.Errorf("dim[%d] = %d is implausibly large", i, d)
			}
			n.Dims = append(n.Dims, int(d))
			n.PixDim = append(n.PixDim, math.Float64frombits(bo.Uint64(hdr[104+8*i:])))
		}
		n.VoxOffset = int64(bo.Uint64(hdr[168:]))
		n.SclSlope = math.Float64frombits(bo.Uint64(hdr[176:]))
		n.SclInter = math.Float64frombits(bo.Uint64(hdr[184:]))
		n.Descrip = cString(hdr[240:320])
		n.XYZTUnits = int(int32(bo.Uint32(hdr[500:])))
		n.IntentCode = int(int32(bo.Uint32(hdr[504:])))
		if n.VoxOffset == 0 {
			n.VoxOffset = 544
		}
	}
	total := int64(1)
	for i, d := range n.Dims {
		if d < 1 {
			return nil, 0, fmt.Errorf("dim[%d] = %d, want ≥ 1", i+1, d)
		}
		total *= int64(d)
		if total > maxVoxels {
			return nil, 0, fmt.Errorf("dims %v describe more than %d values", n.Dims, int64(maxVoxels))
		}
	}
	if n.VoxOffset < 0 || n.VoxOffset > 1<<30 {
		return nil, 0, fmt.Errorf("vox_offset %d is implausible", n.VoxOffset)
	}
	t, ok := niftiTypes[n.DataType]
	if !ok {
		return nil, 0, fmt.Errorf("datatype %d is not supported (want uint8/int8/int16/uint16/int32/uint32/int64/uint64/float32/float64)", n.DataType)
	}
	n.DataTypeName = t.name
	if n.BitPix != 8*t.size {
		return nil, 0, fmt.Errorf("bitpix %d does not match datatype %s", n.BitPix, t.name)
	}
	if len(n.PixDim) >= 4 && len(n.Dims) >= 4 && n.Dims[3] > 1 {
		switch n.XYZTUnits & 0x38 {
		case 0x10:
			n.TR = n.PixDim[3] / 1e3
		case 0x18:
			n.TR = n.PixDim[3] / 1e6
		default: // seconds, or unspecified
			n.TR = n.PixDim[3]
		}
	}
	return n, consumed, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

// appendVolume reads the next 3-D volume (Volume() values), scaled, and
// appends it to dst. It decodes in chunks so that a header claiming a huge
// volume cannot allocate more than the file really holds.
func (n *NIfTI) appendVolume(r io.Reader, dst []float32) ([]float32, error) {
	t := niftiTypes[n.DataType]
	slope, inter := n.SclSlope, n.SclInter
	scale := slope != 0 && !math.IsNaN(slope) && !math.IsInf(slope, 0)
	if math.IsNaN(inter) || math.IsInf(inter, 0) {
		inter = 0 // as nibabel
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if n.BigEndian {
		bo = binary.BigEndian
	}
	const chunk = 1 << 16
	raw := make([]byte, chunk*t.size)
	for left := n.Volume(); left > 0; {
		k := min(left, chunk)
		if _, err := io.ReadFull(r, raw[:k*t.size]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, errors.New("file is truncated")
			}
			return nil, fmt.Errorf("corrupt data: %w", err)
		}
		for i := range k {
			var v float64
			switch n.DataType {
			case 2:
				v = float64(raw[i])
			case 256:
				v = float64(int8(raw[i]))
			case 4:
				v = float64(int16(bo.Uint16(raw[2*i:])))
			case 512:
				v = float64(bo.Uint16(raw[2*i:]))
			case 8:
				v = float64(int32(bo.Uint32(raw[4*i:])))
			case 768:
				v = float64(bo.Uint32(raw[4*i:]))
			case 1024:
				v = float64(int64(bo.Uint64(raw[8*i:])))
			case 1280:
				v = float64(bo.Uint64(raw[8*i:]))
			case 16:
				v = float64(math.Float32frombits(bo.Uint32(raw[4*i:])))
			case 64:
				v = math.Float64frombits(bo.Uint64(raw[8*i:]))
			}
			if scale {
				v = v*slope + inter
			}
			dst = append(dst, float32(v))
		}
		left -= k
	}
	return dst, nil
}
