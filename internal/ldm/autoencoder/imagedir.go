package autoencoder

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif" // decoders for ReadImageDir
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/visdec/visdec/internal/data"
)

// ReadImageDir reads every PNG, JPEG and GIF file directly inside dir
// (sorted by name) as a training set of side×side RGB images: each is
// centre-cropped to a square and area-resized. It is for training an
// autoencoder on a folder of stimulus pictures; the result has no fMRI and
// no test split.
func ReadImageDir(dir string, side int) (*data.Dataset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".png", ".jpg", ".jpeg", ".gif":
			if !e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .png, .jpg or .gif images", dir)
	}
	ds := &data.Dataset{Name: "images in " + dir, Source: dir, Normalization: "none"}
	ds.Train.H, ds.Train.W = side, side
	for _, n := range names {
		path := filepath.Join(dir, n)
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		px, err := DecodeSquare(raw, side)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ds.Train.Images = append(ds.Train.Images, px...)
		ds.Train.StimulusID = append(ds.Train.StimulusID, strings.TrimSuffix(n, filepath.Ext(n)))
		ds.Train.N++
	}
	return ds, nil
}

// maxPixels bounds a decoded image (a 16k×16k picture), so a corrupt header
// cannot ask for gigabytes.
const maxPixels = 1 << 28

// DecodeSquare decodes one PNG, JPEG or GIF image, crops its centre square
// and resizes it to side×side RGB bytes (alpha is dropped).
func DecodeSquare(raw []byte, side int) ([]uint8, error) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPixels {
		return nil, fmt.Errorf("image of %d×%d pixels", cfg.Width, cfg.Height)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	s := min(b.Dx(), b.Dy())
	if s == 0 {
		return nil, fmt.Errorf("empty image")
	}
	x0, y0 := b.Min.X+(b.Dx()-s)/2, b.Min.Y+(b.Dy()-s)/2
	px := make([]uint8, s*s*3)
	for y := 0; y < s; y++ {
		for x := 0; x < s; x++ {
			r, g, bl, _ := img.At(x0+x, y0+y).RGBA()
			p := (y*s + x) * 3
			px[p], px[p+1], px[p+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
		}
	}
	return ResizeImages(px, 1, s, s, side)
}
