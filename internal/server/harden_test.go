package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// TestHostileRequests sends the requests of the threat table (docs/security.md)
// to a real server and checks each gets a 4xx naming the problem.
func TestHostileRequests(t *testing.T) {
	s := startTestServer(t, Config{MaxBodyBytes: 1 << 20})
	ctx := context.Background()
	admin := apiclient.New(s.url, apiclient.WithToken(s.admin))
	model, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PushVersion(ctx, "bc", apiclient.PushMetadata{}, bytes.NewReader(model)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateEndpoint(ctx, apiclient.CreateEndpointRequest{Name: "bc", EndpointSpec: apiclient.EndpointSpec{Model: "bc", Version: "1"}}); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("["), 50<<20)) // 50 MiB of brackets, ~50 KiB compressed
	zw.Close()
	deep := strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000)
	deepObj := `{"name":"x","model":"bc","version":"1","description":` + deep + `}`
	tests := []struct {
		name, method, path string
		body               []byte
		header             map[string]string
		status             int
		want               string
	}{
		{"control body too large", "POST", "/api/v1/endpoints", []byte(`{"name":"` + strings.Repeat("x", 2<<20) + `"}`), nil, 413, "exceeds"},
		{"control JSON too deep", "POST", "/api/v1/endpoints", []byte(deepObj), nil, 400, "depth"},
		{"infer JSON too deep", "POST", "/v2/models/bc/infer", []byte(`{"inputs":` + deep + `}`), nil, 400, ""},
		{"predict JSON too deep", "POST", "/v1/endpoints/bc:predict", []byte(`{"instances":` + deep + `}`), nil, 400, ""},
		{"infer body too large", "POST", "/v2/models/bc/infer", bytes.Repeat([]byte(" "), 2<<20), nil, 413, "limit"},
		{"gzip bomb to inference", "POST", "/v2/models/bc/infer", gz.Bytes(), map[string]string{"Content-Encoding": "gzip"}, 415, "Content-Encoding"},
		{"gzip bomb to the API", "POST", "/api/v1/endpoints", gz.Bytes(), map[string]string{"Content-Encoding": "gzip"}, 415, "Content-Encoding"},
		{"traversal in a model name", "POST", "/api/v1/models/..%2F..%2Fetc/versions", []byte("x"), map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 400, "model name"},
		{"traversal in an endpoint name", "GET", "/api/v1/endpoints/..%2Fsluice.db", nil, nil, 400, "endpoint name"},
		{"traversal in a version ref", "GET", "/api/v1/models/bc/versions/..%2F..%2Fsluice.db/artifact", nil, nil, 400, "version reference"},
		{"traversal in a log query", "GET", "/api/v1/endpoints/..%2F..%2F/logs", nil, nil, 400, ""},
	}
	client := &http.Client{Timeout: 30 * time.Second}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.url+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+s.admin)
			if tt.body != nil && req.Header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
				t.Errorf("%d %.300s; want %d mentioning %q", resp.StatusCode, b, tt.status, tt.want)
			}
		})
	}
	// The server is still healthy.
	if _, err := admin.GetEndpoint(ctx, "bc"); err != nil {
		t.Fatal(err)
	}
}

// TestSlowClientsAreCut checks the read timeout closes a connection whose
// body trickles in.
func TestSlowClientsAreCut(t *testing.T) {
	s := startTestServer(t, Config{ReadTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v2/models/bc/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept a slow client's connection open for 20s")
			}
			return // closed by the server
		}
	}
}
