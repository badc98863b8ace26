package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/manifest"
	"github.com/sluicehq/sluice/internal/rollout"
)

// kindOf reads a kind as users type it: model, models, Model, ...
func kindOf(s string) (string, error) {
	k := strings.TrimSuffix(strings.ToLower(s), "s")
	for _, kind := range manifest.Kinds {
		if strings.ToLower(kind) == k {
			return kind, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q: one of model, endpoint, rollout, job, stream", s)
}

func newGetCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "Show models, endpoints, rollouts, jobs or streams; -o yaml writes files apply accepts",
		Long: `get lists objects of a kind (model, endpoint, rollout, job, stream), or one by NAME. With -o yaml
it writes them as declarative documents: applying the output changes nothing, so it is
the way to start files from a running server. A model's documents are its versions,
identified by digest; NAME may be MODEL, MODEL@VERSION or MODEL@ALIAS.`,
		Example: `  sluice get endpoints
  sluice get endpoint fraud -o yaml > fraud.yaml
  sluice get model fraud@production -o yaml
  sluice get rollouts -o yaml
  sluice get jobs -o yaml > jobs.yaml`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := kindOf(args[0])
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			c := e.client()
			switch kind {
			case manifest.KindModel:
				return e.getModels(c, name)
			case manifest.KindEndpoint:
				return e.getEndpoints(c, name)
			case manifest.KindJob:
				return e.getJobs(c, name)
			case manifest.KindStream:
				return e.getStreams(c, name)
			}
			return e.getRollouts(c, name)
		},
	}
}

// emitDocs writes documents as YAML with -o yaml, JSON with -o json (one
// object for a named one, else a list), or a table.
func (e *env) emitDocs(docs []any, one bool, header []string, rows [][]string) error {
	switch e.output {
	case "yaml":
		b, err := manifest.Marshal(docs...)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	case "json":
		if one && len(docs) == 1 {
			return e.printJSON(docs[0])
		}
		return e.printJSON(docs)
	}
	return e.table(header, rows)
}

func (e *env) getModels(c *apiclient.Client, name string) error {
	var versions []apiclient.Version
	switch {
	case strings.Contains(name, "@"):
		model, ref, _ := strings.Cut(name, "@")
		v, err := c.GetVersion(e.ctx, model, ref)
		if err != nil {
			return err
		}
		versions = append(versions, v)
	case name != "":
		vs, err := c.ListVersions(e.ctx, name)
		if err != nil {
			return err
		}
		versions = vs
	default:
		ms, err := c.ListModels(e.ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			vs, err := c.ListVersions(e.ctx, m.Name)
			if err != nil {
				return err
			}
			versions = append(versions, vs...)
		}
	}
	docs := make([]any, len(versions))
	rows := make([][]string, len(versions))
	for i, v := range versions {
		docs[i] = versionDocument(v)
		rows[i] = []string{v.Model, strconv.Itoa(v.Version), v.Format, short(v.Digest), strings.Join(v.Aliases, ",")}
	}
	return e.emitDocs(docs, strings.Contains(name, "@"), []string{"MODEL", "VERSION", "FORMAT", "DIGEST", "ALIASES"}, rows)
}

func (e *env) getEndpoints(c *apiclient.Client, name string) error {
	var eps []apiclient.Endpoint
	if name != "" {
		ep, err := c.GetEndpoint(e.ctx, name)
		if err != nil {
			return err
		}
		eps = append(eps, ep)
	} else {
		var err error
		if eps, err = c.ListEndpoints(e.ctx); err != nil {
			return err
		}
	}
	docs := make([]any, len(eps))
	for i, ep := range eps {
		docs[i] = endpointDocument(ep.Name, ep.Spec)
	}
	return e.emitDocs(docs, name != "", endpointHeader, endpointRows(eps))
}

func (e *env) getRollouts(c *apiclient.Client, name string) error {
	var ros []rollout.Document
	if name != "" {
		v, err := c.GetRollout(e.ctx, name)
		if err != nil {
			return err
		}
		ros = append(ros, v.Rollout)
	} else {
		var err error
		if ros, err = c.ListRollouts(e.ctx, ""); err != nil {
			return err
		}
	}
	docs := make([]any, len(ros))
	rows := make([][]string, len(ros))
	for i, d := range ros {
		docs[i] = rolloutDocument(d)
		phase := "-"
		if d.Status != nil {
			phase = string(d.Status.Phase)
		}
		rows[i] = []string{d.Metadata.Name, d.Spec.Endpoint, d.Spec.Candidate, strconv.Itoa(len(d.Spec.Steps)), phase}
	}
	return e.emitDocs(docs, name != "", []string{"NAME", "ENDPOINT", "CANDIDATE", "STEPS", "PHASE"}, rows)
}

func (e *env) getJobs(c *apiclient.Client, name string) error {
	var js []apiclient.Job
	if name != "" {
		d, err := c.GetJob(e.ctx, name)
		if err != nil {
			return err
		}
		if len(d.Runs) > 0 {
			d.Job.LastRun = &d.Runs[0]
		}
		js = append(js, d.Job)
	} else {
		var err error
		if js, err = c.ListJobs(e.ctx); err != nil {
			return err
		}
	}
	docs := make([]any, len(js))
	for i, j := range js {
		docs[i] = jobDocument(j.Name, j.Spec)
	}
	return e.emitDocs(docs, name != "", jobHeader, jobRows(js))
}

func (e *env) getStreams(c *apiclient.Client, name string) error {
	var vs []apiclient.StreamView
	if name != "" {
		v, err := c.GetStream(e.ctx, name)
		if err != nil {
			return err
		}
		vs = append(vs, v)
	} else {
		var err error
		if vs, err = c.ListStreams(e.ctx); err != nil {
			return err
		}
	}
	docs := make([]any, len(vs))
	rows := make([][]string, len(vs))
	for i, v := range vs {
		docs[i] = streamDocument(v.Stream)
		rows[i] = streamRow(v)
	}
	return e.emitDocs(docs, name != "", streamHeader, rows)
}
