package registry

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/monitor/drift"
	"github.com/sluicehq/sluice/internal/store"
)

// TestPushWithBaseline pushes the fixture model with its training CSV and
// checks the stored baseline: one numeric feature per model input and the
// distribution of the model's own predictions on those rows.
func TestPushWithBaseline(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	csv, err := os.ReadFile(filepath.Join("..", "..", "examples", "xgboost", "breast_cancer.csv"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: readModel(t, "breast_cancer.json"), Baseline: &BaselineSpec{CSV: csv}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Params[paramBaseline] == "" {
		t.Fatalf("params: %v, want %s", v.Params, paramBaseline)
	}
	b, err := s.VersionBaseline(ctx, "bc", v.Version)
	if err != nil {
		t.Fatal(err)
	}
	if b.Rows != 569 || len(b.Features) != 30 || b.Features[0].Name != "mean_radius" || b.Prediction == nil {
		t.Fatalf("baseline: rows %d, %d features, prediction %v", b.Rows, len(b.Features), b.Prediction != nil)
	}
	// The prediction distribution is XGBoost's own predictions' deciles.
	var exp struct {
		Predictions []float64 `json:"predictions"`
	}
	data, _ := os.ReadFile(filepath.Join("..", "..", "examples", "xgboost", "breast_cancer.expected.json"))
	if err := json.Unmarshal(data, &exp); err != nil {
		t.Fatal(err)
	}
	want, err := drift.BuildBaseline(drift.Sample{Prediction: &drift.Column{Name: "prediction", Kind: drift.Numeric, Num: exp.Predictions}}, drift.BaselineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range want.Prediction.Numeric.Deciles {
		if got := b.Prediction.Numeric.Deciles[i]; math.Abs(got-q) > 1e-6 {
			t.Errorf("prediction decile %d: got %v, want %v", i+1, got, q)
		}
	}
	// The loaded backend carries it for the gateway.
	bk, err := s.PinnedBackend(ctx, "bc", v.Version)
	if err != nil || bk.Baseline == nil {
		t.Fatalf("backend baseline: %v, %v", bk, err)
	}
	// A version without one says so.
	v2, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: readModel(t, "breast_cancer.json")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VersionBaseline(ctx, "bc", v2.Version); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("baseline of a version without one: %v, want not found", err)
	}
}

func TestPushWithBadBaselineWritesNothing(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	fixture, _ := os.ReadFile(filepath.Join("..", "..", "examples", "xgboost", "breast_cancer.csv"))
	header := strings.SplitN(string(fixture), "\n", 2)[0]
	tests := []struct{ name, csv, want string }{
		{"empty", "", "empty file"},
		{"missing feature", "mean_radius,x\n1,2\n", "feature column \"mean_texture\""},
		{"text in a feature", header + "\nabc" + strings.Repeat(",1", 29) + "\n", "feature \"mean_radius\" has values that are not numbers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Push(ctx, PushRequest{Model: "bc", Artifact: readModel(t, "breast_cancer.json"), Baseline: &BaselineSpec{CSV: []byte(tt.csv)}})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "baseline") {
				t.Errorf("got %v, want an invalid-request error naming the baseline and %q", err, tt.want)
			}
		})
	}
	if ms, err := s.Store().ListModels(ctx); err != nil || len(ms) != 0 {
		t.Errorf("after failed pushes: models %v, %v; want none", ms, err)
	}
}
