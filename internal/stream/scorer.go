package stream

import (
	"context"
	"strconv"

	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
)

// EndpointScorer scores through an endpoint of a gateway, with the
// endpoint's traffic plan applied to every row.
type EndpointScorer struct {
	Gateway  *gateway.Gateway
	Endpoint string
}

var _ Scorer = EndpointScorer{}

// Features returns the endpoint's named features.
func (s EndpointScorer) Features(ctx context.Context) (inference.TensorSpec, error) {
	return s.Gateway.EndpointFeatures(s.Endpoint)
}

// Score scores rows through the endpoint.
func (s EndpointScorer) Score(ctx context.Context, rows gateway.Rows) ([]gateway.RowResult, error) {
	return s.Gateway.ScoreRows(ctx, s.Endpoint, rows)
}

// Target is the endpoint's name.
func (s EndpointScorer) Target() string { return s.Endpoint }

// ModelScorer scores on one model version, loaded on demand.
type ModelScorer struct {
	Gateway *gateway.Gateway
	Model   string
	// Version returns the version to score with; it is asked for every
	// batch, so an alias the control plane follows takes effect.
	Version func() int
}

var _ Scorer = ModelScorer{}

// Features returns the version's named features.
func (s ModelScorer) Features(ctx context.Context) (inference.TensorSpec, error) {
	_, spec, err := s.Gateway.ScoreRowsOn(ctx, s.Model, s.Version(), gateway.Rows{})
	return spec, err
}

// Score scores rows on the version.
func (s ModelScorer) Score(ctx context.Context, rows gateway.Rows) ([]gateway.RowResult, error) {
	res, _, err := s.Gateway.ScoreRowsOn(ctx, s.Model, s.Version(), rows)
	return res, err
}

// Target is "model@version".
func (s ModelScorer) Target() string { return s.Model + "@" + strconv.Itoa(s.Version()) }
