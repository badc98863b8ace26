package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/rollout"
)

// RolloutView is a rollout with its transition log.
type RolloutView struct {
	Rollout rollout.Document `json:"rollout"`
	Events  []RolloutEvent   `json:"events"`
}

// RolloutEvent is one transition of a rollout.
type RolloutEvent struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
	Actor   string          `json:"actor,omitempty"`
}

// RolloutAction is the body of promote and abort.
type RolloutAction struct {
	// SkipAnalysis promotes at once, without analysis (needs Reason).
	SkipAnalysis bool   `json:"skipAnalysis,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// RollbackRequest is the body of POST /api/v1/endpoints/{name}/rollback.
type RollbackRequest struct {
	// ToRevision is the endpoint revision to return to; 0 means the spec
	// before the latest rollout, or else the previous revision.
	ToRevision int64 `json:"toRevision,omitempty"`
}

// ApplyResult answers POST /api/v1/rollouts.
type ApplyResult struct {
	Rollout rollout.Document `json:"rollout"`
	// Created is true for a new rollout, false for a changed or unchanged one.
	Created bool `json:"created"`
}

// ApplyRollout creates or updates a rollout.
func (c *Client) ApplyRollout(ctx context.Context, doc rollout.Document) (ApplyResult, error) {
	var out ApplyResult
	err := c.do(ctx, http.MethodPost, "/api/v1/rollouts", doc, &out)
	return out, err
}

// ListRollouts lists rollouts, of one endpoint if endpoint is not "".
func (c *Client) ListRollouts(ctx context.Context, endpoint string) ([]rollout.Document, error) {
	var out []rollout.Document
	p := "/api/v1/rollouts"
	if endpoint != "" {
		p += "?endpoint=" + url.QueryEscape(endpoint)
	}
	err := c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// GetRollout returns a rollout and its events.
func (c *Client) GetRollout(ctx context.Context, name string) (RolloutView, error) {
	var out RolloutView
	err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+esc(name), nil, &out)
	return out, err
}

// DeleteRollout deletes a finished rollout.
func (c *Client) DeleteRollout(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/rollouts/"+esc(name), nil, nil)
}

// RolloutAct runs action ("promote", "abort", "pause", "resume") on a rollout.
func (c *Client) RolloutAct(ctx context.Context, name, action string, body RolloutAction) (rollout.Document, error) {
	var out rollout.Document
	err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+esc(name)+"/"+action, body, &out)
	return out, err
}

// Rollback puts an endpoint back to an earlier spec.
func (c *Client) Rollback(ctx context.Context, endpoint string, toRevision int64) (Endpoint, error) {
	var out Endpoint
	err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+esc(endpoint)+"/rollback", RollbackRequest{ToRevision: toRevision}, &out)
	return out, err
}
