package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// fastPathHeaders are the answer headers that must not differ between the
// lean HTTP/1.1 path and net/http.
var fastPathHeaders = []string{"Content-Type", "Content-Length", "Sluice-Request-Id", "Sluice-Model-Version", "Sluice-Model-Role", "Retry-After", "Connection", "Www-Authenticate"}

// exchange is what a server answered on one connection.
type exchange struct {
	Answers []answerSeen
	// Closed is true when the server closed the connection after them.
	Closed bool
}

type answerSeen struct {
	Status  int
	Header  map[string]string
	Body    string
	HasDate bool
	// Close is true when the answer says Connection: close.
	Close bool
}

// TestFastPathConformance sends the same raw requests to a server with the
// lean HTTP/1.1 path on and one with it off, and checks both answer alike:
// status, body, the headers that matter, and whether the connection stays
// open. Requests the lean path does not take are handed to net/http,
// which must still answer them on the same connection.
func TestFastPathConformance(t *testing.T) {
	on := startTestServer(t, Config{MaxBodyBytes: 1 << 20})
	off := startTestServer(t, Config{MaxBodyBytes: 1 << 20, NoHTTPFastPath: true})
	if !strings.Contains(on.logs.String(), "http_fast_path=true") || !strings.Contains(off.logs.String(), "http_fast_path=false") {
		t.Fatalf("the servers do not say which path they use:\n%s\n%s", on.logs.String(), off.logs.String())
	}
	model, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range []*testServer{on, off} {
		admin := apiclient.New(s.url, apiclient.WithToken(s.admin))
		for i := 0; i < 2; i++ {
			if _, err := admin.PushVersion(ctx, "bc", apiclient.PushMetadata{}, bytes.NewReader(model)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := admin.CreateEndpoint(ctx, apiclient.CreateEndpointRequest{Name: "bc", EndpointSpec: apiclient.EndpointSpec{Model: "bc", Version: "1"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CreateEndpoint(ctx, apiclient.CreateEndpointRequest{Name: "sec", EndpointSpec: apiclient.EndpointSpec{Model: "bc", Version: "1", Auth: "token"}}); err != nil {
			t.Fatal(err)
		}
	}
	row := strings.TrimSuffix(strings.Repeat("1.5,", 30), ",")
	infer := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + row + `]}]}`
	features := strings.Split(strings.SplitN(mustRead(t, "../../examples/xgboost/breast_cancer.csv"), "\n", 2)[0], ",")
	var inst []string
	for _, f := range features {
		if f != "target" {
			inst = append(inst, fmt.Sprintf("%q:1.0", f))
		}
	}
	predict := `{"instances":[{` + strings.Join(inst, ",") + `}]}`
	rid := "Sluice-Request-Id: conf-1\r\n"
	post := func(path, headers, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: sluice\r\n%sContent-Length: %d\r\n\r\n%s", path, headers, len(body), body)
	}
	authz := func(s *testServer) string { return "Authorization: Bearer " + s.admin + "\r\n" }
	tests := []struct {
		name string
		// raw builds the bytes sent; answers is how many answers to read.
		raw        func(s *testServer) string
		wantStatus []int
		wantClosed bool
	}{
		{"infer", func(*testServer) string { return post("/v2/models/bc/infer", rid, infer) }, []int{200}, false},
		{"infer with the request id in the body", func(*testServer) string {
			return post("/v2/models/bc/infer", rid, `{"id":"body-1","inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[`+row+`]}]}`)
		}, []int{200}, false},
		{"infer explained", func(*testServer) string { return post("/v2/models/bc/infer?explain=true", rid, infer) }, []int{200}, false},
		{"infer with a bad explain query", func(*testServer) string { return post("/v2/models/bc/infer?explain=maybe", rid, infer) }, []int{400}, false},
		{"infer pinned", func(*testServer) string { return post("/v2/models/bc/versions/2/infer", rid, infer) }, []int{200}, false},
		{"infer pinned to a missing version", func(*testServer) string { return post("/v2/models/bc/versions/9/infer", rid, infer) }, []int{404}, false},
		{"infer pinned to a bad version", func(*testServer) string { return post("/v2/models/bc/versions/x/infer", rid, infer) }, []int{400}, false},
		{"infer on the preview without one", func(*testServer) string { return post("/v2/models/bc/preview/infer", rid, infer) }, []int{404}, false},
		{"predict", func(*testServer) string { return post("/v1/endpoints/bc:predict", rid, predict) }, []int{200}, false},
		{"predict, unknown method", func(*testServer) string { return post("/v1/endpoints/bc:guess", rid, predict) }, []int{404}, false},
		{"predict, missing feature", func(*testServer) string { return post("/v1/endpoints/bc:predict", rid, `{"instances":[{"x":1}]}`) }, []int{400}, false},
		{"bad JSON", func(*testServer) string { return post("/v2/models/bc/infer", rid, `{"inputs":[`) }, []int{400}, false},
		{"wrong shape names the field", func(*testServer) string {
			return post("/v2/models/bc/infer", rid, `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,29],"data":[`+row+`]}]}`)
		}, []int{400}, false},
		{"unknown endpoint", func(*testServer) string { return post("/v2/models/nope/infer", rid, infer) }, []int{404}, false},
		{"oversize Content-Length", func(*testServer) string {
			return fmt.Sprintf("POST /v2/models/bc/infer HTTP/1.1\r\nHost: sluice\r\n%sContent-Length: %d\r\n\r\n{", rid, 2<<20)
		}, []int{413}, true},
		{"oversize Content-Length, unknown endpoint", func(*testServer) string {
			return fmt.Sprintf("POST /v2/models/nope/infer HTTP/1.1\r\nHost: sluice\r\n%sContent-Length: %d\r\n\r\n{", rid, 2<<20)
		}, []int{404}, true},
		{"chunked body", func(*testServer) string {
			return "POST /v2/models/bc/infer HTTP/1.1\r\nHost: sluice\r\n" + rid + "Transfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(infer), infer) + post("/v2/models/bc/infer", rid, infer)
		}, []int{200, 200}, false},
		{"Expect: 100-continue", func(*testServer) string { return post("/v2/models/bc/infer", rid+"Expect: 100-continue\r\n", infer) }, []int{200}, false},
		{"gzip body", func(*testServer) string { return post("/v2/models/bc/infer", rid+"Content-Encoding: gzip\r\n", infer) }, []int{415}, false},
		{"pipelined", func(*testServer) string {
			return post("/v2/models/bc/infer", rid, infer) + post("/v1/endpoints/bc:predict", rid, predict) + post("/v2/models/bc/infer", rid, `{`)
		}, []int{200, 200, 400}, false},
		{"HTTP/1.0", func(*testServer) string {
			return fmt.Sprintf("POST /v2/models/bc/infer HTTP/1.0\r\n%sContent-Length: %d\r\n\r\n%s", rid, len(infer), infer)
		}, []int{200}, true},
		{"HTTP/1.0 keep-alive", func(*testServer) string {
			r := fmt.Sprintf("POST /v2/models/bc/infer HTTP/1.0\r\nConnection: keep-alive\r\n%sContent-Length: %d\r\n\r\n%s", rid, len(infer), infer)
			return r + r
		}, []int{200, 200}, false},
		{"Connection: close", func(*testServer) string {
			return post("/v2/models/bc/infer", rid+"Connection: close\r\n", infer) + post("/v2/models/bc/infer", rid, infer)
		}, []int{200}, true},
		{"health, then infer", func(*testServer) string {
			return "GET /v2/health/ready HTTP/1.1\r\nHost: sluice\r\n\r\n" + post("/v2/models/bc/infer", rid, infer)
		}, []int{200, 200}, false},
		{"infer, then the control API", func(s *testServer) string {
			return post("/v2/models/bc/infer", rid, infer) + "GET /api/v1/whoami HTTP/1.1\r\nHost: sluice\r\n" + authz(s) + "\r\n"
		}, []int{200, 200}, false},
		{"infer, metadata, infer", func(s *testServer) string {
			return post("/v2/models/bc/infer", rid, infer) + "GET /v2/models/bc HTTP/1.1\r\nHost: sluice\r\n\r\n" + post("/v2/models/bc/infer", rid, infer)
		}, []int{200, 200, 200}, false},
		{"token endpoint without a token", func(*testServer) string { return post("/v2/models/sec/infer", rid, infer) }, []int{401}, false},
		{"token endpoint with a bad token", func(*testServer) string {
			return post("/v2/models/sec/infer", rid+"Authorization: Bearer nope\r\n", infer)
		}, []int{401}, false},
		{"token endpoint with a token", func(s *testServer) string { return post("/v2/models/sec/infer", rid+authz(s), infer) }, []int{200}, false},
		{"predict on a token endpoint with a token", func(s *testServer) string { return post("/v1/endpoints/sec:predict", rid+authz(s), predict) }, []int{200}, false},
		{"escaped path", func(*testServer) string { return post("/v2/models/b%63/infer", rid, infer) }, []int{200}, false},
		{"unclean path", func(*testServer) string { return post("/v2/models//bc/infer", rid, infer) }, []int{307}, false},
		{"no Host", func(*testServer) string {
			return fmt.Sprintf("POST /v2/models/bc/infer HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", len(infer), infer)
		}, []int{400}, true},
		{"malformed request line", func(*testServer) string {
			return fmt.Sprintf("POST /v2/models/bc/infer HTTP/1.1 extra\r\nHost: sluice\r\nContent-Length: %d\r\n\r\n%s", len(infer), infer)
		}, []int{400}, true},
		{"malformed header", func(*testServer) string { return post("/v2/models/bc/infer", "Bad Header: x\r\n", infer) }, []int{400}, true},
		{"header with a control character", func(*testServer) string { return post("/v2/models/bc/infer", "X-A: a\x01b\r\n", infer) }, []int{400}, true},
		{"two Content-Lengths", func(*testServer) string { return post("/v2/models/bc/infer", "Content-Length: 3\r\n", infer) }, []int{400}, true},
		{"header too large", func(*testServer) string {
			return post("/v2/models/bc/infer", "X-Big: "+strings.Repeat("a", 70<<10)+"\r\n", infer)
		}, []int{431}, true},
		{"infer, then a malformed request", func(*testServer) string {
			return post("/v2/models/bc/infer", rid, infer) + "POST /v2/models/bc/infer HTTP/9\r\nHost: x\r\n\r\n"
		}, []int{200, 400}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotOn := converse(t, on, tt.raw(on), len(tt.wantStatus))
			gotOff := converse(t, off, tt.raw(off), len(tt.wantStatus))
			var status []int
			for _, a := range gotOn.Answers {
				status = append(status, a.Status)
				if !a.HasDate && a.Header["Content-Type"] == "application/json" {
					t.Errorf("an answer without Date: %+v", a)
				}
			}
			if !cmp.Equal(status, tt.wantStatus) || gotOn.Closed != tt.wantClosed {
				t.Errorf("fast path on: statuses %v, closed %v; want %v, closed %v\n%+v", status, gotOn.Closed, tt.wantStatus, tt.wantClosed, gotOn)
			}
			if diff := cmp.Diff(gotOff, gotOn); diff != "" {
				t.Errorf("fast path on and off differ (-off +on):\n%s", diff)
			}
		})
	}
}

// converse sends raw on a new connection and reads n answers (skipping 1xx
// ones), then whether the server closes the connection.
func converse(t *testing.T, s *testServer, raw string, n int) exchange {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { _, _ = io.WriteString(conn, raw) }() // a big request may not fit the socket buffers
	br := bufio.NewReader(conn)
	var ex exchange
	for len(ex.Answers) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d: %v (so far %+v)", len(ex.Answers)+1, err, ex)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading answer %d's body: %v", len(ex.Answers)+1, err)
		}
		if resp.StatusCode < 200 {
			continue
		}
		a := answerSeen{Status: resp.StatusCode, Header: map[string]string{}, Body: string(body), HasDate: resp.Header.Get("Date") != "", Close: resp.Close}
		for _, h := range fastPathHeaders {
			if v, ok := resp.Header[h]; ok {
				a.Header[h] = strings.Join(v, ", ")
			}
		}
		ex.Answers = append(ex.Answers, a)
	}
	conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	_, err = br.ReadByte()
	var ne net.Error
	ex.Closed = !(errors.As(err, &ne) && ne.Timeout())
	return ex
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
