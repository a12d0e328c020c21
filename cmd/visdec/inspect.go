package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/rundir"
	"github.com/visdec/visdec/internal/safetensors"
	"github.com/visdec/visdec/internal/torchckpt"
)

func init() {
	register(&command{
		name:  "inspect",
		args:  "[--json] FILE|DIR",
		short: "summarise a dataset, checkpoint or run directory",
		long: `Reads FILE or DIR without modifying it and prints what it holds:

  .npy / .npz        keys, shapes, dtypes, min/max/mean, NaN/Inf counts;
                     a GOD sbj_N.npz also voxel counts, ROI mask sizes and
                     the train/test/repeat splits; images_256.npz image
                     counts and sizes; HCP_visual_voxel.npz ROI sizes,
                     frames and averaging windows
  .nii / .nii.gz     NIfTI dims, voxel sizes, datatype, TR, scaling, values
  checkpoints        .pth/.pt/.bin/.ckpt (torch.save zip or legacy) and
                     .safetensors: top-level keys, tensors, parameter count,
                     epoch, the pickled config's class and attributes
  label files        imagenet_class_index.json, GOD label CSVs
  directories        a GOD directory (subjects, images, labels), an HCP
                     directory, a BOLD5000 root, or a visdec run directory
                     (config.json keys, checkpoints, metrics)

Nothing in a checkpoint is executed: pickled objects are decoded as data.
A truncated or corrupt file is an error (exit 1) naming the file.`,
		run: runInspect,
	})
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(commands["inspect"], stdout)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want exactly one FILE or DIR, got %d arguments", fs.NArg())
	}
	s, err := inspectPath(fs.Arg(0))
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	bw := bufio.NewWriter(stdout)
	printSummary(bw, s, 0)
	return bw.Flush()
}

// summary is an ordered set of facts; values are strings, numbers, bools,
// lists, or nested summaries.
type summary []fact

type fact struct {
	Key   string
	Value any
}

func (s *summary) add(key string, v any) { *s = append(*s, fact{key, v}) }

// MarshalJSON keeps the facts in order.
func (s summary) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		b.Write(k)
		b.WriteByte(':')
		v := f.Value
		if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			v = fmt.Sprint(x) // JSON has no NaN
		}
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func printSummary(w io.Writer, s summary, indent int) {
	pad := strings.Repeat("  ", indent)
	for _, f := range s {
		switch v := f.Value.(type) {
		case summary:
			fmt.Fprintf(w, "%s%s:\n", pad, f.Key)
			printSummary(w, v, indent+1)
		case []summary:
			fmt.Fprintf(w, "%s%s: (%d)\n", pad, f.Key, len(v))
			for _, e := range v {
				printItem(w, pad+"  ", e, indent+2)
			}
		default:
			fmt.Fprintf(w, "%s%s: %s\n", pad, f.Key, formatValue(v))
		}
	}
}

// printItem prints one list entry: on one line ("- name: shape dtype k=v
// ...") when its facts are all scalars, else as a nested block.
func printItem(w io.Writer, pad string, e summary, indent int) {
	if len(e) == 0 {
		return
	}
	flat := true
	for _, f := range e[1:] {
		switch f.Value.(type) {
		case summary, []summary:
			flat = false
		}
	}
	if !flat {
		fmt.Fprintf(w, "%s- %s: %s\n", pad, e[0].Key, formatValue(e[0].Value))
		printSummary(w, e[1:], indent)
		return
	}
	parts := []string{formatValue(e[0].Value) + ":"}
	for _, f := range e[1:] {
		if f.Key == "shape" || f.Key == "dtype" {
			parts = append(parts, formatValue(f.Value))
		} else {
			parts = append(parts, f.Key+"="+formatValue(f.Value))
		}
	}
	fmt.Fprintf(w, "%s- %s\n", pad, strings.Join(parts, " "))
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return fmt.Sprintf("%.6g", x)
	case []int:
		return npy.ShapeString(x)
	case []string:
		if len(x) > 12 {
			return strings.Join(x[:12], ", ") + fmt.Sprintf(", … (%d in all)", len(x))
		}
		return strings.Join(x, ", ")
	}
	return fmt.Sprint(v)
}

func inspectPath(path string) (summary, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return inspectDir(path)
	}
	base := filepath.Base(path)
	head := make([]byte, 16)
	if f, err := os.Open(path); err == nil {
		n, _ := io.ReadFull(f, head)
		head = head[:n]
		f.Close()
	}
	switch {
	case strings.HasSuffix(base, ".nii") || strings.HasSuffix(base, ".nii.gz"):
		return inspectNIfTI(path)
	case strings.HasSuffix(base, ".npy"):
		return inspectNPY(path)
	case strings.HasSuffix(base, ".npz"):
		return inspectNPZ(path)
	case strings.HasSuffix(base, ".safetensors"):
		return inspectSafetensors(path)
	case strings.HasSuffix(base, ".json"):
		return inspectJSON(path)
	case strings.HasSuffix(base, ".csv"):
		return inspectCSV(path)
	case bytes.HasPrefix(head, []byte("\x93NUMPY")):
		return inspectNPY(path)
	}
	// .pth, .pt, .bin, .ckpt, or anything else: try it as a checkpoint.
	return inspectCheckpoint(path)
}

// arrayStats summarises one array.
func arrayStats(a *npy.Array) summary {
	s := summary{{"shape", a.Shape}, {"dtype", string(a.DType)}}
	if a.Fortran {
		s.add("order", "Fortran (column-major) in the file")
	}
	switch a.DType {
	case npy.Object:
		s.add("object", fmt.Sprintf("pickled Python objects, %d bytes (not executed)", len(a.Pickle)))
		return s
	case npy.Bool:
		b, _ := a.Bool()
		n := 0
		for _, v := range b {
			if v {
				n++
			}
		}
		s.add("true", n)
		return s
	}
	x, err := a.Float64()
	if err != nil || len(x) == 0 {
		return s
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	nan, inf, fin := 0, 0, 0
	for _, v := range x {
		switch {
		case math.IsNaN(v):
			nan++
		case math.IsInf(v, 0):
			inf++
		default:
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			sum += v
			fin++
		}
	}
	if fin > 0 {
		s.add("min", lo)
		s.add("max", hi)
		s.add("mean", sum/float64(fin))
	}
	s.add("nan", nan)
	s.add("inf", inf)
	return s
}

func inspectNPY(path string) (summary, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := summary{{"file", path}, {"format", "npy"}}
	s = append(s, arrayStats(a)...)
	if a.DType == npy.Object {
		if m, err := data.DecodeImgDict(a); err == nil {
			s.add("images", len(m))
			names := make([]string, 0, len(m))
			for k := range m {
				names = append(names, k)
			}
			sort.Strings(names)
			if len(names) > 0 {
				s.add("first", fmt.Sprintf("%s %s %s", names[0], npy.ShapeString(m[names[0]].Shape), m[names[0]].DType))
			}
		}
	}
	return s, nil
}

func inspectNPZ(path string) (summary, error) {
	z, err := npy.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	s := summary{{"file", path}, {"format", "npz"}, {"keys", z.Keys()}}
	arrays := map[string]*npy.Array{}
	var list []summary
	for _, k := range z.Keys() {
		a, err := z.Get(k)
		if err != nil {
			return nil, err
		}
		arrays[k] = a
		list = append(list, append(summary{{"array", k}}, arrayStats(a)...))
	}
	s.add("arrays", list)
	switch {
	case arrays["arr_0"] != nil && arrays["arr_2"] != nil:
		s.add("god_subject", godFacts(arrays))
	case arrays["train_images"] != nil || arrays["test_images"] != nil:
		img := summary{}
		for _, k := range []string{"train_images", "test_images"} {
			if a := arrays[k]; a != nil && len(a.Shape) == 4 {
				img.add(k, fmt.Sprintf("%d images of %d×%d×%d %s", a.Shape[0], a.Shape[1], a.Shape[2], a.Shape[3], a.DType))
			}
		}
		s.add("god_images", img)
	case arrays["V1"] != nil && arrays["V4"] != nil:
		s.add("hcp", hcpFacts(arrays))
	}
	return s, nil
}

// godFacts describes a GOD sbj_N.npz: voxels, ROI sizes and splits.
func godFacts(a map[string]*npy.Array) summary {
	s := summary{}
	if len(a["arr_0"].Shape) != 2 {
		s.add("problem", "arr_0 is not [trials, voxels]")
		return s
	}
	nTrain, nAll := a["arr_0"].Shape[0], a["arr_0"].Shape[1]
	s.add("voxels (all)", nAll)
	rois := summary{}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "arr_") {
			continue
		}
		m := a[k]
		switch {
		case m.DType == npy.Bool && len(m.Shape) == 1:
			b, _ := m.Bool()
			n := 0
			for _, v := range b {
				if v {
					n++
				}
			}
			padded := n + 16 - n%16
			rois.add(k, fmt.Sprintf("%d voxels (padded to %d = %d patches of 16)", n, padded, padded/16))
		case len(m.Shape) == 1:
			rois.add(k, fmt.Sprintf("%d voxel indices", m.Shape[0]))
		}
	}
	s.add("rois", rois)
	sp := summary{{"train trials (arr_0)", nTrain}}
	if a2 := a["arr_2"]; len(a2.Shape) == 2 {
		sp.add("test images, averaged (arr_2)", a2.Shape[0])
		if a1 := a["arr_1"]; a1 != nil && len(a1.Shape) == 2 && a2.Shape[0] > 0 {
			r := float64(a1.Shape[0]) / float64(a2.Shape[0])
			sp.add("test trials (arr_1)", fmt.Sprintf("%d = %g repeats per test image", a1.Shape[0], r))
		}
		if a2.Shape[1] != nAll {
			s.add("problem", fmt.Sprintf("arr_2 has %d voxels, arr_0 %d", a2.Shape[1], nAll))
		}
	}
	if a3 := a["arr_3"]; a3 != nil {
		if idx, err := a3.Int64(); err == nil && len(idx) > 0 {
			lo, hi := idx[0], idx[0]
			uniq := map[int64]bool{}
			for _, v := range idx {
				lo, hi = min(lo, v), max(hi, v)
				uniq[v] = true
			}
			sp.add("train image index (arr_3)", fmt.Sprintf("%d entries, %d distinct, range [%d, %d]", len(idx), len(uniq), lo, hi))
		}
	}
	s.add("splits", sp)
	var bad []string
	for _, k := range []string{"arr_0", "arr_1", "arr_2"} {
		if m := a[k]; m != nil {
			if x, err := m.Float64(); err == nil {
				nan, inf := 0, 0
				for _, v := range x {
					if math.IsNaN(v) {
						nan++
					} else if math.IsInf(v, 0) {
						inf++
					}
				}
				bad = append(bad, fmt.Sprintf("%s %d NaN %d Inf", k, nan, inf))
			}
		}
	}
	s.add("non-finite", strings.Join(bad, ", "))
	return s
}

// hcpFacts describes an HCP_visual_voxel.npz.
func hcpFacts(a map[string]*npy.Array) summary {
	s := summary{}
	total, frames := 0, -1
	for _, k := range data.HCPROIs {
		if m := a[k]; m != nil && len(m.Shape) == 2 {
			s.add(k, fmt.Sprintf("%d voxels", m.Shape[1]))
			total += m.Shape[1]
			frames = m.Shape[0]
		}
	}
	s.add("VC (V1..V4)", fmt.Sprintf("%d voxels, padded to %d", total, total+16-total%16))
	if frames >= 0 {
		s.add("frames", frames)
		s.add("windows", fmt.Sprintf("%d (10-frame means: 8 s / assumed TR 0.75 s; HCP's TR is 0.72 s)", frames/10))
	}
	return s
}

func inspectNIfTI(path string) (summary, error) {
	n, err := data.ReadNIfTI(path)
	if err != nil {
		return nil, err
	}
	s := summary{{"file", path}, {"format", fmt.Sprintf("NIfTI-%d", n.Version)}, {"dims", n.Dims}}
	s.add("pixdim", fmt.Sprint(n.PixDim))
	s.add("datatype", fmt.Sprintf("%s (code %d, %d bits)", n.DataTypeName, n.DataType, n.BitPix))
	s.add("byte order", map[bool]string{true: "big-endian", false: "little-endian"}[n.BigEndian])
	s.add("volumes", n.Volumes())
	if n.TR > 0 {
		s.add("TR (s)", n.TR)
	}
	s.add("scl_slope", n.SclSlope)
	s.add("scl_inter", n.SclInter)
	if n.Descrip != "" {
		s.add("descrip", n.Descrip)
	}
	s = append(s, arrayStats(npy.FromFloat32(n.Data, len(n.Data)))[2:]...)
	return s, nil
}

func inspectSafetensors(path string) (summary, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := summary{{"file", path}, {"format", "safetensors"}}
	if len(f.Metadata) > 0 {
		md := summary{}
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			md.add(k, f.Metadata[k])
		}
		s.add("metadata", md)
	}
	var params int64
	var list []summary
	for _, name := range f.Order {
		t := f.Tensors[name]
		n := int64(1)
		for _, d := range t.Shape {
			n *= int64(d)
		}
		params += n
		list = append(list, summary{{"tensor", name}, {"shape", t.Shape}, {"dtype", t.DType}})
	}
	s.add("tensors", len(f.Order))
	s.add("parameters", params)
	s.add("list", list)
	return s, nil
}

func inspectCheckpoint(path string) (summary, error) {
	c, err := torchckpt.Open(path)
	if err != nil {
		return nil, err
	}
	s := summary{{"file", path}, {"format", c.Format}}
	if c.Version != "" {
		s.add("archive version", c.Version)
	}
	s.add("top-level keys", c.Keys())
	for _, k := range []string{"epoch", "global_step", "pytorch-lightning_version"} {
		if v, ok := c.Scalar(k); ok {
			s.add(k, v)
		} else if v, ok := c.Int(k); ok {
			s.add(k, v)
		}
	}
	sdKey := c.StateDictKey()
	// The other top-level entries, briefly.
	other := summary{}
	for _, k := range c.Keys() {
		if k == sdKey || k == "epoch" || k == "global_step" || k == "pytorch-lightning_version" {
			continue
		}
		if n := c.Summarize(k).Tensors; n > 0 {
			other.add(k, fmt.Sprintf("%d tensors", n))
			continue
		}
		v, _ := c.Get(k)
		other.add(k, torchckpt.Format(v))
	}
	if len(other) > 0 && sdKey != "" {
		s.add("other entries", other)
	}
	sum := c.Summarize(sdKey)
	label := "state dict"
	if sdKey != "" {
		label = fmt.Sprintf("state dict (%q)", sdKey)
	}
	dts := make([]string, 0, len(sum.DTypes))
	for d, n := range sum.DTypes {
		dts = append(dts, fmt.Sprintf("%s×%d", d, n))
	}
	sort.Strings(dts)
	var list []summary
	for _, t := range c.List(sdKey) {
		list = append(list, summary{{"tensor", t.Name}, {"shape", t.Shape}, {"dtype", t.DType}})
	}
	s.add(label, summary{{"tensors", sum.Tensors}, {"parameters", sum.Parameters}, {"dtypes", strings.Join(dts, ", ")}, {"list", list}})
	if opt, err := c.Optimizer(); err == nil {
		s.add("optimizer tensors", len(opt))
	}
	if cfg, ok := c.Config(); ok {
		cs := summary{{"key", cfg.Key}, {"class", cfg.Class}}
		attrs := summary{}
		for _, a := range cfg.Attrs {
			attrs.add(a.Name, a.Value)
		}
		cs.add("attributes", attrs)
		s.add("config (decoded as data, never executed)", cs)
	}
	// Values are read too, so that a corrupt storage is reported here.
	if _, err := c.Tensors(""); err != nil {
		return nil, err
	}
	return s, nil
}

func inspectJSON(path string) (summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if cls, err := data.ParseClassIndex(b); err == nil {
		wn := 0
		for _, c := range cls {
			wn += len(c.WNIDs)
		}
		return summary{{"file", path}, {"format", "ImageNet class index"}, {"classes", len(cls)}, {"wnids", wn},
			{"first", fmt.Sprintf("%s: %s %s", cls[0].Key, strings.Join(cls[0].WNIDs, ","), cls[0].Name)}}, nil
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: bad JSON: %w", path, err)
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return summary{{"file", path}, {"format", "JSON"}, {"keys", keys}}, nil
}

func inspectCSV(path string) (summary, error) {
	ids, err := data.ReadLabelCSV(path)
	if err != nil {
		return nil, err
	}
	offs := map[int]bool{}
	for _, id := range ids {
		o, _ := data.StimulusOffset(id)
		offs[o] = true
	}
	return summary{{"file", path}, {"format", "GOD label CSV"}, {"rows", len(ids)}, {"categories (WordNet offsets)", len(offs)},
		{"first", ids[0]}}, nil
}

func inspectDir(path string) (summary, error) {
	if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
		return inspectRun(path)
	}
	kind, err := data.Detect(path)
	if err != nil {
		return nil, err
	}
	s := summary{{"directory", path}, {"kind", kind}}
	switch kind {
	case data.KindGOD:
		subs, err := data.GODSubjects(path)
		if err != nil {
			return nil, err
		}
		var list []summary
		for _, sub := range subs {
			one, err := inspectNPZ(filepath.Join(path, sub+".npz"))
			if err != nil {
				return nil, err
			}
			e := summary{{"subject", sub}}
			for _, f := range one {
				if f.Key == "god_subject" {
					e = append(e, f.Value.(summary)...)
				}
			}
			list = append(list, e)
		}
		s.add("subjects", list)
		for _, f := range []string{data.GODImages, data.GODClassIndex, data.GODTrainCSV, data.GODTestCSV} {
			p := filepath.Join(path, f)
			if _, err := os.Stat(p); err != nil {
				s.add(f, "missing")
				continue
			}
			var fs summary
			switch {
			case strings.HasSuffix(f, ".npz"):
				fs, err = inspectNPZ(p)
			case strings.HasSuffix(f, ".json"):
				fs, err = inspectJSON(p)
			default:
				fs, err = inspectCSV(p)
			}
			if err != nil {
				return nil, err
			}
			keep := summary{}
			for _, x := range fs {
				if x.Key != "file" && x.Key != "arrays" {
					keep = append(keep, x)
				}
			}
			s.add(f, keep)
		}
		// The labels as the loader reads them: every offset must be known.
		if cls, err := data.ReadClassIndex(filepath.Join(path, data.GODClassIndex)); err == nil {
			li := data.NewLabelIndex(cls)
			for _, f := range []string{data.GODTrainCSV, data.GODTestCSV} {
				p := filepath.Join(path, f)
				if ids, err := data.ReadLabelCSV(p); err == nil {
					if _, err := li.Labels(p, ids); err != nil {
						s.add("label problem", err.Error())
					}
				}
			}
		}
	case data.KindHCP:
		subs, files, err := data.HCPSubjectFiles(path)
		if err != nil {
			return nil, err
		}
		s.add("subjects", subs)
		one, err := inspectNPZ(files[0])
		if err != nil {
			return nil, err
		}
		for _, f := range one {
			if f.Key == "hcp" {
				s.add("first subject ("+subs[0]+")", f.Value)
			}
		}
	case data.KindBOLD5000:
		betas := filepath.Join(path, data.BOLD5000Betas)
		m, _ := filepath.Glob(filepath.Join(betas, "*.npy"))
		var list []summary
		for _, p := range m {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			h, err := npy.ReadHeader(bufio.NewReader(f))
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			list = append(list, summary{{"file", filepath.Base(p)}, {"shape", h.Shape}, {"dtype", string(h.DType)}})
		}
		s.add("ROI beta files", list)
		if st, err := os.Stat(filepath.Join(path, data.BOLD5000ImgDict)); err == nil {
			s.add("img_dict.npy", fmt.Sprintf("%d bytes", st.Size()))
		}
	}
	return s, nil
}

// inspectRun summarises a visdec run directory.
func inspectRun(path string) (summary, error) {
	s := summary{{"directory", path}, {"kind", "visdec run"}}
	var cfg map[string]any
	if err := rundir.ReadJSON(path, "config.json", &cfg); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s.add("config keys", keys)
	m, _ := filepath.Glob(filepath.Join(path, "checkpoints", "*.safetensors"))
	names := make([]string, len(m))
	for i, p := range m {
		names[i] = filepath.Base(p)
	}
	s.add("checkpoints", names)
	if latest, ok := rundir.Latest(path); ok {
		s.add("latest", filepath.Base(latest))
	}
	if metrics, err := rundir.ReadMetrics(path); err == nil && len(metrics) > 0 {
		s.add("metrics lines", len(metrics))
		last, _ := json.Marshal(metrics[len(metrics)-1])
		s.add("last metrics", string(last))
	}
	return s, nil
}
