package data

import (
	"archive/zip"
	"bytes"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/torchckpt"
)

// The bad-input table lives in docs/input-errors.md; TestInputErrors runs
// one case per row and checks that the error names the file and contains
// the row's message. Adding a row without a case (or a case without a row)
// fails the test, so the two stay in sync.
const errorsDoc = "../../docs/input-errors.md"

type docRow struct {
	id, message string
}

// readErrorsDoc parses the rows "| ID | ... | `message` |" of the table.
func readErrorsDoc(t *testing.T) map[string]docRow {
	t.Helper()
	b, err := os.ReadFile(errorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	rowRE := regexp.MustCompile("^\\| *([A-Z][0-9]{2}) *\\|.*\\| *`([^`]+)` *\\|\\s*$")
	rows := map[string]docRow{}
	for _, line := range strings.Split(string(b), "\n") {
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := rows[m[1]]; dup {
			t.Fatalf("%s: row %s appears twice", errorsDoc, m[1])
		}
		rows[m[1]] = docRow{m[1], m[2]}
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table rows found", errorsDoc)
	}
	return rows
}

// godCopy copies testdata/god into a temporary directory.
func godCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir("testdata/god")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata/god", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rewriteNPZ reads path, lets edit change the arrays, and writes it back
// (uncompressed, in name order).
func rewriteNPZ(t *testing.T, path string, edit func(m map[string]*npy.Array)) {
	t.Helper()
	m, err := npy.ReadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	if err := npy.WriteNPZFile(path, npy.SortedNamed(m), false); err != nil {
		t.Fatal(err)
	}
}

// godSubjectCase returns a case that edits sbj_1.npz and loads it.
func godSubjectCase(edit func(m map[string]*npy.Array)) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		dir := godCopy(t)
		p := filepath.Join(dir, "sbj_1.npz")
		rewriteNPZ(t, p, edit)
		_, err := LoadGOD(dir, []string{"sbj_1"}, GODOptions{})
		return p, err
	}
}

// godFileCase replaces one file of the GOD directory.
func godFileCase(name string, content func(t *testing.T, path string)) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		dir := godCopy(t)
		p := filepath.Join(dir, name)
		content(t, p)
		_, err := LoadGOD(dir, []string{"sbj_1"}, GODOptions{})
		return p, err
	}
}

func writeFile(s string) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateFile(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
}

// hcpCase writes one HCP subject file with the given arrays.
func hcpCase(arrays map[string]*npy.Array) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		dir := t.TempDir()
		p := filepath.Join(dir, "s1", HCPFile)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := npy.WriteNPZFile(p, npy.SortedNamed(arrays), false); err != nil {
			t.Fatal(err)
		}
		_, err := LoadHCP(dir, HCPOptions{})
		return p, err
	}
}

func noise(rows, cols int, seed float64) *npy.Array {
	x := make([]float64, rows*cols)
	for i := range x {
		x[i] = math.Sin(float64(i)*1.7 + seed)
	}
	return npy.FromFloat64(x, rows, cols)
}

func hcpArrays(edit func(m map[string]*npy.Array)) map[string]*npy.Array {
	m := map[string]*npy.Array{}
	for i, k := range HCPROIs {
		m[k] = noise(20, 3, float64(i))
	}
	if edit != nil {
		edit(m)
	}
	return m
}

// boldCopy copies testdata/bold5000 into a temporary directory.
func boldCopy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/bold5000", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/bold5000", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// boldCase edits file below a copy of testdata/bold5000 and loads CSI1;
// the error must name named (file when empty).
func boldCase(file, named string, edit func(t *testing.T, path string)) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		root := boldCopy(t)
		p := filepath.Join(root, file)
		edit(t, p)
		_, err := LoadBOLD5000(root, "CSI1", BOLD5000Options{})
		if named != "" {
			p = filepath.Join(root, named)
		}
		return p, err
	}
}

func niftiCase(bold, mask string) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		_, _, _, err := LoadNIfTIMasked(bold, mask)
		if strings.Contains(mask, "empty") || strings.Contains(mask, "standard") {
			return mask, err
		}
		return bold, err
	}
}

// niftiBytesCase writes a modified copy of functional.nii and reads it.
func niftiBytesCase(edit func(b []byte) []byte) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		b, err := os.ReadFile("testdata/nifti/functional.nii")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "bad.nii")
		if err := os.WriteFile(p, edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = ReadNIfTI(p)
		return p, err
	}
}

func ckptCase(edit func(t *testing.T) []byte) func(t *testing.T) (string, error) {
	return func(t *testing.T) (string, error) {
		p := filepath.Join(t.TempDir(), "bad.pth")
		if err := os.WriteFile(p, edit(t), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := torchckpt.LoadStateDict(p)
		return p, err
	}
}

func readFixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("../../testdata/parity/torch_ckpt", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inputErrorCases maps each row ID of docs/input-errors.md to a function
// that produces that bad input, runs the reader, and returns the file the
// error must name and the error.
var inputErrorCases = map[string]func(t *testing.T) (string, error){
	// GOD subject files.
	"G01": godSubjectCase(func(m map[string]*npy.Array) { delete(m, "arr_0") }),
	"G02": godSubjectCase(func(m map[string]*npy.Array) { delete(m, "VC") }),
	"G03": godSubjectCase(func(m map[string]*npy.Array) { m["arr_0"].Shape = []int{m["arr_0"].Len()} }),
	"G04": godSubjectCase(func(m map[string]*npy.Array) {
		m["arr_2"] = npy.FromBool(make([]bool, m["arr_2"].Len()), m["arr_2"].Shape...)
	}),
	"G05": godFileCase("sbj_1.npz", truncateFile),
	"G06": godFileCase("sbj_1.npz", func(t *testing.T, p string) {
		b, _ := os.ReadFile(p)
		zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		for _, f := range zr.File {
			if f.Name == "arr_0.npy" {
				off, _ := f.DataOffset()
				b[off+200] ^= 0xff // inside the data: the CRC no longer matches
			}
		}
		os.WriteFile(p, b, 0o644)
	}),
	"G07": godSubjectCase(func(m map[string]*npy.Array) {
		a := m["arr_2"]
		x, _ := a.Float32()
		m["arr_2"] = npy.FromFloat32(x[:a.Shape[0]*(a.Shape[1]-1)], a.Shape[0], a.Shape[1]-1)
	}),
	"G08": godSubjectCase(func(m map[string]*npy.Array) {
		v, _ := m["arr_3"].Int64()
		m["arr_3"] = npy.FromInt64(v[:len(v)-1], len(v)-1)
	}),
	"G09": godSubjectCase(func(m map[string]*npy.Array) {
		v, _ := m["arr_3"].Int64()
		v = slices.Clone(v)
		v[0] = 99
		m["arr_3"] = npy.FromInt64(v, len(v))
	}),
	"G10": godSubjectCase(func(m map[string]*npy.Array) {
		v, _ := m["arr_3"].Int64()
		v = slices.Clone(v)
		v[1] = -1
		m["arr_3"] = npy.FromInt64(v, len(v))
	}),
	"G11": godSubjectCase(func(m map[string]*npy.Array) {
		x, _ := m["arr_0"].Float32()
		mask, _ := m["VC"].Bool()
		for j, b := range mask {
			if b {
				x[j] = float32(math.NaN())
				x[len(mask)+j] = float32(math.Inf(1))
				break
			}
		}
	}),
	"G12": godSubjectCase(func(m map[string]*npy.Array) {
		m["VC"] = npy.FromBool(make([]bool, m["VC"].Len()), m["VC"].Len())
	}),
	"G13": godSubjectCase(func(m map[string]*npy.Array) {
		m["VC"] = npy.FromBool(make([]bool, 3), 3)
	}),
	"G14": godSubjectCase(func(m map[string]*npy.Array) {
		a := m["arr_1"]
		x, _ := a.Float32()
		m["arr_1"] = npy.FromFloat32(x[:(a.Shape[0]-1)*a.Shape[1]], a.Shape[0]-1, a.Shape[1])
	}),
	// GOD images and labels.
	"G15": godFileCase(GODImages, func(t *testing.T, p string) {
		rewriteNPZ(t, p, func(m map[string]*npy.Array) {
			x, _ := m["test_images"].Uint8()
			m["test_images"] = npy.FromUint8(x[:2*8*8*3], 2, 8, 8, 3)
		})
	}),
	"G16": godFileCase(GODImages, func(t *testing.T, p string) {
		rewriteNPZ(t, p, func(m map[string]*npy.Array) {
			x, _ := m["train_images"].Float64()
			m["train_images"] = npy.FromFloat64(x, m["train_images"].Shape...)
		})
	}),
	"G17": godFileCase(GODImages, func(t *testing.T, p string) {
		rewriteNPZ(t, p, func(m map[string]*npy.Array) {
			x, _ := m["train_images"].Uint8()
			m["train_images"] = npy.FromUint8(x[:10*8*6*4], 10, 8, 6, 4)
		})
	}),
	"G18": godFileCase(GODTrainCSV, writeFile("1440764.000001\n1234567.000002\n")),
	"G19": godFileCase(GODTestCSV, writeFile("1491361.000011\n1494475.000012\n")),
	"G20": godFileCase(GODTrainCSV, writeFile("1440764.000001\nimage_0002.jpg\n")),
	"G21": godFileCase(GODClassIndex, writeFile(`{"0": ["n01440764", "tench"], "1": `)),
	"G22": godFileCase(GODClassIndex, func(t *testing.T, p string) { os.Remove(p) }),
	// HCP.
	"H01": hcpCase(hcpArrays(func(m map[string]*npy.Array) { delete(m, "V3") })),
	"H02": hcpCase(hcpArrays(func(m map[string]*npy.Array) { m["V2"] = noise(19, 3, 9) })),
	"H03": hcpCase(hcpArrays(func(m map[string]*npy.Array) {
		for _, k := range HCPROIs {
			m[k] = noise(9, 3, 1)
		}
	})),
	"H04": hcpCase(hcpArrays(func(m map[string]*npy.Array) {
		x, _ := m["V4"].Float64()
		x[5] = math.Inf(-1)
	})),
	"H05": hcpCase(hcpArrays(func(m map[string]*npy.Array) {
		for _, k := range HCPROIs {
			m[k] = npy.FromFloat64(make([]float64, 60), 20, 3)
		}
	})),
	// BOLD5000.
	"B01": boldCase("BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI1/CSI1_sess02/run2.txt", BOLD5000Lists+"/CSI1", writeFile("img06.jpg\n")),
	"B02": boldCase(BOLD5000Betas+"/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_LHOPA.npy", BOLD5000Betas, func(t *testing.T, p string) {
		os.Remove(p)
		os.Remove(strings.Replace(p, "LHOPA", "RHOPA", 1))
	}),
	"B03": boldCase("BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI1/CSI1_sess02/run2.txt", BOLD5000ImgDict, writeFile("img06.jpg\nimg99.jpg\n")),
	"B04": boldCase(BOLD5000ImgDict, "", func(t *testing.T, p string) {
		if err := npy.WriteFile(p, npy.FromFloat32([]float32{1}, 1)); err != nil {
			t.Fatal(err)
		}
	}),
	"B05": boldCase(BOLD5000ImgDict, "", func(t *testing.T, p string) {
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)-40], 0o644) // cuts the pickle
	}),
	"B06": boldCase(BOLD5000Betas+"/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_RHLOC.npy", "", func(t *testing.T, p string) {
		if err := npy.WriteFile(p, npy.FromFloat32(make([]float32, 10), 5, 2)); err != nil {
			t.Fatal(err)
		}
	}),
	"B07": boldCase(BOLD5000Betas+"/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_RHLOC.npy", "", truncateFile),
	// NIfTI.
	"N01": niftiBytesCase(func(b []byte) []byte { return b[:len(b)-1000] }),
	"N02": niftiBytesCase(func(b []byte) []byte { return append([]byte("not an image"), b[12:]...) }),
	"N03": niftiBytesCase(func(b []byte) []byte {
		b = slices.Clone(b)
		b[70], b[71] = 32, 0 // datatype complex64
		return b
	}),
	"N04": niftiCase("testdata/nifti/functional.nii", "testdata/nifti/mask_empty.nii"),
	"N05": niftiCase("testdata/nifti/functional.nii", "testdata/nifti/standard.nii.gz"),
	"N06": niftiCase("testdata/nifti/resampled_anat_moved.nii", "testdata/nifti/mask_functional.nii.gz"),
	"N07": niftiBytesCase(func(b []byte) []byte {
		b = slices.Clone(b)
		b[40], b[41] = 9, 0 // dim[0] = 9
		return b
	}),
	// Checkpoints (internal/torchckpt).
	"C01": ckptCase(func(t *testing.T) []byte {
		b := readFixture(t, "phase1_small_seed1.pth")
		return b[:len(b)/2]
	}),
	"C02": ckptCase(func(t *testing.T) []byte {
		b := readFixture(t, "phase1_small_seed1_legacy.pth")
		return b[:len(b)-1000]
	}),
	"C03": ckptCase(func(t *testing.T) []byte { return []byte("definitely not a checkpoint") }),
	"C04": ckptCase(func(t *testing.T) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("m/constants.pkl")
		w.Write([]byte("x"))
		zw.Close()
		return buf.Bytes()
	}),
}

func TestInputErrors(t *testing.T) {
	rows := readErrorsDoc(t)
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		if _, ok := inputErrorCases[id]; !ok {
			t.Errorf("%s: row %s has no test case in inputErrorCases", errorsDoc, id)
		}
	}
	for id := range inputErrorCases {
		if _, ok := rows[id]; !ok {
			t.Errorf("test case %s has no row in %s", id, errorsDoc)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(inputErrorCases)) {
		row, ok := rows[id]
		if !ok {
			continue
		}
		t.Run(id, func(t *testing.T) {
			file, err := inputErrorCases[id](t)
			if err == nil {
				t.Fatalf("no error; want %q", row.message)
			}
			msg := err.Error()
			if !strings.Contains(msg, row.message) {
				t.Errorf("error %q does not contain %q", msg, row.message)
			}
			if !strings.Contains(msg, file) {
				t.Errorf("error %q does not name the file %s", msg, file)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}
