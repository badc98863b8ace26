package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/store"
)

// registerJobs installs the batch job routes when the API has a job service.
func (a *API) registerJobs(mux *http.ServeMux) {
	if a.opts.Jobs == nil {
		return
	}
	a.handle(mux, "GET /api/v1/jobs", auth.Viewer, a.listJobs)
	a.handle(mux, "POST /api/v1/jobs", auth.Deployer, a.submitJob)
	a.handle(mux, "GET /api/v1/jobs/{name}", auth.Viewer, a.getJob)
	a.handle(mux, "DELETE /api/v1/jobs/{name}", auth.Deployer, a.deleteJob)
	a.handle(mux, "POST /api/v1/jobs/{name}/runs", auth.Deployer, a.startJob)
	a.handle(mux, "POST /api/v1/jobs/{name}/cancel", auth.Deployer, a.cancelJob)
	a.handle(mux, "GET /api/v1/jobs/{name}/runs/{run}", auth.Viewer, a.getJobRun)
	a.handle(mux, "GET /api/v1/jobs/{name}/logs", auth.Viewer, a.jobLogs)
}

func jobView(j store.Job) apiclient.Job {
	sp, _ := jobs.Decode(j.Spec)
	return apiclient.Job{Name: j.Name, Spec: sp, NextRunAt: j.NextRunAt, Runs: j.Runs, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, CreatedBy: j.CreatedBy}
}

func runView(r store.JobRun, shards []store.Shard) apiclient.JobRun {
	v := apiclient.JobRun{ID: r.ID, Job: r.Job, Status: r.Status, Model: r.Model, Version: r.Version, Shards: r.Shards,
		RowsIn: r.RowsIn, RowsOut: r.RowsOut, Rejected: r.Rejected, Drift: r.Drift, Error: r.Error,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
	if !r.FinishedAt.IsZero() && !r.StartedAt.IsZero() {
		v.DurationSeconds = r.FinishedAt.Sub(r.StartedAt).Seconds()
	}
	for _, s := range shards {
		v.ShardList = append(v.ShardList, apiclient.JobShard{Index: s.Index, Start: s.Start, End: s.End, Status: s.Status, Worker: s.Worker,
			Attempt: s.Attempt, RowsIn: s.RowsIn, RowsOut: s.RowsOut, Rejected: s.Rejected, Output: s.Output, Error: s.Error, Updated: s.UpdatedAt})
	}
	return v
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) {
	db := a.reg.Store()
	js, err := db.ListJobs(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.Job, 0, len(js))
	for _, j := range js {
		v := jobView(j)
		if runs, err := db.ListRuns(r.Context(), j.Name, 1); err == nil && len(runs) == 1 {
			rv := runView(runs[0], nil)
			v.LastRun = &rv
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) submitJob(w http.ResponseWriter, r *http.Request) {
	var doc jobs.Document
	if err := decodeJSON(r, w, &doc); err != nil {
		a.writeError(w, r, err)
		return
	}
	if doc.APIVersion == "" {
		doc.APIVersion = jobs.APIVersion
	}
	if doc.Kind == "" {
		doc.Kind = jobs.Kind
	}
	if doc.APIVersion != jobs.APIVersion || doc.Kind != jobs.Kind {
		a.writeError(w, r, fmt.Errorf("%w: apiVersion/kind: want %s %s", jobs.ErrInvalid, jobs.APIVersion, jobs.Kind))
		return
	}
	j, run, created, err := a.opts.Jobs.Submit(r.Context(), doc)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	res := apiclient.SubmitJobResult{Job: jobView(j), Created: created}
	if run != nil {
		rv := runView(*run, nil)
		res.Run = &rv
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, res)
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) {
	db := a.reg.Store()
	j, err := db.GetJob(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	runs, err := db.ListRuns(r.Context(), j.Name, 20)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := apiclient.JobDetail{Job: jobView(j), Runs: []apiclient.JobRun{}}
	for _, run := range runs {
		out.Runs = append(out.Runs, runView(run, nil))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) deleteJob(w http.ResponseWriter, r *http.Request) {
	if err := a.reg.Store().DeleteJob(r.Context(), r.PathValue("name")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) startJob(w http.ResponseWriter, r *http.Request) {
	run, err := a.opts.Jobs.Start(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, runView(run, nil))
}

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) {
	ids, err := a.opts.Jobs.Cancel(r.Context(), r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"cancelled": ids})
}

// jobRun reads a run of the job named in the path.
func (a *API) jobRun(r *http.Request, id string) (store.JobRun, []store.Shard, error) {
	name := r.PathValue("name")
	run, shards, err := a.reg.Store().GetRun(r.Context(), id)
	if err == nil && run.Job != name {
		err = fmt.Errorf("run %q of job %q: %w", id, name, store.ErrNotFound)
	}
	return run, shards, err
}

func (a *API) getJobRun(w http.ResponseWriter, r *http.Request) {
	run, shards, err := a.jobRun(r, r.PathValue("run"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, runView(run, shards))
}

func (a *API) jobLogs(w http.ResponseWriter, r *http.Request) {
	db := a.reg.Store()
	name := r.PathValue("name")
	id := strings.TrimSpace(r.URL.Query().Get("run"))
	if id == "" {
		runs, err := db.ListRuns(r.Context(), name, 1)
		if err == nil && len(runs) == 0 {
			_, err = db.GetJob(r.Context(), name)
			if err == nil {
				writeJSON(w, http.StatusOK, []apiclient.JobEvent{})
				return
			}
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		id = runs[0].ID
	} else if _, _, err := a.jobRun(r, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	evs, err := db.JobEvents(r.Context(), id, 0)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiclient.JobEvent, 0, len(evs))
	for _, e := range evs {
		out = append(out, apiclient.JobEvent(e))
	}
	writeJSON(w, http.StatusOK, out)
}
