package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/store"
)

// paramBaseline holds the digest of a version's drift baseline (JSON, in
// the artifact store next to the model file). Versions are immutable, and
// so is their baseline.
const paramBaseline = "sluice.baseline"

// BaselineSpec is the training sample a push summarises into the version's
// drift baseline.
type BaselineSpec struct {
	// CSV is the file: a header row, then one row per training example.
	CSV []byte
	// Categorical are columns of numeric codes to compare as categories.
	Categorical []string
}

// baselineScoreChunk is how many rows are scored at once.
const baselineScoreChunk = 4096

// buildBaseline summarises a training CSV for model m: the model's named
// input features (every column when it names none), each numeric or
// categorical, and the model's predictions for the rows (monitor's
// PredictionValue of its first output).
func buildBaseline(ctx context.Context, m inference.Model, spec BaselineSpec) (*drift.Baseline, error) {
	sig := m.Signature()
	tab, isTab := sig.TabularInput()
	opts := drift.CSVOptions{Categorical: spec.Categorical}
	if isTab {
		for _, f := range tab.Features {
			opts.Columns = append(opts.Columns, f.Name)
		}
	}
	sample, err := drift.ReadCSV(bytes.NewReader(spec.CSV), opts)
	if err != nil {
		return nil, fmt.Errorf("%w: baseline: %v", ErrInvalid, err)
	}
	if isTab && len(tab.Features) > 0 {
		pred, err := scoreSample(ctx, m, tab, sample)
		if err != nil {
			return nil, fmt.Errorf("%w: baseline: scoring the rows with the model: %v", ErrInvalid, err)
		}
		sample.Prediction = pred
	}
	b, err := drift.BuildBaseline(sample, drift.BaselineOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: baseline: %v", ErrInvalid, err)
	}
	return b, nil
}

// scoreSample predicts every row of a numeric sample whose columns are the
// model's tabular features, in order, and returns the prediction column.
func scoreSample(ctx context.Context, m inference.Model, tab inference.TensorSpec, s drift.Sample) (*drift.Column, error) {
	for _, c := range s.Columns {
		if c.Kind != drift.Numeric && c.Num == nil {
			return nil, fmt.Errorf("feature %q has values that are not numbers; the model takes numbers", c.Name)
		}
	}
	rows := s.Columns[0].Len()
	width := len(s.Columns)
	pred := &drift.Column{Name: "prediction", Kind: drift.Numeric, Num: make([]float64, 0, rows)}
	for start := 0; start < rows; start += baselineScoreChunk {
		n := min(baselineScoreChunk, rows-start)
		t := inference.Tensor{Name: tab.Name, Datatype: inference.FP32, Shape: []int64{int64(n), int64(width)}}
		if tab.Datatype == inference.FP64 {
			t.Datatype = inference.FP64
			t.F64 = make([]float64, 0, n*width)
		} else {
			t.F32 = make([]float32, 0, n*width)
		}
		for r := start; r < start+n; r++ {
			for _, c := range s.Columns {
				if t.F64 != nil {
					t.F64 = append(t.F64, c.Num[r])
				} else {
					t.F32 = append(t.F32, float32(c.Num[r]))
				}
			}
		}
		out, err := m.Predict(ctx, []inference.Tensor{t})
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[0].Len() == 0 || out[0].Len()%n != 0 {
			return nil, fmt.Errorf("the model returned no output or an output not a whole number of values per row")
		}
		o := out[0]
		w := o.Len() / n
		o.Shape = []int64{int64(n), int64(w)}
		_, vals, err := inference.Dense64(&o, w)
		if err != nil {
			return nil, err
		}
		if w > 2 {
			pred.Kind = drift.Categorical // class codes
		}
		p := monitor.Prediction{Values: vals, Width: w}
		for r := range n {
			pred.Num = append(pred.Num, monitor.PredictionValue(p, r))
		}
	}
	return pred, nil
}

// storeBaseline writes a baseline to the artifact store (and the shared
// store on PostgreSQL) and returns its digest.
func (s *Service) storeBaseline(ctx context.Context, b *drift.Baseline) (string, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("encoding baseline: %w", err)
	}
	digest, _, err := s.blobs.PutBytes(ctx, data)
	if err != nil {
		return "", fmt.Errorf("storing baseline: %w", err)
	}
	if s.sharedArtifacts() {
		if err := s.db.PutArtifact(ctx, digest, data); err != nil {
			return "", err
		}
	}
	return digest, nil
}

// VersionBaseline returns the drift baseline of a version, or
// store.ErrNotFound (wrapped) when it has none.
func (s *Service) VersionBaseline(ctx context.Context, model string, version int) (*drift.Baseline, error) {
	v, err := s.db.GetVersion(ctx, model, version)
	if err != nil {
		return nil, err
	}
	return s.baselineOf(ctx, v)
}

func (s *Service) baselineOf(ctx context.Context, v store.Version) (*drift.Baseline, error) {
	digest := v.Params[paramBaseline]
	if digest == "" {
		return nil, fmt.Errorf("%s version %d has no drift baseline (push it with --baseline): %w", v.Model, v.Version, store.ErrNotFound)
	}
	data, err := s.Artifact(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("reading the baseline of %s version %d: %w", v.Model, v.Version, err)
	}
	return drift.ParseBaseline(data)
}
