package predlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// Defaults of WebhookOptions.
const (
	DefaultWebhookTimeout     = 5 * time.Second
	DefaultWebhookMaxAttempts = 3
	DefaultWebhookBackoff     = 250 * time.Millisecond
)

// WebhookOptions configures a WebhookSink.
type WebhookOptions struct {
	// URL receives the batches; http or https.
	URL string
	// Header is added to every request, e.g. Authorization.
	Header http.Header
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
	// Timeout bounds each attempt. 0 means DefaultWebhookTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the attempts per batch, the first included; 1
	// means no retry. 0 means DefaultWebhookMaxAttempts.
	MaxAttempts int
	// Backoff is the wait before the second attempt, doubled before each
	// later one. 0 means DefaultWebhookBackoff.
	Backoff time.Duration
}

// WebhookSink POSTs each batch to a URL as one JSON object,
//
//	{"records":[{...},{...}]}
//
// whose records have the form AppendJSON writes. A batch is sent again
// after a network error, a timeout, or a 408, 429 or 5xx status, up to
// MaxAttempts times; other statuses fail at once. Every attempt of a batch
// carries the same Idempotency-Key header, so the receiver can discard
// repeats. The sink runs on its Logger goroutine: a slow or failing
// receiver fills the sink's queue, which drops records, and never delays a
// request (unless the sink is Required).
type WebhookSink struct {
	opts   WebhookOptions
	target string // scheme, host and path, for errors; the URL may hold secrets
	own    bool   // the client is the sink's own
	closed atomic.Bool
}

var _ Sink = (*WebhookSink)(nil)

// NewWebhookSink checks the options and returns the sink.
func NewWebhookSink(opts WebhookOptions) (*WebhookSink, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prediction log webhook: URL %q: want http:// or https:// and a host", opts.URL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultWebhookTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultWebhookMaxAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultWebhookBackoff
	}
	own := opts.Client == nil
	if own {
		opts.Client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &WebhookSink{opts: opts, target: u.Scheme + "://" + u.Host + u.Path, own: own}, nil
}

// Write sends the batch, retrying as the type's documentation says.
func (w *WebhookSink) Write(ctx context.Context, batch []Record) error {
	if w.closed.Load() {
		return ErrClosed
	}
	if len(batch) == 0 {
		return nil
	}
	body := make([]byte, 0, 256*len(batch))
	body = append(body, `{"records":[`...)
	for i := range batch {
		if i > 0 {
			body = append(body, ',')
		}
		body = AppendJSON(body, &batch[i])
	}
	body = append(body, "]}"...)
	key := batchKey()

	wait := w.opts.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = w.post(ctx, body, key)
		if err == nil {
			return nil
		}
		if !retry || attempt == w.opts.MaxAttempts || !sleep(ctx, wait) {
			return fmt.Errorf("prediction log webhook %s: %d records, attempt %d of %d: %w", w.target, len(batch), attempt, w.opts.MaxAttempts, err)
		}
		wait *= 2
	}
}

// post makes one attempt; retry reports whether another may succeed.
func (w *WebhookSink) post(ctx context.Context, body []byte, key string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	for k, vs := range w.opts.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return false, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return true, errors.New(resp.Status)
	default:
		return false, errors.New(resp.Status)
	}
}

// Close makes later writes fail and closes the idle connections of the
// sink's own client.
func (w *WebhookSink) Close() error {
	if w.closed.CompareAndSwap(false, true) && w.own {
		w.opts.Client.CloseIdleConnections()
	}
	return nil
}

// batchKey returns a random idempotency key.
func batchKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
