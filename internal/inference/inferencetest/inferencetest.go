// Package inferencetest is the conformance suite every model format passes.
//
// A format's tests load a real artifact and hand the Model to Run together
// with rows and the training library's own predictions; Run checks the
// predictions, the signature, batch and single-row shapes, concurrency and
// the handling of bad input.
package inferencetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// Case is a tabular model with reference rows and predictions.
type Case struct {
	Model inference.Model
	// Rows are feature vectors in the model's feature order; NaN is missing.
	Rows [][]float64
	// Want holds the reference output for each row: one value, or one per
	// class.
	Want [][]float64
	// Tol is the allowed absolute or relative difference (the larger).
	Tol float64
}

// Run checks a tabular model against the conformance rules.
func Run(t *testing.T, c Case) {
	t.Helper()
	sig := c.Model.Signature()
	if err := sig.Validate(); err != nil {
		t.Fatalf("Signature().Validate() = %v", err)
	}
	in, ok := sig.TabularInput()
	if !ok {
		t.Fatalf("signature %+v has no tabular input", sig)
	}
	cols := len(in.Features)
	ctx := context.Background()

	t.Run("batch", func(t *testing.T) {
		out := predict(t, c.Model, in.Name, cols, c.Rows)
		compare(t, out, c.Want, c.Tol)
	})
	t.Run("row-by-row", func(t *testing.T) {
		for i, r := range c.Rows {
			out := predict(t, c.Model, in.Name, cols, [][]float64{r})
			compare(t, out, c.Want[i:i+1], c.Tol)
			if t.Failed() {
				t.Fatalf("row %d failed", i)
			}
		}
	})
	t.Run("fp32-and-int-input", func(t *testing.T) {
		// Every numeric datatype is accepted; FP32 is the common one.
		flat := make([]float32, 0, cols)
		for _, v := range c.Rows[0] {
			flat = append(flat, float32(v))
		}
		_, err := c.Model.Predict(ctx, []inference.Tensor{{Name: in.Name, Datatype: inference.FP32, Shape: []int64{1, int64(cols)}, F32: flat}})
		if err != nil {
			t.Errorf("FP32 input: %v", err)
		}
		ints := make([]int64, cols)
		_, err = c.Model.Predict(ctx, []inference.Tensor{{Name: in.Name, Datatype: inference.INT64, Shape: []int64{1, int64(cols)}, I64: ints}})
		if err != nil {
			t.Errorf("INT64 input: %v", err)
		}
	})
	t.Run("zero-rows", func(t *testing.T) {
		out, err := c.Model.Predict(ctx, []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{0, int64(cols)}, F64: []float64{}}})
		if err != nil {
			t.Fatalf("Predict(0 rows) = %v", err)
		}
		if len(out) == 0 || out[0].Shape[0] != 0 {
			t.Errorf("Predict(0 rows) = %+v, want a tensor with 0 rows", out)
		}
	})
	t.Run("bad-input", func(t *testing.T) {
		bad := []struct {
			name string
			in   []inference.Tensor
		}{
			{"no-inputs", nil},
			{"wrong-width", []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{1, int64(cols + 1)}, F64: make([]float64, cols+1)}}},
			{"shape-data-mismatch", []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{2, int64(cols)}, F64: make([]float64, cols)}}},
			{"bytes", []inference.Tensor{{Name: in.Name, Datatype: inference.BYTES, Shape: []int64{1, int64(cols)}, Bytes: make([][]byte, cols)}}},
			{"rank-3", []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{1, 1, int64(cols)}, F64: make([]float64, cols)}}},
			{"negative-dim", []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{-1, int64(cols)}, F64: nil}}},
		}
		for _, b := range bad {
			_, err := c.Model.Predict(ctx, b.in)
			var ie *inference.InputError
			if !errors.As(err, &ie) {
				t.Errorf("%s: Predict error = %v, want *inference.InputError", b.name, err)
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < len(c.Rows); i += 8 {
					out, err := c.Model.Predict(ctx, []inference.Tensor{rowsTensor(in.Name, cols, c.Rows[i:i+1])})
					if err != nil {
						errs <- err
						return
					}
					got := values(out[0])
					if err := close1(got, c.Want[i], c.Tol); err != nil {
						errs <- fmt.Errorf("row %d: %w", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func rowsTensor(name string, cols int, rows [][]float64) inference.Tensor {
	flat := make([]float64, 0, len(rows)*cols)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return inference.Tensor{Name: name, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(cols)}, F64: flat}
}

func predict(t *testing.T, m inference.Model, name string, cols int, rows [][]float64) inference.Tensor {
	t.Helper()
	out, err := m.Predict(context.Background(), []inference.Tensor{rowsTensor(name, cols, rows)})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if len(out) == 0 {
		t.Fatalf("Predict returned no outputs")
	}
	if len(out[0].Shape) == 0 || out[0].Shape[0] != int64(len(rows)) {
		t.Fatalf("output shape %v, want first dimension %d", out[0].Shape, len(rows))
	}
	return out[0]
}

// values returns the tensor's elements as float64.
func values(t inference.Tensor) []float64 {
	switch t.Datatype {
	case inference.FP32:
		v := make([]float64, len(t.F32))
		for i, x := range t.F32 {
			v[i] = float64(x)
		}
		return v
	case inference.FP64:
		return t.F64
	default:
		v := make([]float64, len(t.I64))
		for i, x := range t.I64 {
			v[i] = float64(x)
		}
		return v
	}
}

func compare(t *testing.T, out inference.Tensor, want [][]float64, tol float64) {
	t.Helper()
	got := values(out)
	per := 1
	if len(want) > 0 {
		per = len(want[0])
	}
	if len(got) != len(want)*per {
		t.Fatalf("got %d values, want %d rows × %d", len(got), len(want), per)
	}
	bad := 0
	for i := range want {
		if err := close1(got[i*per:(i+1)*per], want[i], tol); err != nil {
			bad++
			if bad <= 5 {
				t.Errorf("row %d: %v", i, err)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d rows differ in all", bad)
	}
}

func close1(got, want []float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d values %v, want %d %v", len(got), got, len(want), want)
	}
	for j := range want {
		if !Close(got[j], want[j], tol) {
			return fmt.Errorf("value %d = %.9g, want %.9g (tol %g)", j, got[j], want[j], tol)
		}
	}
	return nil
}

// Close reports whether got and want agree within tol, absolute or relative.
func Close(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	d := math.Abs(got - want)
	return d <= tol || d <= tol*math.Abs(want)
}
