package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestInspectCheckpoints inspects every torch_ckpt fixture: structure,
// tensor counts, epoch and the pickled config must be reported.
func TestInspectCheckpoints(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/parity/torch_ckpt/*.pth")
	ckpts, _ := filepath.Glob("../../testdata/parity/torch_ckpt/*.ckpt")
	files = append(files, ckpts...)
	if len(files) == 0 {
		t.Fatal("no torch_ckpt fixtures")
	}
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			code, out, errs := runCmd(t, "inspect", p)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			want := []string{"format:", "top-level keys:", "epoch: 3", "tensors:", "parameters:", "float32"}
			if strings.HasPrefix(filepath.Base(p), "phase1") {
				want = append(want, "class: config.Config_MBM_fMRI_contrast", "mask_ratio: 0.75", "optimizer tensors: 144", "model")
			} else {
				want = append(want, "global_step: 1200", "state_dict", "model.diffusion_model.")
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if errs != "" {
				t.Errorf("stderr: %s", errs)
			}
		})
	}
}

// writeGODSubject writes a small GOD-format sbj npz with a NaN.
func writeGODSubject(t *testing.T, path string) {
	t.Helper()
	train := make([]float64, 6*40)
	for i := range train {
		train[i] = float64(i%7) - 3
	}
	train[5] = train[5] / 0 * 0 // NaN
	test := make([]float32, 2*40)
	rep := make([]float32, 6*40)
	vc := make([]bool, 40)
	for i := range 18 {
		vc[i*2] = true
	}
	v1 := make([]bool, 40)
	v1[0], v1[1] = true, true
	arrays := []npy.Named{
		{Name: "arr_0", Array: npy.FromFloat64(train, 6, 40)},
		{Name: "arr_1", Array: npy.FromFloat32(rep, 6, 40)},
		{Name: "arr_2", Array: npy.FromFloat32(test, 2, 40)},
		{Name: "arr_3", Array: npy.FromInt64([]int64{5, 4, 3, 2, 1, 0}, 6)},
		{Name: "VC", Array: npy.FromBool(vc, 40)},
		{Name: "V1", Array: npy.FromBool(v1, 40)},
	}
	if err := npy.WriteNPZFile(path, arrays, true); err != nil {
		t.Fatal(err)
	}
}

func TestInspectGODNPZ(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sbj_9.npz")
	writeGODSubject(t, p)
	code, out, errs := runCmd(t, "inspect", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []string{
		"keys: arr_0, arr_1, arr_2, arr_3, VC, V1",
		"arr_0: (6, 40) float64",
		"nan=1",
		"voxels (all): 40",
		"VC: 18 voxels (padded to 32 = 2 patches of 16)",
		"V1: 2 voxels",
		"train trials (arr_0): 6",
		"test images, averaged (arr_2): 2",
		"test trials (arr_1): 6 = 3 repeats per test image",
		"arr_0 1 NaN 0 Inf",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// JSON output parses and keeps the facts.
	code, out, _ = runCmd(t, "inspect", "--json", p)
	if code != 0 {
		t.Fatalf("--json exit %d", code)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if v["format"] != "npz" || v["god_subject"] == nil {
		t.Errorf("JSON summary: %v", v)
	}
}

// TestInspectBadInput: truncated or corrupt files exit 1 with one line
// naming the file; bad usage exits 2.
func TestInspectBadInput(t *testing.T) {
	dir := t.TempDir()
	god := filepath.Join(dir, "sbj_1.npz")
	writeGODSubject(t, god)
	cases := map[string]string{
		"../../testdata/parity/torch_ckpt/phase1_small_seed1.pth":        "trunc.pth",
		"../../testdata/parity/torch_ckpt/phase1_small_seed1_legacy.pth": "trunc_legacy.pth",
		god: "trunc.npz",
	}
	for src, name := range cases {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b[:len(b)*2/3], 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, errs := runCmd(t, "inspect", p)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1 (stdout %q)", name, code, out)
		}
		if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, p) {
			t.Errorf("%s: stderr %q should be one line naming the file", name, errs)
		}
	}
	if code, _, _ := runCmd(t, "inspect"); code != 2 {
		t.Errorf("no argument: exit %d, want 2", code)
	}
	if code, out, _ := runCmd(t, "inspect", "--help"); code != 0 || !strings.Contains(out, "usage: visdec inspect") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	if code, _, errs := runCmd(t, "inspect", filepath.Join(dir, "missing.npz")); code != 1 || !strings.Contains(errs, "missing.npz") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
}

// TestInspectOther covers the remaining kinds on the data package's test
// files: a GOD directory, HCP, BOLD5000, NIfTI, label files, safetensors.
func TestInspectOther(t *testing.T) {
	td := "../../internal/data/testdata/"
	tests := []struct {
		path string
		want []string
	}{
		{td + "god", []string{"kind: god", "subject: sbj_2", "VC: 35 voxels", "test_images: 3 images of 8×8×3 uint8", "classes: 5"}},
		{td + "hcp", []string{"kind: hcp", "subjects: s100, s200", "frames: 37"}},
		{td + "bold5000", []string{"kind: bold5000", "LHEarlyVis.npy: (11, 4) float32"}},
		{td + "nifti/example_nifti2.nii.gz", []string{"format: NIfTI-2", "dims: (32, 20, 12, 2)", "datatype: int16"}},
		{td + "god/imagenet_training_label.csv", []string{"rows: 10", "first: 1440764.000000"}},
		{"../../internal/safetensors/testdata/mixed.safetensors", []string{"format: safetensors", "w.bf16: (2, 3) BF16", "note: fixture"}},
		{td + "bold5000/BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli/img_dict.npy", []string{"dtype: object", "images: 8"}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			code, out, errs := runCmd(t, "inspect", tt.path)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
