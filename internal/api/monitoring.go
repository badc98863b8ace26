package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/monitor"
	"github.com/sluicehq/sluice/internal/registry"
)

// maxBaselineBytes bounds a baseline CSV pushed with a version.
const maxBaselineBytes = 256 << 20

func (a *API) registerMonitoring(mux *http.ServeMux) {
	a.handle(mux, "GET /api/v1/endpoints/{name}/drift", auth.Viewer, a.drift)
	a.handle(mux, "GET /api/v1/endpoints/{name}/performance", auth.Viewer, a.performance)
	a.handle(mux, "GET /api/v1/endpoints/{name}/fairness", auth.Viewer, a.fairness)
	a.handle(mux, "GET /api/v1/models/{model}/versions/{ref}/baseline", auth.Viewer, a.baseline)
	a.handle(mux, "GET /api/v1/alerts", auth.Viewer, a.listAlerts)
	a.handle(mux, "GET /api/v1/alerts/rules", auth.Viewer, a.alertRules)
	a.handle(mux, "GET /api/v2/alerts", auth.Viewer, a.alertmanagerAlerts)
}

// roleOf returns the role of a version in the endpoint's current plan.
func (a *API) roleOf(endpoint string, version int) string {
	if g := a.opts.DataPlane.Gateway; g != nil {
		if s := g.Current(); s != nil {
			if ep := s.Endpoints[endpoint]; ep != nil && ep.Plan != nil {
				return string(ep.Plan.Role(version))
			}
		}
	}
	return ""
}

// checkEndpoint answers 404 for an endpoint that does not exist.
func (a *API) checkEndpoint(w http.ResponseWriter, r *http.Request) (registry.Endpoint, bool) {
	e, err := a.reg.GetEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return e, false
	}
	return e, true
}

// drift answers GET /api/v1/endpoints/{name}/drift.
func (a *API) drift(w http.ResponseWriter, r *http.Request) {
	e, ok := a.checkEndpoint(w, r)
	if !ok {
		return
	}
	out := apiclient.DriftResponse{Endpoint: e.Name, Window: a.opts.DataPlane.DriftWindow, Versions: []apiclient.VersionDrift{}}
	for _, vd := range a.opts.DataPlane.Drift.Reports(e.Name, time.Now()) {
		out.Versions = append(out.Versions, apiclient.VersionDrift{Version: vd.Version, Role: a.roleOf(e.Name, vd.Version), Score: monitor.Score(vd.Report), Report: vd.Report})
	}
	writeJSON(w, http.StatusOK, out)
}

// performance answers GET /api/v1/endpoints/{name}/performance.
func (a *API) performance(w http.ResponseWriter, r *http.Request) {
	e, ok := a.checkEndpoint(w, r)
	if !ok {
		return
	}
	out := apiclient.PerformanceResponse{Endpoint: e.Name, Versions: []monitor.VersionPerformance{}}
	if p := a.opts.DataPlane.Performance; p != nil {
		out.Window = p.Window().String()
		out.Versions = append(out.Versions, p.Versions(e.Name, time.Now())...)
	}
	writeJSON(w, http.StatusOK, out)
}

// fairness answers GET /api/v1/endpoints/{name}/fairness.
func (a *API) fairness(w http.ResponseWriter, r *http.Request) {
	e, ok := a.checkEndpoint(w, r)
	if !ok {
		return
	}
	out := apiclient.FairnessResponse{Endpoint: e.Name, Versions: []apiclient.VersionFairness{}}
	if m := e.Spec.Monitoring; m != nil && m.Sensitive != nil {
		if m.Sensitive.Header != "" {
			out.Sensitive = "header " + m.Sensitive.Header
		} else {
			out.Sensitive = "feature " + m.Sensitive.Feature
		}
	}
	for _, vg := range a.opts.DataPlane.Fairness.Versions(e.Name) {
		out.Versions = append(out.Versions, apiclient.VersionFairness{Version: vg.Version, Groups: vg.Groups, Fairness: analysis.FairnessOf(alert.GroupCounts(vg.Groups))})
	}
	writeJSON(w, http.StatusOK, out)
}

// baseline answers GET /api/v1/models/{model}/versions/{ref}/baseline.
func (a *API) baseline(w http.ResponseWriter, r *http.Request) {
	v, err := strconv.Atoi(r.PathValue("ref"))
	if err != nil || v <= 0 {
		a.writeError(w, r, fmt.Errorf("%w: version: %q must be a positive integer", registry.ErrInvalid, r.PathValue("ref")))
		return
	}
	b, err := a.reg.VersionBaseline(r.Context(), r.PathValue("model"), v)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// listAlerts answers GET /api/v1/alerts?state=pending|firing.
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	switch state {
	case "", alert.StatePending, alert.StateFiring:
	default:
		a.writeError(w, r, fmt.Errorf("%w: state: %q must be pending or firing", registry.ErrInvalid, state))
		return
	}
	as := a.opts.Alerts.Alerts(state)
	if as == nil {
		as = []alert.Alert{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": as})
}

// alertRules answers GET /api/v1/alerts/rules.
func (a *API) alertRules(w http.ResponseWriter, r *http.Request) {
	rules := []alert.Rule{}
	if a.opts.Alerts != nil {
		rules = append(rules, a.opts.Alerts.Rules()...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": rules})
}

// alertmanagerAlerts answers GET /api/v2/alerts with the firing alerts in
// Alertmanager's v2 shape, so dashboards and tools that read Alertmanager
// can read Sluice.
func (a *API) alertmanagerAlerts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.opts.Alerts.Gettable())
}
