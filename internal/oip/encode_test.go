package oip

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run go test -update to accept it)\n got: %s\nwant: %s", path, got, want)
	}
}

func TestAppendInferResponse(t *testing.T) {
	inf := math.Inf(1)
	resp := &InferResponse{
		ModelName:    "fraud",
		ModelVersion: "3",
		ID:           "42",
		Parameters:   map[string]any{"b": true, "a": int64(1), "f": 0.5, "s": "x", "n": nil, "o": map[string]any{"l": []any{int64(1), "y"}}, "u": uint64(7)},
		Outputs: []inference.Tensor{
			{Name: "f32", Datatype: inference.FP32, Shape: []int64{2, 5}, F32: []float32{0.1, -0, float32(math.NaN()), float32(inf), float32(-inf), 1e-7, 1e21, 3.4028235e38, 16777216, 1.5}},
			{Name: "f64", Datatype: inference.FP64, Shape: []int64{5}, F64: []float64{0.1, 1e-7, 1e21, math.NaN(), 123456789.125}},
			{Name: "f16", Datatype: inference.FP16, Shape: []int64{1}, F32: []float32{65504}},
			{Name: "i", Datatype: inference.INT8, Shape: []int64{2}, I64: []int64{-128, 127}},
			{Name: "u", Datatype: inference.UINT64, Shape: []int64{1}, U64: []uint64{math.MaxUint64}},
			{Name: "b", Datatype: inference.BOOL, Shape: []int64{2}, Bool: []bool{true, false}},
			{Name: "s", Datatype: inference.BYTES, Shape: []int64{4}, Bytes: [][]byte{[]byte(`q"\`), []byte("\x00\n\t\x1f"), []byte("\xffok\u2028"), []byte("é")}},
			{Name: "empty", Datatype: inference.FP32, Shape: []int64{0, 3}},
		},
	}
	got := AppendInferResponse([]byte("prefix:"), resp)
	if !bytes.HasPrefix(got, []byte("prefix:")) {
		t.Fatalf("AppendInferResponse did not append: %s", got)
	}
	got = got[len("prefix:"):]
	if !json.Valid(got) {
		t.Fatalf("AppendInferResponse wrote invalid JSON: %s", got)
	}
	golden(t, "infer_response.golden", got)

	// No version, no parameters, no id: the id is still written.
	got = AppendInferResponse(nil, &InferResponse{ModelName: "m", Outputs: []inference.Tensor{}})
	if want := `{"model_name":"m","id":"","outputs":[]}`; string(got) != want {
		t.Errorf("AppendInferResponse = %s, want %s", got, want)
	}
}

func TestAppendPredictions(t *testing.T) {
	tests := []struct {
		name string
		out  inference.Tensor
		want string
	}{
		{"[N]", inference.Tensor{Datatype: inference.FP32, Shape: []int64{3}, F32: []float32{0.25, float32(math.NaN()), 1}},
			`{"predictions":[0.25,null,1],"model_version":3}`},
		{"[N,1]", inference.Tensor{Datatype: inference.FP64, Shape: []int64{2, 1}, F64: []float64{0.1, 0.9}},
			`{"predictions":[0.1,0.9],"model_version":3}`},
		{"[N,K]", inference.Tensor{Datatype: inference.FP32, Shape: []int64{2, 3}, F32: []float32{0.1, 0.2, 0.7, 1, 0, 0}},
			`{"predictions":[[0.1,0.2,0.7],[1,0,0]],"model_version":3}`},
		{"[N,2,2]", inference.Tensor{Datatype: inference.INT64, Shape: []int64{2, 2, 2}, I64: []int64{1, 2, 3, 4, 5, 6, 7, 8}},
			`{"predictions":[[[1,2],[3,4]],[[5,6],[7,8]]],"model_version":3}`},
		{"[N,0]", inference.Tensor{Datatype: inference.FP32, Shape: []int64{2, 0}},
			`{"predictions":[[],[]],"model_version":3}`},
		{"labels", inference.Tensor{Datatype: inference.BYTES, Shape: []int64{2}, Bytes: [][]byte{[]byte("fraud"), []byte("ok")}},
			`{"predictions":["fraud","ok"],"model_version":3}`},
		{"booleans", inference.Tensor{Datatype: inference.BOOL, Shape: []int64{2, 1}, Bool: []bool{true, false}},
			`{"predictions":[true,false],"model_version":3}`},
		{"scalar", inference.Tensor{Datatype: inference.FP64, Shape: []int64{}, F64: []float64{2}},
			`{"predictions":[2],"model_version":3}`},
		{"shape does not match data", inference.Tensor{Datatype: inference.FP64, Shape: []int64{5, 2}, F64: []float64{1, 2, 3}},
			`{"predictions":[1,2,3],"model_version":3}`},
		{"negative dimension", inference.Tensor{Datatype: inference.UINT64, Shape: []int64{-1}, U64: []uint64{1}},
			`{"predictions":[1],"model_version":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendPredictions(nil, tt.out, 3)
			if string(got) != tt.want {
				t.Errorf("AppendPredictions = %s, want %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("AppendPredictions wrote invalid JSON: %s", got)
			}
		})
	}
}

// TestAppendFloat holds number formatting to encoding/json's, and checks
// that values read back exactly.
func TestAppendFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.99e-7, 1e20, 1e21, 123456789, math.MaxFloat64, math.SmallestNonzeroFloat64, math.MaxFloat32, math.SmallestNonzeroFloat32}
	for range 10000 {
		values = append(values, math.Float64frombits(r.Uint64()), r.NormFloat64()*math.Pow(10, float64(r.IntN(80)-40)))
	}
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		want, _ := json.Marshal(v)
		if got := appendFloat(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("appendFloat(%v) = %s, encoding/json writes %s", v, got, want)
		}
		f := float32(v)
		if math.IsInf(float64(f), 0) {
			continue
		}
		want, _ = json.Marshal(f)
		got := appendFloat32(nil, f)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendFloat32(%v) = %s, encoding/json writes %s", f, got, want)
		}
		back, err := strconv.ParseFloat(string(got), 32)
		if err != nil || math.Float32bits(float32(back)) != math.Float32bits(f) {
			t.Fatalf("appendFloat32(%v) = %s reads back as %v, %v", f, got, back, err)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := appendFloat(nil, v); string(got) != "null" {
			t.Errorf("appendFloat(%v) = %s, want null", v, got)
		}
		if got := appendFloat32(nil, float32(v)); string(got) != "null" {
			t.Errorf("appendFloat32(%v) = %s, want null", v, got)
		}
	}
}

// TestNumberFloat holds the decoder's fast float conversion to strconv,
// bit for bit, on literals built to sit near rounding boundaries.
func TestNumberFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var lits []string
	for range 200000 {
		digits := 1 + r.IntN(19)
		mant := make([]byte, digits)
		for i := range mant {
			mant[i] = byte('0' + r.IntN(10))
		}
		lit := string(mant)
		if point := r.IntN(digits + 1); point < digits && r.IntN(2) == 0 {
			lit = lit[:point] + "." + lit[point:]
			if point == 0 {
				lit = "0" + lit
			}
		}
		for len(lit) > 1 && lit[0] == '0' && lit[1] != '.' {
			lit = lit[1:]
		}
		if r.IntN(2) == 0 {
			lit += fmt.Sprintf("e%d", r.IntN(70)-35)
		}
		if r.IntN(2) == 0 {
			lit = "-" + lit
		}
		lits = append(lits, lit)
	}
	// Decimal forms of float32 midpoints: where double rounding would bite.
	for range 20000 {
		f := math.Float32frombits(r.Uint32() & 0x7effffff)
		next := math.Nextafter32(f, float32(math.Inf(1)))
		mid := (float64(f) + float64(next)) / 2
		lits = append(lits, strconv.FormatFloat(mid, 'g', -1, 64), strconv.FormatFloat(mid, 'e', 16, 64))
	}
	for _, lit := range lits {
		s := scanner{buf: []byte(lit)}
		n, err := s.readNumber()
		if err != nil || s.pos != len(lit) {
			t.Fatalf("readNumber(%q): %v at %d", lit, err, s.pos)
		}
		if f, ok := n.float64(); ok {
			want, _ := strconv.ParseFloat(lit, 64)
			if math.Float64bits(f) != math.Float64bits(want) {
				t.Fatalf("float64(%q) = %v, strconv says %v", lit, f, want)
			}
		}
		if f, ok := n.float32(); ok {
			want, _ := strconv.ParseFloat(lit, 32)
			if math.Float32bits(f) != math.Float32bits(float32(want)) {
				t.Fatalf("float32(%q) = %v, strconv says %v", lit, f, float32(want))
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"\`, "\x00\x1f\n\r\t\b\f", "\xff\xfe", "é😀\u2028\u2029", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		if want := string([]rune(s)); back != want {
			t.Fatalf("appendString(%q) = %s reads back as %q, want %q", s, got, back, want)
		}
		if b := appendString(nil, []byte(s)); !bytes.Equal(b, got) {
			t.Fatalf("appendString of []byte %q = %s, of string %s", s, b, got)
		}
	})
}
