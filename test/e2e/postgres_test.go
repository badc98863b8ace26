package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/store/storetest"
)

// TestTwoNodesSharePostgres runs two servers on one PostgreSQL store, each
// with its own data directory: a model pushed and an endpoint created
// through one node is served by the other within its poll interval (which
// reads the artifact from the store), and a version change made on the
// second node reaches the first.
func TestTwoNodesSharePostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	a := startServer(t, "--store", dsn, "--data-dir", t.TempDir())
	b := startServer(t, "--store", dsn, "--data-dir", t.TempDir())
	if a.Token == "" || b.Token != "" {
		t.Fatalf("admin token files: first node %q, second node %q; want only the first (one bootstrap per store)", a.Token, b.Token)
	}
	b.Token = a.Token
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	a.cli(t, "model", "push", "bc", model, "--baseline", filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.csv"))
	a.cli(t, "model", "push", "bc", model)
	a.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")

	waitVersion := func(s *server, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(s.URL + "/v2/models/bc")
			if err == nil {
				var md struct {
					Versions []string `json:"versions"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&md)
				resp.Body.Close()
				if resp.StatusCode == 200 && len(md.Versions) == 1 && md.Versions[0] == want {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not serve bc version %s after 10s", s.URL, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitVersion(b, "1")
	// The baseline pushed through the first node is read from the store by
	// the second, which measures drift on its own traffic.
	post(t, b.URL+"/v1/endpoints/bc:predict", []byte(`{"instances":[{"mean_radius":30}]}`))
	var d apiclient.DriftResponse
	b.cliJSON(t, &d, "drift", "bc")
	if len(d.Versions) != 1 || d.Versions[0].Report.Rows != 1 || d.Versions[0].Report.BaselineRows != 569 {
		t.Errorf("drift on the second node: %+v", d)
	}
	b.cli(t, "endpoint", "set-version", "bc", "2")
	waitVersion(b, "2") // at once on the node that made the change
	waitVersion(a, "2") // within the poll interval on the other
}
