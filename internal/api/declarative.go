package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/registry"
	"github.com/sluicehq/sluice/internal/store"
)

// putEndpoint creates or replaces an endpoint's spec: the declarative
// apply. An unchanged spec writes nothing (no new revision) and answers
// "unchanged". While rollouts exist for the endpoint they own its traffic
// (version and traffic policy), which is kept as it is; when the request's
// differ, the answer names the rollouts in managedBy. With ?dryRun=true nothing is written and the answer
// is the spec the endpoint would have.
func (a *API) putEndpoint(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := store.ValidateName("endpoint name", name); err != nil {
		a.writeError(w, r, err)
		return
	}
	var req apiclient.EndpointSpec
	if err := decodeJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if req.Rolling != nil {
		a.writeError(w, r, fmt.Errorf("%w: rolling: is managed by the server (POST .../rolling); leave it out", registry.ErrInvalid))
		return
	}
	dryRun := r.URL.Query().Get("dryRun") == "true"
	want := registry.EndpointSpec{Model: req.Model, Version: req.Version, Description: req.Description, Traffic: req.Traffic,
		SegmentBy: req.SegmentBy, Protection: (*registry.Protection)(req.Protection), Auth: req.Auth, Approval: req.Approval}
	ctx := r.Context()
	cur, err := a.reg.GetEndpoint(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if dryRun {
			if err := want.Validate(); err != nil {
				a.writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, apiclient.PutEndpointResult{Result: apiclient.ResultCreated, DryRun: true,
				Endpoint: endpointView(registry.Endpoint{Name: name, Spec: want})})
			return
		}
		e, err := a.reg.CreateEndpoint(ctx, name, want)
		if err == nil {
			writeJSON(w, http.StatusCreated, apiclient.PutEndpointResult{Result: apiclient.ResultCreated, Endpoint: endpointView(e)})
			return
		}
		if !errors.Is(err, store.ErrAlreadyExists) {
			a.writeError(w, r, err)
			return
		}
		// Created meanwhile: replace it below.
		if cur, err = a.reg.GetEndpoint(ctx, name); err != nil {
			a.writeError(w, r, err)
			return
		}
	case err != nil:
		a.writeError(w, r, err)
		return
	}
	owners, err := a.trafficOwners(r, name)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// The file's version and traffic, normalized as they would be stored.
	norm := want
	if err := norm.Validate(); err != nil {
		a.writeError(w, r, err)
		return
	}
	var managedBy []string
	replace := func(sp *registry.EndpointSpec) error {
		next := want
		next.Rolling = sp.Rolling
		if len(owners) > 0 {
			if norm.Version != sp.Version || !sameValue(norm.Traffic, sp.Traffic) {
				managedBy = owners
			}
			next.Version, next.Traffic = sp.Version, sp.Traffic
		}
		*sp = next
		return nil
	}
	res := apiclient.PutEndpointResult{DryRun: dryRun}
	if dryRun {
		// Versions are not checked: a diff runs before the files' model
		// versions are pushed.
		raw, _ := json.Marshal(cur.Spec)
		sp := cur.Spec
		_ = replace(&sp)
		if err := sp.Validate(); err != nil {
			a.writeError(w, r, err)
			return
		}
		next, _ := json.Marshal(sp)
		res.ManagedBy = managedBy
		res.Result = apiclient.ResultUnchanged
		if !sameJSON(raw, next) {
			res.Result = apiclient.ResultUpdated
		}
		cur.Spec = sp
		res.Endpoint = endpointView(cur)
		writeJSON(w, http.StatusOK, res)
		return
	}
	e, err := a.reg.UpdateEndpoint(ctx, name, replace)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	res.ManagedBy = managedBy
	res.Result = apiclient.ResultUnchanged
	if e.Revision != cur.Revision {
		res.Result = apiclient.ResultUpdated
	}
	res.Endpoint = endpointView(e)
	writeJSON(w, http.StatusOK, res)
}

// trafficOwners names the rollouts of an endpoint, which own its traffic.
func (a *API) trafficOwners(r *http.Request, endpoint string) ([]string, error) {
	if a.opts.Rollouts == nil {
		return nil, nil
	}
	docs, err := a.opts.Rollouts.List(r.Context(), endpoint)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range docs {
		out = append(out, d.Metadata.Name)
	}
	return out, nil
}

// sameValue reports whether a and b encode to the same JSON.
func sameValue(a, b any) bool {
	x, errA := json.Marshal(a)
	y, errB := json.Marshal(b)
	return errA == nil && errB == nil && sameJSON(x, y)
}

// sameJSON reports whether two JSON documents hold the same value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
