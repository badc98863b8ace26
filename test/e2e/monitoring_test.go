package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/alert"
	"github.com/sluicehq/sluice/internal/apiclient"
)

// TestMonitoring pushes the fixture model with its training data as the
// drift baseline, serves a shifted copy of the labelled holdout through it
// with the region as a sensitive header, sends the labels as feedback, and
// checks the drift report, /metrics, model performance and fairness, and
// that a drift alert fires to a real webhook receiver and is listed by
// `sluice alerts` and the Alertmanager-compatible API.
func TestMonitoring(t *testing.T) {
	root := repoRoot(t)
	hooks := make(chan alert.WebhookMessage, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg alert.WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		hooks <- msg
	}))
	defer receiver.Close()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	must(t, os.WriteFile(rules, []byte(fmt.Sprintf(`interval: 200ms
webhooks:
  - url: %s/hook
rules:
  - name: InputDrift
    metric: drift_psi_max
    comparison: ">"
    threshold: 0.2
    for: 400ms
    match: {endpoint: bc}
    labels: {severity: warning}
    annotations: {summary: "{{ $labels.endpoint }} v{{ $labels.version }}: max PSI {{ $value }}"}
  - name: LowAccuracy
    metric: accuracy
    comparison: "<"
    threshold: 0.5
`, receiver.URL)), 0o644), "writing rules")

	s := startServer(t, "--alert-rules", rules, "--drift-window", "1h")
	s.cli(t, "model", "push", "bc", filepath.Join(root, "examples/xgboost/breast_cancer.json"), "--baseline", filepath.Join(root, "examples/xgboost/breast_cancer.csv"))
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1", "--sensitive-header", "X-Region")

	// The holdout, with mean_radius and worst_area shifted.
	f, err := os.Open(filepath.Join(root, "examples/rollouts/breast_cancer_holdout.csv"))
	must(t, err, "opening the holdout")
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	must(t, err, "reading the holdout")
	head := recs[0]
	type row struct {
		features []float64
		label    float64
		region   string
	}
	var rows []row
	for _, rec := range recs[1:] {
		var r row
		for i, h := range head {
			v, _ := strconv.ParseFloat(rec[i], 64)
			switch h {
			case "target":
				r.label = v
			case "site":
				r.region = rec[i]
			case "mean_radius":
				r.features = append(r.features, v*1.4)
			case "worst_area":
				r.features = append(r.features, v*1.6)
			default:
				r.features = append(r.features, v)
			}
		}
		rows = append(rows, r)
	}

	type outcome struct {
		rid, region string
		pred, label float64
	}
	var outs []outcome
	for _, r := range rows {
		data, _ := json.Marshal(r.features)
		body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":` + string(data) + `}]}`
		req, _ := http.NewRequest("POST", s.URL+"/v2/models/bc/infer", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Region", r.region)
		resp, err := http.DefaultClient.Do(req)
		must(t, err, "infer")
		var out struct {
			Outputs []struct {
				Data []float64 `json:"data"`
			} `json:"outputs"`
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("infer: %d %v: %s", resp.StatusCode, err, raw)
		}
		outs = append(outs, outcome{resp.Header.Get("Sluice-Request-Id"), r.region, out.Outputs[0].Data[0], r.label})
	}
	var fb []map[string]any
	for _, o := range outs {
		fb = append(fb, map[string]any{"request_id": o.rid, "label": o.label})
	}
	body, _ := json.Marshal(fb)
	post(t, s.URL+"/v1/feedback", body)

	// Drift: the shifted features lead, the report is worst first.
	var d apiclient.DriftResponse
	s.cliJSON(t, &d, "drift", "bc")
	if len(d.Versions) != 1 || d.Versions[0].Report.Rows != int64(len(rows)) || d.Window != "1h0m0s" {
		t.Fatalf("drift: %+v", d)
	}
	rep := d.Versions[0].Report
	top := map[string]bool{rep.Features[0].Feature: true, rep.Features[1].Feature: true}
	if !top["mean_radius"] || !top["worst_area"] || !rep.Features[0].Drifted || !rep.Drifted || rep.Prediction == nil {
		t.Errorf("drift report: first features %s, %s; drifted %v", rep.Features[0].Feature, rep.Features[1].Feature, rep.Drifted)
	}
	if sc := d.Versions[0].Score; sc.MaxPSI != *rep.Features[0].PSI || sc.Feature != rep.Features[0].Feature || d.Versions[0].Role != "stable" {
		t.Errorf("score %+v, role %q", sc, d.Versions[0].Role)
	}
	if out := s.cli(t, "drift", "bc"); !strings.Contains(out, "DRIFT") || !strings.Contains(out, "(prediction)") {
		t.Errorf("sluice drift bc:\n%s", out)
	}

	// Metrics a Grafana user scrapes.
	m := string(get(t, s.URL+"/metrics").body)
	for _, want := range []string{
		`sluice_drift_psi{endpoint="bc",feature="mean_radius",version="1"}`,
		`sluice_drift_psi_max{endpoint="bc",version="1"}`,
		`sluice_prediction_drift_psi{endpoint="bc",version="1"}`,
		`sluice_model_performance{endpoint="bc",metric="accuracy",version="1"}`,
		fmt.Sprintf(`sluice_label_delay_seconds_count{endpoint="bc",version="1"} %d`, len(rows)),
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Performance from the labels, against the answers we got.
	var correct, tp, fp, fn float64
	for _, o := range outs {
		cls := 0.0
		if o.pred >= 0.5 {
			cls = 1
		}
		switch {
		case cls == o.label:
			correct++
			if cls == 1 {
				tp++
			}
		case cls == 1:
			fp++
		default:
			fn++
		}
	}
	var p apiclient.PerformanceResponse
	s.cliJSON(t, &p, "endpoint", "performance", "bc")
	if len(p.Versions) != 1 {
		t.Fatalf("performance: %+v", p)
	}
	st := p.Versions[0].Window
	if st.ClassRows != int64(len(rows)) || math.Abs(*st.Accuracy-correct/float64(len(rows))) > 1e-12 || math.Abs(*st.Precision-tp/(tp+fp)) > 1e-12 || math.Abs(*st.Recall-tp/(tp+fn)) > 1e-12 || st.ROCAUC == nil || st.LabelDelay == nil {
		t.Errorf("performance: %+v (want accuracy %v)", st, correct/float64(len(rows)))
	}

	// Fairness across regions.
	sel, n := map[string]float64{}, map[string]float64{}
	for _, o := range outs {
		n[o.region]++
		if o.pred >= 0.5 {
			sel[o.region]++
		}
	}
	lo, hi := 2.0, -1.0
	for g := range n {
		lo, hi = math.Min(lo, sel[g]/n[g]), math.Max(hi, sel[g]/n[g])
	}
	var fr apiclient.FairnessResponse
	s.cliJSON(t, &fr, "endpoint", "fairness", "bc")
	if len(fr.Versions) != 1 || fr.Sensitive != "header X-Region" || fr.Versions[0].Fairness.DemographicParityDifference == nil {
		t.Fatalf("fairness: %+v", fr)
	}
	if got := fr.Versions[0].Fairness.DemographicParityDifference.Value; math.Abs(got-(hi-lo)) > 1e-12 {
		t.Errorf("demographic parity difference %v, want %v", got, hi-lo)
	}
	if got := fr.Versions[0].Fairness.DisparateImpactRatio.Value; math.Abs(got-lo/hi) > 1e-12 {
		t.Errorf("disparate impact ratio %v, want %v", got, lo/hi)
	}
	if fr.Versions[0].Fairness.EqualOpportunityDifference == nil {
		t.Errorf("equal opportunity difference missing: %+v", fr.Versions[0].Fairness)
	}

	// The drift alert fires to the webhook.
	deadline := time.After(20 * time.Second)
	var fired alert.WebhookMessage
	for fired.Status == "" {
		select {
		case msg := <-hooks:
			if msg.Status == "firing" && msg.GroupLabels["alertname"] == "InputDrift" {
				fired = msg
			}
		case <-deadline:
			t.Fatalf("no InputDrift webhook\n%s", s.logs.all.String())
		}
	}
	a := fired.Alerts[0]
	if a.Labels["endpoint"] != "bc" || a.Labels["version"] != "1" || a.Labels["severity"] != "warning" || !strings.HasPrefix(a.Annotations["summary"], "bc v1: max PSI ") {
		t.Errorf("webhook alert: %+v", a)
	}
	if out := s.cli(t, "alerts"); !strings.Contains(out, "InputDrift") || !strings.Contains(out, "FIRING") || strings.Contains(out, "LowAccuracy") {
		t.Errorf("sluice alerts:\n%s", out)
	}
	req, _ := http.NewRequest("GET", s.URL+"/api/v2/alerts", nil)
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	must(t, err, "GET /api/v2/alerts")
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var am []alert.GettableAlert
	if err := json.Unmarshal(raw, &am); err != nil || resp.StatusCode != 200 || len(am) != 1 || am[0].Labels["alertname"] != "InputDrift" || am[0].Status.State != "active" {
		t.Errorf("GET /api/v2/alerts: %d %s", resp.StatusCode, raw)
	}
}

// TestPredictCSVThenFeedback is the README's flow: score a CSV row by row
// with `sluice predict --csv`, keep the request ids and labels, upload them
// as feedback, read the performance.
func TestPredictCSVThenFeedback(t *testing.T) {
	root := repoRoot(t)
	s := startServer(t)
	s.cli(t, "model", "push", "bc", filepath.Join(root, "examples/xgboost/breast_cancer.json"))
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1", "--sensitive-header", "X-Site")
	out := s.cli(t, "predict", "bc", "--csv", filepath.Join(root, "examples/monitoring/breast_cancer_shifted.csv"), "--ignore", "target", "--header-column", "X-Site=site", "--label-column", "target")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	must(t, err, "reading the predict output")
	if len(recs) != 201 || strings.Join(recs[0], ",") != "request_id,version,prediction,label" {
		t.Fatalf("predict --csv printed %d lines, header %v", len(recs), recs[0])
	}
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		if seen[r[0]] || r[1] != "1" {
			t.Fatalf("row %v: duplicate request id or wrong version", r)
		}
		seen[r[0]] = true
	}
	answers := filepath.Join(t.TempDir(), "answers.csv")
	must(t, os.WriteFile(answers, []byte(out), 0o644), "writing answers")
	if got := s.cli(t, "feedback", "upload", answers); !strings.Contains(got, "200 joined, 0 rejected") {
		t.Errorf("feedback upload: %s", got)
	}
	var p apiclient.PerformanceResponse
	s.cliJSON(t, &p, "endpoint", "performance", "bc")
	if len(p.Versions) != 1 || p.Versions[0].Total.Labeled != 200 || p.Versions[0].Total.Accuracy == nil {
		t.Errorf("performance: %+v", p)
	}
	var f apiclient.FairnessResponse
	s.cliJSON(t, &f, "endpoint", "fairness", "bc")
	if len(f.Versions) != 1 || len(f.Versions[0].Groups) != 2 || f.Versions[0].Groups[0].Group != "north" || f.Versions[0].Groups[0].Rows != 104 {
		t.Errorf("fairness: %+v", f)
	}
	if _, errOut, code := s.cliResult("predict", "bc", "--csv", filepath.Join(root, "examples/monitoring/breast_cancer_shifted.csv")); code == 0 || !strings.Contains(errOut, "line 2") {
		t.Errorf("predict --csv with the label as a feature: exit %d, %s", code, errOut)
	}
	// No baseline: the drift route answers, empty; unknown names are 404.
	if out := s.cli(t, "drift", "bc"); !strings.Contains(out, "No drift data for bc yet") {
		t.Errorf("sluice drift without a baseline: %s", out)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drift", "nope"}, 2, "not found"},
		{[]string{"endpoint", "performance", "nope"}, 2, "not found"},
		{[]string{"alerts", "--state", "bogus"}, 2, "state"},
	} {
		if _, errOut, code := s.cliResult(c.args...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("sluice %v: exit %d, %s; want %d mentioning %q", c.args, code, errOut, c.code, c.want)
		}
	}
	if _, errOut, code := s.cliResult("model", "push", "bc", filepath.Join(root, "examples/xgboost/breast_cancer.json"), "--baseline", filepath.Join(root, "examples/xgboost/diabetes.csv")); code != 2 || !strings.Contains(errOut, "baseline") {
		t.Errorf("push with the wrong baseline: exit %d, %s", code, errOut)
	}
}
