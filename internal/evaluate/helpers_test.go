package evaluate

import (
	"os"

	"github.com/visdec/visdec/internal/npy"
)

func writeRaw(path, key string, data []uint8, shape ...int) error {
	return npy.WriteNPZFile(path, []npy.Named{{Name: key, Array: npy.FromUint8(data, shape...)}}, false)
}

func writeTwo(path string) error {
	a := npy.FromUint8(make([]uint8, 6), 6)
	return npy.WriteNPZFile(path, []npy.Named{{Name: "x", Array: a}, {Name: "y", Array: a}}, false)
}

func writeFile(path, text string) error { return os.WriteFile(path, []byte(text), 0o644) }
