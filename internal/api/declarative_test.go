package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/traffic"
)

func TestPutEndpoint(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	c := apiclient.New(srv.URL)
	model, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.PushVersion(ctx, "bc", apiclient.PushMetadata{}, bytes.NewReader(model)); err != nil {
			t.Fatal(err)
		}
	}
	spec := apiclient.EndpointSpec{Model: "bc", Version: "1", Description: "first"}
	steps := []struct {
		name     string
		spec     apiclient.EndpointSpec
		dryRun   bool
		result   string
		revision int64
	}{
		{"dry run of a new endpoint", spec, true, apiclient.ResultCreated, 0},
		{"create", spec, false, apiclient.ResultCreated, 1},
		{"same again", spec, false, apiclient.ResultUnchanged, 1},
		{"dry run of a change", apiclient.EndpointSpec{Model: "bc", Version: "2"}, true, apiclient.ResultUpdated, 1},
		{"change", apiclient.EndpointSpec{Model: "bc", Version: "2"}, false, apiclient.ResultUpdated, 2},
		{"a policy", apiclient.EndpointSpec{Model: "bc", Traffic: &traffic.Policy{Split: []traffic.Split{{Version: 1, Weight: 90}, {Version: 2, Weight: 10}}}}, false, apiclient.ResultUpdated, 3},
		{"the policy again", apiclient.EndpointSpec{Model: "bc", Traffic: &traffic.Policy{Split: []traffic.Split{{Version: 1, Weight: 90}, {Version: 2, Weight: 10}}}}, false, apiclient.ResultUnchanged, 3},
		{"dry run names no missing version", apiclient.EndpointSpec{Model: "bc", Version: "9"}, true, apiclient.ResultUpdated, 3},
	}
	for _, st := range steps {
		res, err := c.PutEndpoint(ctx, "bc", st.spec, st.dryRun)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.Result != st.result || res.Endpoint.Revision != st.revision || res.DryRun != st.dryRun {
			t.Errorf("%s: result %s revision %d dryRun %v, want %s %d %v", st.name, res.Result, res.Endpoint.Revision, res.DryRun, st.result, st.revision, st.dryRun)
		}
	}
	if ep, _ := c.GetEndpoint(ctx, "bc"); ep.Spec.Description != "" || ep.Spec.Traffic == nil {
		t.Errorf("a replace keeps fields the body leaves out: %+v", ep.Spec)
	}
	hist, err := c.EndpointHistory(ctx, "bc")
	if err != nil || len(hist) != 3 {
		t.Errorf("history has %d revisions (%v), want 3: unchanged puts write none", len(hist), err)
	}
	bad := []struct {
		name string
		spec apiclient.EndpointSpec
		msg  string
	}{
		{"missing version", apiclient.EndpointSpec{Model: "bc", Version: "9"}, "version"},
		{"rolling", apiclient.EndpointSpec{Model: "bc", Version: "1", Rolling: &apiclient.Rolling{To: 2, Steps: 2}}, "rolling"},
		{"bad auth", apiclient.EndpointSpec{Model: "bc", Version: "1", Auth: "maybe"}, "auth"},
	}
	for _, b := range bad {
		_, err := c.PutEndpoint(ctx, "bc", b.spec, false)
		var ae *apiclient.Error
		if !errors.As(err, &ae) || ae.Status/100 != 4 || !strings.Contains(ae.Message, b.msg) {
			t.Errorf("%s: err = %v, want a 4xx naming %s", b.name, err, b.msg)
		}
	}
	if _, err := c.PutEndpoint(ctx, "Bad Name", spec, false); err == nil {
		t.Error("a bad endpoint name was accepted")
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/api/v1/endpoints/bc", strings.NewReader(`{"model":"bc","version":"1","versoin":"2"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown field: status %d, want 400", resp.StatusCode)
	}
}
