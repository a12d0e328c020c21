package simulate

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for image folders
	_ "image/png"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
)

// Source provides stimulus images grouped by category.
type Source interface {
	// Name describes the source for summaries.
	Name() string
	// Categories lists the category names.
	Categories() []string
	// Available is the number of distinct images of category c, or −1 when
	// there is no limit (procedural).
	Available(c int) int
	// Image returns image i of category c as [size, size, 3] RGB.
	Image(c, i, size int) ([]uint8, error)
	// Wnid returns a WordNet-style offset for category c (the GOD id's
	// integer part): real for folders named like ImageNet synsets
	// ("n01440764"), synthetic otherwise.
	Wnid(c int) int
	// Attributes returns the face and place flags of category c and a
	// structured category code (nil: the design draws a random one).
	Attributes(c int) (face, place bool, parts []int)
	// HeldOut reports whether image i of category c belongs to the source's
	// own test split (Fashion-MNIST's t10k); designs draw test images from
	// it when the categories cannot be novel.
	HeldOut(c, i int) bool
}

// syntheticWnid is the offset of the c-th synthetic category: unique,
// eight digits or fewer, and never colliding with a real synset's offset
// layout (they start at 1000000, below ImageNet's offsets, which are at
// least 1440764).
func syntheticWnid(c int) int { return 1000017 + 211*c }

// proceduralSource renders the fixed category table.
type proceduralSource struct {
	seed uint64
	cats []Category
}

// NewProceduralSource returns n procedural categories whose instances are
// drawn from seed.
func NewProceduralSource(seed uint64, n int) Source {
	return &proceduralSource{seed: seed, cats: ProceduralCategories(n)}
}

func (p *proceduralSource) Name() string { return "procedural" }
func (p *proceduralSource) Categories() []string {
	out := make([]string, len(p.cats))
	for i, c := range p.cats {
		out[i] = c.Name
	}
	return out
}
func (p *proceduralSource) Available(int) int { return -1 }
func (p *proceduralSource) Image(c, i, size int) ([]uint8, error) {
	return RenderProcedural(p.cats[c], NewInstance(p.seed, p.cats[c], i), size), nil
}
func (p *proceduralSource) Wnid(c int) int { return syntheticWnid(c) }
func (p *proceduralSource) Attributes(c int) (bool, bool, []int) {
	k := p.cats[c]
	return k.Face, k.Place, []int{k.Shape, k.Palette, k.Texture, k.Background}
}
func (p *proceduralSource) HeldOut(int, int) bool { return false }

// FashionMNISTDir is where Debian's dataset-fashion-mnist installs the IDX
// files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

var fashionNames = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// fashionSource serves Fashion-MNIST's 28×28 greyscale images, upsampled.
type fashionSource struct {
	dir   string
	byCat [][]fashionItem
}

type fashionItem struct {
	pixels []uint8 // 28×28
	test   bool
}

// NewFashionMNISTSource reads the four IDX files in dir
// ({train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
func NewFashionMNISTSource(dir string) (Source, error) {
	s := &fashionSource{dir: dir, byCat: make([][]fashionItem, len(fashionNames))}
	for _, split := range []string{"train", "t10k"} {
		imgPath := filepath.Join(dir, split+"-images-idx3-ubyte.gz")
		lblPath := filepath.Join(dir, split+"-labels-idx1-ubyte.gz")
		imgs, err := ReadIDXFile(imgPath)
		if err != nil {
			return nil, err
		}
		lbls, err := ReadIDXFile(lblPath)
		if err != nil {
			return nil, err
		}
		if len(imgs.Dims) != 3 || len(lbls.Dims) != 1 || imgs.Dims[0] != lbls.Dims[0] {
			return nil, fmt.Errorf("%s, %s: shapes %v and %v do not pair images with labels", imgPath, lblPath, imgs.Dims, lbls.Dims)
		}
		h, w := imgs.Dims[1], imgs.Dims[2]
		for i, l := range lbls.Data {
			if int(l) >= len(fashionNames) {
				return nil, fmt.Errorf("%s: label %d of item %d out of range 0..9", lblPath, l, i)
			}
			s.byCat[l] = append(s.byCat[l], fashionItem{pixels: imgs.Data[i*h*w : (i+1)*h*w], test: split == "t10k"})
		}
		if h != 28 || w != 28 {
			return nil, fmt.Errorf("%s: images are %d×%d, want 28×28", imgPath, h, w)
		}
	}
	return s, nil
}

func (f *fashionSource) Name() string         { return "fashion-mnist (" + f.dir + ")" }
func (f *fashionSource) Categories() []string { return append([]string(nil), fashionNames...) }
func (f *fashionSource) Available(c int) int  { return len(f.byCat[c]) }
func (f *fashionSource) Wnid(c int) int       { return syntheticWnid(c) }
func (f *fashionSource) Attributes(int) (bool, bool, []int) {
	return false, false, nil
}
func (f *fashionSource) HeldOut(c, i int) bool { return f.byCat[c][i].test }
func (f *fashionSource) Image(c, i, size int) ([]uint8, error) {
	g := image.NewGray(image.Rect(0, 0, 28, 28))
	copy(g.Pix, f.byCat[c][i].pixels)
	return resizeSquare(g, size), nil
}

// folderSource serves the PNG/JPEG images of a directory tree: each
// sub-folder is a category (images directly in the root form a category
// named after the root).
type folderSource struct {
	root  string
	names []string
	files [][]string
}

var wnidPattern = regexp.MustCompile(`^n(\d{8})$`)

// NewFolderSource lists the images under root.
func NewFolderSource(root string) (Source, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("stimuli folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("stimuli folder %s: not a directory", root)
	}
	byCat := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".png", ".jpg", ".jpeg":
		default:
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		cat := strings.SplitN(filepath.ToSlash(rel), "/", 2)[0]
		if cat == "." {
			cat = filepath.Base(root)
		}
		byCat[cat] = append(byCat[cat], path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stimuli folder %s: %w", root, err)
	}
	if len(byCat) == 0 {
		return nil, fmt.Errorf("stimuli folder %s: no .png or .jpg images found", root)
	}
	s := &folderSource{root: root}
	for name := range byCat {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	for _, name := range s.names {
		files := byCat[name]
		sort.Strings(files)
		s.files = append(s.files, files)
	}
	return s, nil
}

func (f *folderSource) Name() string         { return "folder " + f.root }
func (f *folderSource) Categories() []string { return append([]string(nil), f.names...) }
func (f *folderSource) Available(c int) int  { return len(f.files[c]) }
func (f *folderSource) HeldOut(int, int) bool {
	return false
}
func (f *folderSource) Attributes(int) (bool, bool, []int) { return false, false, nil }
func (f *folderSource) Wnid(c int) int {
	if m := wnidPattern.FindStringSubmatch(f.names[c]); m != nil {
		if v, err := strconv.Atoi(m[1]); err == nil {
			return v
		}
	}
	return syntheticWnid(c)
}
func (f *folderSource) Image(c, i, size int) ([]uint8, error) {
	path := f.files[c][i]
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return resizeSquare(img, size), nil
}

// resizeSquare centre-crops img to a square and scales it to size×size RGB.
func resizeSquare(img image.Image, size int) []uint8 {
	b := img.Bounds()
	side := min(b.Dx(), b.Dy())
	x0 := b.Min.X + (b.Dx()-side)/2
	y0 := b.Min.Y + (b.Dy()-side)/2
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, image.Rect(x0, y0, x0+side, y0+side), draw.Src, nil)
	out := make([]uint8, size*size*3)
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			c := color.RGBAModel.Convert(dst.At(x, y)).(color.RGBA)
			o := (y*size + x) * 3
			out[o], out[o+1], out[o+2] = c.R, c.G, c.B
		}
	}
	return out
}

// OpenSource resolves a --stimuli value: "procedural", "fashion-mnist",
// "fashion-mnist:DIR", or a directory of images. n is the number of
// procedural categories wanted.
func OpenSource(spec string, seed uint64, n int) (Source, error) {
	switch {
	case spec == "procedural":
		return NewProceduralSource(seed, n), nil
	case spec == "fashion-mnist":
		return NewFashionMNISTSource(FashionMNISTDir)
	case strings.HasPrefix(spec, "fashion-mnist:"):
		return NewFashionMNISTSource(strings.TrimPrefix(spec, "fashion-mnist:"))
	}
	return NewFolderSource(spec)
}
