package api

import (
	"math"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/internal/analysis"
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/monitor"
)

// facts answers GET /api/v1/endpoints/{name}/facts: what `sluice advise`
// decides on, measured by this process since it started.
func (a *API) facts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	e, err := a.reg.GetEndpoint(ctx, r.PathValue("name"))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	view := a.withLive(endpointView(e))
	f := apiclient.EndpointFacts{
		Endpoint: e.Name, Model: e.Spec.Model, Approval: e.Spec.Approval, Auth: e.Spec.Auth,
		Since: a.started, WindowSeconds: time.Since(a.started).Seconds(), Stable: e.ServingVersion,
	}
	if p := e.Spec.Protection; p != nil {
		f.Timeout = p.Timeout
	}
	best := -1.0
	for _, sh := range view.Shares {
		if sh.Role == "stable" || (f.Stable == 0 && sh.Share > best) {
			f.Stable, best = sh.Version, sh.Share
		}
	}
	if vs, err := a.reg.Store().ListVersions(ctx, e.Spec.Model); err == nil {
		for _, v := range vs {
			f.Versions = append(f.Versions, v.Version)
		}
	}
	for _, l := range view.Live {
		f.Requests += l.Requests
		f.Errors += l.Errors
	}
	dp := a.opts.DataPlane
	if dp.Live != nil && f.Stable > 0 {
		if q := analysis.Quantile(monitor.LatencyBuckets, dp.Live.Histogram(e.Name, f.Stable), 0.99); !math.IsNaN(q) {
			f.StableP99Seconds = q
		}
		req, errs := dp.Live.Counts(e.Name, f.Stable)
		f.StableRequests, f.StableErrors = req, errs
	}
	if dp.Outcomes != nil {
		for _, o := range dp.Outcomes.Versions(e.Name) {
			f.Labeled += o.Labeled
			f.Rewards += o.Rewards
			if o.Version != f.Stable {
				continue
			}
			if o.ClassRows > 0 {
				acc := float64(o.Correct) / float64(o.ClassRows)
				f.StableAccuracy = &acc
			}
			if o.Rewards > 0 {
				mr := o.SumReward / float64(o.Rewards)
				f.StableMeanReward = &mr
			}
		}
		d := dp.Outcomes.Delay(e.Name)
		f.FeedbackDelay = apiclient.Delay{N: d.N, MeanSeconds: d.Mean().Seconds(), MaxSeconds: d.Max}
	}
	if a.opts.Rollouts != nil {
		docs, err := a.opts.Rollouts.List(ctx, e.Name)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		for _, d := range docs {
			if d.Status != nil && !d.Status.Phase.Final() {
				f.ActiveRollouts = append(f.ActiveRollouts, d.Metadata.Name)
			}
		}
	}
	writeJSON(w, http.StatusOK, f)
}
