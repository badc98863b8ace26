package lightgbm

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/inference"
)

// TestThreads checks that splitting a batch across goroutines gives the
// same bits as scoring it on one.
func TestThreads(t *testing.T) {
	artifact := readFile(t, "genlin_fmtp_poisson_Frequency.model")
	rows := readRows(t, "genlin_fmtp_poisson_Frequency_features.tsv", false, 9)
	var first [][]float64
	for _, threads := range []int{1, 2, 3, 16} {
		m, err := Format{}.Load(context.Background(), artifact, inference.LoadOptions{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		got := predictRows(t, m, rows)
		if first == nil {
			first = got
			continue
		}
		for i := range got {
			if got[i][0] != first[i][0] {
				t.Fatalf("threads=%d: row %d = %v, with 1 thread %v", threads, i, got[i][0], first[i][0])
			}
		}
	}
}

func TestPredictErrors(t *testing.T) {
	m := loadReference(t, reference{model: "v4_missing.txt"})
	ok := inference.Tensor{Name: "input", Datatype: inference.FP64, Shape: []int64{1, 3}, F64: make([]float64, 3)}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Predict(ctx, []inference.Tensor{ok}); !errors.Is(err, context.Canceled) {
		t.Errorf("Predict(canceled) = %v, want context.Canceled", err)
	}

	bad := map[string][]inference.Tensor{
		"two inputs": {ok, ok},
		"wrong name": {{Name: "x", Datatype: inference.FP64, Shape: []int64{1, 3}, F64: make([]float64, 3)}},
		"no name":    {{Datatype: inference.FP64, Shape: []int64{1, 3}, F64: make([]float64, 3)}},
	}
	for name, in := range bad {
		_, err := m.Predict(context.Background(), in)
		var ie *inference.InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: Predict error = %v, want *inference.InputError", name, err)
		}
	}
	// A single row may also be sent as a flat [F] vector.
	out, err := m.Predict(context.Background(), []inference.Tensor{{Name: "input", Datatype: inference.FP32, Shape: []int64{3}, F32: []float32{0, 0, 0}}})
	if err != nil || len(out[0].F64) != 1 || out[0].F64[0] != 2211 {
		t.Errorf("Predict([3]) = %+v, %v; want [2211]", out, err)
	}
}
