// Package imageops holds the few image operations the pipeline shares, on
// packed RGB uint8 images ([H, W, 3], row-major): resizing, PNG output and
// grids. Every stage resizes stimuli with Resize so that ground truths,
// baselines and reconstructions are compared at identical pixels.
package imageops

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"

	"golang.org/x/image/draw"

	"github.com/visdec/visdec/internal/npy"
)

// Resize scales an RGB image [h, w, 3] to [nh, nw, 3]. Integer downscaling
// factors use an exact box (area) average, rounded to nearest; anything else
// uses Catmull-Rom (bicubic-like, antialiased when shrinking).
func Resize(img []uint8, h, w, nh, nw int) []uint8 {
	if h == nh && w == nw {
		return append([]uint8(nil), img...)
	}
	if h%nh == 0 && w%nw == 0 {
		fy, fx := h/nh, w/nw
		out := make([]uint8, nh*nw*3)
		area := fy * fx
		for y := 0; y < nh; y++ {
			for x := 0; x < nw; x++ {
				var s [3]int
				for dy := 0; dy < fy; dy++ {
					row := ((y*fy+dy)*w + x*fx) * 3
					for dx := 0; dx < fx; dx++ {
						s[0] += int(img[row+3*dx])
						s[1] += int(img[row+3*dx+1])
						s[2] += int(img[row+3*dx+2])
					}
				}
				for c := 0; c < 3; c++ {
					out[(y*nw+x)*3+c] = uint8((s[c] + area/2) / area)
				}
			}
		}
		return out
	}
	src := ToRGBA(img, h, w)
	dst := image.NewRGBA(image.Rect(0, 0, nw, nh))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	return FromRGBA(dst)
}

// ResizeAll resizes n packed images [n, h, w, 3].
func ResizeAll(imgs []uint8, n, h, w, nh, nw int) []uint8 {
	out := make([]uint8, 0, n*nh*nw*3)
	for i := 0; i < n; i++ {
		out = append(out, Resize(imgs[i*h*w*3:(i+1)*h*w*3], h, w, nh, nw)...)
	}
	return out
}

// ToRGBA wraps a packed RGB image as an *image.RGBA.
func ToRGBA(img []uint8, h, w int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h*w; i++ {
		m.Pix[4*i], m.Pix[4*i+1], m.Pix[4*i+2], m.Pix[4*i+3] = img[3*i], img[3*i+1], img[3*i+2], 255
	}
	return m
}

// FromRGBA packs an *image.RGBA (alpha ignored) as RGB bytes.
func FromRGBA(m *image.RGBA) []uint8 {
	b := m.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := m.RGBAAt(x, y)
			out = append(out, c.R, c.G, c.B)
		}
	}
	return out
}

// FromImage converts any image to packed RGB.
func FromImage(m image.Image) (img []uint8, h, w int) {
	b := m.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), m, b.Min, draw.Src)
	return FromRGBA(rgba), b.Dy(), b.Dx()
}

// WritePNG writes a packed RGB image as a PNG file (atomically).
func WritePNG(path string, img []uint8, h, w int) error {
	return npy.AtomicWrite(path, func(wr io.Writer) error { return png.Encode(wr, ToRGBA(img, h, w)) })
}

// ReadPNG reads a PNG (or any registered format) file as packed RGB.
func ReadPNG(path string) (img []uint8, h, w int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	m, _, err := image.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	img, h, w = FromImage(m)
	return img, h, w, nil
}

// Grid lays out rows×cols tiles of size h×w (packed RGB, row-major order of
// tiles; a nil tile is left grey) with a gap of pad pixels.
func Grid(tiles [][]uint8, rows, cols, h, w, pad int) (img []uint8, gh, gw int) {
	gh, gw = rows*h+(rows+1)*pad, cols*w+(cols+1)*pad
	m := image.NewRGBA(image.Rect(0, 0, gw, gh))
	draw.Draw(m, m.Bounds(), &image.Uniform{color.RGBA{40, 40, 40, 255}}, image.Point{}, draw.Src)
	for i, t := range tiles {
		if t == nil || i >= rows*cols {
			continue
		}
		r, c := i/cols, i%cols
		x0, y0 := pad+c*(w+pad), pad+r*(h+pad)
		draw.Draw(m, image.Rect(x0, y0, x0+w, y0+h), ToRGBA(t, h, w), image.Point{}, draw.Src)
	}
	return FromRGBA(m), gh, gw
}
