package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/visdec/visdec/internal/evaluate"
	"github.com/visdec/visdec/internal/npy"
)

// Comparison holds the reference rows of the metric table: a baseline
// (e.g. the ridge regression's samples, evaluated alike) and a ceiling (e.g.
// the simulator's noise-free truth), each a value per metric key.
type Comparison struct {
	Name   string             // what it is, for the table header
	Source string             // the file it came from
	Values map[string]float64 // metric key → value
}

// FromResults makes a Comparison from another evaluation.
func FromResults(name string, r *evaluate.Results) *Comparison {
	c := &Comparison{Name: name, Source: r.Samples, Values: map[string]float64{}}
	for _, m := range r.Metrics {
		c.Values[m.Key] = m.Value
	}
	return c
}

// WriteJSON writes results as indented JSON (metrics.json), atomically.
func WriteJSON(path string, r *evaluate.Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("metrics %s: %w", path, err)
	}
	return npy.AtomicWrite(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// ReadResults reads a metrics.json written by WriteJSON.
func ReadResults(path string) (*evaluate.Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r evaluate.Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("metrics %s: %w", path, err)
	}
	if len(r.Metrics) == 0 {
		return nil, fmt.Errorf("metrics %s: no metrics", path)
	}
	return &r, nil
}

// ReadComparison reads reference values from a JSON file: either a
// metrics.json (its metric values are taken) or a flat object of metric key
// → number (as a ceiling file may be).
func ReadComparison(name, path string) (*Comparison, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var probe struct {
		Metrics json.RawMessage `json:"metrics"`
	}
	if json.Unmarshal(b, &probe) == nil && len(probe.Metrics) > 0 {
		r, err := ReadResults(path)
		if err != nil {
			return nil, err
		}
		c := FromResults(name, r)
		c.Source = path
		return c, nil
	}
	var flat map[string]any
	if err := json.Unmarshal(b, &flat); err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, path, err)
	}
	c := &Comparison{Name: name, Source: path, Values: map[string]float64{}}
	for k, v := range flat {
		if f, ok := v.(float64); ok {
			c.Values[k] = f
		}
	}
	if len(c.Values) == 0 {
		return nil, fmt.Errorf("%s %s: no numeric metric values", name, path)
	}
	return c, nil
}

// csvHeader is metrics.csv's first row.
var csvHeader = []string{"key", "metric", "label", "value", "ci_low", "ci_high", "ci_level", "chance", "per_set", "baseline", "ceiling", "reference"}

// WriteCSV writes one row per metric (metrics.csv), atomically. per_set is
// the sample sets' values joined by ";". Baseline and ceiling columns are
// empty where absent.
func WriteCSV(path string, r *evaluate.Results, baseline, ceiling *Comparison) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(csvHeader); err != nil {
		return err
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	ref := func(c *Comparison, key string) string {
		if c != nil {
			if v, ok := c.Values[key]; ok {
				return num(v)
			}
		}
		return ""
	}
	for _, m := range r.Metrics {
		var perSet bytes.Buffer
		for i, v := range m.PerSet {
			if i > 0 {
				perSet.WriteByte(';')
			}
			perSet.WriteString(num(v))
		}
		row := []string{m.Key, m.Name, m.Label, num(m.Value), num(m.CILow), num(m.CIHigh), num(r.CILevel), num(m.Chance),
			perSet.String(), ref(baseline, m.Key), ref(ceiling, m.Key), m.Reference}
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return npy.AtomicWrite(path, func(wr io.Writer) error { _, err := wr.Write(buf.Bytes()); return err })
}
