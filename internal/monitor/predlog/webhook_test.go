package predlog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collector is a webhook receiver that fails the first failures requests
// with status, and keeps the batches it accepts.
type collector struct {
	status   int
	failures atomic.Int32
	hold     chan struct{} // when not nil, requests wait for it

	mu      sync.Mutex
	batches [][]Record          // guarded by mu
	keys    []string            // Idempotency-Key of every request; guarded by mu
	headers []http.Header       // guarded by mu
	bodies  []map[string]any    // guarded by mu
	seen    map[string]struct{} // guarded by mu
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if c.hold != nil {
		select {
		case <-c.hold:
		case <-r.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = append(c.keys, r.Header.Get("Idempotency-Key"))
	c.headers = append(c.headers, r.Header.Clone())
	if c.failures.Add(-1) >= 0 {
		w.WriteHeader(c.status)
		return
	}
	var payload struct {
		Records []json.RawMessage `json:"records"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &payload) != nil {
		http.Error(w, "bad batch", http.StatusBadRequest)
		return
	}
	var batch []Record
	for _, raw := range payload.Records {
		rec, err := DecodeLine(raw)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		batch = append(batch, rec)
	}
	c.batches = append(c.batches, batch)
}

func (c *collector) records() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Record
	for _, b := range c.batches {
		out = append(out, b...)
	}
	return out
}

func newWebhook(t *testing.T, c *collector, opts WebhookOptions) (*WebhookSink, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	opts.URL = srv.URL + "/predictions?token=secret"
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	w, err := NewWebhookSink(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, srv
}

func TestWebhookBatches(t *testing.T) {
	c := &collector{}
	w, _ := newWebhook(t, c, WebhookOptions{Header: http.Header{"Authorization": {"Bearer x"}}})
	l := mustNew(t, Options{}, SinkOptions{Name: "hook", Sink: w, BatchSize: 4, FlushInterval: time.Hour})
	start(t, l)
	for i := range 10 {
		l.Log(record(i, time.Now()))
	}
	waitFor(t, "two batches", func() bool { return len(c.records()) == 8 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := c.records()
	if ids(got) != "r-0000 r-0001 r-0002 r-0003 r-0004 r-0005 r-0006 r-0007 r-0008 r-0009" {
		t.Errorf("received %s", ids(got))
	}
	if len(c.batches) != 3 || len(c.batches[0]) != 4 || len(c.batches[2]) != 2 {
		t.Errorf("batches of %d, %d, ...; want 4, 4, 2", len(c.batches[0]), len(c.batches[1]))
	}
	if h := c.headers[0].Get("Authorization"); h != "Bearer x" {
		t.Errorf("Authorization = %q", h)
	}
	if got[0].Inputs[0].Num[0] != 1000 {
		t.Errorf("inputs did not survive: %+v", got[0].Inputs)
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		status, failures int
		wantErr          bool
		wantRequests     int
	}{
		{http.StatusServiceUnavailable, 2, false, 3},
		{http.StatusTooManyRequests, 1, false, 2},
		{http.StatusInternalServerError, 3, true, 3},
		{http.StatusBadRequest, 1, true, 1}, // not retried
		{http.StatusUnauthorized, 1, true, 1},
	} {
		t.Run(fmt.Sprint(tc.status, "x", tc.failures), func(t *testing.T) {
			c := &collector{status: tc.status}
			c.failures.Store(int32(tc.failures))
			w, _ := newWebhook(t, c, WebhookOptions{MaxAttempts: 3})
			err := w.Write(context.Background(), []Record{record(1, time.Now())})
			if (err != nil) != tc.wantErr {
				t.Errorf("Write: %v, want error %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the URL's query: %v", err)
			}
			if len(c.keys) != tc.wantRequests {
				t.Errorf("%d requests, want %d", len(c.keys), tc.wantRequests)
			}
			for _, k := range c.keys {
				if k != c.keys[0] || len(k) != 32 {
					t.Errorf("idempotency keys %v, want one key for every attempt", c.keys)
				}
			}
		})
	}
}

func TestWebhookNetworkErrorAndTimeout(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	w, err := NewWebhookSink(WebhookOptions{URL: url, MaxAttempts: 2, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), []Record{{}}); err == nil || !strings.Contains(err.Error(), "attempt 2 of 2") {
		t.Errorf("Write to a closed port: %v, want a failure after 2 attempts", err)
	}

	c := &collector{hold: make(chan struct{})}
	defer close(c.hold)
	slow, _ := newWebhook(t, c, WebhookOptions{Timeout: 20 * time.Millisecond, MaxAttempts: 1})
	begin := time.Now()
	if err := slow.Write(context.Background(), []Record{{}}); err == nil {
		t.Error("Write to a server that never answers: no error")
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Write took %v despite a 20ms timeout", took)
	}
}

// TestWebhookFailingServerDoesNotBlock logs to a webhook that always
// fails: Log stays fast, failures and drops are counted, nothing is lost
// from the count.
func TestWebhookFailingServerDoesNotBlock(t *testing.T) {
	c := &collector{status: http.StatusBadGateway}
	c.failures.Store(1 << 30)
	w, _ := newWebhook(t, c, WebhookOptions{MaxAttempts: 2})
	l := mustNew(t, Options{}, SinkOptions{Name: "hook", Sink: w, QueueSize: 16, BatchSize: 8, FlushInterval: time.Millisecond})
	start(t, l)
	const n = 2000
	begin := time.Now()
	for i := range n {
		l.Log(Record{RequestID: fmt.Sprint(i)})
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("%d Log calls took %v with a failing webhook", n, took)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()[0]
	if st.Written != 0 || st.Failed == 0 || st.Failed+st.Dropped != n || st.WriteErrors == 0 {
		t.Errorf("stats %+v, want every record failed or dropped", st)
	}
}

func TestNewWebhookSinkRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "collector:80", "ftp://x/y", "http://", "://x"} {
		if _, err := NewWebhookSink(WebhookOptions{URL: u}); err == nil {
			t.Errorf("NewWebhookSink(%q): no error", u)
		}
	}
}
