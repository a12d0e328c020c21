package data

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ImageNetClass is one entry of imagenet_class_index.json: the WordNet ids
// it covers and its description.
type ImageNetClass struct {
	Key   string
	WNIDs []string
	// Offsets are the WNIDs without their leading "n", as integers
	// (vis_dec code/dataset.py:207-212: int(n[1:])).
	Offsets []int
	Name    string
}

// ReadClassIndex reads an imagenet_class_index.json file
// ({key: [wnid_1, …, wnid_k, description]}, Keras format) keeping the
// file's key order, which is what the reference's class index c counts.
func ReadClassIndex(path string) ([]ImageNetClass, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cls, err := ParseClassIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cls, nil
}

// ParseClassIndex parses the content of imagenet_class_index.json.
func ParseClassIndex(b []byte) ([]ImageNetClass, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("want a JSON object {key: [wnid, …, description]}")
	}
	var out []ImageNetClass
	seen := map[string]bool{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("bad JSON: %w", err)
		}
		key, _ := kt.(string)
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		var v []string
		if err := dec.Decode(&v); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("key %q: want a list of strings [wnid, …, description]: %w", key, err)
			}
			return nil, fmt.Errorf("bad JSON at key %q: %w", key, err)
		}
		if len(v) < 2 {
			return nil, fmt.Errorf("key %q: want at least one wnid and a description, got %d strings", key, len(v))
		}
		c := ImageNetClass{Key: key, WNIDs: v[:len(v)-1], Name: v[len(v)-1]}
		for _, w := range c.WNIDs {
			if len(w) < 2 {
				return nil, fmt.Errorf("key %q: bad wnid %q (want n<digits>)", key, w)
			}
			n, err := strconv.Atoi(w[1:])
			if err != nil {
				return nil, fmt.Errorf("key %q: bad wnid %q (want n<digits>)", key, w)
			}
			c.Offsets = append(c.Offsets, n)
		}
		out = append(out, c)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("no classes")
	}
	return out, nil
}

// ReadLabelCSV reads a GOD label CSV (imagenet_training_label.csv or
// imagenet_testing_label.csv) and returns the first column of every row: the
// stimulus id, kept as a string (e.g. "1518878.005958").
func ReadLabelCSV(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ids, err := ParseLabelCSV(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids, nil
}

// ParseLabelCSV parses the content of a GOD label CSV (see ReadLabelCSV).
// Every row's first field must start with an integer WordNet offset before
// an optional '.', as the reference's int(row[0].split('.')[0]) requires.
func ParseLabelCSV(b []byte) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	var ids []string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("bad CSV: %w", err)
		}
		row := len(ids) + 1
		if len(rec) == 0 || strings.TrimSpace(rec[0]) == "" {
			return nil, fmt.Errorf("row %d: empty first field", row)
		}
		id := strings.TrimSpace(rec[0])
		if _, err := StimulusOffset(id); err != nil {
			return nil, fmt.Errorf("row %d: %w", row, err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errors.New("no rows")
	}
	return ids, nil
}

// StimulusOffset is the WordNet offset of a GOD stimulus id: the integer
// part before the first '.' ("1518878.005958" → 1518878).
func StimulusOffset(id string) (int, error) {
	head, _, _ := strings.Cut(id, ".")
	n, err := strconv.Atoi(strings.TrimSpace(head))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("stimulus id %q does not start with a WordNet offset", id)
	}
	return n, nil
}

// ImageLabel is what the reference's get_img_label gives each stimulus.
type ImageLabel struct {
	// Class is the index (in file order) of the first class whose wnids
	// contain the stimulus' offset.
	Class int
	// Name is that class's description.
	Name string
	// Naive is the order of first appearance of the offset, counted over
	// the training CSV and then the test CSV (train 0..149, test 150..199).
	Naive int
}

// LabelIndex assigns ImageLabels as the reference does (vis_dec
// code/dataset.py:203-230), keeping the naive-label order across calls.
type LabelIndex struct {
	byOffset map[int]int // offset → class index (first match)
	classes  []ImageNetClass
	naive    map[int]int
}

// NewLabelIndex prepares label lookups over classes.
func NewLabelIndex(classes []ImageNetClass) *LabelIndex {
	li := &LabelIndex{byOffset: map[int]int{}, classes: classes, naive: map[int]int{}}
	for c, cl := range classes {
		for _, o := range cl.Offsets {
			if _, dup := li.byOffset[o]; !dup {
				li.byOffset[o] = c
			}
		}
	}
	return li
}

// Labels labels the stimulus ids read from csvPath. An offset the class
// index lacks is an error naming the file and row.
//
// Differs from the reference on purpose (cad-spec §6 item 6): there a
// missing offset appends no label, so every later label silently shifts.
func (li *LabelIndex) Labels(csvPath string, ids []string) ([]ImageLabel, error) {
	out := make([]ImageLabel, len(ids))
	for i, id := range ids {
		off, err := StimulusOffset(id)
		if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", csvPath, i+1, err)
		}
		if _, ok := li.naive[off]; !ok {
			li.naive[off] = len(li.naive)
		}
		c, ok := li.byOffset[off]
		if !ok {
			return nil, fmt.Errorf("%s: row %d: WordNet offset n%08d (stimulus %s) is not in imagenet_class_index.json; "+
				"the reference would silently shift every later label", csvPath, i+1, off, id)
		}
		out[i] = ImageLabel{Class: c, Name: li.classes[c].Name, Naive: li.naive[off]}
	}
	return out, nil
}
