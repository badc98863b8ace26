package api

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/auth"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/rollout"
)

// registerRollouts installs the rollout routes when the API has a
// controller.
func (a *API) registerRollouts(mux *http.ServeMux) {
	if a.opts.Rollouts == nil {
		return
	}
	a.handle(mux, "GET /api/v1/rollouts", auth.Viewer, a.listRollouts)
	a.handle(mux, "POST /api/v1/rollouts", auth.Deployer, a.applyRollout)
	a.handle(mux, "GET /api/v1/rollouts/{name}", auth.Viewer, a.getRollout)
	a.handle(mux, "DELETE /api/v1/rollouts/{name}", auth.Deployer, a.deleteRollout)
	a.handle(mux, "POST /api/v1/rollouts/{name}/promote", auth.Deployer, a.promoteRollout)
	a.handle(mux, "POST /api/v1/rollouts/{name}/abort", auth.Deployer, a.abortRollout)
	a.handle(mux, "POST /api/v1/rollouts/{name}/pause", auth.Deployer, a.pauseRollout)
	a.handle(mux, "POST /api/v1/rollouts/{name}/resume", auth.Deployer, a.resumeRollout)
	a.handle(mux, "POST /api/v1/endpoints/{name}/rollback", auth.Deployer, a.rollbackEndpoint)
	a.handle(mux, "GET /api/v1/models/{model}/versions/{ref}/checks", auth.Viewer, a.versionChecks)
}

func (a *API) versionChecks(w http.ResponseWriter, r *http.Request) {
	v, err := a.reg.Store().ResolveVersion(r.Context(), r.PathValue("model"), r.PathValue("ref"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cs, err := a.reg.Store().VersionChecks(r.Context(), v.Model, v.Version)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (a *API) listRollouts(w http.ResponseWriter, r *http.Request) {
	docs, err := a.opts.Rollouts.List(r.Context(), r.URL.Query().Get("endpoint"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if docs == nil {
		docs = []rollout.Document{}
	}
	writeJSON(w, http.StatusOK, docs)
}

func (a *API) applyRollout(w http.ResponseWriter, r *http.Request) {
	var doc rollout.Document
	if err := decodeJSON(r, w, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	out, created, err := a.opts.Rollouts.Apply(r.Context(), doc, actor(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, apiclient.ApplyResult{Rollout: out, Created: created})
}

func (a *API) getRollout(w http.ResponseWriter, r *http.Request) {
	doc, evs, err := a.opts.Rollouts.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := apiclient.RolloutView{Rollout: doc, Events: make([]apiclient.RolloutEvent, len(evs))}
	for i, ev := range evs {
		out.Events[i] = apiclient.RolloutEvent{Seq: ev.Seq, At: ev.At, Kind: ev.Kind, Message: ev.Message, Data: ev.Data, Actor: ev.Actor}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) deleteRollout(w http.ResponseWriter, r *http.Request) {
	if err := a.opts.Rollouts.Delete(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) promoteRollout(w http.ResponseWriter, r *http.Request) {
	var req apiclient.RolloutAction
	if err := decodeOptionalJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	doc, err := a.opts.Rollouts.Promote(r.Context(), r.PathValue("name"), req.SkipAnalysis, req.Reason, actor(r))
	a.answerRollout(w, r, doc, err)
}

func (a *API) abortRollout(w http.ResponseWriter, r *http.Request) {
	var req apiclient.RolloutAction
	if err := decodeOptionalJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	doc, err := a.opts.Rollouts.Abort(r.Context(), r.PathValue("name"), req.Reason, actor(r))
	a.answerRollout(w, r, doc, err)
}

func (a *API) pauseRollout(w http.ResponseWriter, r *http.Request) {
	doc, err := a.opts.Rollouts.Pause(r.Context(), r.PathValue("name"), actor(r))
	a.answerRollout(w, r, doc, err)
}

func (a *API) resumeRollout(w http.ResponseWriter, r *http.Request) {
	doc, err := a.opts.Rollouts.Resume(r.Context(), r.PathValue("name"), actor(r))
	a.answerRollout(w, r, doc, err)
}

func (a *API) answerRollout(w http.ResponseWriter, r *http.Request, doc rollout.Document, err error) {
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (a *API) rollbackEndpoint(w http.ResponseWriter, r *http.Request) {
	var req apiclient.RollbackRequest
	if err := decodeOptionalJSON(r, w, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	e, err := a.opts.Rollouts.Rollback(r.Context(), r.PathValue("name"), req.ToRevision, actor(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, endpointView(e))
}

// decodeOptionalJSON is decodeJSON for bodies that may be empty.
func decodeOptionalJSON(r *http.Request, w http.ResponseWriter, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return decodeJSON(r, w, v)
}
