package torchckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/types"

	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/pyobj"
	"github.com/visdec/visdec/internal/safetensors"
)

// Checkpoint is a decoded checkpoint file. Root is the unpickled top-level
// object in pyobj's types, with tensors left as lazy views (use the methods,
// not Root, to get tensor values).
type Checkpoint struct {
	// Path is the file it was read from.
	Path string
	// Format is "zip", "legacy" or "safetensors".
	Format string
	// Root is the top-level object, usually a *pyobj.Dict.
	Root any
	// Metadata holds a safetensors file's string metadata (nil otherwise).
	Metadata map[string]string
	// Version is the zip archive's "version" record, when present.
	Version string
}

// TensorInfo describes one tensor without reading its values.
type TensorInfo struct {
	// Name is the tensor's path below the key asked for, e.g.
	// "blocks.0.attn.qkv.weight" or "state/3/exp_avg".
	Name  string
	Shape []int
	// DType is the element type stored in the file (float32, float16,
	// bfloat16, float64, int64, ...); values are always returned as float32.
	DType string
}

// StateDictKeys are the entries LoadStateDict looks for, in order: the
// reference's save_model ("model"), Lightning ("state_dict"), and the common
// training-script layout ("model_state_dict").
var StateDictKeys = []string{"model", "state_dict", "model_state_dict"}

// LoadStateDict reads the model weights of a checkpoint (.pth, .pt, .bin,
// .ckpt or .safetensors): for a dict holding "model", "state_dict" or
// "model_state_dict" it returns that entry's tensors, else the top level's.
func LoadStateDict(path string) (map[string]nn.Tensor, error) {
	c, err := Open(path)
	if err != nil {
		return nil, err
	}
	return c.StateDict(c.StateDictKey())
}

// StateDictKey is the top-level key LoadStateDict uses ("" for the top
// level itself).
func (c *Checkpoint) StateDictKey() string {
	for _, k := range StateDictKeys {
		if v, ok := c.Get(k); ok {
			if _, isDict := v.(*pyobj.Dict); isDict {
				return k
			}
		}
	}
	return ""
}

// Open reads a checkpoint file. The format is detected from the content.
func Open(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return OpenReader(f, st.Size(), path)
}

// OpenReader reads a checkpoint of the given size from r; name is used in
// error messages.
func OpenReader(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	c, err := openReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.Path = name
	return c, nil
}

func openReader(r io.ReaderAt, size int64) (*Checkpoint, error) {
	var head [512]byte
	n, _ := r.ReadAt(head[:], 0)
	h := head[:n]
	switch {
	case n == 0:
		return nil, errors.New("file is empty")
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		return readZip(r, size)
	case n >= 9 && h[8] == '{' && binary.LittleEndian.Uint64(h) > 1 && binary.LittleEndian.Uint64(h) < uint64(size):
		return readSafetensors(r, size)
	case h[0] == 0x80 || h[0] == '(' || h[0] == '}' || h[0] == ']' || h[0] == 'c' || h[0] == 'L' || h[0] == 'I':
		return readLegacy(r, size)
	case n >= 262 && string(h[257:262]) == "ustar":
		return nil, errors.New("the tar-based torch.save format (PyTorch < 0.4) is not supported")
	}
	return nil, errors.New("not a PyTorch checkpoint (neither a torch.save zip archive, a legacy torch.save stream nor safetensors)")
}

// unpickle decodes one pickle with the torch classes and persistent-load
// hook installed.
func unpickle(b []byte, persistentLoad func(id any) (any, error)) (any, int, error) {
	classes := map[string]any{
		"torch._utils._rebuild_tensor_v2":     rebuildTensor{},
		"torch._utils._rebuild_tensor":        rebuildTensor{},
		"torch._tensor._rebuild_from_type_v2": rebuildFromType{},
	}
	for name, sc := range storageClasses {
		classes[name] = sc
	}
	return pyobj.Decode(b, pyobj.Options{
		Classes:        classes,
		PersistentLoad: persistentLoad,
		Keep: func(v any) bool {
			switch v.(type) {
			case *tensorRef, *storage, *storageClass, rebuildTensor, rebuildFromType:
				return true
			}
			return false
		},
	})
}

// storageID parses a persistent id ('storage', class, key, location, numel
// [, view_metadata]).
func storageID(id any) (cls *storageClass, key string, numel int, view any, err error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return nil, "", 0, nil, fmt.Errorf("persistent id %T is not a storage tuple", id)
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, "", 0, nil, fmt.Errorf("persistent id of type %v is not supported", t.Get(0))
	}
	cls, ok = t.Get(1).(*storageClass)
	if !ok {
		return nil, "", 0, nil, fmt.Errorf("storage class %v is not supported", describe(t.Get(1)))
	}
	key, ok = t.Get(2).(string)
	if !ok {
		return nil, "", 0, nil, fmt.Errorf("storage key is %T", t.Get(2))
	}
	numel, ok = t.Get(4).(int)
	if !ok || numel < 0 {
		return nil, "", 0, nil, fmt.Errorf("storage %q: bad element count %v", key, t.Get(4))
	}
	if numel > math.MaxInt64/8 {
		return nil, "", 0, nil, fmt.Errorf("storage %q: element count %d is too large", key, numel)
	}
	if t.Len() > 5 {
		view = t.Get(5)
	}
	return cls, key, numel, view, nil
}

func describe(v any) string {
	if o, ok := v.(*pyobj.Object); ok {
		return o.Class
	}
	return fmt.Sprintf("%T", v)
}

func readZip(r io.ReaderAt, size int64) (*Checkpoint, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("corrupt or truncated zip archive: %w", err)
	}
	var pkl *zip.File
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
		if path.Base(f.Name) == "constants.pkl" {
			return nil, errors.New("TorchScript archives are not supported (save the state_dict instead)")
		}
		if path.Base(f.Name) == "data.pkl" && pkl == nil {
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive has no data.pkl: not a torch.save file")
	}
	prefix := path.Dir(pkl.Name)
	member := func(name string) string {
		if prefix == "." {
			return name
		}
		return prefix + "/" + name
	}
	c := &Checkpoint{Format: "zip"}
	if f, ok := files[member("version")]; ok {
		if b, err := readMember(f, 64); err == nil {
			c.Version = strings.TrimSpace(string(b))
		}
	}
	bigEndian := false
	if f, ok := files[member("byteorder")]; ok {
		b, err := readMember(f, 16)
		if err != nil {
			return nil, fmt.Errorf("byteorder: %w", err)
		}
		bigEndian = strings.TrimSpace(string(b)) == "big"
	}
	pb, err := readMember(pkl, 1<<30)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	storages := map[string]*storage{}
	load := func(id any) (any, error) {
		cls, key, numel, _, err := storageID(id)
		if err != nil {
			return nil, err
		}
		if st, ok := storages[key]; ok {
			if st.class != cls {
				return nil, fmt.Errorf("storage %q is used with two dtypes", key)
			}
			return st, nil
		}
		f, ok := files[member("data/"+key)]
		if !ok {
			return nil, fmt.Errorf("storage %q: no record %s in the archive", key, member("data/"+key))
		}
		want := int64(numel) * int64(cls.size)
		b, err := readMember(f, want)
		if err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
		if int64(len(b)) != want {
			return nil, fmt.Errorf("storage %q: record has %d bytes, %d×%s needs %d", key, len(b), numel, cls.dtype, want)
		}
		st := &storage{class: cls, key: key, numel: numel, data: b, bigEndian: bigEndian}
		storages[key] = st
		return st, nil
	}
	root, _, err := unpickle(pb, load)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	c.Root = root
	return c, nil
}

// readMember reads a zip member, refusing more than limit bytes (so a
// decompression bomb or a lying header cannot exhaust memory).
func readMember(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	// The header's sizes may lie: preallocate no more than deflate could
	// expand the compressed bytes to (about 1032:1), and at most 256 MiB;
	// the buffer grows as real data arrives.
	hint := min(f.UncompressedSize64, uint64(limit), f.CompressedSize64*1032+64, 256<<20)
	buf.Grow(int(hint))
	n, err := io.Copy(&buf, io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("corrupt data: %w", err)
	}
	if n > limit {
		return nil, fmt.Errorf("record is larger than %d bytes", limit)
	}
	return buf.Bytes(), nil
}

// legacyMagic is torch/serialization.py MAGIC_NUMBER.
const legacyMagic = "1950a86a20f9469cfc6c"

func readLegacy(r io.ReaderAt, size int64) (*Checkpoint, error) {
	if size > 1<<40 {
		return nil, errors.New("file is implausibly large")
	}
	b := make([]byte, 0, min(size, 1<<30))
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	pos := 0
	next := func(what string) (any, error) {
		v, n, err := pyobj.Decode(data[pos:], pyobj.Options{})
		if err != nil {
			return nil, fmt.Errorf("legacy torch.save stream: %s: %w", what, err)
		}
		pos += n
		return v, nil
	}
	magic, err := next("magic number")
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(interface{ Text(int) string }); !ok || m.Text(16) != legacyMagic {
		return nil, errors.New("not a torch.save file (bad magic number)")
	}
	proto, err := next("protocol version")
	if err != nil {
		return nil, err
	}
	if p, ok := proto.(int64); !ok || p != 1001 {
		return nil, fmt.Errorf("unsupported legacy protocol version %v", proto)
	}
	sys, err := next("sys info")
	if err != nil {
		return nil, err
	}
	bigEndian := false
	if d, ok := sys.(*pyobj.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			bigEndian = true
		}
	}
	storages := map[string]*storage{}
	views := map[string]*storage{}
	load := func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if ok && t.Len() == 2 {
			if s, _ := t.Get(0).(string); s == "module" {
				return &pyobj.Object{Class: "torch.nn.Module (source)"}, nil
			}
		}
		cls, key, numel, view, err := storageID(id)
		if err != nil {
			return nil, err
		}
		st, ok := storages[key]
		if !ok {
			st = &storage{class: cls, key: key, numel: numel, bigEndian: bigEndian}
			storages[key] = st
		} else if st.class != cls {
			return nil, fmt.Errorf("storage %q is used with two dtypes", key)
		}
		if view == nil {
			return st, nil
		}
		vt, ok := view.(*types.Tuple)
		if !ok || vt.Len() != 3 {
			return nil, fmt.Errorf("storage %q: bad view metadata", key)
		}
		vkey, ok1 := vt.Get(0).(string)
		off, ok2 := vt.Get(1).(int)
		vsize, ok3 := vt.Get(2).(int)
		if !ok1 || !ok2 || !ok3 || off < 0 || vsize < 0 || off > numel || vsize > numel-off {
			return nil, fmt.Errorf("storage %q: bad view metadata", key)
		}
		if v, ok := views[vkey]; ok {
			return v, nil
		}
		v := &storage{class: cls, key: vkey, numel: vsize, base: st, baseOff: off}
		views[vkey] = v
		return v, nil
	}
	root, n, err := unpickle(data[pos:], load)
	if err != nil {
		return nil, fmt.Errorf("legacy torch.save stream: %w", err)
	}
	pos += n
	keysV, err := next("storage keys")
	if err != nil {
		return nil, err
	}
	keys, ok := keysV.(*pyobj.List)
	if !ok {
		return nil, fmt.Errorf("legacy torch.save stream: storage keys are %T, not a list", keysV)
	}
	for _, kv := range keys.Items {
		key, ok := kv.(string)
		if !ok {
			return nil, fmt.Errorf("legacy torch.save stream: storage key is %T", kv)
		}
		st, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("legacy torch.save stream: storage %q is listed but never used", key)
		}
		if pos+8 > len(data) {
			return nil, fmt.Errorf("file is truncated (storage %q)", key)
		}
		var cnt uint64
		if bigEndian {
			cnt = binary.BigEndian.Uint64(data[pos:])
		} else {
			cnt = binary.LittleEndian.Uint64(data[pos:])
		}
		pos += 8
		if cnt != uint64(st.numel) {
			return nil, fmt.Errorf("storage %q: file says %d elements, the pickle %d", key, cnt, st.numel)
		}
		nb := st.numel * st.class.size
		if nb > len(data)-pos {
			return nil, fmt.Errorf("file is truncated (storage %q needs %d bytes, %d left)", key, nb, len(data)-pos)
		}
		st.data = data[pos : pos+nb]
		pos += nb
	}
	for key, st := range storages {
		if st.data == nil {
			return nil, fmt.Errorf("legacy torch.save stream: storage %q has no data", key)
		}
	}
	return &Checkpoint{Format: "legacy", Root: root}, nil
}

func readSafetensors(r io.ReaderAt, size int64) (*Checkpoint, error) {
	f, err := safetensors.Read(io.NewSectionReader(r, 0, size), size)
	if err != nil {
		return nil, err
	}
	d := &pyobj.Dict{}
	for _, name := range f.Order {
		t := f.Tensors[name]
		d.Keys = append(d.Keys, name)
		d.Values = append(d.Values, &loadedTensor{shape: t.Shape, data: t.Data, dtype: strings.ToLower(t.DType)})
	}
	return &Checkpoint{Format: "safetensors", Root: d, Metadata: f.Metadata}, nil
}

// loadedTensor is a tensor whose values are already float32 (safetensors).
type loadedTensor struct {
	shape []int
	data  []float32
	dtype string
}

// Keys lists the top-level keys when the root is a dict (non-string keys
// are formatted), else nil.
func (c *Checkpoint) Keys() []string {
	d, ok := c.Root.(*pyobj.Dict)
	if !ok {
		return nil
	}
	out := make([]string, len(d.Keys))
	for i, k := range d.Keys {
		out[i] = keyString(k)
	}
	return out
}

func keyString(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return fmt.Sprint(k)
}

// Get returns the top-level entry key ("" for the root itself).
func (c *Checkpoint) Get(key string) (any, bool) {
	if key == "" {
		return c.Root, true
	}
	d, ok := c.Root.(*pyobj.Dict)
	if !ok {
		return nil, false
	}
	for i, k := range d.Keys {
		if keyString(k) == key {
			return d.Values[i], true
		}
	}
	return nil, false
}

// StateDict returns the tensors stored directly under the top-level key
// ("" for the top level), by name. Non-tensor entries are skipped. It is an
// error if key is missing, is not a dict, or holds no tensor.
func (c *Checkpoint) StateDict(key string) (map[string]nn.Tensor, error) {
	v, ok := c.Get(key)
	if !ok {
		return nil, fmt.Errorf("%s: no entry %q (have %s)", c.Path, key, strings.Join(c.Keys(), ", "))
	}
	d, ok := v.(*pyobj.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: entry %q is %s, not a state dict", c.Path, key, typeName(v))
	}
	out := map[string]nn.Tensor{}
	for i, k := range d.Keys {
		t, err := c.tensor(d.Values[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", c.Path, keyString(k), err)
		}
		if t != nil {
			out[keyString(k)] = *t
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: entry %q holds no tensors", c.Path, key)
	}
	return out, nil
}

// tensor materialises v when it is a tensor; nil, nil when it is not.
func (c *Checkpoint) tensor(v any) (*nn.Tensor, error) {
	switch t := v.(type) {
	case *tensorRef:
		data, err := t.float32s()
		if err != nil {
			return nil, err
		}
		return &nn.Tensor{Shape: t.Shape(), Data: data}, nil
	case *loadedTensor:
		return &nn.Tensor{Shape: append([]int{}, t.shape...), Data: t.data}, nil
	}
	return nil, nil
}

// Tensors returns every tensor below the top-level key ("" for all), at any
// depth, named by their path with "/" between dict keys and list indices
// (e.g. "state/3/exp_avg" under "optimizer").
func (c *Checkpoint) Tensors(key string) (map[string]nn.Tensor, error) {
	v, ok := c.Get(key)
	if !ok {
		return nil, fmt.Errorf("%s: no entry %q (have %s)", c.Path, key, strings.Join(c.Keys(), ", "))
	}
	out := map[string]nn.Tensor{}
	var firstErr error
	walk(v, "", map[any]bool{}, 0, func(name string, x any) {
		if firstErr != nil {
			return
		}
		t, err := c.tensor(x)
		if err != nil {
			firstErr = fmt.Errorf("%s: %s: %w", c.Path, path.Join(key, name), err)
			return
		}
		if t != nil {
			out[name] = *t
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// List describes every tensor below the top-level key ("" for all), in file
// order, without reading values.
func (c *Checkpoint) List(key string) []TensorInfo {
	v, ok := c.Get(key)
	if !ok {
		return nil
	}
	var out []TensorInfo
	walk(v, "", map[any]bool{}, 0, func(name string, x any) {
		switch t := x.(type) {
		case *tensorRef:
			out = append(out, TensorInfo{Name: name, Shape: t.Shape(), DType: t.DType()})
		case *loadedTensor:
			out = append(out, TensorInfo{Name: name, Shape: append([]int{}, t.shape...), DType: t.dtype})
		}
	})
	return out
}

// walk visits the leaves of v depth-first, naming them by path.
func walk(v any, name string, seen map[any]bool, depth int, fn func(string, any)) {
	if depth > 64 {
		return
	}
	join := func(k string) string {
		if name == "" {
			return k
		}
		return name + "/" + k
	}
	switch x := v.(type) {
	case *pyobj.Dict:
		if seen[x] {
			return
		}
		seen[x] = true
		for i, k := range x.Keys {
			walk(x.Values[i], join(keyString(k)), seen, depth+1, fn)
		}
	case *pyobj.List:
		if seen[x] {
			return
		}
		seen[x] = true
		for i, e := range x.Items {
			walk(e, join(strconv.Itoa(i)), seen, depth+1, fn)
		}
	case pyobj.Tuple:
		for i, e := range x {
			walk(e, join(strconv.Itoa(i)), seen, depth+1, fn)
		}
	default:
		fn(name, v)
	}
}

// Int returns a top-level integer entry (epoch, global_step).
func (c *Checkpoint) Int(key string) (int64, bool) {
	v, ok := c.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int64:
		return x, true
	case *tensorRef:
		if x.numel() == 1 {
			if d, err := x.float32s(); err == nil && d[0] == float32(int64(d[0])) {
				return int64(d[0]), true
			}
		}
	}
	return 0, false
}

// Scalar returns a top-level entry that is a number, string or bool.
func (c *Checkpoint) Scalar(key string) (any, bool) {
	v, ok := c.Get(key)
	if !ok {
		return nil, false
	}
	switch v.(type) {
	case int64, float64, string, bool:
		return v, true
	}
	return nil, false
}

// OptimizerKeys are the entries Optimizer looks for: the reference's
// save_model ("optimizer"), scripts ("optimizer_state_dict") and Lightning
// ("optimizer_states", a list with one state dict per optimizer).
var OptimizerKeys = []string{"optimizer", "optimizer_state_dict", "optimizer_states"}

// Optimizer returns the optimizer state tensors (AdamW exp_avg, exp_avg_sq,
// step), named "state/<param index>/<name>" (Lightning: "0/state/..."), or
// an error if the checkpoint has none.
func (c *Checkpoint) Optimizer() (map[string]nn.Tensor, error) {
	for _, k := range OptimizerKeys {
		if _, ok := c.Get(k); ok {
			return c.Tensors(k)
		}
	}
	return nil, fmt.Errorf("%s: no optimizer state (looked for %s)", c.Path, strings.Join(OptimizerKeys, ", "))
}

// Config describes a pickled configuration object for reports.
type Config struct {
	// Key is the top-level entry it was found under.
	Key string
	// Class is "module.Name" of a pickled object ("dict" for a plain dict).
	Class string
	// Attrs are its attributes, formatted as Python would print them.
	Attrs []Attr
}

// Attr is one attribute of a Config.
type Attr struct{ Name, Value string }

// ConfigKeys are the entries Config looks for: the reference ("config"),
// Lightning ("hyper_parameters", "hparams") and argparse scripts ("args").
var ConfigKeys = []string{"config", "hyper_parameters", "hparams", "args", "cfg"}

// Config returns the pickled configuration object, if any. It is decoded
// as data only: the class is never imported or constructed.
func (c *Checkpoint) Config() (*Config, bool) {
	for _, k := range ConfigKeys {
		v, ok := c.Get(k)
		if !ok {
			continue
		}
		cfg := &Config{Key: k}
		var attrs *pyobj.Dict
		switch x := v.(type) {
		case *pyobj.Object:
			cfg.Class = x.Class
			attrs = x.Attrs()
		case *pyobj.Dict:
			cfg.Class = "dict"
			attrs = x
		default:
			continue
		}
		if attrs != nil {
			for i, name := range attrs.Keys {
				cfg.Attrs = append(cfg.Attrs, Attr{Name: keyString(name), Value: Format(attrs.Values[i])})
			}
		}
		return cfg, true
	}
	return nil, false
}

// Format renders a decoded value briefly, as Python's repr would (tensors as
// tensor(shape, dtype)).
func Format(v any) string {
	var sb strings.Builder
	format(&sb, v, 0)
	s := sb.String()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func format(sb *strings.Builder, v any, depth int) {
	if depth > 4 || sb.Len() > 400 {
		sb.WriteString("…")
		return
	}
	switch x := v.(type) {
	case nil:
		sb.WriteString("None")
	case bool:
		if x {
			sb.WriteString("True")
		} else {
			sb.WriteString("False")
		}
	case string:
		sb.WriteString(strconv.Quote(x))
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case float64:
		sb.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case []byte:
		fmt.Fprintf(sb, "bytes[%d]", len(x))
	case *tensorRef:
		fmt.Fprintf(sb, "tensor%v %s", x.size, x.DType())
	case *loadedTensor:
		fmt.Fprintf(sb, "tensor%v %s", x.shape, x.dtype)
	case *pyobj.List:
		sb.WriteString("[")
		for i, e := range x.Items {
			if i > 0 {
				sb.WriteString(", ")
			}
			format(sb, e, depth+1)
		}
		sb.WriteString("]")
	case pyobj.Tuple:
		sb.WriteString("(")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			format(sb, e, depth+1)
		}
		if len(x) == 1 {
			sb.WriteString(",")
		}
		sb.WriteString(")")
	case *pyobj.Dict:
		sb.WriteString("{")
		for i, k := range x.Keys {
			if i > 0 {
				sb.WriteString(", ")
			}
			format(sb, k, depth+1)
			sb.WriteString(": ")
			format(sb, x.Values[i], depth+1)
		}
		sb.WriteString("}")
	case *pyobj.Object:
		sb.WriteString("<" + x.Class + ">")
	default:
		fmt.Fprintf(sb, "<%T>", v)
	}
}

// typeName names a decoded value's kind for messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case *pyobj.Dict:
		return "a dict"
	case *pyobj.List:
		return "a list"
	case pyobj.Tuple:
		return "a tuple"
	case *tensorRef, *loadedTensor:
		return "a tensor"
	case *pyobj.Object:
		return "a " + x.Class + " object"
	case string:
		return "a string"
	case int64, float64, bool:
		return fmt.Sprintf("the value %v", x)
	}
	return fmt.Sprintf("%T", v)
}

// Summary counts what a checkpoint holds, for reports.
type Summary struct {
	Tensors    int
	Parameters int64 // elements in all tensors
	DTypes     map[string]int
}

// Summarize counts the tensors below key ("" for all).
func (c *Checkpoint) Summarize(key string) Summary {
	s := Summary{DTypes: map[string]int{}}
	for _, t := range c.List(key) {
		s.Tensors++
		n := int64(1)
		for _, d := range t.Shape {
			n *= int64(d)
		}
		s.Parameters += n
		s.DTypes[t.DType]++
	}
	return s
}

// SortedNames returns a tensor map's names in sorted order.
func SortedNames(m map[string]nn.Tensor) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
