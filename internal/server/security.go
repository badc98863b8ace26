package server

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/signing"
	"github.com/sluicehq/sluice/internal/store"
)

// Security is the part of Config about authentication, TLS, signatures
// and the audit trail.
type Security struct {
	// AuthOff turns authentication off: every caller is an anonymous
	// admin. For local experiments only; the server says so loudly.
	AuthOff bool
	// TLSCert and TLSKey serve REST and gRPC over TLS.
	TLSCert, TLSKey string
	// ClientCA verifies client certificates (mTLS) when given; CertRoles
	// maps their subject common names to roles ("ci-bot=deployer").
	ClientCA  string
	CertRoles []string
	// RequireSignature refuses to push or load versions without a valid
	// artifact signature by one of TrustedKeys (a PEM file or a directory
	// of *.pub files).
	RequireSignature bool
	TrustedKeys      string
	// AuditSigningKey is an ed25519 private key (PEM) that signs the audit
	// chain's head every AuditSignInterval (default 1h) and at shutdown.
	AuditSigningKey   string
	AuditSignInterval time.Duration
	// AuthFailBurst failed authentications per client IP are allowed at
	// once, then one per AuthFailEvery; 0 means 10 and 6s.
	AuthFailBurst int
	AuthFailEvery time.Duration
}

// security is what Run builds from Security.
type security struct {
	authn   *auth.Authenticator
	tls     *tls.Config
	trusted signing.Keyring
	signKey ed25519.PrivateKey
	keys    signing.Keyring // the audit key's public half
}

func setupSecurity(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger) (*security, error) {
	sc := cfg.Security
	s := &security{}
	certRoles, err := auth.ParseCertRoles(sc.CertRoles)
	if err != nil {
		return nil, err
	}
	if sc.ClientCA != "" && sc.TLSCert == "" {
		return nil, fmt.Errorf("--client-ca needs --tls-cert and --tls-key")
	}
	if sc.TLSCert != "" || sc.TLSKey != "" {
		if s.tls, err = auth.TLSConfig(sc.TLSCert, sc.TLSKey, sc.ClientCA); err != nil {
			return nil, err
		}
	}
	if sc.AuthOff {
		log.Warn("AUTHENTICATION IS OFF (--auth=off): anyone who can reach this server can push models, change endpoints and read everything. " +
			"Use it only for local experiments; remove --auth=off for anything else.")
	} else {
		path, created, err := auth.Bootstrap(ctx, db, cfg.DataDir)
		if err != nil {
			return nil, err
		}
		if created {
			log.Info("created the first admin token; the CLI on this machine finds it there, or pass it with --token/SLUICE_TOKEN", "token_file", path)
		}
	}
	s.authn = auth.New(auth.Options{Tokens: db, Off: sc.AuthOff, CertRoles: certRoles, Logger: log, FailBurst: sc.AuthFailBurst, FailEvery: sc.AuthFailEvery})
	if sc.RequireSignature && sc.TrustedKeys == "" {
		return nil, fmt.Errorf("--require-signature needs --trusted-keys DIR|FILE")
	}
	if sc.TrustedKeys != "" {
		if s.trusted, err = signing.LoadKeyring(sc.TrustedKeys); err != nil {
			return nil, fmt.Errorf("--trusted-keys: %w", err)
		}
	}
	if sc.AuditSigningKey != "" {
		if s.signKey, err = signing.LoadPrivateKey(sc.AuditSigningKey); err != nil {
			return nil, fmt.Errorf("--audit-signing-key: %w", err)
		}
		pub := s.signKey.Public().(ed25519.PublicKey)
		s.keys = signing.Keyring{signing.KeyID(pub): pub}
	}
	return s, nil
}

// signAuditHeads signs the audit head now, every interval, and once more
// when ctx ends, whenever it has moved since the last signature.
func signAuditHeads(ctx context.Context, db *store.DB, key ed25519.PrivateKey, interval time.Duration, log *slog.Logger) error {
	if interval <= 0 {
		interval = time.Hour
	}
	var last int64 = -1
	sign := func(ctx context.Context) {
		h, err := db.AuditHead(ctx)
		if err != nil || h.Seq == 0 || h.Seq == last {
			if err != nil {
				log.Warn("reading the audit head to sign it", "err", err)
			}
			return
		}
		at := time.Now().UnixNano()
		sig := signing.SignHead(key, h.Seq, h.Hash, at)
		if err := db.SaveSignedHead(ctx, store.SignedHead{Head: h, SignedAt: at, KeyID: sig.KeyID, Signature: sig.Signature}); err != nil {
			log.Warn("saving the signed audit head", "err", err)
			return
		}
		last = h.Seq
		log.Debug("signed the audit head", "seq", h.Seq, "key", sig.KeyID)
	}
	sign(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sign(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
			sign(ctx)
		}
	}
}
