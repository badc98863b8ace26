package gateway

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/leanhttp"
)

// countLean counts the requests the lean loop answers.
type countLean struct {
	*Gateway
	n *atomic.Int64
}

func (c countLean) ServeLean(w *leanhttp.Response, r *leanhttp.Request) {
	c.n.Add(1)
	c.Gateway.ServeLean(w, r)
}

// serveBoth serves g through net/http alone and through the lean loop in
// front of net/http, and returns the two base URLs and the count of
// requests the lean loop answered.
func serveBoth(t *testing.T, g *Gateway) (plain, lean string, leanServed *atomic.Int64) {
	t.Helper()
	mux := http.NewServeMux()
	g.Register(mux)
	urls := make([]string, 2)
	leanServed = new(atomic.Int64)
	for i := range urls {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: mux}
		httpLn := ln
		if i == 1 {
			ls := leanhttp.New(countLean{g, leanServed}, leanhttp.Options{MaxBodyBytes: g.MaxBodyBytes()})
			httpLn = ls.Handoff()
			go ls.Serve(ln)
			t.Cleanup(func() { ls.Close() })
		}
		go hs.Serve(httpLn)
		t.Cleanup(func() { hs.Close() })
		urls[i] = "http://" + ln.Addr().String()
	}
	return urls[0], urls[1], leanServed
}

type leanAnswer struct {
	Status                             int
	Body                               string
	ContentType, RetryAfter, Version   string
	RequestID, Role, ContentLengthSeen string
}

func postAnswer(t *testing.T, url, body string, header map[string]string) leanAnswer {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return leanAnswer{Status: resp.StatusCode, Body: string(b), ContentType: resp.Header.Get("Content-Type"),
		RetryAfter: resp.Header.Get("Retry-After"), Version: resp.Header.Get(HeaderModelVersion),
		RequestID: resp.Header.Get(HeaderRequestID), Role: resp.Header.Get(HeaderModelRole), ContentLengthSeen: resp.Header.Get("Content-Length")}
}

// TestLeanAnswersAsNetHTTP checks the gateway answers alike through the
// lean loop and through net/http, errors with Retry-After included.
func TestLeanAnswersAsNetHTTP(t *testing.T) {
	row := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`
	rid := map[string]string{HeaderRequestID: "lean-1"}
	tests := []struct {
		name   string
		setup  func(g *Gateway)
		path   string
		body   string
		status int
	}{
		{"infer", nil, "/v2/models/bc/infer", row, 200},
		{"explained", nil, "/v2/models/bc/infer?explain=true", row, 200},
		{"pinned", nil, "/v2/models/bc/versions/2/infer", row, 200},
		{"bad body", nil, "/v2/models/bc/infer", `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,29],"data":[1]}]}`, 400},
		{"too large", nil, "/v2/models/bc/infer", strings.Repeat(" ", 2<<10), 413},
		{"rate limited", func(g *Gateway) {
			ep := g.Current().Endpoints["bc"]
			ep.Guard = NewGuard(0.001, 1, 0)
			ep.Guard.admit("bc") // spend the only token
		}, "/v2/models/bc/infer", row, 429},
		{"starting", func(g *Gateway) { g.snap.Store(nil) }, "/v2/models/bc/infer", row, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2]leanAnswer
			for i := range got {
				// A gateway per path, so the limiter's state is the same for both.
				g, _ := newTestGateway(t, Options{MaxBodyBytes: 1 << 10})
				if tt.setup != nil {
					tt.setup(g)
				}
				plain, lean, served := serveBoth(t, g)
				url := plain
				if i == 1 {
					url = lean
				}
				got[i] = postAnswer(t, url+tt.path, tt.body, rid)
				if i == 1 && served.Load() != 1 {
					t.Errorf("the lean loop answered %d requests, want 1", served.Load())
				}
			}
			if got[1].Status != tt.status {
				t.Errorf("lean: %d %s, want %d", got[1].Status, got[1].Body, tt.status)
			}
			if diff := cmp.Diff(got[0], got[1]); diff != "" {
				t.Errorf("net/http and lean differ (-net/http +lean):\n%s", diff)
			}
		})
	}
}
