// Package apiclient is the typed client of Sluice's control API. The CLI and
// the end-to-end tests use it; they talk to the server through nothing else.
package apiclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/traffic"
)

// Client calls one Sluice server.
type Client struct {
	base string
	http *http.Client
}

// Option configures a Client.
type Option func(*options)

type options struct {
	token string
	tls   *tls.Config
}

// WithToken sends token as "Authorization: Bearer TOKEN" on every request.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS uses cfg for https:// servers (a private CA, a client
// certificate for mTLS).
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// New returns a client for the server at base ("http://127.0.0.1:8080";
// a bare "host:port" gets http://).
func New(base string, opts ...Option) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.tls != nil {
		tr.TLSClientConfig = o.tls
	}
	var rt http.RoundTripper = tr
	if o.token != "" {
		rt = bearer{token: o.token, next: tr}
	}
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 5 * time.Minute, Transport: rt}}
}

// bearer adds the API token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// Base returns the server's base URL.
func (c *Client) Base() string { return c.base }

// Error is a control API error answer.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling Sluice at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading answer from %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		return answerError(req, resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decoding answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// PushVersion uploads an artifact as a new version of model.
func (c *Client) PushVersion(ctx context.Context, model string, md PushMetadata, artifact io.Reader) (Version, error) {
	return c.PushVersionWithBaseline(ctx, model, md, artifact, nil)
}

// PushVersionWithBaseline pushes a version with its training sample (a CSV
// with a header row), which the server summarises into the version's drift
// baseline; a nil baseline pushes none.
func (c *Client) PushVersionWithBaseline(ctx context.Context, model string, md PushMetadata, artifact, baseline io.Reader) (Version, error) {
	var v Version
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			mdJSON, err := json.Marshal(md)
			if err != nil {
				return err
			}
			if err := mw.WriteField("metadata", string(mdJSON)); err != nil {
				return err
			}
			fw, err := mw.CreateFormFile("artifact", "artifact")
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, artifact); err != nil {
				return fmt.Errorf("reading model file: %w", err)
			}
			if baseline != nil {
				bw, err := mw.CreateFormFile("baseline", "baseline.csv")
				if err != nil {
					return err
				}
				if _, err := io.Copy(bw, baseline); err != nil {
					return fmt.Errorf("reading baseline file: %w", err)
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/models/"+esc(model)+"/versions", pr)
	if err != nil {
		return v, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	err = c.send(req, &v)
	pr.Close()
	return v, err
}

// ListModels returns every model.
func (c *Client) ListModels(ctx context.Context) ([]Model, error) {
	var out struct {
		Models []Model `json:"models"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/models", nil, &out)
	return out.Models, err
}

// GetModel returns one model.
func (c *Client) GetModel(ctx context.Context, name string) (Model, error) {
	var m Model
	err := c.do(ctx, http.MethodGet, "/api/v1/models/"+esc(name), nil, &m)
	return m, err
}

// ListVersions returns every version of a model, oldest first.
func (c *Client) ListVersions(ctx context.Context, model string) ([]Version, error) {
	var out struct {
		Versions []Version `json:"versions"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/models/"+esc(model)+"/versions", nil, &out)
	return out.Versions, err
}

// GetVersion resolves ref (a number, an alias or "latest").
func (c *Client) GetVersion(ctx context.Context, model, ref string) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/api/v1/models/"+esc(model)+"/versions/"+esc(ref), nil, &v)
	return v, err
}

// SetAlias moves alias to version.
func (c *Client) SetAlias(ctx context.Context, model, alias string, version int) (AliasChange, error) {
	var ch AliasChange
	err := c.do(ctx, http.MethodPut, "/api/v1/models/"+esc(model)+"/aliases/"+esc(alias), SetAliasRequest{Version: version}, &ch)
	return ch, err
}

// DeleteAlias removes an alias.
func (c *Client) DeleteAlias(ctx context.Context, model, alias string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/models/"+esc(model)+"/aliases/"+esc(alias), nil, nil)
}

// AliasHistory returns every alias move of a model, oldest first.
func (c *Client) AliasHistory(ctx context.Context, model string) ([]AliasChange, error) {
	var out struct {
		Changes []AliasChange `json:"changes"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/models/"+esc(model)+"/aliases", nil, &out)
	return out.Changes, err
}

// CreateEndpoint creates an endpoint.
func (c *Client) CreateEndpoint(ctx context.Context, req CreateEndpointRequest) (Endpoint, error) {
	var e Endpoint
	err := c.do(ctx, http.MethodPost, "/api/v1/endpoints", req, &e)
	return e, err
}

// ListEndpoints returns every endpoint.
func (c *Client) ListEndpoints(ctx context.Context) ([]Endpoint, error) {
	var out struct {
		Endpoints []Endpoint `json:"endpoints"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints", nil, &out)
	return out.Endpoints, err
}

// GetEndpoint returns one endpoint.
func (c *Client) GetEndpoint(ctx context.Context, name string) (Endpoint, error) {
	var e Endpoint
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(name), nil, &e)
	return e, err
}

// UpdateEndpoint changes an endpoint.
func (c *Client) UpdateEndpoint(ctx context.Context, name string, req UpdateEndpointRequest) (Endpoint, error) {
	var e Endpoint
	err := c.do(ctx, http.MethodPatch, "/api/v1/endpoints/"+esc(name), req, &e)
	return e, err
}

// DeleteEndpoint removes an endpoint.
func (c *Client) DeleteEndpoint(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/endpoints/"+esc(name), nil, nil)
}

// EndpointHistory returns every revision of an endpoint.
func (c *Client) EndpointHistory(ctx context.Context, name string) ([]Endpoint, error) {
	var out struct {
		Revisions []Endpoint `json:"revisions"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(name)+"/history", nil, &out)
	return out.Revisions, err
}

// ServedAt says which versions served an endpoint at a moment, and who
// made it so.
func (c *Client) ServedAt(ctx context.Context, name string, at time.Time) (Served, error) {
	var out struct {
		Served Served `json:"served"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(name)+"/history?at="+url.QueryEscape(at.UTC().Format(time.RFC3339Nano)), nil, &out)
	return out.Served, err
}

// Predict calls the plain JSON inference form with body and returns the raw
// answer and the version that gave it.
func (c *Client) Predict(ctx context.Context, endpoint string, body []byte) ([]byte, int, error) {
	data, v, _, err := c.predict(ctx, endpoint, "", body, nil)
	return data, v, err
}

// PredictWithHeaders is Predict with extra request headers (a sensitive
// attribute, a sticky key); it also returns the request id.
func (c *Client) PredictWithHeaders(ctx context.Context, endpoint string, body []byte, headers map[string]string) ([]byte, int, string, error) {
	return c.predict(ctx, endpoint, "", body, headers)
}

// PredictExplain is Predict with ?explain=true: the answer also holds each
// row's per-feature contributions (docs/explanations.md).
func (c *Client) PredictExplain(ctx context.Context, endpoint string, body []byte) ([]byte, int, error) {
	data, v, _, err := c.predict(ctx, endpoint, "?explain=true", body, nil)
	return data, v, err
}

func (c *Client) predict(ctx context.Context, endpoint, query string, body []byte, headers map[string]string) ([]byte, int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/endpoints/"+esc(endpoint)+":predict"+query, bytes.NewReader(body))
	if err != nil {
		return nil, 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, "", fmt.Errorf("calling Sluice at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, "", err
	}
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			return nil, 0, "", &Error{Status: resp.StatusCode, Code: CodeInvalid, Message: eb.Error}
		}
		return nil, 0, "", &Error{Status: resp.StatusCode, Message: string(data)}
	}
	v, _ := strconv.Atoi(resp.Header.Get("Sluice-Model-Version"))
	return data, v, resp.Header.Get("Sluice-Request-Id"), nil
}

// ServerInfo is GET /api/v1/info.
type ServerInfo struct {
	Version string   `json:"version"`
	Store   string   `json:"store"`
	Formats []string `json:"formats"`
}

// Info returns the server's version, store kind and formats.
func (c *Client) Info(ctx context.Context) (ServerInfo, error) {
	var i ServerInfo
	err := c.do(ctx, http.MethodGet, "/api/v1/info", nil, &i)
	return i, err
}

// SetTraffic replaces an endpoint's traffic policy.
func (c *Client) SetTraffic(ctx context.Context, name string, p traffic.Policy) (Endpoint, error) {
	var e Endpoint
	err := c.do(ctx, http.MethodPut, "/api/v1/endpoints/"+esc(name)+"/traffic", p, &e)
	return e, err
}

// Compare returns how an endpoint's shadow and challenger versions compare.
func (c *Client) Compare(ctx context.Context, name string) (Comparison, error) {
	var out Comparison
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(name)+"/compare", nil, &out)
	return out, err
}

// StartRolling begins a stepwise shift of an endpoint to r.To.
func (c *Client) StartRolling(ctx context.Context, name string, r Rolling) (Endpoint, error) {
	var e Endpoint
	err := c.do(ctx, http.MethodPost, "/api/v1/endpoints/"+esc(name)+"/rolling", r, &e)
	return e, err
}

// Logs returns an endpoint's prediction log records as JSON lines; query
// may hold since, until, version and limit.
func (c *Client) Logs(ctx context.Context, endpoint string, query url.Values) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/endpoints/"+esc(endpoint)+"/logs?"+query.Encode(), nil)
	if err != nil {
		return nil, err
	}
	return c.open(req)
}

// open sends req and returns the answer's body for the caller to read and
// close; a failed answer is an error, as for every other call.
func (c *Client) open(req *http.Request) (io.ReadCloser, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling Sluice at %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, answerError(req, resp, data)
	}
	return resp.Body, nil
}

// answerError is the error for a failed answer: the API's error body when
// it sent one, else the request, the status and what the body said.
func answerError(req *http.Request, resp *http.Response, data []byte) error {
	var eb ErrorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
		return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: fmt.Sprintf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(data))}
}

// PutEndpoint creates or replaces an endpoint's spec (idempotent); with
// dryRun it only says what would change.
func (c *Client) PutEndpoint(ctx context.Context, name string, spec EndpointSpec, dryRun bool) (PutEndpointResult, error) {
	var out PutEndpointResult
	path := "/api/v1/endpoints/" + url.PathEscape(name)
	if dryRun {
		path += "?dryRun=true"
	}
	err := c.do(ctx, http.MethodPut, path, spec, &out)
	return out, err
}

// Facts returns what the strategy advisor decides on for an endpoint.
func (c *Client) Facts(ctx context.Context, name string) (EndpointFacts, error) {
	var out EndpointFacts
	err := c.do(ctx, http.MethodGet, "/api/v1/endpoints/"+esc(name)+"/facts", nil, &out)
	return out, err
}

// Artifact downloads a version's model file (ref: a number, an alias or
// "latest") and checks it against the digest the server announces.
func (c *Client) Artifact(ctx context.Context, model, ref string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/models/"+esc(model)+"/versions/"+esc(ref)+"/artifact", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling Sluice at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, answerError(req, resp, data)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("downloading %s@%s: %w", model, ref, err)
	}
	if d := strings.TrimPrefix(resp.Header.Get("Digest"), "sha-256="); d != "" {
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != d {
			return nil, fmt.Errorf("downloading %s@%s: the artifact does not match its digest %s", model, ref, d)
		}
	}
	return data, nil
}
