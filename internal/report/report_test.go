package report

import (
	"context"
	"encoding/csv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/rundir"
)

// testSamples makes n items of sets noisy copies of random 16×16 images.
func testSamples(t testing.TB, n, sets int) *evaluate.Samples {
	t.Helper()
	const h, w = 16, 16
	rng := rand.New(rand.NewPCG(1, 1))
	var data []uint8
	for i := 0; i < n; i++ {
		gt := make([]uint8, h*w*3)
		for k := range gt {
			gt[k] = uint8(rng.IntN(256))
		}
		data = append(data, gt...)
		for s := 0; s < sets; s++ {
			for _, v := range gt {
				data = append(data, uint8(min(int(v)+rng.IntN(60), 255)))
			}
		}
	}
	s, err := evaluate.NewSamples(data, n, sets, h, w)
	if err != nil {
		t.Fatal(err)
	}
	s.Source = "test.npz"
	return s
}

func testResults(t testing.TB, s *evaluate.Samples) *evaluate.Results {
	t.Helper()
	o := evaluate.DefaultOptions()
	o.Bootstrap, o.IdentifyTrials = 50, 50
	r, err := evaluate.Evaluate(context.Background(), s, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// writeRun makes a run directory with a metrics.jsonl of a few epochs.
func writeRun(t testing.TB, dir string) string {
	t.Helper()
	rd, err := rundir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for e := 1; e <= 5; e++ {
		if err := rd.AppendMetrics(map[string]any{"epoch": e, "loss": 1 / float64(e), "lr": 1e-4 * float64(e), "stage": "x"}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestWrite writes every file and checks their contents: metrics.json reads
// back equal, metrics.csv has a row per metric with baseline and ceiling
// columns, report.html holds the table, the images and one plot per
// numeric series.
func TestWrite(t *testing.T) {
	s := testSamples(t, 4, 2)
	r := testResults(t, s)
	dir := t.TempDir()
	base := &Comparison{Name: "ridge", Values: map[string]float64{"pairwise_pcc": 0.61}}
	ceil := &Comparison{Name: "truth", Values: map[string]float64{"pairwise_pcc": 0.99}}
	run := writeRun(t, filepath.Join(dir, "run1"))
	if err := Write(filepath.Join(dir, "out"), r, s, Options{Baseline: base, Ceiling: ceil, Runs: []string{run}}); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResults(filepath.Join(dir, "out", MetricsJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Metrics) != len(r.Metrics) || back.Metrics[0].Value != r.Metrics[0].Value || back.Metrics[0].Label != r.Metrics[0].Label {
		t.Errorf("metrics.json round trip: %d metrics, first %+v; want %d, %+v", len(back.Metrics), back.Metrics[0], len(r.Metrics), r.Metrics[0])
	}

	f, err := os.Open(filepath.Join(dir, "out", MetricsCSV))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(r.Metrics) {
		t.Fatalf("metrics.csv has %d rows, want %d", len(rows), 1+len(r.Metrics))
	}
	for _, row := range rows[1:] {
		if row[0] == "pairwise_pcc" && (row[9] != "0.61" || row[10] != "0.99") {
			t.Errorf("pairwise_pcc baseline, ceiling = %q, %q; want 0.61, 0.99", row[9], row[10])
		}
		if row[0] == "pairwise_mse_literal" && row[2] != "literal" {
			t.Errorf("pairwise_mse_literal label %q, want literal", row[2])
		}
	}

	b, err := os.ReadFile(filepath.Join(dir, "out", ReportHTML))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	counts := map[string]int{
		`<tr class="metric"`:             len(r.Metrics),
		`<img class="gt"`:                s.N,
		`<img class="sample"`:            s.N * s.S,
		`src="data:image/png;base64,`:    s.N * (1 + s.S),
		`<svg class="plot"`:              2, // loss and lr; "stage" is not numeric
		`<th>baseline: ridge</th>`:       1,
		`<th>ceiling: truth</th>`:        1,
		`<td class="ref">summary/pair-w`: 3, // mse, pcc, ssim (no LPIPS weights)
	}
	for sub, want := range counts {
		if got := strings.Count(page, sub); got != want {
			t.Errorf("report.html has %d × %q, want %d", got, sub, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", GridPNG)); err != nil {
		t.Error(err)
	}
}

func TestWriteBadRun(t *testing.T) {
	s := testSamples(t, 3, 1)
	err := Write(t.TempDir(), testResults(t, s), s, Options{Runs: []string{"/nonexistent/run"}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/run") {
		t.Errorf("Write with a missing run = %v, want an error naming it", err)
	}
}

func TestReadComparison(t *testing.T) {
	dir := t.TempDir()
	flat := filepath.Join(dir, "ceiling.json")
	if err := os.WriteFile(flat, []byte(`{"pairwise_pcc": 0.9, "top1_class": 0.5, "subject": "sbj_1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadComparison("ceiling", flat)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Values) != 2 || c.Values["top1_class"] != 0.5 {
		t.Errorf("flat ceiling values %v, want pairwise_pcc and top1_class", c.Values)
	}
	s := testSamples(t, 3, 1)
	r := testResults(t, s)
	mj := filepath.Join(dir, "metrics.json")
	if err := WriteJSON(mj, r); err != nil {
		t.Fatal(err)
	}
	c, err = ReadComparison("baseline", mj)
	if err != nil {
		t.Fatal(err)
	}
	if c.Values["pairwise_mse"] != r.Metric("pairwise_mse").Value {
		t.Errorf("baseline from metrics.json: pairwise_mse %v, want %v", c.Values["pairwise_mse"], r.Metric("pairwise_mse").Value)
	}
	for name, text := range map[string]string{"empty": `{}`, "array": `[1,2]`, "strings": `{"a": "b"}`, "broken": `{"metrics": [`} {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadComparison("x", p); err == nil {
			t.Errorf("ReadComparison(%s) succeeded, want an error", text)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi      float64
		first, last float64
	}{
		{0, 1, 0, 1},
		{0.13, 0.87, 0, 1},
		{1, 140, 0, 150},
		{-3, 7, -4, 8},
		{5, 5, 4, 6},
	}
	for _, tt := range tests {
		ticks := niceTicks(tt.lo, tt.hi, 5)
		if ticks[0] > tt.lo || ticks[len(ticks)-1] < tt.hi || ticks[0] < tt.first-1e-9 || ticks[len(ticks)-1] > tt.last+1e-9 {
			t.Errorf("niceTicks(%v, %v) = %v, want to span it within [%v, %v]", tt.lo, tt.hi, ticks, tt.first, tt.last)
		}
	}
}

func TestPlotSVG(t *testing.T) {
	nan := func() float64 { z := 0.0; return z / z }()
	svg := Plot{Title: "loss <1>", Series: []Series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{3, nan, 1}}, {Name: "b", X: []float64{1}, Y: []float64{2}}}}.SVG()
	if !strings.Contains(svg, "loss &lt;1&gt;") || strings.Count(svg, "<polyline") != 1 || strings.Count(svg, "<circle") != 1 {
		t.Errorf("SVG: want an escaped title, one polyline (NaN skipped) and one point:\n%s", svg)
	}
	if empty := (Plot{Title: "e", Series: []Series{{X: []float64{1}, Y: []float64{nan}}}}).SVG(); !strings.Contains(empty, "no finite values") {
		t.Errorf("SVG of only NaN: %s", empty)
	}
}
