package api

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/rollout"
)

var update = flag.Bool("update", false, "rewrite testdata/routes.golden")

// TestEveryRouteHasARole checks that every control API route was registered
// with a role, and that the middleware treats a route registered without
// one as admin-only.
func TestEveryRouteHasARole(t *testing.T) {
	// A zero controller is enough to register the rollout routes.
	a := New(nil, Options{Rollouts: &rollout.Controller{}, Jobs: &jobs.Service{}})
	mux := http.NewServeMux()
	a.Register(mux)
	routes := a.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		if !strings.Contains(r.Pattern, "/api/") {
			t.Errorf("route %q is not under /api/", r.Pattern)
		}
		if r.Role < auth.Viewer || r.Role > auth.Admin {
			t.Errorf("route %q has role %v; control routes need viewer..admin", r.Pattern, r.Role)
		}
		if strings.HasPrefix(r.Pattern, "GET ") && r.Role > auth.Viewer && !strings.Contains(r.Pattern, "/tokens") && !strings.Contains(r.Pattern, "/settings") {
			t.Errorf("read route %q needs %v; reads are for viewers", r.Pattern, r.Role)
		}
	}
	// The policy itself is pinned: a role change shows up here in review.
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "%-8s %s\n", r.Role, r.Pattern)
	}
	const golden = "testdata/routes.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestEveryRouteHasARole -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("route roles changed; if on purpose, run go test ./internal/api -run TestEveryRouteHasARole -update and review the diff\ngot:\n%s\nwant:\n%s", got, want)
	}

	roleOf := a.RoleOf(mux)
	for _, tt := range []struct {
		method, path string
		want         auth.Role
	}{
		{"GET", "/api/v1/models", auth.Viewer},
		{"POST", "/api/v1/models/m/versions", auth.Deployer},
		{"POST", "/api/v1/approvals/ap-1/approve", auth.Approver},
		{"POST", "/api/v1/tokens", auth.Admin},
		{"GET", "/api/v1/nothing-here", auth.Viewer}, // the not-found route
	} {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		got, ok := roleOf(r)
		if !ok || got != tt.want {
			t.Errorf("%s %s: role %v (declared %v), want %v", tt.method, tt.path, got, ok, tt.want)
		}
	}

	// A route added straight on the mux, without a role: undeclared, so
	// the middleware asks for admin.
	mux.HandleFunc("POST /api/v1/undeclared", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	r := httptest.NewRequest("POST", "/api/v1/undeclared", nil)
	if _, ok := roleOf(r); ok {
		t.Fatal("a route registered without handle has a declared role")
	}
	authn := auth.New(auth.Options{Tokens: staticTokens{}})
	h := authn.Middleware(mux, roleOf)
	for _, tt := range []struct {
		token string
		want  int
	}{
		{"", 401},
		{staticTokens{}.token("deployer"), 403},
		{staticTokens{}.token("approver"), 403},
		{staticTokens{}.token("admin"), 204},
	} {
		r := httptest.NewRequest("POST", "/api/v1/undeclared", nil)
		if tt.token != "" {
			r.Header.Set("Authorization", "Bearer "+tt.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("undeclared route with %q: %d %s, want %d", tt.token, w.Code, w.Body, tt.want)
		}
	}
}
