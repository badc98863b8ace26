package api

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := artifact.Open(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, blobs, inference.NewFormats(xgboost.Format{}), registry.Options{MaxArtifactBytes: 1 << 20})
	reg.Attach(gateway.New(gateway.Options{}))
	mux := http.NewServeMux()
	New(reg, Options{Version: "test"}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func multipartBody(t *testing.T, parts map[string][]byte) (string, *bytes.Buffer) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, name := range []string{"metadata", "artifact", "other"} {
		if p, ok := parts[name]; ok {
			w, _ := mw.CreateFormFile(name, name)
			w.Write(p)
		}
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestErrors(t *testing.T) {
	srv := newServer(t)
	model, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	c := apiclient.New(srv.URL)
	if _, err := c.PushVersion(context.Background(), "bc", apiclient.PushMetadata{}, bytes.NewReader(model)); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 2<<20)
	tests := []struct {
		name, method, path, ctype string
		body                      func() *bytes.Buffer
		status                    int
		code, msg                 string
	}{
		{"push not multipart", "POST", "/api/v1/models/bc/versions", "application/json", func() *bytes.Buffer { return bytes.NewBufferString("{}") }, 400, apiclient.CodeInvalid, "multipart"},
		{"push without artifact", "POST", "/api/v1/models/bc/versions", "", func() *bytes.Buffer {
			ct, b := multipartBody(t, map[string][]byte{"metadata": []byte(`{}`)})
			_ = ct
			return b
		}, 400, apiclient.CodeInvalid, "artifact"},
		{"push unknown metadata field", "POST", "/api/v1/models/bc/versions", "", func() *bytes.Buffer {
			_, b := multipartBody(t, map[string][]byte{"metadata": []byte(`{"fromat":"x"}`), "artifact": model})
			return b
		}, 400, apiclient.CodeInvalid, "fromat"},
		{"push corrupt", "POST", "/api/v1/models/bc/versions", "", func() *bytes.Buffer {
			_, b := multipartBody(t, map[string][]byte{"artifact": model[:len(model)/2]})
			return b
		}, 422, apiclient.CodeInvalidModel, "invalid model"},
		{"push too large", "POST", "/api/v1/models/bc/versions", "", func() *bytes.Buffer {
			_, b := multipartBody(t, map[string][]byte{"artifact": big})
			return b
		}, 413, apiclient.CodeTooLarge, "limit"},
		{"unknown model", "GET", "/api/v1/models/nope", "", nil, 404, apiclient.CodeNotFound, `"nope"`},
		{"unknown version", "GET", "/api/v1/models/bc/versions/9", "", nil, 404, apiclient.CodeNotFound, "9"},
		{"alias bad body", "PUT", "/api/v1/models/bc/aliases/prod", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"version":"one"}`) }, 400, apiclient.CodeInvalid, "version"},
		{"alias zero", "PUT", "/api/v1/models/bc/aliases/prod", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"version":0}`) }, 400, apiclient.CodeInvalid, "version"},
		{"alias missing version", "PUT", "/api/v1/models/bc/aliases/prod", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"version":5}`) }, 404, apiclient.CodeNotFound, "5"},
		{"endpoint unknown field", "POST", "/api/v1/endpoints", "application/json", func() *bytes.Buffer {
			return bytes.NewBufferString(`{"name":"e","model":"bc","version":"1","weights":1}`)
		}, 400, apiclient.CodeInvalid, "weights"},
		{"endpoint no name", "POST", "/api/v1/endpoints", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"model":"bc","version":"1"}`) }, 400, apiclient.CodeInvalid, "name"},
		{"endpoint bad name", "POST", "/api/v1/endpoints", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"name":"A B","model":"bc","version":"1"}`) }, 400, apiclient.CodeInvalid, "A B"},
		{"endpoint unknown version", "POST", "/api/v1/endpoints", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"name":"e","model":"bc","version":"3"}`) }, 404, apiclient.CodeNotFound, "3"},
		{"endpoint empty body", "POST", "/api/v1/endpoints", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(``) }, 400, apiclient.CodeInvalid, "empty"},
		{"endpoint trailing data", "POST", "/api/v1/endpoints", "application/json", func() *bytes.Buffer { return bytes.NewBufferString(`{"name":"e","model":"bc","version":"1"} {}`) }, 400, apiclient.CodeInvalid, "after"},
		{"no route", "GET", "/api/v1/nothing", "", nil, 404, apiclient.CodeNotFound, "no route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body *bytes.Buffer
			ctype := tt.ctype
			if tt.body != nil {
				body = tt.body()
				if ctype == "" {
					// multipart bodies written by multipartBody start with the boundary line
					line, _, _ := strings.Cut(body.String(), "\r\n")
					ctype = "multipart/form-data; boundary=" + strings.TrimPrefix(line, "--")
				}
			} else {
				body = new(bytes.Buffer)
			}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, body)
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var eb apiclient.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil {
				t.Fatalf("body is not an error JSON: %v", err)
			}
			if resp.StatusCode != tt.status || eb.Error.Code != tt.code {
				t.Errorf("got %d %s (%s), want %d %s", resp.StatusCode, eb.Error.Code, eb.Error.Message, tt.status, tt.code)
			}
			if !strings.Contains(eb.Error.Message, tt.msg) {
				t.Errorf("message %q does not mention %q", eb.Error.Message, tt.msg)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	c := apiclient.New(srv.URL)
	model, _ := os.ReadFile("../../examples/xgboost/diabetes.json")
	v, err := c.PushVersion(ctx, "diabetes", apiclient.PushMetadata{Description: "d", Labels: map[string]string{"team": "x"}, Metrics: map[string]float64{"rmse": 53.1}}, bytes.NewReader(model))
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || v.Format != "xgboost" || v.Labels["team"] != "x" || v.Metrics["rmse"] != 53.1 || !strings.HasPrefix(v.Digest, "sha256:") {
		t.Errorf("pushed version = %+v", v)
	}
	v2, err := c.PushVersion(ctx, "diabetes", apiclient.PushMetadata{}, bytes.NewReader(model))
	if err != nil || v2.Version != 2 || v2.Digest != v.Digest {
		t.Errorf("second push = %+v, %v; want version 2 with the same digest", v2, err)
	}
	if _, err := c.SetAlias(ctx, "diabetes", "production", 2); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetVersion(ctx, "diabetes", "@production")
	if err != nil || got.Version != 2 || len(got.Aliases) != 1 {
		t.Errorf("GetVersion(@production) = %+v, %v", got, err)
	}
	ep, err := c.CreateEndpoint(ctx, apiclient.CreateEndpointRequest{Name: "d", EndpointSpec: apiclient.EndpointSpec{Model: "diabetes", Version: "@production"}})
	if err != nil || ep.ServingVersion != 2 {
		t.Fatalf("CreateEndpoint = %+v, %v", ep, err)
	}
	ep, err = c.UpdateEndpoint(ctx, "d", apiclient.UpdateEndpointRequest{Version: "1"})
	if err != nil || ep.ServingVersion != 1 || ep.Revision != 2 {
		t.Errorf("UpdateEndpoint = %+v, %v", ep, err)
	}
	hist, err := c.EndpointHistory(ctx, "d")
	if err != nil || len(hist) != 2 {
		t.Errorf("EndpointHistory = %v, %v", hist, err)
	}
	resp, err := http.Get(srv.URL + "/api/v1/models/diabetes/versions/1/artifact")
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b.Bytes(), model) {
		t.Error("downloaded artifact differs from the pushed file")
	}
}
