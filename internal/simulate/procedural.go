package simulate

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// The procedural stimuli: coloured, textured objects on varied backgrounds.
// A category is a combination of a shape family, a colour palette, a surface
// texture and a background scheme, chosen so that any two categories differ in
// at least two of the four (a Hamming-distance-2 code). Images of one
// category vary in position, scale, pose, colour, texture phase and frequency,
// and background details. The category table is fixed (independent of the
// run's seed), so category 17 is the same kind of object in every simulation;
// the seed picks the instances and which categories are train and test.

var shapeNames = []string{
	"disc", "ellipse", "square", "bar", "triangle", "diamond", "pentagon", "hexagon",
	"star", "sun", "cross", "ring", "crescent", "arrow", "house", "chevron",
	"face", "flower", "ell", "bowtie",
}

// shapeFace is the face-like shape family, which FFA-like voxels prefer.
const shapeFace = 16

var textureNames = []string{"plain", "striped", "checkered", "dotted", "ringed", "shaded", "marbled"}

var backgroundNames = []string{"light", "dark", "sky", "landscape", "room", "city", "stripes", "foliage"}

// placeBackground reports whether background scheme b is scene-like, which
// PPA-like voxels prefer.
func placeBackground(b int) bool { return b == 3 || b == 4 || b == 5 }

type hsv struct{ h, s, v float64 }

type palette struct {
	name               string
	primary, secondary hsv
}

var palettes = []palette{
	{"red", hsv{0.00, 0.85, 0.85}, hsv{0.00, 0.10, 0.97}},
	{"orange", hsv{0.07, 0.90, 0.95}, hsv{0.06, 0.70, 0.35}},
	{"yellow", hsv{0.15, 0.85, 0.95}, hsv{0.00, 0.00, 0.10}},
	{"green", hsv{0.33, 0.75, 0.65}, hsv{0.22, 0.50, 0.95}},
	{"teal", hsv{0.48, 0.70, 0.70}, hsv{0.50, 0.05, 0.98}},
	{"blue", hsv{0.61, 0.80, 0.85}, hsv{0.63, 0.80, 0.30}},
	{"purple", hsv{0.78, 0.60, 0.70}, hsv{0.75, 0.25, 0.95}},
	{"pink", hsv{0.92, 0.50, 0.97}, hsv{0.88, 0.90, 0.55}},
	{"black", hsv{0.00, 0.00, 0.12}, hsv{0.00, 0.00, 0.60}},
	{"white", hsv{0.00, 0.00, 0.95}, hsv{0.98, 0.90, 0.70}},
}

// Category is one procedural object category.
type Category struct {
	Index      int
	Name       string // e.g. "red striped star on landscape"
	Shape      int    // index into the shape families
	Palette    int
	Texture    int
	Background int
	// Per-category constants that instances jitter around.
	Angle    float64 // object orientation, radians
	Scale    float64 // object radius as a fraction of the half-image
	TexFreq  float64 // texture cycles per object radius
	TexAngle float64 // texture orientation, radians
	BgHue    float64 // background hue (plain, stripes)
	Face     bool    // face-like (drives FFA-like voxels)
	Place    bool    // scene-like background (drives PPA-like voxels)
}

// ProceduralCategories returns the first n categories of the fixed table.
// Any two differ in at least two of shape, palette, texture and background
// while the code allows it (a few hundred categories), then in at least one.
func ProceduralCategories(n int) []Category {
	ns, np, nt, nb := len(shapeNames), len(palettes), len(textureNames), len(backgroundNames)
	total := ns * np * nt * nb
	if n > total {
		n = total
	}
	// A fixed stream (seed 0): the table is part of the simulator's definition.
	r := newRand(0, streamCategories)
	order := r.Perm(total)
	decode := func(k int) [4]int { return [4]int{k % ns, (k / ns) % np, (k / ns / np) % nt, k / ns / np / nt} }
	var chosen [][4]int
	used := make([]bool, total)
	for _, minDist := range []int{2, 1} {
		for _, k := range order {
			if len(chosen) == n {
				break
			}
			if used[k] {
				continue
			}
			a := decode(k)
			ok := true
			for _, b := range chosen {
				d := 0
				for i := range a {
					if a[i] != b[i] {
						d++
					}
				}
				if d < minDist {
					ok = false
					break
				}
			}
			if ok {
				used[k] = true
				chosen = append(chosen, a)
			}
		}
	}
	cats := make([]Category, len(chosen))
	for i, a := range chosen {
		cr := newRand(0, streamCategories, uint64(i)+1)
		c := Category{
			Index: i, Shape: a[0], Palette: a[1], Texture: a[2], Background: a[3],
			Angle:    uniform(cr, -0.5, 0.5),
			Scale:    uniform(cr, 0.42, 0.62),
			TexFreq:  uniform(cr, 1.6, 3.6),
			TexAngle: uniform(cr, 0, math.Pi),
			BgHue:    cr.Float64(),
			Face:     a[0] == shapeFace,
			Place:    placeBackground(a[3]),
		}
		if c.Face {
			c.Angle *= 0.3 // faces stay roughly upright
		}
		c.Name = fmt.Sprintf("%s %s %s on %s", palettes[c.Palette].name, textureNames[c.Texture], shapeNames[c.Shape], backgroundNames[c.Background])
		cats[i] = c
	}
	return cats
}

// Instance is the within-category variation of one image.
type Instance struct {
	CX, CY   float64 // object centre in [-1, 1] image coordinates (y up)
	Scale    float64 // object radius in half-image units
	Angle    float64 // radians
	HueShift float64
	ValShift float64
	TexPhase float64
	TexFreq  float64 // cycles per object radius
	TexAngle float64
	BgA, BgB float64 // background parameters in [0, 1) (horizon height, ...)
	BgHue    float64
	BgSeed   uint64 // background layout (city skyline, foliage phases)
}

// NewInstance draws the variation of image i of category c from its own stream.
func NewInstance(seed uint64, c Category, i int) Instance {
	r := newRand(seed, streamImage, uint64(c.Index), uint64(i))
	return Instance{
		CX:       0.16 * r.NormFloat64(),
		CY:       0.16 * r.NormFloat64(),
		Scale:    c.Scale * uniform(r, 0.82, 1.18),
		Angle:    c.Angle + 0.25*r.NormFloat64(),
		HueShift: 0.02 * r.NormFloat64(),
		ValShift: 0.06 * r.NormFloat64(),
		TexPhase: uniform(r, 0, 2*math.Pi),
		TexFreq:  c.TexFreq * uniform(r, 0.88, 1.12),
		TexAngle: c.TexAngle + 0.2*r.NormFloat64(),
		BgA:      r.Float64(),
		BgB:      r.Float64(),
		BgHue:    c.BgHue + 0.04*r.NormFloat64(),
		BgSeed:   r.Uint64(),
	}
}

// RenderProcedural draws one image of category c as [size, size, 3] RGB.
func RenderProcedural(c Category, in Instance, size int) []uint8 {
	out := make([]uint8, size*size*3)
	bg := newBackground(c, in)
	bg.prepare(size)
	pal := palettes[c.Palette]
	prim := hsvToRGB(jitter(pal.primary, in.HueShift, in.ValShift))
	sec := hsvToRGB(jitter(pal.secondary, in.HueShift, -in.ValShift))
	feat := [3]float64{sec[0] * 0.25, sec[1] * 0.25, sec[2] * 0.25}
	if pal.secondary.v < 0.4 || pal.primary.v < 0.3 {
		feat = [3]float64{0.95, 0.95, 0.9} // light features on dark faces
	}
	cosA, sinA := math.Cos(in.Angle), math.Sin(in.Angle)
	texDir := [2]float64{math.Cos(in.TexAngle), math.Sin(in.TexAngle)}
	pix := 2 / float64(size)       // one pixel in image units
	objPix := pix / in.Scale       // one pixel in object units
	reach := in.Scale*1.05 + 2*pix // bounding radius of every shape
	for y := 0; y < size; y++ {
		v := 1 - (float64(y)+0.5)*pix
		for x := 0; x < size; x++ {
			u := (float64(x)+0.5)*pix - 1
			col := bg.at(x, y, u, v)
			dx, dy := u-in.CX, v-in.CY
			if dx*dx+dy*dy < reach*reach {
				// Object coordinates: rotate by −angle, scale to unit radius.
				px := (cosA*dx + sinA*dy) / in.Scale
				py := (-sinA*dx + cosA*dy) / in.Scale
				d := shapeSDF(c.Shape, px, py)
				if a := clamp01(0.5 - d/objPix); a > 0 {
					t := texture(c.Texture, px, py, in.TexFreq, in.TexPhase, texDir)
					var oc [3]float64
					for k := range oc {
						oc[k] = prim[k]*(1-t) + sec[k]*t
					}
					if c.Shape == shapeFace {
						if fa := clamp01(0.5 - faceFeatureSDF(px, py)/objPix); fa > 0 {
							for k := range oc {
								oc[k] = oc[k]*(1-fa) + feat[k]*fa
							}
						}
					}
					for k := range col {
						col[k] = col[k]*(1-a) + oc[k]*a
					}
				}
			}
			o := (y*size + x) * 3
			out[o] = toByte(col[0])
			out[o+1] = toByte(col[1])
			out[o+2] = toByte(col[2])
		}
	}
	return out
}

func jitter(c hsv, dh, dv float64) hsv {
	c.h = math.Mod(c.h+dh+1, 1)
	c.v = math.Min(1, math.Max(0.03, c.v+dv))
	return c
}

func hsvToRGB(c hsv) [3]float64 {
	h := math.Mod(c.h, 1) * 6
	if h < 0 {
		h += 6
	}
	i := math.Floor(h)
	f := h - i
	p, q, t := c.v*(1-c.s), c.v*(1-c.s*f), c.v*(1-c.s*(1-f))
	switch int(i) % 6 {
	case 0:
		return [3]float64{c.v, t, p}
	case 1:
		return [3]float64{q, c.v, p}
	case 2:
		return [3]float64{p, c.v, t}
	case 3:
		return [3]float64{p, q, c.v}
	case 4:
		return [3]float64{t, p, c.v}
	default:
		return [3]float64{c.v, p, q}
	}
}

func clamp01(x float64) float64 {
	if x < 0 {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}

// hypot is √(x²+y²) without math.Hypot's overflow care, which the renderer
// does not need and which costs a third of its time.
func hypot(x, y float64) float64 { return math.Sqrt(x*x + y*y) }

func toByte(x float64) uint8 { return uint8(math.Round(255 * clamp01(x))) }

// soft turns a wave in [−1, 1] into a slightly blurred square wave in [0, 1].
func soft(s float64) float64 { return clamp01(0.5 + 2*s) }

// texture is the secondary-colour weight at object point (x, y).
func texture(kind int, x, y, freq, phase float64, dir [2]float64) float64 {
	along := x*dir[0] + y*dir[1]
	switch kind {
	case 1: // stripes
		return soft(math.Sin(2*math.Pi*freq*along + phase))
	case 2: // checks
		across := -x*dir[1] + y*dir[0]
		return soft(math.Sin(math.Pi*freq*along+phase) * math.Sin(math.Pi*freq*across))
	case 3: // dots on a lattice
		f := freq * 0.8
		gx := x*f + phase/(2*math.Pi)
		gy := y * f
		fx, fy := gx-math.Floor(gx)-0.5, gy-math.Floor(gy)-0.5
		return clamp01((0.3 - math.Sqrt(fx*fx+fy*fy)) * 12)
	case 4: // concentric rings
		return soft(math.Sin(2*math.Pi*freq*0.8*hypot(x, y) + phase))
	case 5: // shading across the object
		return clamp01(0.5 + 0.5*along)
	case 6: // marble
		across := -x*dir[1] + y*dir[0]
		return soft(0.8 * math.Sin(2*math.Pi*freq*0.6*along+2.2*math.Sin(3*across+phase)))
	}
	return 0.08 * (1 - y) // plain, with a little light from above
}

// Signed distances (negative inside) in object units, shapes within the unit disc.

func sdBox(x, y, cx, cy, hx, hy float64) float64 {
	dx, dy := math.Abs(x-cx)-hx, math.Abs(y-cy)-hy
	out := hypot(math.Max(dx, 0), math.Max(dy, 0))
	return out + math.Min(math.Max(dx, dy), 0)
}

func sdCircle(x, y, cx, cy, r float64) float64 { return hypot(x-cx, y-cy) - r }

// sdRegular is a regular n-gon of circumradius r with a flat bottom edge
// (rotated by extra radians).
func sdRegular(x, y float64, n int, r, extra float64) float64 {
	d := -math.MaxFloat64
	apothem := r * math.Cos(math.Pi/float64(n))
	for k := 0; k < n; k++ {
		a := -math.Pi/2 + 2*math.Pi*float64(k)/float64(n) + extra
		d = math.Max(d, x*math.Cos(a)+y*math.Sin(a)-apothem)
	}
	return d
}

// sdConvex is a convex polygon given counter-clockwise; exact inside and a
// lower bound on the distance outside, enough for antialiasing.
func sdConvex(x, y float64, pts ...[2]float64) float64 {
	d := -math.MaxFloat64
	for i := range pts {
		a, b := pts[i], pts[(i+1)%len(pts)]
		ex, ey := b[0]-a[0], b[1]-a[1]
		l := hypot(ex, ey)
		// Outward normal of a counter-clockwise edge is (ey, −ex).
		d = math.Max(d, ((x-a[0])*ey-(y-a[1])*ex)/l)
	}
	return d
}

func sdRadial(x, y, r float64) float64 { return (hypot(x, y) - r) * 0.7 }

func shapeSDF(shape int, x, y float64) float64 {
	switch shape {
	case 0: // disc
		return sdCircle(x, y, 0, 0, 0.92)
	case 1: // ellipse
		q := hypot(x, y/0.55)
		return (q - 0.98) * 0.55
	case 2: // square
		return sdBox(x, y, 0, 0, 0.7, 0.7)
	case 3: // bar
		return sdBox(x, y, 0, 0, 0.97, 0.3)
	case 4: // triangle
		return sdRegular(x, y+0.12, 3, 1.05, 0)
	case 5: // diamond
		return sdRegular(x, y, 4, 0.98, math.Pi/4)
	case 6: // pentagon
		return sdRegular(x, y, 5, 0.95, 0)
	case 7: // hexagon
		return sdRegular(x, y, 6, 0.95, 0)
	case 8, 9: // star and sun: a radius that zig-zags with the angle
		points, in := 5.0, 0.42
		if shape == 9 {
			points, in = 10, 0.68
		}
		a := math.Atan2(y, x)*points/(2*math.Pi) + 0.25
		tri := math.Abs(2*(a-math.Floor(a)) - 1) // 1 at the tips, 0 between
		return sdRadial(x, y, in+(0.98-in)*tri)
	case 10: // cross
		return math.Min(sdBox(x, y, 0, 0, 0.95, 0.28), sdBox(x, y, 0, 0, 0.28, 0.95))
	case 11: // ring
		return math.Abs(hypot(x, y)-0.68) - 0.26
	case 12: // crescent
		return math.Max(sdCircle(x, y, 0, 0, 0.95), -sdCircle(x, y, 0.42, 0.18, 0.78))
	case 13: // arrow pointing along +x
		shaft := sdBox(x, y, -0.35, 0, 0.6, 0.18)
		head := sdConvex(x, y, [2]float64{0.2, -0.6}, [2]float64{0.98, 0}, [2]float64{0.2, 0.6})
		return math.Min(shaft, head)
	case 14: // house
		body := sdBox(x, y, 0, -0.32, 0.58, 0.55)
		roof := sdConvex(x, y, [2]float64{-0.8, 0.2}, [2]float64{0.8, 0.2}, [2]float64{0, 0.92})
		return math.Min(body, roof)
	case 15: // chevron: a triangle with a bite out of its top
		outer := sdConvex(x, y, [2]float64{-0.95, 0.7}, [2]float64{0, -0.8}, [2]float64{0.95, 0.7})
		inner := sdConvex(x, y, [2]float64{-0.5, 0.75}, [2]float64{0, -0.12}, [2]float64{0.5, 0.75})
		return math.Max(outer, -inner)
	case shapeFace: // head outline; eyes and mouth are drawn on top
		q := hypot(x/0.8, y/0.97)
		return (q - 1) * 0.8
	case 17: // flower
		return sdRadial(x, y, 0.76+0.2*math.Sin(6*math.Atan2(y, x)))
	case 18: // L
		return math.Min(sdBox(x, y, -0.45, 0.05, 0.26, 0.9), sdBox(x, y, 0.05, -0.62, 0.76, 0.24))
	case 19: // bowtie
		l := sdConvex(x, y, [2]float64{-0.95, -0.7}, [2]float64{0.02, 0}, [2]float64{-0.95, 0.7})
		r := sdConvex(x, y, [2]float64{0.95, 0.7}, [2]float64{-0.02, 0}, [2]float64{0.95, -0.7})
		return math.Min(l, r)
	}
	return 1
}

// faceFeatureSDF draws two eyes and a smiling mouth inside the face outline.
func faceFeatureSDF(x, y float64) float64 {
	eyes := math.Min(sdCircle(x, y, -0.3, 0.25, 0.13), sdCircle(x, y, 0.3, 0.25, 0.13))
	mouthArc := math.Abs(hypot(x, y-0.1)-0.48) - 0.07
	mouth := math.Max(mouthArc, y+0.2) // lower part of the arc only
	nose := sdBox(x, y, 0, -0.02, 0.05, 0.12)
	return math.Min(math.Min(eyes, mouth), nose)
}

// background evaluates one background scheme.
type background struct {
	kind       int
	base, alt  [3]float64
	horizon    float64
	buildings  [][4]float64 // x0, x1, top, shade
	waves      [3][4]float64
	stripeFreq float64
	stripeDir  [2]float64
	// Separable tables for the periodic schemes: a wave sin(a·u + b·v + φ)
	// is sin(a·u)cos(b·v+φ) + cos(a·u)sin(b·v+φ), so each pixel costs two
	// multiplications instead of a sine.
	sinU, cosU, sinV, cosV [][]float64
}

// prepare fills the wave tables for a size×size render.
func (b *background) prepare(size int) {
	var waves [][4]float64
	switch b.kind {
	case 6:
		w := 2 * math.Pi * b.stripeFreq
		waves = [][4]float64{{b.stripeDir[0] * w, b.stripeDir[1] * w, 1, 0}}
	case 7:
		for _, w := range b.waves {
			waves = append(waves, [4]float64{w[0] * w[2], w[1] * w[2], 1, w[3]})
		}
	}
	pix := 2 / float64(size)
	for _, w := range waves {
		su, cu, sv, cv := make([]float64, size), make([]float64, size), make([]float64, size), make([]float64, size)
		for i := 0; i < size; i++ {
			u := (float64(i)+0.5)*pix - 1
			v := 1 - (float64(i)+0.5)*pix
			su[i], cu[i] = math.Sincos(w[0] * u)
			sv[i], cv[i] = math.Sincos(w[1]*v + w[3])
		}
		b.sinU, b.cosU, b.sinV, b.cosV = append(b.sinU, su), append(b.cosU, cu), append(b.sinV, sv), append(b.cosV, cv)
	}
}

// wave is the sum of the prepared waves at pixel (x, y).
func (b *background) wave(x, y int) float64 {
	s := 0.0
	for k := range b.sinU {
		s += b.sinU[k][x]*b.cosV[k][y] + b.cosU[k][x]*b.sinV[k][y]
	}
	return s
}

func newBackground(c Category, in Instance) *background {
	b := &background{kind: c.Background}
	r := rand.New(rand.NewPCG(in.BgSeed, 7))
	switch c.Background {
	case 0:
		b.base = hsvToRGB(hsv{in.BgHue, 0.18, 0.9 + 0.08*in.BgA})
	case 1:
		b.base = hsvToRGB(hsv{in.BgHue, 0.35, 0.14 + 0.1*in.BgA})
	case 2:
		b.base = hsvToRGB(hsv{0.58 + 0.03*in.BgB, 0.55, 0.85})
		b.alt = hsvToRGB(hsv{0.58, 0.08, 1})
	case 3:
		b.horizon = -0.25 + 0.45*in.BgA
		b.base = hsvToRGB(hsv{0.57, 0.45, 0.95})
		grounds := []hsv{{0.28, 0.55, 0.5}, {0.09, 0.45, 0.55}, {0.12, 0.3, 0.85}}
		b.alt = hsvToRGB(grounds[int(in.BgB*3)%3])
	case 4:
		b.horizon = -0.35 + 0.3*in.BgA
		b.base = hsvToRGB(hsv{in.BgHue, 0.15, 0.85})
		b.alt = hsvToRGB(hsv{0.08, 0.5, 0.45 + 0.2*in.BgB})
	case 5:
		b.base = hsvToRGB(hsv{0.6, 0.35, 0.9})
		x := -1.0
		for x < 1 {
			w := uniform(r, 0.12, 0.35)
			b.buildings = append(b.buildings, [4]float64{x, x + w, uniform(r, -0.4, 0.75), uniform(r, 0.25, 0.6)})
			x += w + uniform(r, 0, 0.06)
		}
	case 6:
		b.base = hsvToRGB(hsv{in.BgHue, 0.3, 0.85})
		b.alt = hsvToRGB(hsv{in.BgHue + 0.5, 0.3, 0.6})
		b.stripeFreq = 2 + 2*in.BgA
		a := math.Pi * in.BgB
		b.stripeDir = [2]float64{math.Cos(a), math.Sin(a)}
	case 7:
		b.base = hsvToRGB(hsv{0.25 + 0.1*in.BgA, 0.6, 0.45})
		b.alt = hsvToRGB(hsv{0.12, 0.5, 0.3})
		for i := range b.waves {
			a := uniform(r, 0, math.Pi)
			b.waves[i] = [4]float64{math.Cos(a), math.Sin(a), uniform(r, 5, 14), uniform(r, 0, 2*math.Pi)}
		}
	}
	return b
}

func mix3(a, b [3]float64, t float64) [3]float64 {
	return [3]float64{a[0]*(1-t) + b[0]*t, a[1]*(1-t) + b[1]*t, a[2]*(1-t) + b[2]*t}
}

func (b *background) at(x, y int, u, v float64) [3]float64 {
	switch b.kind {
	case 2: // sky: deeper blue at the top
		return mix3(b.base, b.alt, clamp01((1-v)/2))
	case 3: // landscape: sky over ground
		if v > b.horizon {
			return mix3(b.alt, b.base, clamp01((v-b.horizon)*3)*0.6+0.4)
		}
		shade := 0.8 + 0.2*clamp01((v+1)/(b.horizon+1))
		return [3]float64{b.alt[0] * shade, b.alt[1] * shade, b.alt[2] * shade}
	case 4: // room: floor below the horizon, side walls converging to it
		wall := math.Abs(u) > 0.55+0.45*(v-b.horizon)/(1-b.horizon)
		switch {
		case v < b.horizon:
			return b.alt
		case wall:
			return [3]float64{b.base[0] * 0.75, b.base[1] * 0.75, b.base[2] * 0.75}
		}
		return b.base
	case 5: // city skyline against the sky
		for _, bl := range b.buildings {
			if u >= bl[0] && u < bl[1] && v < bl[2] {
				// Windows: a light grid on the facade.
				wx, wy := (u-bl[0])*20, v*20
				if wx-math.Floor(wx) < 0.45 && wy-math.Floor(wy) < 0.45 {
					return [3]float64{0.9, 0.85, 0.55}
				}
				return [3]float64{bl[3], bl[3], bl[3] * 1.05}
			}
		}
		return b.base
	case 6:
		return mix3(b.base, b.alt, soft(b.wave(x, y)))
	case 7:
		return mix3(b.base, b.alt, clamp01(0.5+0.3*b.wave(x, y)))
	}
	return b.base
}
