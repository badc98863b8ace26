package onnx

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// modelFiles returns every ONNX model in the package's testdata and the
// example fixture.
func modelFiles(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob("testdata/onnxruntime_go/*.onnx")
	cases, _ := filepath.Glob("testdata/onnx-backend/*/model.onnx")
	files = append(files, cases...)
	files = append(files, filepath.Join("..", "..", "..", "examples", "onnx", "breast_cancer_mlp.onnx"))
	if len(files) < 10 {
		t.Fatalf("only %d model files found", len(files))
	}
	return files
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDetectModels(t *testing.T) {
	for _, f := range modelFiles(t) {
		if !(Format{}).Detect(readFile(t, f)) {
			t.Errorf("Detect(%s) = false, want true", f)
		}
	}
}

func TestDetectOthers(t *testing.T) {
	mlp := readFile(t, filepath.Join("..", "..", "..", "examples", "onnx", "breast_cancer_mlp.onnx"))
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	randomWithTag := append([]byte{0x08, 0x07}, random...)
	others := map[string][]byte{
		"empty":               nil,
		"json":                []byte(`{"learner": {"gradient_booster": {}}, "version": [2, 1, 0]}`),
		"json-array":          []byte(`[1, 2, 3]`),
		"csv":                 readFile(t, filepath.Join("..", "..", "..", "examples", "onnx", "breast_cancer_mlp.csv")),
		"lightgbm":            []byte("tree\nversion=v4\nnum_class=1\n"),
		"expected-json":       readFile(t, filepath.Join("..", "..", "..", "examples", "onnx", "breast_cancer_mlp.expected.json")),
		"random":              random,
		"random-after-irver":  randomWithTag,
		"ir-version-only":     {0x08, 0x07, 0x12, 0x00},
		"ir-version-zero":     append([]byte{0x08, 0x00}, mlp[2:]...),
		"no-graph":            {0x08, 0x07, 0x12, 0x03, 'a', 'b', 'c', 0x42, 0x00},
		"graph-wrong-type":    {0x08, 0x07, 0x38, 0x01},
		"first-three-bytes":   mlp[:3],
		"tensorproto":         readFile(t, "testdata/onnx-backend/test_softmax_example/test_data_set_0/input_0.pb"),
		"unknown-field-first": append([]byte{0x10, 0x07}, mlp[2:]...),
	}
	for name, b := range others {
		if (Format{}).Detect(b) {
			t.Errorf("Detect(%s) = true, want false", name)
		}
	}
	// A model cut inside its graph still looks like ONNX, so that loading
	// it reports ONNX Runtime's error rather than "no format matches".
	if !(Format{}).Detect(mlp[:len(mlp)/2]) {
		t.Errorf("Detect(truncated MLP) = false, want true")
	}
}

func TestReadGraph(t *testing.T) {
	g, err := readGraph(readFile(t, "testdata/onnxruntime_go/sklearn_randomforest.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	prob := g.outputs["output_probability"]
	if prob == nil || prob.String() != "sequence(map(INT64, tensor(FLOAT)))" {
		t.Errorf("output_probability type = %v, want sequence(map(INT64, tensor(FLOAT)))", prob)
	}
	if got := g.labels["output_probability"]; len(got) != 3 || got[0] != "0" || got[2] != "2" {
		t.Errorf("ZipMap labels = %q, want [0 1 2]", got)
	}
	if x := g.inputs["X"]; x == nil || !x.hasShape || x.rank != 2 || x.elem != elemFloat {
		t.Errorf("input X = %+v, want a rank-2 FLOAT tensor", x)
	}
	g, err = readGraph(readFile(t, "testdata/onnx-backend/test_size_example/model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if y := g.outputs["y"]; y == nil || !y.hasShape || y.rank != 0 || y.elem != elemInt64 {
		t.Errorf("output y = %+v, want an INT64 scalar", y)
	}
}

// FuzzDetect checks that Detect and the graph reader never panic, and
// that Detect only claims input starting with ir_version's tag.
func FuzzDetect(f *testing.F) {
	for _, p := range modelFiles(f) {
		b := readFile(f, p)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(`{"a": 1}`))
	f.Add([]byte("tree\nversion=v4\n"))
	f.Add([]byte{0x08})
	f.Add([]byte{0x08, 0x07, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if (Format{}).Detect(b) && b[0] != 0x08 {
			t.Errorf("Detect claimed input starting with %#x", b[0])
		}
		_, _ = readGraph(b)
	})
}
