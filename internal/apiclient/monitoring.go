package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/monitor/drift"
)

// DriftResponse is GET /api/v1/endpoints/{name}/drift: the live drift of
// every version of the endpoint that has a baseline and has served
// requests.
type DriftResponse struct {
	Endpoint string `json:"endpoint"`
	// Window is the live window's span ("1h0m0s") or row count ("10000 rows").
	Window   string         `json:"window"`
	Versions []VersionDrift `json:"versions"`
}

// VersionDrift is one version's live drift.
type VersionDrift struct {
	Version int    `json:"version"`
	Role    string `json:"role,omitempty"`
	// Score sums the report up (what rollout analysis and alerts read).
	Score monitor.DriftScore `json:"score"`
	// Report has every feature, worst first, and the prediction.
	Report *drift.Report `json:"report"`
}

// PerformanceResponse is GET /api/v1/endpoints/{name}/performance: model
// quality from joined labels per version, over the window and in total.
type PerformanceResponse struct {
	Endpoint string                       `json:"endpoint"`
	Window   string                       `json:"window"`
	Versions []monitor.VersionPerformance `json:"versions"`
}

// FairnessResponse is GET /api/v1/endpoints/{name}/fairness.
type FairnessResponse struct {
	Endpoint string `json:"endpoint"`
	// Sensitive is the attribute's source: "header X-Region" or "feature age".
	Sensitive string            `json:"sensitive"`
	Versions  []VersionFairness `json:"versions"`
}

// VersionFairness is one version's fairness metrics and group counts.
type VersionFairness struct {
	Version  int                   `json:"version"`
	Groups   []monitor.GroupCounts `json:"groups"`
	Fairness analysis.Fairness     `json:"fairness"`
}

// Drift returns an endpoint's live drift.
func (c *Client) Drift(ctx context.Context, endpoint string) (DriftResponse, error) {
	var out DriftResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(endpoint)+"/drift", nil, &out)
	return out, err
}

// Performance returns an endpoint's model quality from labels.
func (c *Client) Performance(ctx context.Context, endpoint string) (PerformanceResponse, error) {
	var out PerformanceResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(endpoint)+"/performance", nil, &out)
	return out, err
}

// Fairness returns an endpoint's fairness metrics.
func (c *Client) Fairness(ctx context.Context, endpoint string) (FairnessResponse, error) {
	var out FairnessResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(endpoint)+"/fairness", nil, &out)
	return out, err
}

// VersionBaseline returns a version's drift baseline.
func (c *Client) VersionBaseline(ctx context.Context, model string, version int) (*drift.Baseline, error) {
	var out drift.Baseline
	err := c.do(ctx, http.MethodGet, "/api/v1/models/"+esc(model)+"/versions/"+strconv.Itoa(version)+"/baseline", nil, &out)
	return &out, err
}

// Alert is one pending or firing alert (GET /api/v1/alerts).
type Alert struct {
	Rule        string            `json:"rule"`
	State       string            `json:"state"` // pending, firing
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Value       float64           `json:"value"`
	ActiveAt    string            `json:"active_at"`
	FiredAt     string            `json:"fired_at,omitempty"`
}

// Alerts lists pending and firing alerts; state filters ("" for both).
func (c *Client) Alerts(ctx context.Context, state string) ([]Alert, error) {
	var out struct {
		Alerts []Alert `json:"alerts"`
	}
	p := "/api/v1/alerts"
	if state != "" {
		p += "?state=" + url.QueryEscape(state)
	}
	err := c.do(ctx, http.MethodGet, p, nil, &out)
	return out.Alerts, err
}
