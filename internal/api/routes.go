package api

import (
	"net/http"
	"sort"

	"github.com/sluicehq/sluice/internal/auth"
)

// handle registers h for pattern and declares the least role that may call
// it. It is the only way routes are added to the control API (see the
// package comment).
func (a *API) handle(mux *http.ServeMux, pattern string, min auth.Role, h http.HandlerFunc) {
	if _, dup := a.roles[pattern]; dup {
		panic("api: route registered twice: " + pattern)
	}
	a.roles[pattern] = min
	mux.HandleFunc(pattern, h)
}

// Route is a registered control API route and its least role.
type Route struct {
	Pattern string
	Role    auth.Role
}

// Routes lists the registered routes, sorted by pattern.
func (a *API) Routes() []Route {
	out := make([]Route, 0, len(a.roles))
	for p, r := range a.roles {
		out = append(out, Route{Pattern: p, Role: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

// RoleOf returns the auth middleware's lookup for routes on mux: the role
// declared for the pattern a request matches. A pattern registered on mux
// some other way is not declared, and the middleware then requires admin.
func (a *API) RoleOf(mux *http.ServeMux) auth.RoleOf {
	return func(r *http.Request) (auth.Role, bool) {
		_, pattern := mux.Handler(r)
		role, ok := a.roles[pattern]
		return role, ok
	}
}
