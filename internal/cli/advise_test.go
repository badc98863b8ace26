package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/advise"
	"github.com/sluicehq/sluice/internal/apiclient"
)

func TestAdviseFacts(t *testing.T) {
	acc := 0.92
	sf := apiclient.EndpointFacts{Endpoint: "fraud", Model: "fraud", Stable: 2, Versions: []int{1, 2, 3, 4}, Approval: "required",
		WindowSeconds: 7200, Requests: 20000, StableRequests: 18000, StableErrors: 180, StableP99Seconds: 0.012,
		Labeled: 600, StableAccuracy: &acc, FeedbackDelay: apiclient.Delay{N: 600, MeanSeconds: 300}}
	none := func(string) bool { return false }
	f, notes, err := adviseFacts(sf, adviseFlags{arrival: "requests", goal: "release", candidate: "fraud@4"}, none)
	if err != nil {
		t.Fatal(err)
	}
	want := advise.Facts{Endpoint: "fraud", Candidate: "4", Candidates: 2, RequestsPerHour: 10000, ErrorRate: 0.01, P99: 12 * time.Millisecond,
		Labels: true, LabelsPerHour: 300, LabelDelay: 5 * time.Minute, Accuracy: 0.92, Regulated: true, Arrival: advise.Requests, Goal: advise.Release}
	if f != want {
		t.Errorf("facts =\n%+v\nwant\n%+v", f, want)
	}
	if len(notes) < 3 || !strings.Contains(notes[0], "20000 requests in the 2h0m0s") {
		t.Errorf("notes = %q", notes)
	}
	changed := func(name string) bool { return name == "regulated" || name == "requests-per-hour" }
	f, _, err = adviseFacts(sf, adviseFlags{labels: "no", perHour: 50, candidate: "production"}, changed)
	if err != nil || f.Regulated || f.Labels || f.RequestsPerHour != 50 || f.Candidate != "production" {
		t.Errorf("flags do not override: %+v, %v", f, err)
	}
	if _, _, err := adviseFacts(sf, adviseFlags{candidate: "other@1"}, none); err == nil {
		t.Error("a candidate of another model was accepted")
	}
	if _, _, err := adviseFacts(sf, adviseFlags{labels: "maybe"}, none); err == nil {
		t.Error("--labels maybe was accepted")
	}
}

func TestAskFacts(t *testing.T) {
	in := strings.NewReader("events\nyes\n\npigeons\nhigh\noptimize\nyes\n2m\nno\n1200\n")
	var out bytes.Buffer
	f := advise.Facts{Endpoint: "e"}
	if err := askFacts(in, &out, &f); err != nil {
		t.Fatal(err)
	}
	want := advise.Facts{Endpoint: "e", Arrival: advise.Events, LatencySensitive: true, Risk: advise.High, Goal: advise.Optimize,
		Labels: true, LabelDelay: 2 * time.Minute, RequestsPerHour: 1200}
	if f != want {
		t.Errorf("facts =\n%+v\nwant\n%+v", f, want)
	}
	if !strings.Contains(out.String(), "one of low, medium, high") {
		t.Errorf("a bad answer was not asked again:\n%s", out.String())
	}
}
