package inferencetest

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// ExplainCase is a tabular model that explains its predictions, with rows
// and what each row's contributions must add up to.
type ExplainCase struct {
	// Model implements inference.Explainer, itself or through Unwrap.
	Model inference.Model
	// Rows are feature vectors in the model's feature order; NaN is missing.
	Rows [][]float64
	// Sums[r][g], when not nil, is the raw output (margin) of row r for
	// group g that its contributions and bias must add up to, within Tol
	// times the sum of their magnitudes.
	Sums [][]float64
	// Tol is the allowed absolute or relative difference (the larger).
	Tol float64
}

// RunExplainer checks an explainer against the conformance rules: the
// explanation's shape and names, contributions adding up to the raw
// output, the same values batch and row by row and from concurrent
// callers, zero rows, input errors and cancellation.
func RunExplainer(t *testing.T, c ExplainCase) {
	t.Helper()
	ex, ok := inference.AsExplainer(c.Model)
	if !ok {
		t.Fatalf("%T is not an inference.Explainer", c.Model)
	}
	sig := c.Model.Signature()
	in, ok := sig.TabularInput()
	if !ok {
		t.Fatalf("signature %+v has no tabular input", sig)
	}
	cols := len(in.Features)
	ctx := context.Background()
	tensor := func(rows [][]float64) []inference.Tensor {
		flat := make([]float64, 0, len(rows)*cols)
		for _, r := range rows {
			flat = append(flat, r...)
		}
		return []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{int64(len(rows)), int64(cols)}, F64: flat}}
	}
	batch, err := ex.Explain(ctx, tensor(c.Rows))
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	width := (cols + 1) * batch.Groups

	t.Run("shape", func(t *testing.T) {
		if batch.Rows != len(c.Rows) || batch.Groups < 1 || len(batch.Values) != batch.Rows*width {
			t.Fatalf("explanation of %d rows: Rows %d, Groups %d, %d values", len(c.Rows), batch.Rows, batch.Groups, len(batch.Values))
		}
		if len(batch.Features) != cols {
			t.Fatalf("%d feature names, the signature has %d", len(batch.Features), cols)
		}
		for j, f := range in.Features {
			if batch.Features[j] != f.Name {
				t.Errorf("feature %d is %q, the signature says %q", j, batch.Features[j], f.Name)
			}
		}
		if batch.Groups > 1 && len(batch.GroupLabels) != batch.Groups {
			t.Errorf("%d group labels for %d groups", len(batch.GroupLabels), batch.Groups)
		}
		if batch.Space != inference.SpaceMargin && batch.Space != inference.SpaceOutput {
			t.Errorf("Space %q", batch.Space)
		}
		if batch.Method == "" {
			t.Error("Method is empty")
		}
	})
	t.Run("adds-up", func(t *testing.T) {
		if c.Sums == nil {
			t.Skip("no raw outputs given")
		}
		for r := range c.Rows {
			for g := range batch.Groups {
				// The rounding of a sum grows with the magnitudes added,
				// which can dwarf the result (float32 contributions of
				// millions that cancel), so the tolerance scales with them.
				var sum, scale float64
				for _, v := range batch.Values[r*width+g*(cols+1) : r*width+(g+1)*(cols+1)] {
					sum += v
					scale += math.Abs(v)
				}
				if want := c.Sums[r][g]; !(math.Abs(sum-want) <= c.Tol*math.Max(1, scale)) {
					t.Fatalf("row %d group %d: contributions and bias add up to %.9g, want %.9g", r, g, sum, want)
				}
			}
		}
	})
	t.Run("row-by-row", func(t *testing.T) {
		for r, row := range c.Rows {
			e, err := ex.Explain(ctx, tensor([][]float64{row}))
			if err != nil {
				t.Fatalf("row %d: %v", r, err)
			}
			for j, v := range e.Values {
				if want := batch.Values[r*width+j]; !near(v, want, c.Tol) {
					t.Fatalf("row %d value %d: alone %.9g, in the batch %.9g", r, j, v, want)
				}
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				e, err := ex.Explain(ctx, tensor(c.Rows))
				if err != nil {
					errs <- err
					return
				}
				for j, v := range e.Values {
					if v != batch.Values[j] && !(math.IsNaN(v) && math.IsNaN(batch.Values[j])) {
						errs <- errors.New("concurrent explanations differ")
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
	t.Run("zero-rows", func(t *testing.T) {
		e, err := ex.Explain(ctx, tensor(nil))
		if err != nil || e.Rows != 0 || len(e.Values) != 0 {
			t.Fatalf("Explain(0 rows) = %+v, %v", e, err)
		}
	})
	t.Run("bad-input", func(t *testing.T) {
		var ie *inference.InputError
		wrongWidth := []inference.Tensor{{Name: in.Name, Datatype: inference.FP64, Shape: []int64{1, int64(cols + 1)}, F64: make([]float64, cols+1)}}
		if _, err := ex.Explain(ctx, wrongWidth); !errors.As(err, &ie) {
			t.Errorf("%d columns: err = %v, want an *inference.InputError", cols+1, err)
		}
		wrongName := tensor(c.Rows[:1])
		wrongName[0].Name = in.Name + "_nope"
		if _, err := ex.Explain(ctx, wrongName); !errors.As(err, &ie) {
			t.Errorf("input named %q: err = %v, want an *inference.InputError", wrongName[0].Name, err)
		}
		if _, err := ex.Explain(ctx, nil); !errors.As(err, &ie) {
			t.Errorf("no inputs: err = %v, want an *inference.InputError", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := ex.Explain(cctx, tensor(c.Rows)); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled context: err = %v, want context.Canceled", err)
		}
	})
}

// near reports whether got is within tol of want, absolutely or
// relatively (the larger).
func near(got, want, tol float64) bool {
	if math.IsNaN(got) || math.IsNaN(want) {
		return math.IsNaN(got) && math.IsNaN(want)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}
