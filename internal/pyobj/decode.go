package pyobj

import (
	"bytes"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// The Go types Decode produces:
//
//	None → nil; bool → bool; int → int64 (or *big.Int when it does not fit);
//	float → float64; str → string; bytes/bytearray → []byte;
//	list → *List; tuple → Tuple; dict and OrderedDict → *Dict (ordered);
//	set/frozenset → *List; numpy.ndarray → *npy.Array (via numpyArray);
//	numpy scalar → int64/float64/bool; anything else → *Object;
//	values produced by Options.Classes hooks are kept as returned.
type (
	// List is a Python list.
	List struct{ Items []any }
	// Tuple is a Python tuple.
	Tuple []any
	// Dict is a Python dict in insertion order. Keys are usually strings or
	// ints; a later duplicate key overwrites the value in place, as in Python.
	Dict struct {
		Keys   []any
		Values []any
		index  map[any]int // key → position, kept by set
	}
	// Object is an instance of a class this package does not know: only
	// recorded, never constructed. Class is "module.Name".
	Object struct {
		Class string
		// Args are the constructor arguments (REDUCE/NEWOBJ).
		Args []any
		// State is what BUILD passed (__setstate__), usually a *Dict of
		// attributes, nil if none.
		State any
	}
)

// Get returns the value stored under key and whether it exists.
func (d *Dict) Get(key any) (any, bool) {
	if d.index != nil && len(d.index) == len(d.Keys) && comparable(key) {
		i, ok := d.index[key]
		if !ok {
			return nil, false
		}
		return d.Values[i], true
	}
	for i, k := range d.Keys {
		if comparable(k) && k == key {
			return d.Values[i], true
		}
	}
	return nil, false
}

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.Keys) }

// set stores v under k (a comparable key), keeping the first position of a
// repeated key as Python's dict does.
func (d *Dict) set(k, v any) {
	if d.index == nil {
		d.index = make(map[any]int, len(d.Keys))
		for i, old := range d.Keys {
			d.index[old] = i
		}
	}
	if i, ok := d.index[k]; ok {
		d.Values[i] = v
		return
	}
	d.index[k] = len(d.Keys)
	d.Keys = append(d.Keys, k)
	d.Values = append(d.Values, v)
}

// Attrs returns the object's attributes (its BUILD state when that is a
// dict, or the first element of a (dict, slots) state), or nil.
func (o *Object) Attrs() *Dict {
	switch s := o.State.(type) {
	case *Dict:
		return s
	case Tuple:
		if len(s) == 2 {
			if d, ok := s[0].(*Dict); ok {
				return d
			}
		}
	}
	return nil
}

// Options customises Decode.
type Options struct {
	// Classes maps "module.Name" to a value the unpickler uses for that
	// global instead of the inert default: it must implement gopickle's
	// types.Callable and/or types.PyNewable. torchckpt registers
	// torch._utils._rebuild_tensor_v2 and the storage classes here.
	Classes map[string]any
	// PersistentLoad resolves persistent ids (torch storages); nil rejects
	// them.
	PersistentLoad func(id any) (any, error)
	// Keep lists extra Go types that Decode passes through unchanged (the
	// values returned by Classes hooks or PersistentLoad).
	Keep func(v any) bool
}

// maxDepth bounds the nesting Decode follows, so that a hostile pickle
// cannot exhaust the stack.
const maxDepth = 512

// Decode unpickles the single pickle at the start of b and converts it into
// the Go types listed above. It reports how many bytes the pickle used.
func Decode(b []byte, opt Options) (v any, n int, err error) {
	n, err = Scan(b)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if r := recover(); r != nil {
			v, n, err = nil, 0, fmt.Errorf("pickle: malformed data (%v)", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(b[:n]))
	u.FindClass = func(module, name string) (any, error) { return findClass(module, name, opt) }
	if opt.PersistentLoad != nil {
		u.PersistentLoad = opt.PersistentLoad
	} else {
		u.PersistentLoad = func(any) (any, error) {
			return nil, fmt.Errorf("pickle: unexpected persistent id (external data reference)")
		}
	}
	u.GetExtension = func(code int) (any, error) {
		return nil, fmt.Errorf("pickle: unsupported extension code %d", code)
	}
	raw, err := u.Load()
	if err != nil {
		return nil, 0, fmt.Errorf("pickle: %w", err)
	}
	c := converter{seen: map[any]any{}, keep: opt.Keep}
	v, err = c.convert(raw, 0)
	if err != nil {
		return nil, 0, err
	}
	return v, n, nil
}

// class is an unknown global: calling it records an *Object.
type class struct{ name string }

func (c *class) Call(args ...any) (any, error) { return &Object{Class: c.name, Args: args}, nil }
func (c *class) PyNew(args ...any) (any, error) {
	// copyreg.__newobj__ passes the class itself first; drop it.
	if len(args) > 0 {
		if _, ok := args[0].(*class); ok {
			args = args[1:]
		}
	}
	return &Object{Class: c.name, Args: args}, nil
}

// PySetState records BUILD's state.
func (o *Object) PySetState(state any) error { o.State = state; return nil }

// callFunc adapts a Go function to gopickle's Callable.
type callFunc func(args ...any) (any, error)

func (f callFunc) Call(args ...any) (any, error) { return f(args...) }

func findClass(module, name string, opt Options) (any, error) {
	full := module + "." + name
	if c, ok := opt.Classes[full]; ok {
		return c, nil
	}
	switch full {
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// nn.Parameter(data, requires_grad, hooks[, state]) → its data.
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 0 {
				return nil, fmt.Errorf("%s: no arguments", full)
			}
			return args[0], nil
		}), nil
	case "torch.Size":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 1 {
				return args[0], nil
			}
			return types.NewTupleFromSlice(args), nil
		}), nil
	case "_codecs.encode":
		// Protocol-2 pickles store bytes as _codecs.encode(str, "latin1").
		return callFunc(codecsEncode), nil
	case "builtins.bytearray", "__builtin__.bytearray", "builtins.bytes", "__builtin__.bytes":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 0 {
				return []byte{}, nil
			}
			return codecsEncode(args...)
		}), nil
	case "builtins.set", "builtins.frozenset", "__builtin__.set", "__builtin__.frozenset":
		return callFunc(func(args ...any) (any, error) {
			if len(args) == 0 {
				return types.NewList(), nil
			}
			return args[0], nil
		}), nil
	case "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
		return callFunc(func(args ...any) (any, error) { return &ndarray{}, nil }), nil
	case "numpy.dtype":
		return callFunc(newDType), nil
	case "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar":
		return callFunc(numpyScalar), nil
	}
	return &class{name: full}, nil
}

func codecsEncode(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("_codecs.encode: no arguments")
	}
	switch s := args[0].(type) {
	case []byte:
		return s, nil
	case string:
		enc := "utf-8"
		if len(args) > 1 {
			if e, ok := args[1].(string); ok {
				enc = strings.ToLower(e)
			}
		}
		if enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" {
			out := make([]byte, 0, len(s))
			for i := 0; i < len(s); {
				r, size := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && size == 1 {
					// Protocol 0 stores str as raw-unicode-escape, which
					// gopickle passes through undecoded: the byte is the
					// latin-1 character.
					r = rune(s[i])
				}
				if r > 255 {
					return nil, fmt.Errorf("_codecs.encode: character %U is not latin-1", r)
				}
				out = append(out, byte(r))
				i += size
			}
			return out, nil
		}
		return []byte(s), nil
	}
	return nil, fmt.Errorf("_codecs.encode: unexpected argument %T", args[0])
}

// converter turns gopickle's values into this package's types. seen maps a
// pointer-typed source value to its converted value, so that shared and
// self-referencing structures are converted once and never loop.
type converter struct {
	seen map[any]any
	keep func(any) bool
}

func (c *converter) convert(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("pickle: nesting deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return x, nil
	case int:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
		return x, nil
	case *types.ByteArray:
		return []byte(*x), nil
	}
	if c.keep != nil && c.keep(v) {
		return v, nil
	}
	if reflect.ValueOf(v).Kind() != reflect.Pointer {
		// Only pointers can be shared or cyclic; anything else is unknown.
		return &Object{Class: fmt.Sprintf("%T", v)}, nil
	}
	if done, ok := c.seen[v]; ok {
		return done, nil
	}
	switch x := v.(type) {
	case *types.List:
		out := &List{Items: make([]any, 0, len(*x))}
		c.seen[v] = out
		for _, e := range *x {
			ce, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, ce)
		}
		return out, nil
	case *types.Tuple:
		out := make(Tuple, 0, len(*x))
		for _, e := range *x {
			ce, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ce)
		}
		c.seen[v] = out
		return out, nil
	case *types.Set:
		out := &List{}
		c.seen[v] = out
		for e := range *x {
			ce, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, ce)
		}
		return out, nil
	case *types.FrozenSet:
		out := &List{}
		c.seen[v] = out
		for e := range *x {
			ce, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, ce)
		}
		return out, nil
	case *types.Dict:
		out := &Dict{}
		c.seen[v] = out
		for _, e := range *x {
			if err := c.setEntry(out, e.Key, e.Value, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *types.OrderedDict:
		out := &Dict{}
		c.seen[v] = out
		for el := x.List.Front(); el != nil; el = el.Next() {
			e, ok := el.Value.(*types.OrderedDictEntry)
			if !ok {
				continue
			}
			if err := c.setEntry(out, e.Key, e.Value, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *Object:
		out := &Object{Class: x.Class}
		c.seen[v] = out
		for _, a := range x.Args {
			ca, err := c.convert(a, depth+1)
			if err != nil {
				return nil, err
			}
			out.Args = append(out.Args, ca)
		}
		st, err := c.convert(x.State, depth+1)
		if err != nil {
			return nil, err
		}
		out.State = st
		return out, nil
	case *class:
		return &Object{Class: x.name + " (class)"}, nil
	case *ndarray:
		a, err := x.array()
		if err != nil {
			return nil, err
		}
		if a != nil {
			c.seen[v] = a
			return a, nil
		}
		// An object array: convert its elements.
		items := make([]any, 0, len(x.objects))
		for _, e := range x.objects {
			ce, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, ce)
		}
		out := &ObjectArray{Shape: x.shape, Items: items}
		c.seen[v] = out
		return out, nil
	case *dtype:
		return &Object{Class: "numpy.dtype", Args: []any{x.descr()}}, nil
	case *types.GenericObject:
		return &Object{Class: x.Class.Module + "." + x.Class.Name}, nil
	case *types.GenericClass:
		return &Object{Class: x.Module + "." + x.Name + " (class)"}, nil
	}
	// Anything else gopickle produced (callables, reconstructors, ...).
	return &Object{Class: fmt.Sprintf("%T", v)}, nil
}

func (c *converter) setEntry(out *Dict, k, v any, depth int) error {
	ck, err := c.convert(k, depth+1)
	if err != nil {
		return err
	}
	if !comparable(ck) {
		ck = fmt.Sprint(ck)
	}
	cv, err := c.convert(v, depth+1)
	if err != nil {
		return err
	}
	out.set(ck, cv)
	return nil
}

// comparable reports whether k can be compared with == without panicking.
func comparable(k any) bool {
	switch k.(type) {
	case nil, bool, int64, float64, string:
		return true
	}
	return false
}
