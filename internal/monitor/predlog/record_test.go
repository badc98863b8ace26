package predlog

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// recordOpts compares records as the line format keeps them: times as
// instants, NaN equal to NaN, nil and empty slices alike.
var recordOpts = cmp.Options{cmpopts.EquateNaNs(), cmpopts.EquateEmpty()}

func sampleRecord() Record {
	return Record{
		RequestID: "r-1",
		Time:      time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC),
		Endpoint:  "fraud",
		Version:   3,
		Role:      "canary",
		Inputs: []Value{
			Num("amount", 12.5, math.NaN()),
			Str("country", "DE", "FR"),
			{Name: "image", Datatype: "FP32", Shape: []int64{1, 2}, Num: []float64{math.Inf(1), math.Inf(-1)}},
		},
		Outputs: []Value{
			{Name: "score", Datatype: "FP64", Shape: []int64{2, 1}, Num: []float64{0.93, 1e-7}},
			{Name: "p", Datatype: "FP32", Shape: []int64{2}, Num: []float64{float64(float32(0.42)), float64(float32(1e-7))}},
		},
		LatencyNS: 812000,
	}
}

func TestLineFormatGolden(t *testing.T) {
	failed := sampleRecord()
	failed.RequestID, failed.Version, failed.Role = "r-2", 4, "shadow"
	failed.Outputs, failed.Error = nil, "model server: 503 \"busy\"\n"
	var b []byte
	for _, r := range []Record{sampleRecord(), failed} {
		b = AppendJSON(b, &r)
		b = append(b, '\n')
	}
	golden := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("line format changed (-golden +got); run with -update if intended:\n%s", diff)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if !json.Valid(line) {
			t.Errorf("line %d is not valid JSON: %s", i+1, line)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []Record{
		sampleRecord(),
		{},
		{RequestID: "weird \x00\x1f\"\\ \u2028 ü \xff", Endpoint: "e", Time: time.Unix(0, 1).In(time.FixedZone("x", 3600))},
		{Endpoint: "e", Inputs: []Value{{Name: "zero", Num: []float64{0, math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64, -1e21}}}},
	} {
		line := AppendJSON(nil, &r)
		if !json.Valid(line) {
			t.Fatalf("AppendJSON wrote invalid JSON: %s", line)
		}
		got, err := DecodeLine(line)
		if err != nil {
			t.Fatalf("DecodeLine(%s): %v", line, err)
		}
		want := r
		want.RequestID = strings.ToValidUTF8(want.RequestID, "\ufffd")
		if diff := cmp.Diff(want, got, recordOpts); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", line, diff)
		}
	}
}

func TestDecodeLineErrors(t *testing.T) {
	for _, line := range []string{
		"",
		"   ",
		"null",
		`[{"id":"x"}]`,
		`{"id":"x"`,
		`{"id":"x","time":"yesterday"}`,
		`{"id":"x","version":"3"}`,
		`{"inputs":[{"name":"a","num":["NaNa"]}]}`,
		`{"inputs":[{"name":"a","num":[1e999]}]}`,
		`{"id":"x"} {"id":"y"}`,
		"\x00\x00\x00\x00",
	} {
		if r, err := DecodeLine([]byte(line)); err == nil {
			t.Errorf("DecodeLine(%q) = %+v, want an error", line, r)
		}
	}
}

func TestDecodeLineAcceptsNullFloatsAndUnknownFields(t *testing.T) {
	r, err := DecodeLine([]byte(`{"id":"x","endpoint":"e","future":{"a":1},"inputs":[{"name":"a","num":[null,1]}]}` + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Inputs[0].Num; !math.IsNaN(got[0]) || got[1] != 1 {
		t.Errorf("num = %v, want [NaN 1]", got)
	}
}
