package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/npy"
	"github.com/visdec/visdec/internal/rundir"
)

// Options adds context to a report.
type Options struct {
	// Title heads the page (default "visdec evaluation").
	Title string
	// Baseline and Ceiling, when set, fill the table's reference columns.
	Baseline, Ceiling *Comparison
	// Runs are run directories whose metrics.jsonl are plotted.
	Runs []string
	// Thumb is the largest side of the images inlined in report.html
	// (default 128 pixels; smaller images are shown enlarged); grid.png
	// beside it keeps the full resolution.
	Thumb int
}

// Files written by Write, relative to its directory.
const (
	MetricsJSON = "metrics.json"
	MetricsCSV  = "metrics.csv"
	ReportHTML  = "report.html"
	GridPNG     = "grid.png"
)

// Write writes metrics.json, metrics.csv, grid.png (every item's ground truth
// beside its samples, full resolution) and report.html (self-contained:
// images inlined as PNG data URIs, plots as inline SVG) into dir. s may be
// nil when only the metrics are wanted; then there is no grid.
func Write(dir string, r *evaluate.Results, s *evaluate.Samples, o Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := WriteJSON(filepath.Join(dir, MetricsJSON), r); err != nil {
		return err
	}
	if err := WriteCSV(filepath.Join(dir, MetricsCSV), r, o.Baseline, o.Ceiling); err != nil {
		return err
	}
	page, err := newPage(r, s, o)
	if err != nil {
		return err
	}
	if s != nil {
		if err := writeGrid(filepath.Join(dir, GridPNG), s); err != nil {
			return err
		}
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return npy.AtomicWrite(filepath.Join(dir, ReportHTML), func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
}

// writeGrid writes all items as rows: ground truth, then each sample.
func writeGrid(path string, s *evaluate.Samples) error {
	tiles := make([][]uint8, 0, s.N*(1+s.S))
	for i := 0; i < s.N; i++ {
		for k := 0; k <= s.S; k++ {
			tiles = append(tiles, s.Image(i, k))
		}
	}
	img, gh, gw := imageops.Grid(tiles, s.N, 1+s.S, s.H, s.W, 2)
	if err := imageops.WritePNG(path, img, gh, gw); err != nil {
		return fmt.Errorf("grid %s: %w", path, err)
	}
	return nil
}

// page is what the HTML template shows.
type page struct {
	Title      string
	R          *evaluate.Results
	Rows       []row
	HasBase    bool
	HasCeil    bool
	BaseName   string
	CeilName   string
	CILevel    string
	Items      []item
	SetNumbers []int
	Runs       []run
	Thumb      [2]int
}

type row struct {
	evaluate.Metric
	Value, CI, Chance, Base, Ceil string
}

type item struct {
	Index int
	Label string
	GT    template.URL
	Preds []template.URL
}

type run struct {
	Path  string
	Plots []template.HTML
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

func newPage(r *evaluate.Results, s *evaluate.Samples, o Options) (*page, error) {
	p := &page{Title: o.Title, R: r, CILevel: fmt.Sprintf("%.0f%%", 100*r.CILevel)}
	if p.Title == "" {
		p.Title = "visdec evaluation"
	}
	if o.Baseline != nil {
		p.HasBase, p.BaseName = true, o.Baseline.Name
	}
	if o.Ceiling != nil {
		p.HasCeil, p.CeilName = true, o.Ceiling.Name
	}
	for _, m := range r.Metrics {
		rw := row{Metric: m, Value: num(m.Value), CI: fmt.Sprintf("[%s, %s]", num(m.CILow), num(m.CIHigh)), Chance: num(m.Chance)}
		if o.Baseline != nil {
			if v, ok := o.Baseline.Values[m.Key]; ok {
				rw.Base = num(v)
			}
		}
		if o.Ceiling != nil {
			if v, ok := o.Ceiling.Values[m.Key]; ok {
				rw.Ceil = num(v)
			}
		}
		p.Rows = append(p.Rows, rw)
	}
	if s != nil {
		if err := p.addImages(r, s, o.Thumb); err != nil {
			return nil, err
		}
	}
	for _, dir := range o.Runs {
		rn, err := runPlots(dir)
		if err != nil {
			return nil, err
		}
		p.Runs = append(p.Runs, rn)
	}
	return p, nil
}

// addImages inlines every ground truth and sample as a thumbnail.
func (p *page) addImages(r *evaluate.Results, s *evaluate.Samples, thumb int) error {
	if thumb <= 0 {
		thumb = 128
	}
	th, tw := s.H, s.W
	if m := max(s.H, s.W); m > thumb {
		th, tw = max(1, s.H*thumb/m), max(1, s.W*thumb/m)
	}
	// Tiny images (tests, quick runs) are shown enlarged, pixelated.
	scale := max(1, 96/max(th, tw))
	p.Thumb = [2]int{tw * scale, th * scale}
	for k := 1; k <= s.S; k++ {
		p.SetNumbers = append(p.SetNumbers, k)
	}
	for i := 0; i < s.N; i++ {
		it := item{Index: i}
		if i < len(r.ClassNames) {
			it.Label = r.ClassNames[i]
		} else if i < len(r.PseudoLabels) {
			it.Label = "class " + strconv.Itoa(r.PseudoLabels[i])
		}
		for k := 0; k <= s.S; k++ {
			uri, err := dataURI(imageops.Resize(s.Image(i, k), s.H, s.W, th, tw), th, tw)
			if err != nil {
				return err
			}
			if k == 0 {
				it.GT = uri
			} else {
				it.Preds = append(it.Preds, uri)
			}
		}
		p.Items = append(p.Items, it)
	}
	return nil
}

// dataURI encodes an RGB image as a PNG data URI.
func dataURI(img []uint8, h, w int) (template.URL, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, imageops.ToRGBA(img, h, w)); err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), nil
}

// runPlots plots every numeric series of dir/metrics.jsonl against the
// epoch (or the line number when lines carry no "epoch").
func runPlots(dir string) (run, error) {
	lines, err := rundir.ReadMetrics(dir)
	if err != nil {
		return run{}, fmt.Errorf("training curves of run %s: %w", dir, err)
	}
	xLabel := "epoch"
	xs := make([]float64, len(lines))
	for i, l := range lines {
		xs[i] = float64(i + 1)
		if e, ok := l["epoch"].(float64); ok {
			xs[i] = e
		} else {
			xLabel = "line"
		}
	}
	keys := map[string]bool{}
	for _, l := range lines {
		for k, v := range l {
			if _, ok := v.(float64); ok && k != "epoch" {
				keys[k] = true
			}
		}
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	rn := run{Path: dir}
	for _, k := range names {
		ys := make([]float64, len(lines))
		for i, l := range lines {
			ys[i] = math.NaN()
			if v, ok := l[k].(float64); ok {
				ys[i] = v
			}
		}
		pl := Plot{Title: k, XLabel: xLabel, YLabel: k, Series: []Series{{Name: k, X: xs, Y: ys}}}
		rn.Plots = append(rn.Plots, template.HTML(pl.SVG()))
	}
	if len(rn.Plots) == 0 {
		return run{}, fmt.Errorf("training curves of run %s: metrics.jsonl has no numeric series", dir)
	}
	return rn, nil
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
#metrics td, #metrics th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
#metrics td.name, #metrics th.name, #metrics td.label { text-align: left; }
#metrics td.ref { text-align: left; font-family: monospace; font-size: 90%; color: #555; }
#grid td, #grid th { padding: 2px; text-align: center; font-size: 80%; }
#grid img { display: block; image-rendering: pixelated; }
#grid td.gt { background: #dfe9f5; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; }
.note { color: #555; font-size: 90%; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>Samples <code>{{.R.Samples}}</code>: {{.R.N}} test items, {{.R.Sets}} sample sets, {{.R.H}}×{{.R.W}} pixels.
Seed {{.R.Seed}}; confidence intervals: {{.CILevel}} percentile bootstrap over test items ({{.R.Bootstrap}} resamples).
{{if .R.Classifier}}Classifier: {{.R.Classifier}}; n-way: {{.R.NWay.Ways}}-way top-{{.R.NWay.TopK}}, {{.R.NWay.Trials}} trials per item.{{end}}</p>

<h2>Metrics</h2>
<table id="metrics">
<thead><tr><th class="name">metric</th><th class="name">label</th><th>value</th><th>{{.CILevel}} CI</th><th>chance</th>
{{- if .HasBase}}<th>baseline: {{.BaseName}}</th>{{end}}{{if .HasCeil}}<th>ceiling: {{.CeilName}}</th>{{end}}<th class="name">reference key</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr class="metric" data-key="{{.Key}}" title="{{.Note}}"><td class="name">{{.Name}}</td><td class="label">{{.Label}}</td><td>{{.Value}}</td><td>{{.CI}}</td><td>{{.Chance}}</td>
{{- if $.HasBase}}<td>{{.Base}}</td>{{end}}{{if $.HasCeil}}<td>{{.Ceil}}</td>{{end}}<td class="ref">{{.Reference}}</td></tr>
{{- end}}
</tbody>
</table>
{{if .R.Notes}}<ul class="note">{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<p class="note">Pair-wise identification: the fraction of other test items whose ground truth matches a reconstruction worse than its own (chance 0.5).
"literal" MSE is the reference's uint8 computation, which wraps modulo 256; "correct" is the float MSE.
"mean over sets" and "max over sets" aggregate the per-set values over the sample sets.</p>

{{if .Runs}}<h2>Training curves</h2>
{{range .Runs}}<h3><code>{{.Path}}</code></h3>
<div class="plots">{{range .Plots}}{{.}}{{end}}</div>
{{end}}{{end}}

{{if .Items}}<h2>Reconstructions</h2>
<p class="note">Each row: the ground truth (shaded), then every sample. Full resolution: <a href="grid.png">grid.png</a>.</p>
<table id="grid">
<thead><tr><th>item</th><th>ground truth</th>{{range .SetNumbers}}<th>sample {{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Items}}
<tr class="item"><td>{{.Index}}{{if .Label}}<br>{{.Label}}{{end}}</td><td class="gt"><img class="gt" src="{{.GT}}" width="{{index $.Thumb 0}}" height="{{index $.Thumb 1}}" alt="item {{.Index}} ground truth"></td>
{{- $i := .Index}}{{range $k, $p := .Preds}}<td><img class="sample" src="{{$p}}" width="{{index $.Thumb 0}}" height="{{index $.Thumb 1}}" alt="item {{$i}} sample {{$k}}"></td>{{end}}</tr>
{{- end}}
</tbody>
</table>{{end}}
<script>
// Record how many images decoded, so a headless browser's DOM dump shows it.
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute("data-images-total", imgs.length);
  document.body.setAttribute("data-images-loaded", ok);
});
</script>
</body>
</html>
`))
