package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/store"
)

// Errors Authenticate returns; all answer 401.
var (
	ErrNoCredentials = errors.New("no credentials: send an API token as \"Authorization: Bearer TOKEN\"")
	ErrUnknownToken  = errors.New("unknown token")
	ErrRevoked       = errors.New("token revoked")
	ErrExpired       = errors.New("token expired")
	ErrUnmappedCert  = errors.New("client certificate subject is not mapped to a role")
)

// TokenStore looks tokens up by hash; *store.DB implements it.
type TokenStore interface {
	TokenByHash(ctx context.Context, hash string) (store.Token, error)
}

// Options configure an Authenticator.
type Options struct {
	// Tokens looks tokens up.
	Tokens TokenStore
	// Off turns authentication off: every caller is "anonymous" with the
	// admin role. For local experiments only.
	Off bool
	// CertRoles maps verified client certificate common names to roles.
	CertRoles map[string]Role
	// FailBurst failed attempts per client IP are allowed at once, then
	// one per FailEvery (defaults 10 and 6s: 10 a minute).
	FailBurst int
	FailEvery time.Duration
	// CacheTTL is how long inference calls reuse a token lookup (default
	// 5s): the inference hot path does not query the store per request, so
	// a revocation reaches inference within CacheTTL. The control API
	// always looks tokens up.
	CacheTTL time.Duration
	Logger   *slog.Logger
}

// Authenticator checks credentials and roles.
type Authenticator struct {
	opts    Options
	log     *slog.Logger
	limiter *failLimiter
	now     func() time.Time

	cacheMu sync.Mutex
	cache   map[string]cached // by token hash; guarded by cacheMu
}

type cached struct {
	p     Principal
	err   error
	until time.Time
}

// New returns an Authenticator.
func New(opts Options) *Authenticator {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FailBurst <= 0 {
		opts.FailBurst = 10
	}
	if opts.FailEvery <= 0 {
		opts.FailEvery = 6 * time.Second
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 5 * time.Second
	}
	return &Authenticator{opts: opts, log: opts.Logger, limiter: newFailLimiter(opts.FailBurst, opts.FailEvery), now: time.Now, cache: map[string]cached{}}
}

// Off reports whether authentication is off.
func (a *Authenticator) Off() bool { return a.opts.Off }

// anonymous is every caller when authentication is off.
var anonymous = Principal{Name: "anonymous", Role: Admin, Via: "auth-off"}

// authenticate finds the caller from a bearer header value and a verified
// client certificate (either may be empty). A token wins over a certificate.
func (a *Authenticator) authenticate(ctx context.Context, authz string, cert *x509.Certificate, useCache bool) (Principal, error) {
	if a.opts.Off {
		return anonymous, nil
	}
	if tok, ok := BearerToken(authz); ok {
		return a.checkToken(ctx, tok, useCache)
	}
	if cert != nil {
		cn := cert.Subject.CommonName
		r, ok := a.opts.CertRoles[cn]
		if !ok {
			return Principal{}, fmt.Errorf("%w: %q", ErrUnmappedCert, cn)
		}
		return Principal{Name: "cert:" + cn, Role: r, Via: "certificate"}, nil
	}
	return Principal{}, ErrNoCredentials
}

func (a *Authenticator) checkToken(ctx context.Context, tok string, useCache bool) (Principal, error) {
	if _, err := ParseToken(tok); err != nil {
		return Principal{}, err
	}
	h := HashToken(tok)
	now := a.now()
	if useCache {
		a.cacheMu.Lock()
		c, ok := a.cache[h]
		a.cacheMu.Unlock()
		if ok && now.Before(c.until) {
			return c.p, c.err
		}
	}
	p, err := a.lookup(ctx, h, now)
	if err != nil && !errors.Is(err, ErrUnknownToken) && !errors.Is(err, ErrRevoked) && !errors.Is(err, ErrExpired) {
		return p, err // the store failed: do not cache
	}
	a.cacheMu.Lock()
	if len(a.cache) > 10_000 {
		clear(a.cache)
	}
	a.cache[h] = cached{p: p, err: err, until: now.Add(a.opts.CacheTTL)}
	a.cacheMu.Unlock()
	return p, err
}

func (a *Authenticator) lookup(ctx context.Context, hash string, now time.Time) (Principal, error) {
	t, err := a.opts.Tokens.TokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnknownToken
	}
	if err != nil {
		return Principal{}, err
	}
	if !t.RevokedAt.IsZero() {
		return Principal{}, fmt.Errorf("%w: %s was revoked at %s", ErrRevoked, t.Name, t.RevokedAt.Format(time.RFC3339))
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return Principal{}, fmt.Errorf("%w: %s expired at %s", ErrExpired, t.Name, t.ExpiresAt.Format(time.RFC3339))
	}
	r, err := ParseRole(t.Role)
	if err != nil {
		return Principal{}, fmt.Errorf("token %s: %w", t.Name, err)
	}
	return Principal{Name: t.Name, Role: r, Via: "token"}, nil
}

// isAuthFailure reports whether err is the caller's fault (401), not the
// store's (500).
func isAuthFailure(err error) bool {
	for _, e := range []error{ErrNoCredentials, ErrUnknownToken, ErrRevoked, ErrExpired, ErrUnmappedCert, ErrMalformedToken} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func peerCert(r *http.Request) *x509.Certificate {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		return r.TLS.VerifiedChains[0][0]
	}
	return nil
}

// ClientIP is the address failed attempts are counted against: the
// connection's remote IP (forwarded headers are not trusted).
func ClientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

// RoleOf tells Middleware the least role a request needs; declared is
// false for a request whose route was registered without a role.
type RoleOf func(r *http.Request) (min Role, declared bool)

// Middleware checks every request under /api/: the route's role comes
// from roleOf, and a route without a declared role needs Admin. Other paths
// (inference, health, metrics) pass through; inference endpoints that need a
// token check it themselves (InferenceCheck).
func (a *Authenticator) Middleware(next http.Handler, roleOf RoleOf) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		min, declared := roleOf(r)
		if !declared {
			min = Admin
		}
		if min == Public {
			next.ServeHTTP(w, r)
			return
		}
		p, ok := a.check(w, r, min)
		if !ok {
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// check authenticates r and checks it has role min, answering the error
// itself when it does not.
func (a *Authenticator) check(w http.ResponseWriter, r *http.Request, min Role) (Principal, bool) {
	ip := ClientIP(r.RemoteAddr)
	if blocked, wait := a.limiter.blocked(ip); blocked && !a.opts.Off {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, apiclient.CodeRateLimited, "too many failed authentications from "+ip+"; retry later")
		return Principal{}, false
	}
	p, err := a.authenticate(r.Context(), r.Header.Get("Authorization"), peerCert(r), false)
	if err != nil {
		if !isAuthFailure(err) {
			a.log.Error("authenticating a request", "err", err)
			writeError(w, http.StatusInternalServerError, apiclient.CodeInternal, "authenticating: "+err.Error())
			return Principal{}, false
		}
		if !errors.Is(err, ErrNoCredentials) {
			a.limiter.fail(ip)
			a.log.Warn("authentication failed", "client", ip, "method", r.Method, "path", r.URL.Path, "err", err)
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		writeError(w, http.StatusUnauthorized, apiclient.CodeUnauthenticated, err.Error())
		return Principal{}, false
	}
	if !p.Role.Allows(min) {
		writeError(w, http.StatusForbidden, apiclient.CodeForbidden,
			fmt.Sprintf("%s has role %s; %s %s needs %s or above", p.Name, p.Role, r.Method, r.URL.Path, min))
		return Principal{}, false
	}
	return p, true
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(apiclient.ErrorBody{Error: apiclient.ErrorDetail{Code: code, Message: msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// AuthorizeInference authenticates an inference call to an endpoint that
// needs a token, over REST or gRPC (it implements gateway.Authorizer).
// header reads the request's headers or gRPC metadata ("authorization"). A
// client certificate verified by the TLS listener also counts, whatever its
// role mapping. Lookups are cached for CacheTTL so the hot path does not
// wait on the store.
func (a *Authenticator) AuthorizeInference(ctx context.Context, header func(string) string, remote string) (int, error) {
	if a.opts.Off {
		return 0, nil
	}
	var authz string
	if header != nil {
		authz = header("Authorization")
	}
	if authz == "" && contextCert(ctx) != nil {
		return 0, nil
	}
	ip := ClientIP(remote)
	if blocked, _ := a.limiter.blocked(ip); blocked {
		return http.StatusTooManyRequests, fmt.Errorf("%w: too many failed authentications from %s", ErrRateLimited, ip)
	}
	_, err := a.authenticate(ctx, authz, nil, true)
	switch {
	case err == nil:
		return 0, nil
	case !isAuthFailure(err):
		a.log.Error("authenticating an inference call", "err", err)
		return http.StatusServiceUnavailable, err
	case !errors.Is(err, ErrNoCredentials):
		a.limiter.fail(ip)
		a.log.Warn("inference authentication failed", "client", ip, "err", err)
	}
	return http.StatusUnauthorized, err
}

// ErrRateLimited means the client made too many failed attempts.
var ErrRateLimited = errors.New("rate limited")

type certKey struct{}

// WithCert returns ctx carrying a verified client certificate, for
// InferenceCheck on REST requests.
func WithCert(ctx context.Context, cert *x509.Certificate) context.Context {
	return context.WithValue(ctx, certKey{}, cert)
}

// contextCert finds a verified client certificate: put there by WithCert
// (REST) or in the gRPC peer's TLS state.
func contextCert(ctx context.Context) *x509.Certificate {
	if c, ok := ctx.Value(certKey{}).(*x509.Certificate); ok {
		return c
	}
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			if ch := ti.State.VerifiedChains; len(ch) > 0 && len(ch[0]) > 0 {
				return ch[0][0]
			}
		}
	}
	return nil
}

// CertMiddleware puts a verified client certificate in the request context
// so InferenceCheck can accept it; without TLS it does nothing.
func CertMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := peerCert(r); c != nil {
			r = r.WithContext(WithCert(r.Context(), c))
		}
		next.ServeHTTP(w, r)
	})
}

// TLSConfig returns the server TLS configuration for a certificate and key,
// and a client CA bundle for optional mTLS ("" for none). Client
// certificates are verified when given and not required, so token callers
// keep working beside certificate callers.
func TLSConfig(certFile, keyFile, clientCA string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := loadPool(clientCA)
		if err != nil {
			return nil, fmt.Errorf("--client-ca: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}
