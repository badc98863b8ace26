package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/rollout"
)

// TestDeclarativeFiles applies examples/manifests (a file per strategy)
// to a real server, then checks that apply is idempotent, diff shows an
// edit, `get -o yaml` round-trips, and bad files are refused with the line.
func TestDeclarativeFiles(t *testing.T) {
	s := startServer(t)
	dir := filepath.Join(repoRoot(t), "examples", "manifests")
	strategies := []string{"canary", "blue-green", "shadow-then-canary", "champion-challenger", "bandit", "gated"}

	out := s.cli(t, "diff", "-f", dir)
	if n := strings.Count(out, "): created\n"); n != 2+2*len(strategies) {
		t.Errorf("diff on an empty server shows %d created objects, want %d:\n%s", n, 2+2*len(strategies), out)
	}

	// Each strategy file with the model versions it serves.
	for _, name := range strategies {
		out := s.cli(t, "apply", "-f", filepath.Join(dir, "models.yaml"), "-f", filepath.Join(dir, name+".yaml"))
		if !strings.Contains(out, "Rollout/") || !strings.Contains(out, " created") {
			t.Errorf("apply %s.yaml:\n%s", name, out)
		}
	}
	var docs []rollout.Document
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.cliJSON(t, &docs, "rollout", "list")
		pending := 0
		for _, d := range docs {
			if d.Status.Phase == rollout.Pending {
				pending++
			}
		}
		if len(docs) == len(strategies) && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollouts not all started after 30s: %+v", docs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, d := range docs {
		t.Logf("rollout %s: %s", d.Metadata.Name, d.Status.Phase)
	}

	// The whole directory again: nothing changes.
	out = s.cli(t, "apply", "-f", dir)
	if lines := strings.Count(out, " unchanged\n"); lines != 2+2*len(strategies) || strings.Contains(out, "created") || strings.Contains(out, "updated") {
		t.Errorf("second apply is not a no-op (%d unchanged):\n%s", lines, out)
	}
	if out := s.cli(t, "diff", "-f", dir); !strings.Contains(out, "No changes") {
		t.Errorf("diff after apply:\n%s", out)
	}
	versions, err := s.client().ListVersions(t.Context(), "breast-cancer")
	must(t, err, "list versions")
	if len(versions) != 2 {
		t.Errorf("%d versions after applying 8 times, want 2 (pushed only for new artifacts)", len(versions))
	}

	// An edit shows as a unified diff, applies as one new revision, and
	// then is unchanged.
	edited := filepath.Join(t.TempDir(), "canary.yaml")
	src, err := os.ReadFile(filepath.Join(dir, "canary.yaml"))
	must(t, err, "read canary.yaml")
	must(t, os.WriteFile(edited, []byte(strings.Replace(string(src), "timeout: 500ms", "timeout: 800ms", 1)), 0o644), "write")
	out = s.cli(t, "diff", "-f", edited)
	for _, want := range []string{"Endpoint/bc-canary (" + edited + ":7): updated", "--- live\n+++ " + edited, "-    timeout: 500ms\n+    timeout: 800ms\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff of the edit lacks %q:\n%s", want, out)
		}
	}
	if _, _, code := s.cliResult("diff", "--exit-code", "-f", edited); code != 1 {
		t.Errorf("diff --exit-code with a difference exited %d, want 1", code)
	}
	if out := s.cli(t, "apply", "-f", edited); !strings.Contains(out, "Endpoint/bc-canary updated (revision ") {
		t.Errorf("apply of the edit:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", edited); strings.Contains(out, "updated") {
		t.Errorf("re-apply of the edit changed something:\n%s", out)
	}

	// get -o yaml writes files that apply as unchanged.
	rt := t.TempDir()
	for _, kind := range []string{"models", "endpoints", "rollouts"} {
		must(t, os.WriteFile(filepath.Join(rt, kind+".yaml"), []byte(s.cli(t, "get", kind, "-o", "yaml")), 0o644), "write %s", kind)
	}
	must(t, os.WriteFile(filepath.Join(rt, "one.yaml"), []byte(s.cli(t, "get", "model", "breast-cancer@staging", "-o", "yaml")), 0o644), "write one")
	out = s.cli(t, "apply", "-f", filepath.Join(rt, "models.yaml"), "-f", filepath.Join(rt, "endpoints.yaml"), "-f", filepath.Join(rt, "rollouts.yaml"))
	if strings.Count(out, " unchanged\n") != 2+2*len(strategies) {
		t.Errorf("applying get -o yaml output changed something:\n%s", out)
	}
	if out := s.cli(t, "diff", "-f", filepath.Join(rt, "one.yaml")); !strings.Contains(out, "No changes: the server matches 1 documents") {
		t.Errorf("diff of get model NAME@ALIAS -o yaml:\n%s", out)
	}

	// An alias moved by hand is moved back by apply, with a diff first.
	_, err = s.client().SetAlias(t.Context(), "breast-cancer", "staging", 1)
	must(t, err, "move alias")
	models := filepath.Join(dir, "models.yaml")
	out = s.cli(t, "diff", "-f", models)
	if !strings.Contains(out, "models.yaml:20): updated") || !strings.Contains(out, "+  aliases:\n+  - staging\n") {
		t.Errorf("diff after moving an alias:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", models); !strings.Contains(out, "updated: version 2, alias staging → it") {
		t.Errorf("apply after moving an alias:\n%s", out)
	}
	if v, err := s.client().GetVersion(t.Context(), "breast-cancer", "staging"); err != nil || v.Version != 2 {
		t.Errorf("staging is version %d (%v), want 2", v.Version, err)
	}

	// Bad files: nothing is written, and the error names the path and line.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	must(t, os.WriteFile(bad, []byte(strings.Replace(string(src), "setWeight: 50", "setWeight: 150", 1)), 0o644), "write")
	_, errOut, code := s.cliResult("apply", "-f", bad)
	if code == 0 || !strings.Contains(errOut, bad+": spec.steps[2].setWeight: must be a percentage 0..100, got 150 (line 35)") {
		t.Errorf("apply of a bad file: exit %d\n%s", code, errOut)
	}
	conflict := filepath.Join(dir, "conflict.yaml") // beside models/ so the artifact path resolves
	changed := strings.Replace(readString(t, filepath.Join(dir, "models.yaml")), "description: 50 trees of depth 4", "description: edited", 1)
	must(t, os.WriteFile(conflict, []byte(changed), 0o644), "write")
	t.Cleanup(func() { os.Remove(conflict) })
	_, errOut, code = s.cliResult("apply", "-f", conflict)
	if code == 0 || !strings.Contains(errOut, "version 1 has this artifact with another description; versions are immutable") {
		t.Errorf("apply of an edited immutable version: exit %d\n%s", code, errOut)
	}
	if _, _, code := s.cliResult("get", "deployment"); code == 0 {
		t.Errorf("get of an unknown kind succeeded")
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err, "read %s", path)
	return string(b)
}

// TestAdviseAppliesAsIs measures an endpoint's traffic, asks the advisor,
// and applies its output unedited.
func TestAdviseAppliesAsIs(t *testing.T) {
	s := startServer(t)
	dir := filepath.Join(repoRoot(t), "examples", "manifests")
	ep := filepath.Join(t.TempDir(), "endpoint.yaml")
	must(t, os.WriteFile(ep, []byte("apiVersion: sluice.dev/v1\nkind: Endpoint\nmetadata: {name: bc}\nspec:\n  model: breast-cancer\n  version: production\n  protection: {timeout: 200ms}\n"), 0o644), "write")
	s.cli(t, "apply", "-f", filepath.Join(dir, "models.yaml"), "-f", ep)
	body := []byte(readString(t, filepath.Join(repoRoot(t), "examples", "rollouts", "request.json")))
	for range 150 {
		_, _, err := s.client().Predict(t.Context(), "bc", body)
		must(t, err, "predict")
	}

	out := s.cli(t, "advise", "bc", "--candidate", "breast-cancer@staging")
	for _, want := range []string{"# Measured:\n#   traffic: 150 requests in the ", "stable (version 1): 0 errors in 150 requests", "# Strategy: canary", "errorRate: ", "candidate: staging", "kind: Rollout"} {
		if !strings.Contains(out, want) {
			t.Errorf("advise output lacks %q:\n%s", want, out)
		}
	}
	advised := filepath.Join(t.TempDir(), "rollout.yaml")
	must(t, os.WriteFile(advised, []byte(out), 0o644), "write")
	if out := s.cli(t, "apply", "-f", advised); !strings.Contains(out, "Rollout/bc-canary created") {
		t.Errorf("apply of the advice:\n%s", out)
	}
	if out := s.cli(t, "apply", "-f", advised); !strings.Contains(out, "Rollout/bc-canary unchanged") {
		t.Errorf("re-apply of the advice:\n%s", out)
	}

	// Regulated (the endpoint's approval setting) without labels: shadow
	// first, with gates.
	must(t, os.WriteFile(ep, []byte("apiVersion: sluice.dev/v1\nkind: Endpoint\nmetadata: {name: bc}\nspec:\n  model: breast-cancer\n  version: production\n  approval: required\n"), 0o644), "write")
	s.cli(t, "apply", "-f", ep)
	out = s.cli(t, "advise", "bc", "--requests-per-hour", "20000")
	for _, want := range []string{"# Strategy: shadow-then-canary", "requires approval", "modelCard:", "- mirror:"} {
		if !strings.Contains(out, want) {
			t.Errorf("regulated advice lacks %q:\n%s", want, out)
		}
	}
	if _, errOut, code := s.cliResult("advise", "bc", "--candidate", "other@2"); code == 0 || !strings.Contains(errOut, "serves model breast-cancer, not other") {
		t.Errorf("advise with another model's candidate: exit %d, %s", code, errOut)
	}
}
