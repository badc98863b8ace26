package drift

import (
	"math"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	in := "a,b,c,label,pred\n1,x,7,0,0.1\n2,,8,1,0.9\nNA,y,,0,0.2\n"
	s, err := ReadCSV(strings.NewReader(in), CSVOptions{Ignore: []string{"label"}, Prediction: "pred", Categorical: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Columns) != 3 || s.Prediction == nil {
		t.Fatalf("got %+v", s)
	}
	a, b, c := s.Columns[0], s.Columns[1], s.Columns[2]
	if a.Kind != Numeric || a.Num[1] != 2 || !math.IsNaN(a.Num[2]) {
		t.Errorf("a: %+v", a)
	}
	if b.Kind != Categorical || b.Cat[0] != "x" || b.Cat[1] != "" {
		t.Errorf("b: %+v", b)
	}
	if c.Kind != Categorical || c.Cat != nil || c.Num[0] != 7 || !math.IsNaN(c.Num[2]) {
		t.Errorf("c (numeric codes as categories): %+v", c)
	}
	if s.Prediction.Num[1] != 0.9 {
		t.Errorf("prediction: %+v", s.Prediction)
	}
	if _, err := BuildBaseline(s, BaselineOptions{}); err != nil {
		t.Errorf("baseline of a read sample: %v", err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     CSVOptions
		want     string
	}{
		{"empty", "", CSVOptions{}, "empty file"},
		{"header only", "a,b\n", CSVOptions{}, "no data rows"},
		{"duplicate column", "a,a\n1,2\n", CSVOptions{}, "duplicate name \"a\""},
		{"empty name", "a,\n1,2\n", CSVOptions{}, "column 2: empty name"},
		{"ragged", "a,b\n1,2\n3\n", CSVOptions{}, "wrong number of fields"},
		{"missing feature", "a,b\n1,2\n", CSVOptions{Columns: []string{"z"}}, "feature column \"z\""},
		{"missing prediction", "a,b\n1,2\n", CSVOptions{Prediction: "p"}, "prediction column \"p\""},
		{"too many rows", "a\n1\n2\n3\n", CSVOptions{MaxRows: 2}, "more than 2 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("a,b\n1,x\n2,y\n", "b")
	f.Add("a,b,c\n1,,3\nNaN,2,inf\n", "")
	f.Add("x\n\"1\n", "x")
	f.Fuzz(func(t *testing.T, in, cat string) {
		s, err := ReadCSV(strings.NewReader(in), CSVOptions{Categorical: []string{cat}, MaxRows: 1000})
		if err != nil {
			return
		}
		b, err := BuildBaseline(s, BaselineOptions{})
		if err != nil {
			return
		}
		if _, err := Compare(s, s, Options{}); err != nil {
			t.Fatalf("comparing a sample with itself: %v", err)
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("built an invalid baseline: %v", err)
		}
	})
}
