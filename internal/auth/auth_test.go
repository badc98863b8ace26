package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/store"
)

func TestNewAndParseToken(t *testing.T) {
	tok, hash, id, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != tokenLen || len(id) != 12 {
		t.Errorf("token %q id %q", tok, id)
	}
	if hash != HashToken(tok) || len(hash) != 64 {
		t.Errorf("hash %q", hash)
	}
	if _, err := ParseToken(tok); err != nil {
		t.Errorf("ParseToken(new token): %v", err)
	}
	tok2, _, _, _ := NewToken()
	if tok2 == tok {
		t.Error("two tokens are equal")
	}
	for _, bad := range []string{"", "sluice_", tok[:len(tok)-1], tok + "A", "xluice_" + tok[7:], tok[:10] + "!" + tok[11:], tok[:len(tok)-1] + "="} {
		if _, err := ParseToken(bad); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("ParseToken(%q) = %v, want ErrMalformedToken", bad, err)
		}
	}
	for _, tt := range []struct {
		header, tok string
		ok          bool
	}{
		{"Bearer abc", "abc", true}, {"bearer  abc ", "abc", true}, {"Basic abc", "", false}, {"Bearer", "", false}, {"", "", false},
	} {
		tok, ok := BearerToken(tt.header)
		if tok != tt.tok || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v", tt.header, tok, ok)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	tok, _, _, _ := NewToken()
	for _, s := range []string{tok, "", "sluice_", "Bearer " + tok, strings.Repeat("\xff", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("error %v does not wrap ErrMalformedToken", err)
			}
			return
		}
		if got != s || len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
			t.Fatalf("accepted %q", s)
		}
		BearerToken("Bearer " + s)
	})
}

func TestRoles(t *testing.T) {
	for _, r := range Roles() {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseRole("public"); err == nil {
		t.Error("public is not a token role")
	}
	if !Admin.Allows(Approver) || !Approver.Allows(Deployer) || Deployer.Allows(Approver) || Viewer.Allows(Deployer) {
		t.Error("role order wrong")
	}
	m, err := ParseCertRoles([]string{"ci-bot=deployer", "ops=admin"})
	if err != nil || m["ci-bot"] != Deployer || m["ops"] != Admin {
		t.Errorf("ParseCertRoles = %v, %v", m, err)
	}
	for _, bad := range []string{"ci-bot", "=admin", "x=root"} {
		if _, err := ParseCertRoles([]string{bad}); err == nil {
			t.Errorf("ParseCertRoles(%q) accepted", bad)
		}
	}
}

func TestFailLimiter(t *testing.T) {
	l := newFailLimiter(3, 10*time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if b, _ := l.blocked("1.2.3.4"); b {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail("1.2.3.4")
	}
	b, wait := l.blocked("1.2.3.4")
	if !b || wait <= 0 || wait > 10*time.Second {
		t.Fatalf("after the burst: blocked %v, wait %v", b, wait)
	}
	if b, _ := l.blocked("5.6.7.8"); b {
		t.Error("another client is blocked")
	}
	now = now.Add(10 * time.Second)
	if b, _ := l.blocked("1.2.3.4"); b {
		t.Error("still blocked after refill")
	}
}

func TestBootstrap(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path, created, err := Bootstrap(context.Background(), db, dir)
	if err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %v mode %v", err, st.Mode().Perm())
	}
	tok, err := ReadTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Tokens: db})
	p, err := a.authenticate(context.Background(), "Bearer "+tok, nil, false)
	if err != nil || p.Name != "admin" || p.Role != Admin {
		t.Fatalf("the bootstrap token authenticates as %+v, %v", p, err)
	}
	ts, _ := db.ListTokens(context.Background())
	if len(ts) != 1 || ts[0].Hash == tok || strings.Contains(ts[0].Hash, tok) {
		t.Errorf("stored tokens %+v", ts)
	}
	// The second start changes nothing and keeps the file.
	if _, created, err := Bootstrap(context.Background(), db, dir); err != nil || created {
		t.Errorf("second Bootstrap = %v, %v", created, err)
	}
	if again, _ := ReadTokenFile(path); again != tok {
		t.Error("second start replaced the token file")
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestInferenceCache(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tok, hash, id, _ := NewToken()
	if _, err := db.CreateToken(context.Background(), store.Token{ID: id, Name: "app", Role: "viewer", Hash: hash}); err != nil {
		t.Fatal(err)
	}
	a := New(Options{Tokens: db, CacheTTL: time.Hour})
	now := time.Now()
	a.now = func() time.Time { return now }
	hdr := func(v string) func(string) string { return func(string) string { return v } }
	if st, err := a.AuthorizeInference(context.Background(), hdr("Bearer "+tok), "1.1.1.1:5"); err != nil {
		t.Fatalf("good token: %d %v", st, err)
	}
	if _, err := db.RevokeToken(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	// Cached within the TTL, refused after it.
	if _, err := a.AuthorizeInference(context.Background(), hdr("Bearer "+tok), "1.1.1.1:5"); err != nil {
		t.Errorf("within the cache TTL: %v", err)
	}
	now = now.Add(2 * time.Hour)
	if st, err := a.AuthorizeInference(context.Background(), hdr("Bearer "+tok), "1.1.1.1:5"); !errors.Is(err, ErrRevoked) || st != 401 {
		t.Errorf("after the TTL: %d %v, want 401 revoked", st, err)
	}
	if st, err := a.AuthorizeInference(context.Background(), hdr(""), "1.1.1.1:5"); !errors.Is(err, ErrNoCredentials) || st != 401 {
		t.Errorf("no token: %d %v", st, err)
	}
}
