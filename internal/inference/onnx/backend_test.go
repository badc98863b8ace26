//go:build cgo

package onnx

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

var backendDir = flag.String("onnx-backend-dir", "testdata/onnx-backend", "directory of ONNX backend test cases (model.onnx + test_data_set_*/), e.g. /usr/share/libonnx-testdata/data/node")

// TestONNXBackendCases runs ONNX's own backend test cases (from Debian's
// libonnx-testdata, see testdata/README.md): each case is a model.onnx and
// test_data_set_N/ directories of input_K.pb and output_K.pb TensorProtos
// computed by ONNX's reference implementation.
func TestONNXBackendCases(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join(*backendDir, "*", "model.onnx"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases in %s (%v)", *backendDir, err)
	}
	f := testFormat(t)
	for _, model := range cases {
		dir := filepath.Dir(model)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			b, err := os.ReadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			if !f.Detect(b) {
				t.Errorf("Detect(model.onnx) = false")
			}
			mi, err := f.Load(context.Background(), b, inference.LoadOptions{Threads: 1})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			m := mi.(*Model)
			defer m.Close()
			sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
			for _, set := range sets {
				in := readPBs(t, set, "input_*.pb")
				want := readPBs(t, set, "output_*.pb")
				for i := range in {
					if in[i].Name == "" {
						in[i].Name = m.inputs[i].reqName
					}
				}
				got, err := m.Predict(context.Background(), in)
				if err != nil {
					t.Fatalf("%s: Predict: %v", filepath.Base(set), err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d outputs, want %d", filepath.Base(set), len(got), len(want))
				}
				for k := range want {
					if err := compareTensor(got[k], want[k], 1e-3, 1e-7); err != nil {
						t.Errorf("%s: output %d (%s): %v", filepath.Base(set), k, got[k].Name, err)
					}
				}
			}
		})
	}
}

func readPBs(t *testing.T, dir, pattern string) []inference.Tensor {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	sort.Strings(files) // input_0 .. input_9 is enough for these cases
	var out []inference.Tensor
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := decodeTensorProto(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, tp)
	}
	return out
}

// compareTensor checks got against want like ONNX's backend tests:
// floats within rtol*|want| + atol, everything else exactly.
func compareTensor(got, want inference.Tensor, rtol, atol float64) error {
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if got.Datatype != want.Datatype {
		return fmt.Errorf("datatype %s, want %s", got.Datatype, want.Datatype)
	}
	closeTo := func(i int, g, w float64) error {
		if math.IsNaN(w) && math.IsNaN(g) {
			return nil
		}
		if math.Abs(g-w) > atol+rtol*math.Abs(w) {
			return fmt.Errorf("element %d is %g, want %g", i, g, w)
		}
		return nil
	}
	switch got.Datatype {
	case inference.FP32, inference.FP16:
		for i := range want.F32 {
			if err := closeTo(i, float64(got.F32[i]), float64(want.F32[i])); err != nil {
				return err
			}
		}
	case inference.FP64:
		for i := range want.F64 {
			if err := closeTo(i, got.F64[i], want.F64[i]); err != nil {
				return err
			}
		}
	case inference.BYTES:
		for i := range want.Bytes {
			if !bytes.Equal(got.Bytes[i], want.Bytes[i]) {
				return fmt.Errorf("element %d is %q, want %q", i, got.Bytes[i], want.Bytes[i])
			}
		}
	default:
		if fmt.Sprint(got.I64, got.U64, got.Bool) != fmt.Sprint(want.I64, want.U64, want.Bool) {
			return fmt.Errorf("got %v%v%v, want %v%v%v", got.I64, got.U64, got.Bool, want.I64, want.U64, want.Bool)
		}
	}
	return nil
}
