package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/rollout"
)

// flakyModelServer answers Open Inference Protocol requests with a fixed
// score and fails the given share of them with a 500.
func flakyModelServer(t *testing.T, failShare float64) string {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if k := n.Add(1); float64(k%100) < failShare*100 {
			http.Error(w, "model crashed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"model_name":"bc","outputs":[{"name":"predict","datatype":"FP32","shape":[1],"data":[0.5]}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// load posts body to url from a few goroutines until stop is closed.
func load(url string, body []byte, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(url, "application/json", bytes.NewReader(body))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	return &wg
}

func writeRollout(t *testing.T, yaml string) string {
	p := filepath.Join(t.TempDir(), "rollout.yaml")
	must(t, os.WriteFile(p, []byte(yaml), 0o644), "write rollout")
	return p
}

// waitPhase polls a rollout until it reaches one of phases.
func waitPhase(t *testing.T, s *server, name string, timeout time.Duration, phases ...rollout.Phase) apiclient.RolloutView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var v apiclient.RolloutView
		s.cliJSON(t, &v, "rollout", "status", name)
		for _, p := range phases {
			if v.Rollout.Status.Phase == p {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout %s did not reach %v in %s: %+v", name, phases, timeout, v.Rollout.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func servingSpec(t *testing.T, s *server) apiclient.EndpointSpec {
	var ep apiclient.Endpoint
	s.cliJSON(t, &ep, "endpoint", "show", "bc")
	return ep.Spec
}

const e2eRollout = `apiVersion: sluice.dev/v1
kind: Rollout
metadata:
  name: bc-rollout
spec:
  endpoint: bc
  candidate: "%s"
  analysis:
    interval: 200ms
    metrics:
      - {type: errorRate, tolerance: 0.02, minSamples: 100}
  steps:
    - setWeight: 30
    - analysis: {duration: 2m}
    - setWeight: 70
    - analysis: {duration: 2m}
`

func TestRolloutPromotesGoodCandidate(t *testing.T) {
	s, body := trafficFixture(t, "--rollout-tick", "100ms")
	stop := make(chan struct{})
	wg := load(s.URL+"/v1/endpoints/bc:predict", body, stop)
	defer func() { close(stop); wg.Wait() }()
	out := s.cli(t, "rollout", "create", "-f", writeRollout(t, fmt.Sprintf(e2eRollout, "2")))
	if !strings.Contains(out, "Rollout bc-rollout created") {
		t.Errorf("create said %q", out)
	}
	v := waitPhase(t, s, "bc-rollout", 90*time.Second, rollout.Promoted, rollout.RolledBack, rollout.Paused)
	if v.Rollout.Status.Phase != rollout.Promoted {
		t.Fatalf("phase %s: %s", v.Rollout.Status.Phase, v.Rollout.Status.Message)
	}
	if sp := servingSpec(t, s); sp.Version != "2" || sp.Traffic != nil {
		t.Errorf("endpoint after promotion: %+v", sp)
	}
	text := s.cli(t, "rollout", "status", "bc-rollout")
	for _, want := range []string{"Phase:      Promoted", "setWeight 30", "errorRate", "promoted"} {
		if !strings.Contains(text, want) {
			t.Errorf("status output lacks %q:\n%s", want, text)
		}
	}
}

func TestRolloutRollsBackFailingCandidate(t *testing.T) {
	s, body := trafficFixture(t, "--rollout-tick", "100ms")
	sig := filepath.Join(t.TempDir(), "sig.json")
	must(t, os.WriteFile(sig, []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[-1,30]}],"outputs":[{"name":"predict","datatype":"FP32","shape":[-1]}]}`), 0o644), "write")
	s.cli(t, "model", "push", "bc", "--format", "http", "--url", flakyModelServer(t, 0.2)+"/v2/models/bc", "--signature", sig) // version 4
	stop := make(chan struct{})
	wg := load(s.URL+"/v1/endpoints/bc:predict", body, stop)
	defer func() { close(stop); wg.Wait() }()
	s.cli(t, "rollout", "create", "-f", writeRollout(t, fmt.Sprintf(e2eRollout, "4")))
	v := waitPhase(t, s, "bc-rollout", 60*time.Second, rollout.Promoted, rollout.RolledBack, rollout.Paused)
	if v.Rollout.Status.Phase != rollout.RolledBack || !strings.Contains(v.Rollout.Status.Message, "errorRate") {
		t.Fatalf("phase %s: %s", v.Rollout.Status.Phase, v.Rollout.Status.Message)
	}
	if sp := servingSpec(t, s); sp.Version != "1" || sp.Traffic != nil {
		t.Errorf("endpoint after rollback: %+v, want version 1 again", sp)
	}
	// The rollback is one swap: from now on every answer comes from version 1.
	for i := 0; i < 20; i++ {
		if ver, _, _ := call(t, s.URL+"/v1/endpoints/bc:predict", body, nil); ver != "1" {
			t.Fatalf("answer from version %s after rollback", ver)
		}
	}
}

// A server killed with SIGKILL in the middle of a pause resumes the
// rollout at the same step after a restart, with the time already spent in
// the pause counted.
func TestRolloutSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--data-dir", dir, "--rollout-tick", "100ms")
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	s.cli(t, "model", "push", "bc", model)
	s.cli(t, "model", "push", "bc", model)
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	s.cli(t, "rollout", "create", "-f", writeRollout(t, `apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: bc-rollout}
spec:
  endpoint: bc
  candidate: "2"
  analysis: {background: false}
  steps:
    - setWeight: 25
    - pause: {duration: 6s}
    - setWeight: 75
    - pause: {}
`))
	deadline := time.Now().Add(20 * time.Second)
	var v apiclient.RolloutView
	for {
		s.cliJSON(t, &v, "rollout", "status", "bc-rollout")
		if v.Rollout.Status.Step == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reached the pause: %+v", v.Rollout.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	pauseStarted := v.Rollout.Status.StepStarted
	time.Sleep(2 * time.Second)
	must(t, s.cmd.Process.Kill(), "SIGKILL")
	<-s.done
	time.Sleep(time.Second)

	s2 := startServer(t, "--data-dir", dir, "--rollout-tick", "100ms")
	s2.cliJSON(t, &v, "rollout", "status", "bc-rollout")
	if v.Rollout.Status.Step != 1 || !v.Rollout.Status.StepStarted.Equal(pauseStarted) {
		t.Fatalf("after restart: step %d started %v; want step 1 started %v", v.Rollout.Status.Step, v.Rollout.Status.StepStarted, pauseStarted)
	}
	if sp := servingSpec(t, s2); sp.Traffic == nil || sp.Traffic.Split[1].Weight != 2500 {
		t.Errorf("traffic after restart: %+v", sp.Traffic)
	}
	v = waitPhase(t, s2, "bc-rollout", 20*time.Second, rollout.Paused)
	resumed := time.Since(pauseStarted)
	if v.Rollout.Status.Step != 3 || v.Rollout.Status.Weight != 75 {
		t.Fatalf("after the pause: step %d weight %v", v.Rollout.Status.Step, v.Rollout.Status.Weight)
	}
	if resumed > 12*time.Second {
		t.Errorf("the 6s pause ended %s after it began: the time before the kill was not counted", resumed)
	}
	s2.cli(t, "rollout", "promote", "bc-rollout")
	waitPhase(t, s2, "bc-rollout", 10*time.Second, rollout.Promoted)
	out := s2.cli(t, "rollback", "bc")
	if !strings.Contains(out, "version 1") {
		t.Errorf("rollback said %q", out)
	}
	if sp := servingSpec(t, s2); sp.Version != "1" {
		t.Errorf("after rollback: %+v", sp)
	}
}

func TestRolloutCLIErrors(t *testing.T) {
	s, _ := trafficFixture(t)
	bad := writeRollout(t, "apiVersion: sluice.dev/v1\nkind: Rollout\nmetadata: {name: x}\nspec:\n  endpoint: bc\n  candidate: \"2\"\n  steps:\n    - setWeight: 150\n")
	_, errOut, code := s.cliResult("rollout", "create", "-f", bad)
	if code == 0 || !strings.Contains(errOut, "spec.steps[0].setWeight") {
		t.Errorf("bad weight: exit %d, %q", code, errOut)
	}
	_, errOut, code = s.cliResult("rollout", "promote", "nope")
	if code != 2 || !strings.Contains(errOut, "not found") {
		t.Errorf("promote of a missing rollout: exit %d, %q", code, errOut)
	}
}

// TestRolloutRollsBackOnInputDrift pushes two versions with the training
// data as their drift baseline, rolls out the second, and sends the
// shifted copy of the data: the candidate's live drift window fails the
// inputDrift analysis and traffic goes back to version 1.
func TestRolloutRollsBackOnInputDrift(t *testing.T) {
	s := startServer(t, "--rollout-tick", "200ms")
	root := repoRoot(t)
	model := filepath.Join(root, "examples", "xgboost", "breast_cancer.json")
	baseline := filepath.Join(root, "examples", "xgboost", "breast_cancer.csv")
	for i := 0; i < 2; i++ {
		s.cli(t, "model", "push", "bc", model, "--baseline", baseline)
	}
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")
	s.cli(t, "rollout", "create", "-f", writeRollout(t, `apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: drift}
spec:
  endpoint: bc
  candidate: "2"
  analysis:
    interval: 200ms
    metrics:
      - {type: inputDrift, tolerance: 0.25, minSamples: 40}
  steps:
    - setWeight: 50
    - analysis: {duration: 10m}
`))
	waitPhase(t, s, "drift", 20*time.Second, rollout.Progressing)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var v apiclient.RolloutView
		s.cliJSON(t, &v, "rollout", "status", "drift")
		if v.Rollout.Status.Weight == 50 {
			break // the first step's weights are in place
		}
		if time.Now().After(deadline) {
			t.Fatalf("the candidate never got its 50%%: %+v", v.Rollout.Status)
		}
	}
	s.cli(t, "predict", "bc", "--csv", filepath.Join(root, "examples", "monitoring", "breast_cancer_shifted.csv"),
		"--ignore", "target", "--header-column", "X-Site=site")
	v := waitPhase(t, s, "drift", 30*time.Second, rollout.RolledBack, rollout.Promoted, rollout.Paused)
	if v.Rollout.Status.Phase != rollout.RolledBack || !strings.Contains(v.Rollout.Status.Message, "inputDrift") {
		t.Fatalf("phase %s (%s), want RolledBack on inputDrift", v.Rollout.Status.Phase, v.Rollout.Status.Message)
	}
	if sp := servingSpec(t, s); sp.Traffic != nil || sp.Version != "1" {
		t.Errorf("endpoint after the rollback = %+v, want version 1 alone", sp)
	}
}
