package evaluate

import (
	"fmt"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

// TestPILResizeGolden checks PILResizeBicubic byte for byte against Pillow
// 9.4's Image.resize(BICUBIC) (testdata/gen_pil.py): up- and down-scaling,
// one axis only, unequal factors.
func TestPILResizeGolden(t *testing.T) {
	g, err := npy.ReadNPZ("testdata/pil_golden.npz")
	if err != nil {
		t.Fatal(err)
	}
	count, _ := g["count"].Int64()
	for k := 0; k < int(count[0]); k++ {
		in, out := g[fmt.Sprintf("in%d", k)], g[fmt.Sprintf("out%d", k)]
		src, _ := in.Uint8()
		want, _ := out.Uint8()
		got := PILResizeBicubic(src, in.Shape[0], in.Shape[1], out.Shape[0], out.Shape[1])
		bad := 0
		for i := range want {
			if got[i] != want[i] {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("case %d: %v → %v: %d of %d bytes differ from PIL", k, in.Shape, out.Shape, bad, len(want))
		}
	}
}

func TestResizeShorterAndCrop(t *testing.T) {
	tests := []struct{ h, w, size, wantH, wantW, cropTop, cropLeft int }{
		{256, 256, 518, 518, 518, 0, 0},
		{256, 512, 518, 518, 1036, 0, 259},
		{300, 200, 518, 777, 518, 130, 0},
	}
	for _, tt := range tests {
		h, w := resizeShorter(tt.h, tt.w, tt.size)
		if h != tt.wantH || w != tt.wantW {
			t.Errorf("resizeShorter(%d, %d, %d) = %d, %d; want %d, %d", tt.h, tt.w, tt.size, h, w, tt.wantH, tt.wantW)
		}
		top, left := centerCropOffsets(h, w, tt.size, tt.size)
		if top != tt.cropTop || left != tt.cropLeft {
			t.Errorf("centerCropOffsets(%d, %d) = %d, %d; want %d, %d", h, w, top, left, tt.cropTop, tt.cropLeft)
		}
	}
}
