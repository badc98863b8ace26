package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/sluicehq/sluice/internal/apiclient"
)

// trafficFixture starts a server with three versions of the breast_cancer
// model and an endpoint "bc" on version 1.
func trafficFixture(t *testing.T, extra ...string) (*server, []byte) {
	t.Helper()
	s := startServer(t, extra...)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	for i := 0; i < 3; i++ {
		s.cli(t, "model", "push", "bc", model)
	}
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	header, rows := readCSV(t, filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv"))
	inst := map[string]any{}
	for j, h := range header {
		inst[h] = rows[0][j]
	}
	body, _ := json.Marshal(map[string]any{"instances": []any{inst}})
	return s, body
}

// call posts a plain JSON prediction with optional headers and returns the
// answering version, role and request id.
func call(t *testing.T, url string, body []byte, hdr map[string]string) (version, role, rid string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err, "POST %s", url)
	b := readAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return resp.Header.Get("Sluice-Model-Version"), resp.Header.Get("Sluice-Model-Role"), resp.Header.Get("Sluice-Request-Id")
}

func TestCanaryAndSticky(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=80,2=20")
	const n = 2000
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		v, role, _ := call(t, url, body, nil)
		counts[v+"/"+role]++
	}
	// 5 standard deviations of a binomial share of 20%.
	if got, sd := float64(counts["2/canary"])/n, math.Sqrt(0.2*0.8/n); math.Abs(got-0.2) > 5*sd || counts["1/stable"]+counts["2/canary"] != n {
		t.Errorf("answers %v: want about 20%% from version 2 as canary", counts)
	}

	// Sticky: each user stays on one version, and raising the canary's
	// weight only moves users to it.
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=90,2=10", "--sticky", "header:X-User-Id")
	before := map[string]string{}
	for u := 0; u < 200; u++ {
		user := fmt.Sprintf("user-%d", u)
		v, _, _ := call(t, url, body, map[string]string{"X-User-Id": user})
		for k := 0; k < 3; k++ {
			if again, _, _ := call(t, url, body, map[string]string{"X-User-Id": user}); again != v {
				t.Fatalf("%s answered by %s then %s", user, v, again)
			}
		}
		before[user] = v
	}
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=50,2=50", "--sticky", "header:X-User-Id")
	moved := 0
	for user, v := range before {
		after, _, _ := call(t, url, body, map[string]string{"X-User-Id": user})
		if v == "2" && after != "2" {
			t.Errorf("%s moved from the canary back to stable", user)
		}
		if v != after {
			moved++
		}
	}
	if moved == 0 {
		t.Error("raising the canary to 50% moved no user")
	}
	var ep apiclient.Endpoint
	s.cliJSON(t, &ep, "endpoint", "show", "bc")
	if len(ep.Shares) != 2 || ep.Shares[1].Share != 0.5 || len(ep.Live) < 2 {
		t.Errorf("endpoint show: shares %+v live %+v", ep.Shares, ep.Live)
	}
}

func TestShadowAndCompare(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=100", "--shadow", "3")
	const n = 100
	for i := 0; i < n; i++ {
		if v, _, _ := call(t, url, body, nil); v != "1" {
			t.Fatalf("a shadow answered: version %s", v)
		}
	}
	var cmp apiclient.Comparison
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.cliJSON(t, &cmp, "endpoint", "compare", "bc")
		if len(cmp.Mirrors) == 1 && cmp.Mirrors[0].Requests == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("compare after %d requests: %+v", n, cmp)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := cmp.Mirrors[0]
	if m.Mirror != 3 || m.Primary != 1 || m.Role != "shadow" || m.Agreement == nil || *m.Agreement != 1 || m.MaxAbsDiff != 0 {
		t.Errorf("shadow comparison = %+v", m)
	}
	if out := s.cli(t, "endpoint", "compare", "bc"); !strings.Contains(out, "100.00%") {
		t.Errorf("compare table:\n%s", out)
	}
}

func TestBlueGreen(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"
	s.cli(t, "endpoint", "traffic", "bc", "--blue-green", "1,2", "--keep-previous", "10m")
	for i := 0; i < 20; i++ {
		if v, role, _ := call(t, url, body, nil); v != "1" || role != "active" {
			t.Fatalf("blue-green before switch answered %s/%s", v, role)
		}
	}
	// The preview route reaches green.
	rows := strings.TrimSuffix(strings.Repeat("1,", 30), ",")
	resp := post(t, s.URL+"/v2/models/bc/preview/infer", []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[`+rows+`]}]}`))
	if v := resp.header.Get("Sluice-Model-Version"); v != "2" {
		t.Errorf("preview answered by version %s, want 2", v)
	}
	s.cli(t, "endpoint", "traffic", "bc", "--switch")
	for i := 0; i < 20; i++ {
		if v, _, _ := call(t, url, body, nil); v != "2" {
			t.Fatalf("after the switch version %s answered, want 2", v)
		}
	}
	var ep apiclient.Endpoint
	s.cliJSON(t, &ep, "endpoint", "show", "bc")
	if bg := ep.Spec.Traffic.BlueGreen; bg == nil || bg.Active != 2 || bg.Previous != 1 {
		t.Errorf("after switch: %+v", ep.Spec.Traffic)
	}
}

func TestChallengerFeedbackAndBandit(t *testing.T) {
	s, body := trafficFixture(t)
	url := s.URL + "/v1/endpoints/bc:predict"
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=100", "--challenger", "2")
	var ids []string
	for i := 0; i < 50; i++ {
		_, _, rid := call(t, url, body, nil)
		ids = append(ids, rid)
	}
	time.Sleep(300 * time.Millisecond) // let the challenger copies finish
	csvPath := filepath.Join(t.TempDir(), "labels.csv")
	lines := []string{"request_id,label"}
	for _, id := range ids {
		lines = append(lines, id+",0")
	}
	lines = append(lines, "expired-or-unknown,1")
	must(t, os.WriteFile(csvPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644), "write")
	if out := s.cli(t, "feedback", "upload", csvPath); !strings.Contains(out, "50 joined, 1 rejected") {
		t.Fatalf("feedback upload: %s", out)
	}
	var cmp apiclient.Comparison
	s.cliJSON(t, &cmp, "endpoint", "compare", "bc")
	if len(cmp.Paired) != 1 || cmp.Paired[0].N != 50 || cmp.Paired[0].Better != "undecided" || len(cmp.Outcomes) != 2 {
		t.Errorf("identical champion and challenger: %+v", cmp)
	}

	// A bandit learns from rewards: version 2 earns 1, version 1 earns 0.
	s.cli(t, "endpoint", "traffic", "bc", "--bandit", "thompson", "--arms", "1,2", "--min-share", "0.05")
	late := map[string]int{}
	for i := 0; i < 400; i++ {
		v, role, rid := call(t, url, body, nil)
		if role != "arm" {
			t.Fatalf("bandit answered with role %q", role)
		}
		reward := 0.0
		if v == "2" {
			reward = 1
		}
		post(t, s.URL+"/v1/feedback", []byte(fmt.Sprintf(`{"request_id":%q,"reward":%g}`, rid, reward)))
		if i >= 300 {
			late[v]++
		}
	}
	if late["2"] < 80 {
		t.Errorf("last 100 bandit answers %v: want most from the rewarded version 2", late)
	}
}

// TestBanditStateSurvivesRestart teaches a bandit, restarts the server on
// the same data directory, and checks the learned shares are back.
func TestBanditStateSurvivesRestart(t *testing.T) {
	data := t.TempDir()
	s := startServer(t, "--data-dir", data)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	s.cli(t, "model", "push", "bc", model)
	s.cli(t, "model", "push", "bc", model)
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	s.cli(t, "endpoint", "traffic", "bc", "--bandit", "thompson", "--arms", "1,2", "--min-share", "0.05")
	_, body := trafficFixtureBody(t)
	for i := 0; i < 200; i++ {
		v, _, rid := call(t, s.URL+"/v1/endpoints/bc:predict", body, nil)
		reward := 0.0
		if v == "2" {
			reward = 1
		}
		post(t, s.URL+"/v1/feedback", []byte(fmt.Sprintf(`{"request_id":%q,"reward":%g}`, rid, reward)))
	}
	share := func(s *server) float64 {
		var ep apiclient.Endpoint
		s.cliJSON(t, &ep, "endpoint", "show", "bc")
		for _, sh := range ep.Shares {
			if sh.Version == 2 {
				return sh.Share
			}
		}
		return 0
	}
	before := share(s)
	s.stop(t)
	s2 := startServer(t, "--data-dir", data)
	after := share(s2)
	if before < 0.8 || math.Abs(after-before) > 0.05 {
		t.Errorf("version 2's bandit share: %.3f before the restart, %.3f after; want above 0.8 and kept", before, after)
	}
}

// TestBlueGreenSwitchUnderLoad switches blue-green back and forth while
// clients call without pause: no request fails and each answer names the
// version that gave it.
func TestBlueGreenSwitchUnderLoad(t *testing.T) {
	s, body := trafficFixture(t)
	s.cli(t, "endpoint", "traffic", "bc", "--blue-green", "1,2", "--keep-previous", "1m")
	stop := make(chan struct{})
	errs := make(chan string, 100)
	done := make(chan int)
	for g := 0; g < 6; g++ {
		go func() {
			n := 0
			defer func() { done <- n }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(s.URL+"/v1/endpoints/bc:predict", "application/json", bytes.NewReader(body))
				if err != nil {
					errs <- err.Error()
					continue
				}
				readAll(t, resp.Body)
				resp.Body.Close()
				v := resp.Header.Get("Sluice-Model-Version")
				if resp.StatusCode != 200 || (v != "1" && v != "2") {
					errs <- fmt.Sprintf("status %d version %q", resp.StatusCode, v)
				}
				n++
			}
		}()
	}
	for i := 0; i < 10; i++ {
		s.cli(t, "endpoint", "traffic", "bc", "--switch")
	}
	close(stop)
	total := 0
	for g := 0; g < 6; g++ {
		total += <-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	t.Logf("%d requests during 10 switches", total)
}

func trafficFixtureBody(t *testing.T) (struct{}, []byte) {
	header, rows := readCSV(t, filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv"))
	inst := map[string]any{}
	for j, h := range header {
		inst[h] = rows[0][j]
	}
	body, _ := json.Marshal(map[string]any{"instances": []any{inst}})
	return struct{}{}, body
}

// TestMetrics scrapes /metrics after traffic and lints it with promlint,
// the checker behind `promtool check metrics`.
func TestMetrics(t *testing.T) {
	s, body := trafficFixture(t)
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=50,2=50", "--shadow", "3")
	for i := 0; i < 20; i++ {
		call(t, s.URL+"/v1/endpoints/bc:predict", body, nil)
	}
	resp, err := http.Get(s.URL + "/metrics")
	must(t, err, "GET /metrics")
	text := readAll(t, resp.Body)
	resp.Body.Close()
	for _, want := range []string{`sluice_requests_total{endpoint="bc",role="stable",version="1"}`, `sluice_request_duration_seconds_bucket{endpoint="bc"`, "sluice_mirror_dropped_total", "go_goroutines",
		`sluice_requests_in_flight{endpoint="bc",role="stable",version="1"} 0`, `sluice_model_memory_bytes{model="bc",version="1"}`, `sluice_model_load_seconds{model="bc",version="1"}`,
		"sluice_model_memory_budget_bytes 0", `sluice_prediction_log_records_total{outcome="written",sink="file"}`, `sluice_prediction_log_queue_length{sink="file"}`} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	must(t, err, "promlint")
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "sluice_") {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestPredictionLog scores a few requests, with a shadow, and reads them
// back with `sluice logs`.
func TestPredictionLog(t *testing.T) {
	s, body := trafficFixture(t)
	s.cli(t, "endpoint", "traffic", "bc", "--weights", "1=100", "--shadow", "3")
	var ids []string
	for i := 0; i < 5; i++ {
		_, _, rid := call(t, s.URL+"/v1/endpoints/bc:predict", body, nil)
		ids = append(ids, rid)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := s.cli(t, "logs", "bc", "--since", "1h", "-o", "json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) >= 10 { // 5 answers and 5 shadow copies
			roles := map[string]int{}
			for _, l := range lines {
				var rec struct {
					RequestID string `json:"request_id"`
					Role      string `json:"role"`
					Inputs    []struct {
						Name string `json:"name"`
					} `json:"inputs"`
				}
				must(t, json.Unmarshal([]byte(l), &rec), "record %s", l)
				roles[rec.Role]++
				if len(rec.Inputs) != 30 || rec.Inputs[0].Name != "mean_radius" {
					t.Errorf("record inputs %+v: want 30 named features", rec.Inputs)
				}
			}
			if roles["stable"] != 5 || roles["shadow"] != 5 {
				t.Errorf("roles in the log: %v", roles)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prediction log after 15s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := s.cli(t, "logs", "bc", "--since", "1h", "--limit", "2"); !strings.Contains(out, ids[0]) {
		t.Errorf("logs table does not show the first request %s:\n%s", ids[0], out)
	}
}
