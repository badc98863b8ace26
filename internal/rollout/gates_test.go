package rollout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/registry"
)

const gatesYAML = `
apiVersion: sluice.dev/v1
kind: Rollout
metadata: {name: gated}
spec:
  endpoint: fraud
  candidate: "%CAND%"
  gates:
    signature: true
    holdout:
      file: ../../examples/rollouts/breast_cancer_holdout.csv
      labelColumn: target
      metric: accuracy
      threshold: 0.95
    bias:
      groupColumn: site
      metric: demographicParity
      max: %BIAS%
    latency: {requests: 50, p99: %P99%}
    modelCard: {}
  steps:
    - setWeight: 10
`

func gates(cand, bias, p99 string) string {
	return strings.NewReplacer("%CAND%", cand, "%BIAS%", bias, "%P99%", p99).Replace(gatesYAML)
}

func pushWithCard(t *testing.T, r *rig, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.reg.Push(r.ctx, registry.PushRequest{Model: "fraud", Artifact: b,
		Labels: map[string]string{"owner": "risk-team", "intended_use": "triage", "limitations": "adults only"}})
	if err != nil {
		t.Fatal(err)
	}
	return v.Version
}

func gateResults(t *testing.T, st Status) map[string]GateResult {
	out := map[string]GateResult{}
	for _, g := range st.Gates {
		out[g.Gate] = g
	}
	return out
}

func TestGatesPassThenTrafficFlows(t *testing.T) {
	r := newRig(t)
	v := pushWithCard(t, r, filepath.Join("..", "..", "examples", "xgboost", "breast_cancer.json"))
	r.apply(gates(itoa(v), "0.5", "1s"))
	r.step(time.Second)
	st := r.status("gated")
	if st.Phase != Progressing {
		t.Fatalf("phase %s: %s; gates %+v", st.Phase, st.Message, st.Gates)
	}
	g := gateResults(t, st)
	for _, name := range []string{"modelCard", "signature", "holdout", "bias", "latency"} {
		if !g[name].Passed {
			t.Errorf("gate %s did not pass: %+v", name, g[name])
		}
	}
	if g["holdout"].Value < 0.95 || !strings.Contains(g["holdout"].Message, "200 rows") {
		t.Errorf("holdout gate %+v", g["holdout"])
	}
	checks, err := r.db.VersionChecks(r.ctx, "fraud", v)
	if err != nil || len(checks) != 1 || !checks[0].Passed {
		t.Fatalf("checks stored with the version: %+v, %v", checks, err)
	}
	var stored []GateResult
	if err := json.Unmarshal(checks[0].Results, &stored); err != nil || len(stored) != 5 {
		t.Errorf("stored results %s", checks[0].Results)
	}
}

func TestGateFailuresBlockTheRollout(t *testing.T) {
	tests := []struct {
		name, model, bias, p99, gate string
		card                         bool
	}{
		{"weak model", "internal/rollout/testdata/weak_breast_cancer.json", "0.5", "1s", "holdout", true},
		{"biased", "examples/xgboost/breast_cancer.json", "0.0001", "1s", "bias", true},
		{"slow", "examples/xgboost/breast_cancer.json", "0.5", "1ns", "latency", true},
		{"no model card", "examples/xgboost/breast_cancer.json", "0.5", "1s", "modelCard", false},
		{"other features", "examples/xgboost/diabetes.json", "0.5", "1s", "signature", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			file := filepath.Join("..", "..", tt.model)
			var v int
			if tt.card {
				v = pushWithCard(t, r, file)
			} else {
				b, _ := os.ReadFile(file)
				ver, err := r.reg.Push(r.ctx, registry.PushRequest{Model: "fraud", Artifact: b})
				if err != nil {
					t.Fatal(err)
				}
				v = ver.Version
			}
			r.apply(gates(itoa(v), tt.bias, tt.p99))
			r.step(time.Second)
			st := r.status("gated")
			if st.Phase != Blocked || !strings.Contains(st.Message, tt.gate+":") {
				t.Fatalf("phase %s, message %q; want Blocked by %s", st.Phase, st.Message, tt.gate)
			}
			if ep := r.endpoint(); ep.Traffic != nil || ep.Version != "1" {
				t.Errorf("a blocked rollout changed the endpoint: %+v", ep)
			}
			if g := gateResults(t, st)[tt.gate]; g.Passed {
				t.Errorf("gate %s passed: %+v", tt.gate, g)
			}
			checks, _ := r.db.VersionChecks(r.ctx, "fraud", v)
			if len(checks) != 1 || checks[0].Passed {
				t.Errorf("checks %+v", checks)
			}
		})
	}
}

func itoa(v int) string { return strconv.Itoa(v) }
