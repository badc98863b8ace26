package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// TestEndpointSpecFiles creates an endpoint from every example spec under
// examples/endpoints and checks the policy took effect.
func TestEndpointSpecFiles(t *testing.T) {
	s := startServer(t)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	for i := 0; i < 3; i++ {
		s.cli(t, "model", "push", "breast-cancer", model)
	}
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "examples", "endpoints", "*.yaml"))
	must(t, err, "glob")
	if len(files) < 3 {
		t.Fatalf("found %d example endpoint specs", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f[:len(f)-len(".yaml")])
		s.cli(t, "endpoint", "create", name, "-f", f)
		var ep apiclient.Endpoint
		s.cliJSON(t, &ep, "endpoint", "show", name)
		if ep.Spec.Traffic == nil || len(ep.Shares) == 0 {
			t.Errorf("%s: endpoint %+v has no traffic policy or shares", f, ep)
		}
		if out := s.cli(t, "endpoint", "show", name); len(out) == 0 {
			t.Errorf("%s: empty show", f)
		}
	}
	// A spec with an unknown field is refused, naming it.
	_, stderr, code := s.cliResult("endpoint", "create", "bad", "-f", filepath.Join(repoRoot(t), "test", "e2e", "testdata", "bad-endpoint.yaml"))
	if code == 0 || !strings.Contains(stderr, "splitt") {
		t.Errorf("bad spec: exit %d stderr %q", code, stderr)
	}
}
