package fmrimae

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/visdec/visdec/internal/data"
)

func TestHoldout(t *testing.T) {
	for _, tc := range []struct {
		name              string
		subjects, perSubj int
		frac              float64
		wantVal           int
		wantSubjects      int
	}{
		{"whole-subjects", 8, 10, 0.25, 20, 2},
		{"closest-whole-count", 4, 10, 0.3, 10, 1},
		{"at-least-one-subject", 3, 10, 0.01, 10, 1},
		{"never-all-subjects", 2, 10, 0.9, 10, 1},
		{"rows-of-one-subject", 1, 40, 0.25, 10, 0},
		{"none", 3, 10, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Samples{V: 2}
			for sub := range tc.subjects {
				for i := range tc.perSubj {
					s.FMRI = append(s.FMRI, float32(sub), float32(i))
					s.Subject = append(s.Subject, fmt.Sprintf("s%d", sub))
				}
			}
			s.N = tc.subjects * tc.perSubj
			train, val, held, err := s.Holdout(tc.frac, 1)
			if err != nil {
				t.Fatal(err)
			}
			if val.N != tc.wantVal || len(held) != tc.wantSubjects || train.N+val.N != s.N {
				t.Fatalf("train %d, val %d, held subjects %v; want val %d from %d subjects", train.N, val.N, held, tc.wantVal, tc.wantSubjects)
			}
			inVal := map[string]bool{}
			for _, h := range held {
				inVal[h] = true
			}
			for i := range train.N {
				if inVal[train.Subject[i]] {
					t.Fatalf("held-out subject %s in training", train.Subject[i])
				}
			}
			again, _, _, _ := s.Holdout(tc.frac, 1)
			if fmt.Sprint(again.FMRI) != fmt.Sprint(train.FMRI) {
				t.Error("the holdout is not reproducible from its seed")
			}
		})
	}
	if _, _, _, err := (Samples{N: 2, V: 1, FMRI: []float32{1, 2}}).Holdout(1, 1); err == nil {
		t.Error("Holdout accepted fraction 1")
	}
}

func TestFromDatasets(t *testing.T) {
	mk := func(name string, n, v int) *data.Dataset {
		d := &data.Dataset{Name: name, Source: name + ".npz", Voxels: v}
		d.Train.N = n
		for i := range n * v {
			d.Train.FMRI = append(d.Train.FMRI, float32(i%v))
		}
		return d
	}
	s, err := FromDatasets(16, mk("a", 2, 32), mk("b", 3, 48))
	if err != nil {
		t.Fatal(err)
	}
	if s.N != 5 || s.V != 48 || s.Subject[0] != "a" || s.Subject[4] != "b" {
		t.Fatalf("N %d V %d subjects %v", s.N, s.V, s.Subject)
	}
	// Row 0 of "a" (0..31) wrap-padded to 48: 0..31 then 0..15.
	if row := s.Row(0); row[31] != 31 || row[32] != 0 || row[47] != 15 {
		t.Errorf("wrap padding: %v", row)
	}
	if _, err := FromDatasets(16, mk("c", 1, 40)); err == nil || !strings.Contains(err.Error(), "c.npz") {
		t.Errorf("40 voxels with patch 16: %v, want an error naming c.npz", err)
	}
	bad := mk("d", 1, 16)
	bad.Train.FMRI[3] = float32(math.NaN())
	if _, err := FromDatasets(16, bad); err == nil {
		t.Error("FromDatasets accepted NaN")
	}
}
