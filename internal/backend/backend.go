// Package backend chooses the GoMLX compute backend in one place.
//
// The default is the pure-Go backend (no cgo) with parallelism=-1: its default
// worker pool deadlocks on ViT training steps (gomlx-notes §3b). Other
// backends are compiled in with build tags (xla: XLA/PJRT for GPUs, see
// xla.go) and selected with --backend or $VISDEC_BACKEND, in GoMLX's
// "name:config" form, e.g. "xla:/abs/path/xla_cuda_plugin.so".
package backend

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// EnvVar overrides the default backend specification.
const EnvVar = "VISDEC_BACKEND"

// DefaultSpec is the backend used when nothing else is asked for.
const DefaultSpec = "go:parallelism=-1"

// Spec returns the backend specification in effect: flag (if non-empty), else
// $VISDEC_BACKEND, else DefaultSpec.
func Spec(flag string) string {
	if flag != "" {
		return flag
	}
	if s := os.Getenv(EnvVar); s != "" {
		return s
	}
	return DefaultSpec
}

var (
	mu      sync.Mutex
	created = map[string]compute.Backend{}
)

// New returns the backend for spec (see Spec), creating it once per process.
func New(spec string) (compute.Backend, error) {
	spec = Spec(spec)
	name, config, _ := strings.Cut(spec, ":")
	if name == "go" && !strings.Contains(config, "parallelism") {
		// Never the default pool: it deadlocks (gomlx-notes §3b).
		if config != "" {
			config += ","
		}
		config += "parallelism=-1"
	}
	mu.Lock()
	defer mu.Unlock()
	key := name + ":" + config
	if b, ok := created[key]; ok {
		return b, nil
	}
	var b compute.Backend
	var err error
	switch name {
	case "go":
		b, err = newGo(config)
	default:
		ctor, ok := extra[name]
		if !ok {
			return nil, fmt.Errorf("backend %q is not compiled in (have: %s); build with -tags %s", name, strings.Join(Available(), ", "), name)
		}
		b, err = ctor(config)
	}
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", spec, err)
	}
	created[key] = b
	return b, nil
}

// Default returns the default backend, panicking if it cannot be created
// (the pure-Go backend always can). Tests use it.
func Default() compute.Backend {
	b, err := New("")
	if err != nil {
		panic(err)
	}
	return b
}

// extra holds the backends compiled in by build tags.
var extra = map[string]func(config string) (compute.Backend, error){}

// Available lists the backends compiled into this binary.
func Available() []string {
	out := []string{"go"}
	for k := range extra {
		out = append(out, k)
	}
	return out
}

// newGo creates the pure-Go backend. compute v0.1.3's gobackend.New prints
// "Go backend: parallelism set to N" on os.Stdout with fmt.Printf when the
// config sets parallelism (always, here); visdec's stdout carries results
// only (bench prints exactly one JSON line), so the line is sent to stderr,
// where logs go. Backends are created once, under mu, before any command
// writes results.
func newGo(config string) (compute.Backend, error) {
	stdout := os.Stdout
	os.Stdout = os.Stderr
	defer func() { os.Stdout = stdout }()
	return gobackend.New(config)
}
