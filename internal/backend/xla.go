//go:build xla

package backend

import (
	"github.com/gomlx/compute"
	xla "github.com/gomlx/go-xla/compute/xla"
)

// The XLA/PJRT backend needs cgo and a PJRT plugin given by absolute path, e.g.
// VISDEC_BACKEND=xla:/path/to/xla_cuda_plugin.so with GOMLX_NO_AUTO_INSTALL=1.
func init() {
	extra["xla"] = func(config string) (compute.Backend, error) { return xla.New(config) }
}
