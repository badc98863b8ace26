package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/manifest"
	"github.com/sluicehq/sluice/internal/stream"
)

// normalJSON is v as the server stores it: a JSON round trip, so that
// empty lists and maps, and absent ones, compare equal.
func normalJSON[T any](v T) (T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return v, err
	}
	var out T
	return out, json.Unmarshal(b, &out)
}

// jobDocument is a job as a Job document.
func jobDocument(name string, sp jobs.Spec) *jobs.Document {
	return &jobs.Document{APIVersion: jobs.APIVersion, Kind: jobs.Kind, Metadata: jobs.Metadata{Name: name}, Spec: sp}
}

// fileJobSpec is a Job document's spec as the server would store it:
// input and output resolved against the file's directory (the server
// reads paths from its own working directory), defaults filled.
func fileJobSpec(d *manifest.Document) (jobs.Spec, error) {
	sp := d.Job.Spec
	for _, p := range []*string{&sp.Input, &sp.Output} {
		if *p == "" || filepath.IsAbs(*p) {
			continue
		}
		abs, err := filepath.Abs(filepath.Join(d.Dir, *p))
		if err != nil {
			return sp, err
		}
		*p = abs
	}
	sp.Defaults()
	return normalJSON(sp)
}

// runNote names a job's latest run, for notes: "run nightly-3 (succeeded)".
func runNote(runs []apiclient.JobRun) string {
	if len(runs) == 0 {
		return "it has no runs"
	}
	return fmt.Sprintf("its last run is %s (%s)", runs[0].ID, runs[0].Status)
}

// planJob works out a Job document's change. A job with a schedule is a
// definition: changing it changes the next runs. A job without one runs
// when it is created, and again only when its spec changes (the server
// starts a run on every submission); an unchanged one is never re-run.
func (e *env) planJob(c *apiclient.Client, d *manifest.Document) (planned, error) {
	name := d.Job.Metadata.Name
	want, err := fileJobSpec(d)
	if err != nil {
		return planned{}, err
	}
	doc := jobDocument(name, want)
	ch := planned{label: "Job/" + name, result: apiclient.ResultCreated}
	liveText := ""
	detail, err := c.GetJob(e.ctx, name)
	switch {
	case notFound(err):
		if want.Schedule == "" {
			ch.notes = append(ch.notes, "a job without a schedule runs once, when apply creates it")
		}
	case err != nil:
		return planned{}, err
	default:
		live, err := normalJSON(detail.Job.Spec)
		if err != nil {
			return planned{}, err
		}
		if reflect.DeepEqual(live, want) {
			ch.result = apiclient.ResultUnchanged
			if want.Schedule == "" {
				ch.notes = append(ch.notes, fmt.Sprintf("a job without a schedule: %s; apply does not run it again (`sluice job run %s` does)", runNote(detail.Runs), name))
			}
			return ch, nil
		}
		ch.result = apiclient.ResultUpdated
		liveText = yamlText(jobDocument(name, live))
		switch {
		case want.Schedule == "" && live.Schedule != "":
			ch.notes = append(ch.notes, "the file removes the schedule: apply starts a run now, once")
		case want.Schedule == "":
			ch.notes = append(ch.notes, fmt.Sprintf("a job without a schedule runs again when its spec changes: apply starts a new run (%s)", runNote(detail.Runs)))
		}
	}
	ch.diff = manifest.Diff("live", d.File, liveText, yamlText(doc))
	ch.run = func() (string, error) {
		res, err := c.SubmitJob(e.ctx, *doc)
		if err != nil {
			return "", err
		}
		if res.Run != nil {
			return fmt.Sprintf("%s: run %s %s", ch.result, res.Run.ID, res.Run.Status), nil
		}
		if !res.Job.NextRunAt.IsZero() {
			return fmt.Sprintf("%s: next run at %s", ch.result, res.Job.NextRunAt.Local().Format(time.RFC3339)), nil
		}
		return ch.result, nil
	}
	return ch, nil
}

// streamDocument is a stored stream as a Stream document.
func streamDocument(doc stream.Document) *stream.Document {
	doc.APIVersion, doc.Kind = stream.APIVersion, stream.Kind
	return &doc
}

// planStream works out a Stream document's change. The whole document is
// declared, paused included: a stream paused by `sluice stream pause` is
// resumed by a file that does not say `paused: true`, and apply says so.
func (e *env) planStream(c *apiclient.Client, d *manifest.Document) (planned, error) {
	want, err := normalJSON(*streamDocument(*d.Stream))
	if err != nil {
		return planned{}, err
	}
	name := want.Metadata.Name
	ch := planned{label: "Stream/" + name, result: apiclient.ResultCreated}
	liveText := ""
	v, err := c.GetStream(e.ctx, name)
	switch {
	case notFound(err):
	case err != nil:
		return planned{}, err
	default:
		live, err := normalJSON(*streamDocument(v.Stream))
		if err != nil {
			return planned{}, err
		}
		if reflect.DeepEqual(live, want) {
			ch.result = apiclient.ResultUnchanged
			return ch, nil
		}
		ch.result = apiclient.ResultUpdated
		liveText = yamlText(&live)
		switch {
		case live.Spec.Paused && !want.Spec.Paused:
			ch.notes = append(ch.notes, "the stream is paused and the file does not say paused: true; apply resumes it")
		case !live.Spec.Paused && want.Spec.Paused:
			ch.notes = append(ch.notes, "the file says paused: true; apply pauses the stream")
		}
	}
	ch.diff = manifest.Diff("live", d.File, liveText, yamlText(&want))
	ch.run = func() (string, error) {
		var res apiclient.StreamView
		var err error
		if ch.result == apiclient.ResultCreated {
			res, err = c.CreateStream(e.ctx, want)
		} else {
			res, err = c.UpdateStream(e.ctx, want)
		}
		if err != nil {
			return "", err
		}
		sp := res.Stream.Spec
		target := "endpoint " + sp.Endpoint
		if sp.Model != "" {
			target = "model " + sp.Model
		}
		return fmt.Sprintf("%s: %s → %s → %s (generation %d)", ch.result, sp.Source, target, sp.Sink, res.Generation), nil
	}
	return ch, nil
}
