package evaluate

import (
	"fmt"
	"math"
	"testing"

	"github.com/visdec/visdec/internal/npy"
)

// TestPixelGolden compares SSIM, PCC and the literal MSE with values computed
// by skimage 0.19.3 and numpy (testdata/gen_golden.py) on odd sizes, flat
// and identical images and extremes.
func TestPixelGolden(t *testing.T) {
	g, err := npy.ReadNPZ("testdata/pixel_golden.npz")
	if err != nil {
		t.Fatal(err)
	}
	count, _ := g["count"].Int64()
	for k := 0; k < int(count[0]); k++ {
		a, _ := g[fmt.Sprintf("a%d", k)].Uint8()
		b, _ := g[fmt.Sprintf("b%d", k)].Uint8()
		sh := g[fmt.Sprintf("a%d", k)].Shape
		want := func(name string) float64 {
			v, _ := g[fmt.Sprintf("%s%d", name, k)].Float64()
			return v[0]
		}
		got, err := SSIM(a, b, sh[0], sh[1], sh[2], 255)
		if err != nil {
			t.Fatal(err)
		}
		if w := want("ssim"); math.Abs(got-w) > 1e-12 {
			t.Errorf("case %d %v: SSIM = %.17g, want %.17g", k, sh, got, w)
		}
		if got, w := PCC(a, b), want("pcc"); !(math.Abs(got-w) <= 1e-12 || math.IsNaN(got) && math.IsNaN(w)) {
			t.Errorf("case %d: PCC = %.17g, want %.17g", k, got, w)
		}
		if got, w := MSELiteral(a, b), want("mse_uint8"); got != w {
			t.Errorf("case %d: MSELiteral = %.17g, want %.17g", k, got, w)
		}
	}
}

func TestSSIMTooSmall(t *testing.T) {
	img := make([]uint8, 6*6*3)
	if _, err := SSIM(img, img, 6, 6, 3, 255); err == nil {
		t.Error("SSIM on 6×6 images: no error, want one (window is 7×7)")
	}
}

func TestReflectIndex(t *testing.T) {
	// scipy "reflect" on [a b c]: ... c b a | a b c | c b a | a b c ...
	tests := []struct{ k, n, want int }{
		{-1, 3, 0}, {-2, 3, 1}, {-3, 3, 2}, {-4, 3, 2}, {3, 3, 2}, {4, 3, 1}, {5, 3, 0}, {6, 3, 0}, {7, 3, 1}, {-5, 1, 0},
	}
	for _, tt := range tests {
		if got := reflectIndex(tt.k, tt.n); got != tt.want {
			t.Errorf("reflectIndex(%d, %d) = %d, want %d", tt.k, tt.n, got, tt.want)
		}
	}
}

func TestMSE(t *testing.T) {
	tests := []struct {
		a, b         []uint8
		literal, mse float64
	}{
		// 0−1 wraps to 255, 255² mod 256 = 1; 10−0 = 10, 100.
		{[]uint8{0, 10}, []uint8{1, 0}, (1 + 100) / 2.0, (1 + 100) / 2.0},
		// 0−16 wraps to 240, 240² = 57600 ≡ 0 (mod 256); the true error is 256.
		{[]uint8{0}, []uint8{16}, 0, 256},
		{[]uint8{200, 3}, []uint8{100, 3}, float64((100*100)%256) / 2, 5000},
	}
	for _, tt := range tests {
		if got := MSELiteral(tt.a, tt.b); got != tt.literal {
			t.Errorf("MSELiteral(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.literal)
		}
		if got := MSE(tt.a, tt.b); got != tt.mse {
			t.Errorf("MSE(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.mse)
		}
	}
}
