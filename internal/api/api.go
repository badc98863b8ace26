// Package api serves Sluice's control API under /api/v1: the registry,
// aliases and endpoints. The CLI and the web UI use only this API.
//
// Status codes are chosen in one place, writeError, from the sentinel errors
// the registry and store return; every error body has a stable code and a
// message that names the field or object at fault.
//
// Every route declares the least role that may call it, where it is
// registered. Add a route with
//
//	a.handle(mux, "POST /api/v1/rollouts", auth.Deployer, a.createRollout)
//
// (auth.Viewer to read, auth.Deployer to change deployments, auth.Approver
// to approve, auth.Admin for tokens and settings, auth.Public for none),
// never with mux.HandleFunc: the server's auth middleware checks the role
// declared for the matched pattern, and treats any /api/ route registered
// without one as admin-only. TestEveryRouteHasARole pins every route's role
// in testdata/routes.golden (add yours with `go test ./internal/api -run
// TestEveryRouteHasARole -update` and review the diff), and the route x
// role matrix test in internal/server calls each route as every role.
//
// Handlers take the caller from the request context: the store records
// audit.Actor(r.Context()) as the actor of every change it writes.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/onnx"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/rollout"
	"github.com/sluicehq/sluice/internal/signing"
	"github.com/sluicehq/sluice/internal/store"
)

// Options configure the API.
type Options struct {
	Logger  *slog.Logger
	Version string
	// DataPlane gives the API the routing table and monitors of this
	// process, for traffic shares, live counters and comparisons.
	DataPlane DataPlane
	// PredictionLogDir is the prediction log's file sink directory, read
	// by GET /api/v1/endpoints/{name}/logs; "" when there is none.
	PredictionLogDir string
	// Rollouts is the rollout controller; nil leaves out the rollout routes.
	Rollouts *rollout.Controller
	// Alerts evaluates alerting rules; nil serves empty alert lists.
	Alerts *alert.Manager
	// AuditKeys verifies the signed audit heads; nil skips the signatures
	// (their heads are still checked against the chain).
	AuditKeys signing.Keyring
	// Streams reports the stream pipelines this node runs; nil reports
	// none.
	Streams StreamStatus
	// Jobs runs batch jobs; nil leaves out the job routes.
	Jobs *jobs.Service
}

// API is the control API handler set.
type API struct {
	reg   *registry.Service
	log   *slog.Logger
	opts  Options
	roles map[string]auth.Role // least role by route pattern, filled by handle
	// started is when this API (and the process's monitors) started
	// counting, the window of the facts it reports.
	started time.Time
}

// New returns the API over a registry service.
func New(reg *registry.Service, opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{reg: reg, log: opts.Logger, opts: opts, roles: map[string]auth.Role{}, started: time.Now()}
}

// maxJSONBody bounds JSON request bodies of the control API.
const maxJSONBody = 1 << 20

// Register installs the control API routes on mux, each with its role.
func (a *API) Register(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/info", auth.Viewer, a.info)
	a.handle(mux, "GET /api/v1/models", auth.Viewer, a.listModels)
	a.handle(mux, "GET /api/v1/models/{model}", auth.Viewer, a.getModel)
	a.handle(mux, "GET /api/v1/models/{model}/versions", auth.Viewer, a.listVersions)
	a.handle(mux, "POST /api/v1/models/{model}/versions", auth.Deployer, a.pushVersion)
	a.handle(mux, "GET /api/v1/models/{model}/versions/{ref}", auth.Viewer, a.getVersion)
	a.handle(mux, "GET /api/v1/models/{model}/versions/{ref}/artifact", auth.Viewer, a.getArtifact)
	a.handle(mux, "GET /api/v1/models/{model}/aliases", auth.Viewer, a.aliasHistory)
	a.handle(mux, "PUT /api/v1/models/{model}/aliases/{alias}", auth.Deployer, a.setAlias)
	a.handle(mux, "DELETE /api/v1/models/{model}/aliases/{alias}", auth.Deployer, a.deleteAlias)
	a.handle(mux, "GET /api/v1/endpoints", auth.Viewer, a.listEndpoints)
	a.handle(mux, "POST /api/v1/endpoints", auth.Deployer, a.createEndpoint)
	a.handle(mux, "GET /api/v1/endpoints/{name}", auth.Viewer, a.getEndpoint)
	a.handle(mux, "PATCH /api/v1/endpoints/{name}", auth.Deployer, a.updateEndpoint)
	a.handle(mux, "PUT /api/v1/endpoints/{name}", auth.Deployer, a.putEndpoint)
	a.handle(mux, "DELETE /api/v1/endpoints/{name}", auth.Deployer, a.deleteEndpoint)
	a.handle(mux, "GET /api/v1/endpoints/{name}/history", auth.Viewer, a.endpointHistory)
	a.handle(mux, "PUT /api/v1/endpoints/{name}/traffic", auth.Deployer, a.setTraffic)
	a.handle(mux, "GET /api/v1/endpoints/{name}/compare", auth.Viewer, a.compare)
	a.handle(mux, "POST /api/v1/endpoints/{name}/rolling", auth.Deployer, a.startRolling)
	a.handle(mux, "GET /api/v1/endpoints/{name}/logs", auth.Viewer, a.logs)
	a.handle(mux, "GET /api/v1/endpoints/{name}/facts", auth.Viewer, a.facts)
	a.registerMonitoring(mux)
	a.registerSecurity(mux)
	a.registerRollouts(mux)
	a.registerStreams(mux)
	a.registerJobs(mux)
	a.handle(mux, "/api/", auth.Viewer, func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, fmt.Errorf("%w: no route %s %s", errNoRoute, r.Method, r.URL.Path))
	})
}

var errNoRoute = errors.New("not found")

func (a *API) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, apiclient.ServerInfo{
		Version: a.opts.Version,
		Store:   a.reg.Store().Dialect(),
		Formats: a.reg.Formats().Names(),
	})
}

// actor is who is making a change: the authenticated caller's name.
func actor(r *http.Request) string { return audit.Actor(r.Context()) }

// decodeJSON strictly decodes a JSON body into v, naming the bad field.
func decodeJSON(r *http.Request, w http.ResponseWriter, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &te):
			return fmt.Errorf("%w: %s: expected %s, got %s", registry.ErrInvalid, te.Field, te.Type, te.Value)
		case errors.As(err, &mbe):
			return fmt.Errorf("%w: request body exceeds %d bytes", errTooLarge, maxJSONBody)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: request body is empty; expected a JSON object", registry.ErrInvalid)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("%w: unknown field %s", registry.ErrInvalid, strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return fmt.Errorf("%w: request body is not valid JSON: %v", registry.ErrInvalid, err)
		}
	}
	if dec.More() {
		return fmt.Errorf("%w: request body has data after the JSON object", registry.ErrInvalid)
	}
	return nil
}

var errTooLarge = errors.New("too large")

// writeError is the one place where errors become status codes.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, apiclient.CodeInternal
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errNoRoute):
		status, code = http.StatusNotFound, apiclient.CodeNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		status, code = http.StatusConflict, apiclient.CodeAlreadyExists
	case errors.Is(err, store.ErrConflict):
		status, code = http.StatusConflict, apiclient.CodeConflict
	case errors.Is(err, store.ErrForbidden):
		status, code = http.StatusForbidden, apiclient.CodeForbidden
	case errors.Is(err, store.ErrInvalid), errors.Is(err, registry.ErrInvalid):
		status, code = http.StatusBadRequest, apiclient.CodeInvalid
	case errors.Is(err, inference.ErrInvalidOptions):
		status, code = http.StatusBadRequest, apiclient.CodeInvalid
	case errors.Is(err, inference.ErrInvalidModel):
		status, code = http.StatusUnprocessableEntity, apiclient.CodeInvalidModel
	case errors.Is(err, inference.ErrUnknownFormat):
		status, code = http.StatusBadRequest, apiclient.CodeUnknownFormat
	case errors.Is(err, inference.ErrUndetectable):
		status, code = http.StatusUnprocessableEntity, apiclient.CodeUndetectable
	case errors.Is(err, onnx.ErrUnavailable):
		status, code = http.StatusNotImplemented, apiclient.CodeUnavailable
	case errors.Is(err, registry.ErrSignature):
		status, code = http.StatusForbidden, apiclient.CodeForbidden
	case errors.Is(err, errTooLarge):
		status, code = http.StatusRequestEntityTooLarge, apiclient.CodeTooLarge
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		a.log.Error("control API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, apiclient.ErrorBody{Error: apiclient.ErrorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func versionView(v store.Version) apiclient.Version {
	aliases := v.Aliases
	if aliases == nil {
		aliases = []string{}
	}
	return apiclient.Version{
		Model: v.Model, Version: v.Version, Format: v.Format, Digest: "sha256:" + v.Digest, Size: v.Size,
		Description: v.Description, Labels: v.Labels, Metrics: v.Metrics, Signature: v.Signature,
		Params: v.Params, Aliases: aliases, CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy,
		ArtifactSignature: v.ArtifactSignature,
	}
}

func modelView(m store.ModelSummary) apiclient.Model {
	aliases := m.Aliases
	if aliases == nil {
		aliases = map[string]int{}
	}
	return apiclient.Model{Name: m.Name, Description: m.Description, LatestVersion: m.LatestVersion, Versions: m.Versions, Aliases: aliases, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func aliasView(c store.AliasChange) apiclient.AliasChange {
	return apiclient.AliasChange{Model: c.Model, Alias: c.Alias, Version: c.Version, Previous: c.Previous, ChangedAt: c.ChangedAt, ChangedBy: c.ChangedBy}
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) {
	ms, err := a.reg.Store().ListModels(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Model, len(ms))
	for i, m := range ms {
		out[i] = modelView(m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

func (a *API) getModel(w http.ResponseWriter, r *http.Request) {
	m, err := a.reg.Store().GetModel(r.Context(), r.PathValue("model"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, modelView(m))
}

func (a *API) listVersions(w http.ResponseWriter, r *http.Request) {
	vs, err := a.reg.Store().ListVersions(r.Context(), r.PathValue("model"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Version, len(vs))
	for i, v := range vs {
		out[i] = versionView(v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": out})
}

func (a *API) getVersion(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.Store().ResolveVersion(r.Context(), r.PathValue("model"), strings.TrimPrefix(r.PathValue("ref"), "@"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, versionView(v))
}

func (a *API) getArtifact(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.Store().ResolveVersion(r.Context(), r.PathValue("model"), strings.TrimPrefix(r.PathValue("ref"), "@"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	data, err := a.reg.Artifact(r.Context(), v.Digest)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Digest", "sha-256="+v.Digest)
	_, _ = w.Write(data)
}

// pushVersion takes multipart/form-data with a "metadata" JSON part (may be
// omitted) followed by an "artifact" file part.
func (a *API) pushVersion(w http.ResponseWriter, r *http.Request) {
	model := r.PathValue("model")
	if err := store.ValidateName("model name", model); err != nil {
		a.writeError(w, r, err) // before reading a body for nothing
		return
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		a.writeError(w, r, fmt.Errorf("%w: Content-Type: want multipart/form-data with parts \"metadata\" (JSON) and \"artifact\" (the model file)", registry.ErrInvalid))
		return
	}
	limit := a.reg.MaxArtifactBytes()
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, limit+maxJSONBody), params["boundary"])
	var md apiclient.PushMetadata
	var data []byte
	var baseline *registry.BaselineSpec
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			a.writeError(w, r, bodyError(err, limit))
			return
		}
		switch p.FormName() {
		case "metadata":
			dec := json.NewDecoder(io.LimitReader(p, maxJSONBody))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&md); err != nil {
				a.writeError(w, r, fmt.Errorf("%w: metadata: %v", registry.ErrInvalid, err))
				return
			}
		case "baseline":
			csv, err := io.ReadAll(io.LimitReader(p, maxBaselineBytes+1))
			if err != nil {
				a.writeError(w, r, bodyError(err, limit))
				return
			}
			if len(csv) > maxBaselineBytes {
				a.writeError(w, r, fmt.Errorf("%w: baseline: larger than the limit of %d bytes", errTooLarge, maxBaselineBytes))
				return
			}
			baseline = &registry.BaselineSpec{CSV: csv}
		case "artifact":
			if data, err = io.ReadAll(io.LimitReader(p, limit+1)); err != nil {
				a.writeError(w, r, bodyError(err, limit))
				return
			}
			if int64(len(data)) > limit {
				a.writeError(w, r, fmt.Errorf("%w: artifact: larger than the limit of %d bytes", errTooLarge, limit))
				return
			}
		default:
			a.writeError(w, r, fmt.Errorf("%w: unknown form part %q (want \"metadata\", \"artifact\" and optionally \"baseline\")", registry.ErrInvalid, p.FormName()))
			return
		}
	}
	if data == nil {
		a.writeError(w, r, fmt.Errorf("%w: artifact: the \"artifact\" part with the model file is missing", registry.ErrInvalid))
		return
	}
	req := registry.PushRequest{
		Model: model, Format: md.Format, Description: md.Description, Labels: md.Labels,
		Metrics: md.Metrics, Params: md.Params, Actor: actor(r), Artifact: data,
		ArtifactSignature: md.ArtifactSignature, Baseline: baseline,
	}
	if baseline != nil {
		baseline.Categorical = md.BaselineCategorical
	} else if len(md.BaselineCategorical) > 0 {
		a.writeError(w, r, fmt.Errorf("%w: metadata.baseline_categorical: given without a \"baseline\" part", registry.ErrInvalid))
		return
	}
	if len(md.Signature) > 0 && string(md.Signature) != "null" {
		req.Signature = new(inference.Signature)
		dec := json.NewDecoder(strings.NewReader(string(md.Signature)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(req.Signature); err != nil {
			a.writeError(w, r, fmt.Errorf("%w: metadata.signature: %v", registry.ErrInvalid, err))
			return
		}
	}
	v, err := a.reg.Push(r.Context(), req)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, versionView(v))
}

func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: request body exceeds the artifact limit of %d bytes", errTooLarge, limit)
	}
	return fmt.Errorf("%w: reading multipart body: %v", registry.ErrInvalid, err)
}

func (a *API) aliasHistory(w http.ResponseWriter, r *http.Request) {
	cs, err := a.reg.Store().AliasHistory(r.Context(), r.PathValue("model"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.AliasChange, len(cs))
	for i, c := range cs {
		out[i] = aliasView(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": out})
}

func (a *API) setAlias(w http.ResponseWriter, r *http.Request) {
	var req apiclient.SetAliasRequest
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Version <= 0 {
		a.writeError(w, r, fmt.Errorf("%w: version: must be a positive version number", registry.ErrInvalid))
		return
	}
	c, err := a.reg.SetAlias(r.Context(), r.PathValue("model"), r.PathValue("alias"), req.Version, actor(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, aliasView(c))
}

func (a *API) deleteAlias(w http.ResponseWriter, r *http.Request) {
	if err := a.reg.DeleteAlias(r.Context(), r.PathValue("model"), r.PathValue("alias"), actor(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func endpointView(e registry.Endpoint) apiclient.Endpoint {
	return apiclient.Endpoint{
		Name: e.Name, Revision: e.Revision, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		ServingVersion: e.ServingVersion, Error: e.Error,
		Spec: apiclient.EndpointSpec{Model: e.Spec.Model, Version: e.Spec.Version, Description: e.Spec.Description, Traffic: e.Spec.Traffic, SegmentBy: e.Spec.SegmentBy, Protection: (*apiclient.Protection)(e.Spec.Protection), Rolling: (*apiclient.Rolling)(e.Spec.Rolling),
			Auth: e.Spec.Auth, Approval: e.Spec.Approval, Monitoring: (*apiclient.Monitoring)(e.Spec.Monitoring)},
	}
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) {
	es, err := a.reg.ListEndpoints(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Endpoint, len(es))
	for i, e := range es {
		out[i] = endpointView(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}

func (a *API) createEndpoint(w http.ResponseWriter, r *http.Request) {
	var req apiclient.CreateEndpointRequest
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Name == "" {
		a.writeError(w, r, fmt.Errorf("%w: name: must not be empty", registry.ErrInvalid))
		return
	}
	e, err := a.reg.CreateEndpoint(r.Context(), req.Name, registry.EndpointSpec{Model: req.Model, Version: req.Version, Description: req.Description, Traffic: req.Traffic, SegmentBy: req.SegmentBy, Protection: (*registry.Protection)(req.Protection),
		Auth: req.Auth, Approval: req.Approval, Monitoring: (*registry.Monitoring)(req.Monitoring)})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, endpointView(e))
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request) {
	e, err := a.reg.GetEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.withLive(endpointView(e)))
}

func (a *API) updateEndpoint(w http.ResponseWriter, r *http.Request) {
	var req apiclient.UpdateEndpointRequest
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err := a.reg.UpdateEndpoint(r.Context(), r.PathValue("name"), func(sp *registry.EndpointSpec) error {
		if req.Version != "" {
			sp.Version = req.Version
			sp.Traffic = nil
		}
		if req.Traffic != nil {
			sp.Traffic = req.Traffic
			sp.Rolling = nil
		}
		if req.SegmentBy != nil {
			sp.SegmentBy = req.SegmentBy
		}
		if req.Protection != nil {
			sp.Protection = (*registry.Protection)(req.Protection)
			if *sp.Protection == (registry.Protection{}) {
				sp.Protection = nil
			}
		}
		if req.Description != nil {
			sp.Description = *req.Description
		}
		if req.Auth != nil {
			sp.Auth = *req.Auth
		}
		if req.Approval != nil {
			sp.Approval = *req.Approval
		}
		if req.Monitoring != nil {
			sp.Monitoring = (*registry.Monitoring)(req.Monitoring)
			if sp.Monitoring.Sensitive == nil {
				sp.Monitoring = nil
			}
		}
		return nil
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointView(e))
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := a.reg.DeleteEndpoint(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) endpointHistory(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query().Get("at"); q != "" {
		at, err := time.Parse(time.RFC3339Nano, q)
		if err != nil {
			a.writeError(w, r, fmt.Errorf("%w: at: %q is not an RFC 3339 time such as 2026-11-26T09:30:00Z", registry.ErrInvalid, q))
			return
		}
		sv, err := a.reg.ServedAt(r.Context(), r.PathValue("name"), at)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"served": sv})
		return
	}
	es, err := a.reg.EndpointHistory(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Endpoint, len(es))
	for i, e := range es {
		out[i] = endpointView(e)
		out[i].ChangedBy, out[i].Deleted = e.ChangedBy, e.Deleted
	}
	writeJSON(w, http.StatusOK, map[string]any{"revisions": out})
}
