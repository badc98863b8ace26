package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, to tamper with the store

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/audit"
)

// cliAs runs a client command with token as SLUICE_TOKEN ("" for none) in
// directory dir ("" for the test's).
func (s *server) cliAs(token, dir string, args ...string) (stdout, stderr string, code int) {
	cmd := sluiceCmd(context.Background(), args...)
	cmd.Env = append(cmd.Env, "SLUICE_SERVER="+s.URL, "SLUICE_TOKEN="+token, "SLUICE_DATA_DIR=")
	cmd.Dir = dir
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return o.String(), e.String(), code
}

func (s *server) mustAs(t *testing.T, token string, args ...string) string {
	t.Helper()
	out, errOut, code := s.cliAs(token, "", args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (s *server) failAs(t *testing.T, token, want string, args ...string) {
	t.Helper()
	out, errOut, code := s.cliAs(token, "", args...)
	if code == 0 || !strings.Contains(errOut, want) {
		t.Fatalf("sluice %s: exit %d, stderr %q; want a failure mentioning %q\n%s", strings.Join(args, " "), code, errOut, want, out)
	}
}

func newToken(t *testing.T, s *server, name, role string) string {
	t.Helper()
	var tk apiclient.Token
	s.cliJSON(t, &tk, "token", "create", "--name", name, "--role", role)
	if !strings.HasPrefix(tk.Token, "sluice_") {
		t.Fatalf("token create gave %+v", tk)
	}
	return tk.Token
}

// TestTokenFlow goes through authentication as a user does: the first
// start's admin token found by the CLI on the same machine, tokens per role,
// revocation, a token-only endpoint, approvals with the two-person rule,
// and the audit trail of it all.
func TestTokenFlow(t *testing.T) {
	work := t.TempDir()
	data := filepath.Join(work, "sluice-data")
	s := startServer(t, "--data-dir", data)
	if s.Token == "" {
		t.Fatal("no admin token file after the first start")
	}
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")

	// The quickstart: no token given, the CLI reads ./sluice-data/admin.token.
	out, errOut, code := s.cliAs("", work, "token", "whoami")
	if code != 0 || !strings.Contains(out, "admin (role admin") {
		t.Fatalf("whoami from the data directory's parent: exit %d %q %q", code, out, errOut)
	}
	// Elsewhere, with no token: 401, exit 2.
	if _, errOut, code := s.cliAs("", "", "model", "list"); code != 2 || !strings.Contains(errOut, "unauthenticated") {
		t.Fatalf("no token: exit %d %q", code, errOut)
	}

	ci := newToken(t, s, "ci", "deployer")
	dash := newToken(t, s, "dash", "viewer")
	alice := newToken(t, s, "alice", "approver")
	bob := newToken(t, s, "bob", "approver")

	s.mustAs(t, ci, "model", "push", "bc", model)
	s.mustAs(t, ci, "endpoint", "create", "bc", "--model", "bc", "--version", "1", "--auth", "token", "--approval", "required")
	s.failAs(t, dash, "needs deployer", "model", "push", "bc", model)
	s.failAs(t, ci, "needs admin", "token", "create", "--name", "x", "--role", "admin")
	if out := s.mustAs(t, dash, "model", "list"); !strings.Contains(out, "bc") {
		t.Errorf("viewer model list: %q", out)
	}
	var list []apiclient.Token
	s.cliJSON(t, &list, "token", "list")
	if len(list) != 5 {
		t.Errorf("token list has %d tokens, want 5", len(list))
	}
	raw, _ := json.Marshal(list)
	for _, secret := range []string{ci, dash, alice, s.Token} {
		if strings.Contains(string(raw), secret) {
			t.Fatal("token list shows a secret")
		}
	}

	// The token-only endpoint.
	body := []byte(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + strings.TrimSuffix(strings.Repeat("1.5,", 30), ",") + `]}]}`)
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {dash, 200}, {ci, 200}} {
		req, _ := http.NewRequest("POST", s.URL+"/v2/models/bc/infer", bytes.NewReader(body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err, "infer")
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("infer on a token endpoint with %q: %d, want %d", c.token[:min(len(c.token), 10)], resp.StatusCode, c.want)
		}
	}

	// Approvals: the deployer asks, cannot approve; an approver other than
	// the requester decides.
	ciClient := apiclient.New(s.URL, apiclient.WithToken(ci))
	req, err := ciClient.CreateApproval(t.Context(), apiclient.CreateApprovalRequest{Object: "endpoint/bc", Summary: "promote version 1 to production"})
	must(t, err, "create approval")
	s.failAs(t, ci, "needs approver", "approve", req.ID)
	own, err := apiclient.New(s.URL, apiclient.WithToken(alice)).CreateApproval(t.Context(), apiclient.CreateApprovalRequest{Object: "endpoint/bc", Summary: "mine"})
	must(t, err, "create approval as alice")
	s.failAs(t, alice, "two-person rule", "approve", own.ID)
	if out := s.mustAs(t, alice, "approve", req.ID, "--reason", "canary looked fine"); !strings.Contains(out, "approved by alice") {
		t.Errorf("approve: %q", out)
	}
	s.failAs(t, bob, "already approved", "reject", req.ID, "--reason", "too late")
	s.failAs(t, bob, "reason", "reject", own.ID)
	s.mustAs(t, bob, "reject", own.ID, "--reason", "not needed")

	// Revocation is immediate on the control API.
	s.mustAs(t, s.Token, "token", "revoke", "ci")
	s.failAs(t, ci, "revoked", "model", "push", "bc", model)

	// The audit trail names who did what, and verifies.
	var evs []map[string]any
	s.cliJSON(t, &evs, "audit", "log", "--object", "model/bc")
	if len(evs) != 1 || evs[0]["actor"] != "ci" || evs[0]["action"] != "model.push" {
		t.Errorf("audit log of model/bc: %v", evs)
	}
	out = s.cli(t, "audit", "log", "--object", "endpoint/bc")
	for _, want := range []string{"ci  ", "endpoint.create", "approval.request", "alice", "approval.approve", "bob", "approval.reject"} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log of endpoint/bc lacks %q:\n%s", want, out)
		}
	}
	if out := s.mustAs(t, dash, "audit", "verify"); !strings.Contains(out, "audit chain verifies") {
		t.Errorf("audit verify: %q", out)
	}
	export := s.cli(t, "audit", "export")
	if n := strings.Count(export, "\n"); n < 10 {
		t.Errorf("export has %d lines", n)
	}
}

// TestSignedArtifactsAndAuditTamper: keys from the CLI sign a push to a
// server that requires signatures and sign the audit head; an edit made
// directly in the database is found by `sluice audit verify`, and a whole
// rewrite by the kept head.
func TestSignedArtifactsAndAuditTamper(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := (&server{}).cliAs("", dir, "keys", "generate", "--out", "release")
	if code != 0 || !strings.Contains(out, "release.key") {
		t.Fatalf("keys generate: %d %q %q", code, out, errOut)
	}
	st, err := os.Stat(filepath.Join(dir, "release.key"))
	must(t, err, "stat key")
	if st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", st.Mode().Perm())
	}
	key, pub := filepath.Join(dir, "release.key"), filepath.Join(dir, "release.pub")
	data := t.TempDir()
	s := startServer(t, "--data-dir", data, "--require-signature", "--trusted-keys", pub,
		"--audit-signing-key", key, "--audit-sign-interval", "100ms")
	model := filepath.Join(repoRoot(t), "examples", "xgboost", "breast_cancer.json")

	s.failAs(t, s.Token, "not signed", "model", "push", "bc", model)
	var v apiclient.Version
	s.cliJSON(t, &v, "model", "push", "bc", model, "--sign-key", key)
	if v.Version != 1 || len(v.ArtifactSignature) == 0 {
		t.Fatalf("signed push = %+v", v)
	}
	// A key the server does not trust.
	s.cliAs("", dir, "keys", "generate", "--out", "other")
	s.failAs(t, s.Token, "not trusted", "model", "push", "bc", model, "--sign-key", filepath.Join(dir, "other.key"))
	s.cli(t, "endpoint", "create", "bc", "--model", "bc", "--version", "1")

	// Wait for a signed head covering the endpoint creation.
	var head apiclient.AuditHead
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.cliJSON(t, &head, "audit", "head")
		if len(head.Signed) > 0 && head.Signed[len(head.Signed)-1].Seq == head.Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signed head after 10s: %+v", head)
		}
		time.Sleep(50 * time.Millisecond)
	}
	headFile := filepath.Join(dir, "head.json")
	b, _ := json.Marshal(head)
	must(t, os.WriteFile(headFile, b, 0o644), "write head")
	if out := s.cli(t, "audit", "verify", "--head", headFile, "--trusted-key", pub); !strings.Contains(out, "audit chain verifies") {
		t.Fatalf("verify: %q", out)
	}
	exportFile := filepath.Join(dir, "audit.jsonl")
	must(t, os.WriteFile(exportFile, []byte(s.cli(t, "audit", "export")), 0o644), "write export")

	// Tamper with the database behind the server's back.
	db, err := sql.Open("sqlite", filepath.Join(data, "sluice.db")+"?_pragma=busy_timeout(5000)")
	must(t, err, "open db")
	defer db.Close()
	_, err = db.Exec(`UPDATE audit_events SET actor = 'mallory' WHERE seq = 2`)
	must(t, err, "tamper")
	_, errOut, code = s.cliResult("audit", "verify")
	if code == 0 || !strings.Contains(errOut, "first bad sequence number 2") {
		t.Fatalf("verify after an edit: exit %d %q", code, errOut)
	}
	// The export taken before still verifies offline against the head.
	if out := s.cli(t, "audit", "verify", "--file", exportFile, "--head", headFile, "--trusted-key", pub); !strings.Contains(out, "verifies") {
		t.Errorf("offline verify of the earlier export: %q", out)
	}

	// A whole rewrite: every event re-hashed into a consistent chain, the
	// stored signatures deleted. The chain alone verifies; the kept head
	// does not.
	rewriteChain(t, db)
	if out := s.cli(t, "audit", "verify"); !strings.Contains(out, "verifies") {
		t.Fatalf("the rewritten chain should be self-consistent: %q", out)
	}
	_, errOut, code = s.cliResult("audit", "verify", "--head", headFile, "--trusted-key", pub)
	if code == 0 || !strings.Contains(errOut, "rewritten") {
		t.Fatalf("verify of a rewritten chain against the kept head: exit %d %q", code, errOut)
	}
}

// rewriteChain recomputes every event's hash as an attacker with database
// access would, and removes the signed heads.
func rewriteChain(t *testing.T, db *sql.DB) {
	t.Helper()
	rows, err := db.Query(`SELECT seq, at, actor, action, object, before, after FROM audit_events ORDER BY seq`)
	must(t, err, "read events")
	var evs []audit.Event
	for rows.Next() {
		var e audit.Event
		var at int64
		var before, after string
		must(t, rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Object, &before, &after), "scan")
		e.Time = time.Unix(0, at).UTC()
		if before != "" {
			e.Before = json.RawMessage(before)
		}
		if after != "" {
			e.After = json.RawMessage(after)
		}
		evs = append(evs, e)
	}
	rows.Close()
	var prev audit.Head
	for _, e := range evs {
		audit.Seal(&e, prev.Seq, prev.Hash)
		_, err := db.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq)
		must(t, err, "rewrite")
		prev = audit.Head{Seq: e.Seq, Hash: e.Hash}
	}
	_, err = db.Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, prev.Seq, prev.Hash)
	must(t, err, "rewrite head")
	_, err = db.Exec(`DELETE FROM audit_signatures`)
	must(t, err, "delete signatures")
}
