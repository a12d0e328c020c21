package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// A small SVG line plotter, so the report needs no plotting dependency and
// stays one self-contained file.

// Series is one line of a plot.
type Series struct {
	Name string
	X, Y []float64
}

// Plot is a line plot of one or more series.
type Plot struct {
	Title, XLabel, YLabel string
	Series                []Series
	Width, Height         int // pixels (default 360×220)
}

// palette holds distinguishable line colours (Tableau 10).
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// SVG renders the plot as an inline <svg> element. Non-finite points are
// skipped; a plot without finite points says so.
func (p Plot) SVG() string {
	w, h := p.Width, p.Height
	if w == 0 {
		w = 360
	}
	if h == 0 {
		h = 220
	}
	const left, right, top, bottom = 56, 12, 24, 40
	pw, ph := float64(w-left-right), float64(h-top-bottom)

	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) {
				xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
				ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		w, h, w, h, html.EscapeString(p.Title))
	fmt.Fprintf(&b, `<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>`, left, html.EscapeString(p.Title))
	if math.IsInf(xmin, 1) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12">no finite values</text></svg>`, left, top+int(ph/2))
		return b.String()
	}
	xt := niceTicks(xmin, xmax, 5)
	yt := niceTicks(ymin, ymax, 5)
	xmin, xmax = math.Min(xmin, xt[0]), math.Max(xmax, xt[len(xt)-1])
	ymin, ymax = math.Min(ymin, yt[0]), math.Max(ymax, yt[len(yt)-1])
	sx := func(x float64) float64 { return float64(left) + pw*frac(x, xmin, xmax) }
	sy := func(y float64) float64 { return float64(top) + ph*(1-frac(y, ymin, ymax)) }

	// Grid, ticks and axes.
	for _, t := range yt {
		y := sy(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>`, left-4, y+3, tickLabel(t))
	}
	for _, t := range xt {
		x := sx(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`, x, top, x, h-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>`, x, h-bottom+13, tickLabel(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%s</text>`, float64(left)+pw/2, h-6, html.EscapeString(p.XLabel))
	fmt.Fprintf(&b, `<text x="12" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 12 %.1f)">%s</text>`,
		float64(top)+ph/2, float64(top)+ph/2, html.EscapeString(p.YLabel))

	for k, s := range p.Series {
		col := palette[k%len(palette)]
		var pts []string
		for i := range s.X {
			if finite(s.X[i]) && finite(s.Y[i]) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(s.X[i]), sy(s.Y[i])))
			}
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`, strings.Split(pts[0], ",")[0], strings.Split(pts[0], ",")[1], col)
		} else if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline class="series" fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, col, strings.Join(pts, " "))
		}
		if len(p.Series) > 1 {
			fmt.Fprintf(&b, `<text x="%.0f" y="%d" font-size="10" fill="%s" text-anchor="end">%s</text>`,
				float64(w-right-4), top+12+12*k, col, html.EscapeString(s.Name))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// frac maps v in [lo, hi] to [0, 1] (0.5 for an empty range).
func frac(v, lo, hi float64) float64 {
	if hi <= lo {
		return 0.5
	}
	return (v - lo) / (hi - lo)
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		d := math.Max(math.Abs(lo)*0.1, 1e-9)
		lo, hi = lo-d, hi+d
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for t := start; t <= hi+step*1e-9; t += step {
		ticks = append(ticks, math.Round(t/step)*step)
	}
	if ticks[len(ticks)-1] < hi {
		ticks = append(ticks, ticks[len(ticks)-1]+step)
	}
	return ticks
}

// tickLabel formats a tick value compactly.
func tickLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	if a >= 1e5 || a < 1e-3 {
		return strconv.FormatFloat(v, 'e', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
