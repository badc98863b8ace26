package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/internal/stream"
)

// StreamView is a stored stream with what the answering node knows of it.
type StreamView struct {
	Stream     stream.Document `json:"stream"`
	Generation int64           `json:"generation"`
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
	CreatedBy  string          `json:"createdBy,omitempty"`
	// Status is the pipeline on the answering node; nil when that node
	// does not run it (paused, another node holds it, or no stream role).
	Status *stream.Status `json:"status,omitempty"`
}

// CreateStream stores a new stream; the server starts its pipeline.
func (c *Client) CreateStream(ctx context.Context, doc stream.Document) (StreamView, error) {
	var out StreamView
	err := c.do(ctx, http.MethodPost, "/api/v1/streams", doc, &out)
	return out, err
}

// UpdateStream replaces a stream's document; the pipeline restarts.
func (c *Client) UpdateStream(ctx context.Context, doc stream.Document) (StreamView, error) {
	var out StreamView
	err := c.do(ctx, http.MethodPut, "/api/v1/streams/"+url.PathEscape(doc.Metadata.Name), doc, &out)
	return out, err
}

// ListStreams lists every stream.
func (c *Client) ListStreams(ctx context.Context) ([]StreamView, error) {
	var out struct {
		Streams []StreamView `json:"streams"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/streams", nil, &out)
	return out.Streams, err
}

// GetStream returns one stream.
func (c *Client) GetStream(ctx context.Context, name string) (StreamView, error) {
	var out StreamView
	err := c.do(ctx, http.MethodGet, "/api/v1/streams/"+url.PathEscape(name), nil, &out)
	return out, err
}

// PauseStream stops a stream's pipeline; messages wait in the broker.
func (c *Client) PauseStream(ctx context.Context, name string) (StreamView, error) {
	var out StreamView
	err := c.do(ctx, http.MethodPost, "/api/v1/streams/"+url.PathEscape(name)+"/pause", nil, &out)
	return out, err
}

// ResumeStream starts a paused stream's pipeline again.
func (c *Client) ResumeStream(ctx context.Context, name string) (StreamView, error) {
	var out StreamView
	err := c.do(ctx, http.MethodPost, "/api/v1/streams/"+url.PathEscape(name)+"/resume", nil, &out)
	return out, err
}

// DeleteStream removes a stream and its window state.
func (c *Client) DeleteStream(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/streams/"+url.PathEscape(name), nil, nil)
}
