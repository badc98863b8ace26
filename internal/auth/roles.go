package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/audit"
)

// Role is what a caller may do. Roles are ordered; each includes the ones
// below it.
type Role int

// The roles, least first. Public is for routes that need no credentials.
const (
	Public Role = iota
	Viewer
	Deployer
	Approver
	Admin
)

var roleNames = [...]string{"public", "viewer", "deployer", "approver", "admin"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return roleNames[r]
}

// Roles lists the roles a token can have.
func Roles() []Role { return []Role{Viewer, Deployer, Approver, Admin} }

// ParseRole reads a token role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: must be one of viewer, deployer, approver, admin", s)
}

// Allows reports whether a caller with role r may call a route that needs
// min.
func (r Role) Allows(min Role) bool { return r >= min }

// Principal is an authenticated caller.
type Principal struct {
	// Name is the token name or certificate common name; it is the actor
	// in the audit log.
	Name string
	// Role is what the caller may do.
	Role Role
	// Via says how the caller authenticated: "token", "certificate" or
	// "auth-off".
	Via string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, and p's name as the audit actor.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return audit.WithActor(context.WithValue(ctx, principalKey{}, p), p.Name)
}

// FromContext returns the principal ctx carries.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// ParseCertRoles reads "CN=role" mappings (from --client-cert-role).
func ParseCertRoles(pairs []string) (map[string]Role, error) {
	m := map[string]Role{}
	for _, p := range pairs {
		cn, role, ok := strings.Cut(p, "=")
		if !ok || cn == "" {
			return nil, fmt.Errorf("--client-cert-role %q: want COMMON_NAME=ROLE", p)
		}
		r, err := ParseRole(role)
		if err != nil {
			return nil, fmt.Errorf("--client-cert-role %q: %w", p, err)
		}
		m[cn] = r
	}
	return m, nil
}
