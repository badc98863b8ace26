// Package auth authenticates callers of Sluice and checks their roles.
//
// Callers present a bearer API token ("Authorization: Bearer sluice_...")
// or, on a TLS listener with --client-ca, a client certificate whose
// subject common name is mapped to a role. Tokens are 256 random bits,
// shown once when created and stored only as their sha256.
//
// Roles are ordered: viewer < deployer < approver < admin. A route names
// the least role that may call it, so a deployer can do what a viewer can,
// an approver what a deployer can, and an admin everything. Public routes
// need no credentials.
//
// The control API declares each route's role where the route is registered
// (see package api); Middleware checks it for every request under /api/,
// and any /api/ route registered without a role is treated as admin-only,
// so a route added without thinking about roles fails closed.
//
// Failed authentications (unknown, revoked or expired tokens, unmapped
// certificates) are logged with the client address and rate limited per
// client IP: after a burst, further attempts get 429 until the bucket
// refills, which makes guessing tokens pointless even before the 256 bits.
package auth
