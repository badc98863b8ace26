package e2e

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// hangingServer accepts connections and never answers: a model server that
// hangs.
func hangingServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err, "listen")
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// pushHanging adds version 4 of "bc": a model server that never answers.
func pushHanging(t *testing.T, s *server) {
	sig := filepath.Join(t.TempDir(), "sig.json")
	must(t, os.WriteFile(sig, []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[-1,30]}],"outputs":[{"name":"predict","datatype":"FP32","shape":[-1]}]}`), 0o644), "write")
	s.cli(t, "model", "push", "bc", "--format", "http", "--url", hangingServer(t)+"/v2/models/bc", "--timeout", "5s", "--signature", sig)
}

func status(t *testing.T, url string, body []byte) (int, http.Header, time.Duration) {
	start := time.Now()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	must(t, err, "POST")
	readAll(t, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, time.Since(start)
}

func TestProtection(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"

	// Rate limit: a burst of 5 passes, the rest of a quick volley gets 429.
	s.cli(t, "endpoint", "protect", "bc", "--rate-limit", "2", "--burst", "5")
	limited := 0
	for i := 0; i < 20; i++ {
		code, h, _ := status(t, url, body)
		if code == http.StatusTooManyRequests {
			limited++
			if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("429 without a usable Retry-After: %q", h.Get("Retry-After"))
			}
		} else if code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if limited < 10 {
		t.Errorf("%d of 20 requests limited at 2/s with burst 5, want at least 10", limited)
	}

	// A canary whose model server hangs: with a timeout and fallback, every
	// request is answered by the stable version.
	pushHanging(t, s)
	s.cli(t, "endpoint", "protect", "bc", "--off")
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=50,4=50")
	s.cli(t, "endpoint", "protect", "bc", "--timeout", "200ms", "--fallback")
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		must(t, err, "POST")
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Sluice-Model-Version") != "1" {
			t.Fatalf("with fallback: %d from version %s", resp.StatusCode, resp.Header.Get("Sluice-Model-Version"))
		}
	}
	// Without fallback the canary's timeouts reach callers as 504.
	s.cli(t, "endpoint", "protect", "bc", "--timeout", "200ms")
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "4=100")
	v2 := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1,", 30), ",") + `]}]}`)
	if code, h, took := status(t, s.URL+"/v2/models/bc/infer", v2); code != http.StatusGatewayTimeout || took > 3*time.Second {
		t.Errorf("hanging version without fallback: %d after %v (%v), want 504 within the timeout", code, took, h)
	}
}

// TestSlowShadowDoesNotSlowPrimary mirrors every request to a version whose
// model server never answers: the primary's answers and latency must not
// change.
func TestSlowShadowDoesNotSlowPrimary(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"
	pushHanging(t, s)
	measure := func() time.Duration {
		var lat []time.Duration
		for i := 0; i < 200; i++ {
			code, h, took := status(t, url, body)
			if code != 200 || h.Get("Sluice-Model-Version") != "1" {
				t.Fatalf("status %d version %s", code, h.Get("Sluice-Model-Version"))
			}
			lat = append(lat, took)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return lat[len(lat)*99/100]
	}
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=100")
	base := measure()
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=100", "--shadow", "4")
	with := measure()
	t.Logf("p99 without shadow %v, with a hanging shadow %v", base, with)
	// Not a timing assertion on speed: a hanging shadow would add its full
	// 5 s timeout to the primary if the primary ever waited for it.
	if with > base+time.Second {
		t.Errorf("p99 with a hanging shadow %v, without %v: the primary path waits for the shadow", with, base)
	}
}

// TestRolling shifts an endpoint to a healthy version step by step to the
// end, then tries a candidate that fails every request and checks the shift
// halts with all traffic back on the stable version.
func TestRolling(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"
	waitState := func(want string) apiclient.Endpoint {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			status(t, url, body) // keep traffic flowing so checks have requests
			var ep apiclient.Endpoint
			s.cliJSON(t, &ep, "endpoint", "show", "bc")
			if ep.Spec.Rolling != nil && ep.Spec.Rolling.State == want {
				return ep
			}
			if time.Now().After(deadline) {
				t.Fatalf("rolling never reached %q: %+v", want, ep.Spec.Rolling)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	s.cli(t, "endpoint", "rolling", "bc", "--to", "2", "--steps", "3", "--interval", "300ms")
	ep := waitState("done")
	if sp := ep.Spec.Traffic.Split; len(sp) != 1 || sp[0].Version != 2 {
		t.Errorf("after a finished rolling shift: %+v", sp)
	}

	pushHanging(t, s) // version 4
	s.cli(t, "endpoint", "protect", "bc", "--timeout", "100ms")
	s.cli(t, "endpoint", "rolling", "bc", "--to", "4", "--steps", "4", "--interval", "500ms")
	ep = waitState("halted")
	if !strings.Contains(ep.Spec.Rolling.Reason, "version 4 failed") {
		t.Errorf("halt reason %q", ep.Spec.Rolling.Reason)
	}
	if sp := ep.Spec.Traffic.Split; sp[0].Version != 2 || sp[0].Weight != 100 {
		t.Errorf("after halting: %+v, want all traffic on version 2", sp)
	}
}
