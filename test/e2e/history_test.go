package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/apiclient"
)

// TestEndpointHistoryAnswersWhoServedWhen follows an endpoint through
// direct version changes and alias moves by two people, then asks
// `endpoint history --at` about moments between them.
func TestEndpointHistoryAnswersWhoServedWhen(t *testing.T) {
	s := startServer(t)
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")
	for i := 0; i < 3; i++ {
		s.cli(t, "model", "push", "bc", model)
	}
	alice := newToken(t, s, "alice", "deployer")
	bob := newToken(t, s, "bob", "deployer")
	pause := func() time.Time {
		time.Sleep(1100 * time.Millisecond) // the history is to the second
		return time.Now()
	}

	s.mustAs(t, alice, "endpoint", "create", "fraud", "--model", "bc", "--version", "1")
	t1 := pause()
	s.mustAs(t, bob, "endpoint", "set-version", "fraud", "2")
	t2 := pause()
	s.mustAs(t, alice, "model", "alias", "bc", "3", "production")
	s.mustAs(t, alice, "endpoint", "set-version", "fraud", "production")
	t3 := pause()
	s.mustAs(t, bob, "model", "alias", "bc", "1", "production")
	t4 := pause()

	out := s.cli(t, "endpoint", "history", "fraud")
	for _, want := range []string{"alice", "bob", "version production", "BY"} {
		if !strings.Contains(out, want) {
			t.Errorf("history table lacks %q:\n%s", want, out)
		}
	}
	cases := []struct {
		at      time.Time
		version int
		by      string
	}{
		{t1, 1, "alice"},
		{t2, 2, "bob"},
		{t3, 3, "alice"}, // alice pointed production at 3 and the endpoint at production
		{t4, 1, "bob"},   // bob moved the alias: the endpoint followed
	}
	for _, c := range cases {
		var sv apiclient.Served
		s.cliJSON(t, &sv, "endpoint", "history", "fraud", "--at", c.at.UTC().Format(time.RFC3339Nano))
		if len(sv.Versions) != 1 || sv.Versions[0].Version != c.version || sv.ChangedBy != c.by {
			t.Errorf("at %s: served %+v changed by %q; want version %d changed by %s", c.at.Format(time.TimeOnly), sv.Versions, sv.ChangedBy, c.version, c.by)
		}
	}
	text := s.cli(t, "endpoint", "history", "fraud", "--at", "1ms")
	if !strings.Contains(text, `follows "production"`) || !strings.Contains(text, "bob") {
		t.Errorf("history --at text:\n%s", text)
	}
	s.failAs(t, s.Token, "did not exist", "endpoint", "history", "fraud", "--at", "2001-01-01T00:00:00Z")
	s.failAs(t, s.Token, "--at", "endpoint", "history", "fraud", "--at", "yesterday")
}
