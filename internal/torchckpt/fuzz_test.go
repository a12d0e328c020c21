package torchckpt

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the checkpoint reader: it must return
// an error or a checkpoint whose tensors can all be read, never panic.
// Seeds: the small checkpoints in testdata (zip, legacy, big-endian).
func FuzzOpen(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.pth")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.\x80\x02}q\x00.\x80\x02}q\x00.\x80\x02]q\x00."))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := OpenReader(bytes.NewReader(b), int64(len(b)), "fuzz.pth")
		if err != nil {
			return
		}
		_ = c.Keys()
		_ = c.List("")
		_, _ = c.Tensors("")
		_, _ = c.Config()
		_, _ = c.Optimizer()
		_, _ = c.Int("epoch")
	})
}
