package linear

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// FuzzLoad feeds arbitrary bytes to Load. Whatever loads must have a valid
// signature and score a row without panicking; everything else must fail
// with ErrInvalidModel.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"diabetes_regression.json", "breast_cancer_binary.json", "iris_multinomial.json", "iris_ovr.json", "iris2_multinomial.json"} {
		f.Add(readFile(f, name))
	}
	f.Add([]byte(base))
	for _, bad := range []string{
		"", "{}", "null", "[]", `{"format":"sluice.linear/v1"}`,
		strings.Replace(base, `"task": "multiclass"`, `"task": "binary"`, 1),
		strings.Replace(base, `[[1, 2], [3, 4], [5, 6]]`, `[[1, 2], [3, 4]]`, 1),
		strings.Replace(base, `0.1, 0.2`, `1e308, 1e308`, 1),
		strings.Replace(base, `"b"}`, `"b", "b": 1}`, 1),
		base[:len(base)/2],
	} {
		f.Add([]byte(bad))
	}
	f.Fuzz(func(t *testing.T, artifact []byte) {
		detected := Format{}.Detect(artifact)
		m, err := Format{}.Load(context.Background(), artifact, inference.LoadOptions{})
		if err != nil {
			if !errors.Is(err, inference.ErrInvalidModel) {
				t.Fatalf("Load error %v does not wrap ErrInvalidModel", err)
			}
			return
		}
		if !detected {
			t.Errorf("Load succeeded but Detect = false")
		}
		sig := m.Signature()
		if err := sig.Validate(); err != nil {
			t.Fatalf("loaded model's signature: %v", err)
		}
		in, _ := sig.TabularInput()
		cols := len(in.Features)
		for _, v := range []float64{0, 1, -1e300, math.MaxFloat64} {
			x := make([]float64, cols)
			for i := range x {
				x[i] = v
			}
			out, err := m.Predict(context.Background(), []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{1, int64(cols)}, F64: x}})
			if err != nil {
				t.Fatalf("Predict: %v", err)
			}
			want := 1
			if len(sig.Outputs[0].Shape) == 2 {
				want = int(sig.Outputs[0].Shape[1])
			}
			if len(out[0].F64) != want {
				t.Fatalf("Predict gave %d values, want %d", len(out[0].F64), want)
			}
		}
	})
}
