package cli

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/server"
	"github.com/sluicehq/sluice/internal/signing"
)

// credentials are the client's ways to prove who it is.
type credentials struct {
	token                         string
	caCert, clientCert, clientKey string
}

func clientFlags(root *cobra.Command, c *credentials) {
	f := root.PersistentFlags()
	f.StringVar(&c.token, "token", "", "API token (env SLUICE_TOKEN; default: DATA_DIR/admin.token when the server is on this machine)")
	f.StringVar(&c.caCert, "ca-cert", os.Getenv("SLUICE_CA_CERT"), "PEM CA certificate to trust for an https:// server (env SLUICE_CA_CERT)")
	f.StringVar(&c.clientCert, "client-cert", os.Getenv("SLUICE_CLIENT_CERT"), "PEM client certificate for mTLS (env SLUICE_CLIENT_CERT)")
	f.StringVar(&c.clientKey, "client-key", os.Getenv("SLUICE_CLIENT_KEY"), "PEM client key for mTLS (env SLUICE_CLIENT_KEY)")
}

// clientOptions finds the token: --token, SLUICE_TOKEN, or the admin token
// file of a server on this machine (SLUICE_DATA_DIR or ./sluice-data).
func (e *env) clientOptions(server, dataDir string) ([]apiclient.Option, error) {
	var opts []apiclient.Option
	tok := e.creds.token
	if tok == "" {
		tok = os.Getenv("SLUICE_TOKEN")
	}
	if tok == "" && isLocal(server) {
		if dataDir == "" {
			dataDir = envOr("SLUICE_DATA_DIR", "./sluice-data")
		}
		if t, err := auth.ReadTokenFile(filepath.Join(dataDir, auth.AdminTokenFile)); err == nil {
			tok = t
		}
	}
	if tok != "" {
		opts = append(opts, apiclient.WithToken(tok))
	}
	if e.creds.caCert != "" || e.creds.clientCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if e.creds.caCert != "" {
			pool, err := auth.LoadCertPool(e.creds.caCert)
			if err != nil {
				return nil, fmt.Errorf("--ca-cert: %w", err)
			}
			cfg.RootCAs = pool
		}
		if e.creds.clientCert != "" {
			cert, err := tls.LoadX509KeyPair(e.creds.clientCert, e.creds.clientKey)
			if err != nil {
				return nil, fmt.Errorf("--client-cert/--client-key: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, apiclient.WithTLS(cfg))
	}
	return opts, nil
}

// isLocal reports whether a server URL names this machine.
func isLocal(server string) bool {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		u, err = url.Parse("http://" + server)
		if err != nil {
			return false
		}
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// securityFlags binds the server's security flags.
func securityFlags(cmd *cobra.Command, cfg *server.Config) {
	f := cmd.Flags()
	sc := &cfg.Security
	var authMode string
	f.StringVar(&authMode, "auth", envOr("SLUICE_AUTH", "on"), "on: API tokens and roles (the first start writes an admin token to DATA_DIR/admin.token); off: no authentication, for local experiments only (env SLUICE_AUTH)")
	f.StringVar(&sc.TLSCert, "tls-cert", os.Getenv("SLUICE_TLS_CERT"), "PEM certificate: serve REST and gRPC over TLS (env SLUICE_TLS_CERT)")
	f.StringVar(&sc.TLSKey, "tls-key", os.Getenv("SLUICE_TLS_KEY"), "PEM private key for --tls-cert (env SLUICE_TLS_KEY)")
	f.StringVar(&sc.ClientCA, "client-ca", os.Getenv("SLUICE_CLIENT_CA"), "PEM CA bundle: verify client certificates (mTLS) signed by it (env SLUICE_CLIENT_CA)")
	f.StringArrayVar(&sc.CertRoles, "client-cert-role", nil, "map a client certificate common name to a role, CN=ROLE (repeatable)")
	f.BoolVar(&sc.RequireSignature, "require-signature", false, "refuse to push or load versions not signed by a key in --trusted-keys")
	f.StringVar(&sc.TrustedKeys, "trusted-keys", os.Getenv("SLUICE_TRUSTED_KEYS"), "PEM public key file, or directory of *.pub files, trusted for artifact signatures (env SLUICE_TRUSTED_KEYS)")
	f.StringVar(&sc.AuditSigningKey, "audit-signing-key", os.Getenv("SLUICE_AUDIT_SIGNING_KEY"), "ed25519 private key (sluice keys generate) that signs the audit chain head (env SLUICE_AUDIT_SIGNING_KEY)")
	f.DurationVar(&sc.AuditSignInterval, "audit-sign-interval", time.Hour, "how often the audit head is signed (and at shutdown)")
	f.DurationVar(&cfg.ReadTimeout, "read-timeout", 10*time.Minute, "longest time to read a whole request, body included")
	f.DurationVar(&cfg.WriteTimeout, "write-timeout", 10*time.Minute, "longest time to write a whole answer")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		switch authMode {
		case "on":
		case "off":
			sc.AuthOff = true
		default:
			return fmt.Errorf("--auth: %q is not one of on, off", authMode)
		}
		if prev != nil {
			return prev(c, args)
		}
		return nil
	}
}

func newTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens (admin)"}
	var role, name string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create --name NAME --role viewer|deployer|approver|admin [--expires 720h]",
		Short: "Create an API token; it is printed once and stored only as its hash",
		Example: `  sluice token create --name ci --role deployer --expires 720h
  SLUICE_TOKEN=$(sluice token create --name alice --role approver -o json | jq -r .token)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := apiclient.CreateTokenRequest{Name: name, Role: role}
			if expires > 0 {
				req.Expires = expires.String()
			}
			t, err := e.client().CreateToken(e.ctx, req)
			if err != nil {
				return err
			}
			return e.emit(t, func() error {
				fmt.Fprintf(e.stdout, "Created token %s (role %s, id %s). It is shown only now:\n\n%s\n", t.Name, t.Role, t.ID, t.Token)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "who or what holds the token (unique; the actor in the audit log)")
	create.Flags().StringVar(&role, "role", "", "viewer, deployer, approver or admin")
	create.Flags().DurationVar(&expires, "expires", 0, "lifetime, e.g. 720h (default: no expiry)")
	list := &cobra.Command{
		Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := e.client().ListTokens(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(ts, func() error {
				rows := make([][]string, len(ts))
				for i, t := range ts {
					exp, state := "never", "active"
					if t.ExpiresAt != nil {
						exp = t.ExpiresAt.Format(time.RFC3339)
						if time.Now().After(*t.ExpiresAt) {
							state = "expired"
						}
					}
					if t.RevokedAt != nil {
						state = "revoked " + t.RevokedAt.Format(time.RFC3339)
					}
					rows[i] = []string{t.Name, t.ID, t.Role, t.CreatedAt.Format(time.RFC3339), exp, state}
				}
				return e.table([]string{"NAME", "ID", "ROLE", "CREATED", "EXPIRES", "STATE"}, rows)
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke NAME|ID", Short: "Revoke a token at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := e.client().RevokeToken(e.ctx, args[0])
			if err != nil {
				return err
			}
			return e.emit(t, func() error {
				fmt.Fprintf(e.stdout, "Revoked token %s\n", t.Name)
				return nil
			})
		},
	}
	whoami := &cobra.Command{
		Use: "whoami", Short: "Show who the server takes you for", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w, err := e.client().Whoami(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(w, func() error {
				fmt.Fprintf(e.stdout, "%s (role %s, via %s)\n", w.Name, w.Role, w.Via)
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, revoke, whoami)
	return cmd
}

func newKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage ed25519 signing keys"}
	var out string
	gen := &cobra.Command{
		Use:   "generate --out PATH",
		Short: "Generate a key pair: PATH.key (private, mode 0600) and PATH.pub",
		Example: `  sluice keys generate --out release
  sluice model push fraud model.json --sign-key release.key
  sluice server --require-signature --trusted-keys release.pub`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out: give the path prefix of the key files")
			}
			priv, pub, id, err := signing.Generate()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out+".key", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("writing private key: %w", err)
			}
			if _, err := f.Write(priv); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.WriteFile(out+".pub", pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Key %s: private %s.key, public %s.pub\n", id, out, out)
			return nil
		},
	}
	gen.Flags().StringVar(&out, "out", "", "path prefix of the key files")
	cmd.AddCommand(gen)
	return cmd
}

// signArtifact signs data as an artifact of model with the key in keyFile.
func signArtifact(keyFile, model string, data []byte) (*signing.Signature, error) {
	key, err := signing.LoadPrivateKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	sum := sha256.Sum256(data)
	sig := signing.SignArtifact(key, model, hex.EncodeToString(sum[:]))
	return &sig, nil
}

func newApprovalCmds(e *env) []*cobra.Command {
	var reason string
	decide := func(approve bool) *cobra.Command {
		verb := "reject"
		if approve {
			verb = "approve"
		}
		c := &cobra.Command{
			Use:   verb + " ID --reason TEXT",
			Short: strings.ToUpper(verb[:1]) + verb[1:] + " a pending approval request (approver role; not your own)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := e.client().Decide(e.ctx, args[0], approve, reason)
				if err != nil {
					return err
				}
				return e.emit(a, func() error {
					fmt.Fprintf(e.stdout, "Approval %s %s by %s\n", a.ID, a.Status, a.DecidedBy)
					return nil
				})
			},
		}
		c.Flags().StringVar(&reason, "reason", "", "why (required to reject)")
		return c
	}
	var status string
	list := &cobra.Command{
		Use: "approvals", Short: "List approval requests", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			as, err := e.client().ListApprovals(e.ctx, status)
			if err != nil {
				return err
			}
			return e.emit(as, func() error {
				rows := make([][]string, len(as))
				for i, a := range as {
					rows[i] = []string{a.ID, a.Object, a.Status, a.Requester, a.DecidedBy, a.Summary}
				}
				return e.table([]string{"ID", "OBJECT", "STATUS", "REQUESTER", "DECIDED BY", "SUMMARY"}, rows)
			})
		},
	}
	list.Flags().StringVar(&status, "status", "", "pending, approved or rejected (default: all)")
	return []*cobra.Command{decide(true), decide(false), list}
}

func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read, export and verify the tamper-evident audit log"}
	var object, since string
	var limit int
	logCmd := &cobra.Command{
		Use:   "log [--object KIND/NAME] [--since 24h]",
		Short: "Show audit events, oldest first",
		Example: `  sluice audit log --object endpoint/fraud --since 24h
  sluice audit log --object model/fraud -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if object != "" {
				q.Set("object", object)
			}
			if since != "" {
				q.Set("since", since)
			}
			q.Set("limit", fmt.Sprint(limit))
			evs, err := e.client().AuditEvents(e.ctx, q)
			if err != nil {
				return err
			}
			return e.emit(evs, func() error {
				rows := make([][]string, len(evs))
				for i, ev := range evs {
					rows[i] = []string{fmt.Sprint(ev.Seq), ev.Time.Format(time.RFC3339), ev.Actor, ev.Action, ev.Object, change(ev)}
				}
				return e.table([]string{"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "CHANGE"}, rows)
			})
		},
	}
	logCmd.Flags().StringVar(&object, "object", "", "only this object and what is under it (model/fraud, endpoint/fraud, token/ci)")
	logCmd.Flags().StringVar(&since, "since", "", "only events since a duration ago (24h) or an RFC 3339 time")
	logCmd.Flags().IntVar(&limit, "limit", 1000, "at most this many events")

	export := &cobra.Command{
		Use:   "export",
		Short: "Write the whole audit log as JSON lines (for archiving and offline verification)",
		Example: `  sluice audit export > audit.jsonl
  sluice audit head -o json > head.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := e.client().AuditExport(e.ctx)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(e.stdout, rc)
			return err
		},
	}
	head := &cobra.Command{
		Use:   "head",
		Short: "Show the chain head and the heads the server signed; keep a copy to detect a later rewrite",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := e.client().AuditHead(e.ctx)
			if err != nil {
				return err
			}
			return e.emit(h, func() error {
				fmt.Fprintf(e.stdout, "head: event %d, hash %s\n", h.Seq, h.Hash)
				for _, s := range h.Signed {
					fmt.Fprintf(e.stdout, "signed: event %d, hash %s, key %s, at %s\n", s.Seq, s.Hash, s.KeyID, time.Unix(0, s.SignedAt).UTC().Format(time.RFC3339))
				}
				return nil
			})
		},
	}
	var file, headFile, trusted string
	verify := &cobra.Command{
		Use:   "verify [--file audit.jsonl] [--head head.json] [--trusted-key audit.pub]",
		Short: "Verify the audit chain here, naming the first bad sequence number",
		Long: `verify reads the audit log (from the server, or an export with --file) and checks every
event's hash and its link to the one before, so an edited, deleted, inserted or reordered
event is found and named. --head checks a head kept earlier (sluice audit head -o json):
a rewrite of the whole chain after it is found too. --trusted-key checks the heads the
server signed with its --audit-signing-key.`,
		Example: `  sluice audit verify
  sluice audit verify --head head-2026-01-01.json --trusted-key audit.pub
  sluice audit verify --file audit.jsonl --head head.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.auditVerify(file, headFile, trusted)
		},
	}
	verify.Flags().StringVar(&file, "file", "", "verify this export instead of the server's log")
	verify.Flags().StringVar(&headFile, "head", "", "a head kept earlier (JSON from sluice audit head -o json)")
	verify.Flags().StringVar(&trusted, "trusted-key", "", "public key (PEM file or directory) that signed the audit heads")
	cmd.AddCommand(logCmd, export, head, verify)
	return cmd
}

func change(ev audit.Event) string {
	switch {
	case len(ev.Before) > 0 && len(ev.After) > 0:
		return trunc(string(ev.Before)) + " -> " + trunc(string(ev.After))
	case len(ev.After) > 0:
		return trunc(string(ev.After))
	case len(ev.Before) > 0:
		return "was " + trunc(string(ev.Before))
	}
	return ""
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// auditVerify checks a chain on this machine, so the verdict does not
// depend on trusting the server.
func (e *env) auditVerify(file, headFile, trusted string) error {
	var r io.Reader
	var recorded *audit.Head
	var signed []apiclient.SignedHead
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	} else {
		c := e.client()
		h, err := c.AuditHead(e.ctx)
		if err != nil {
			return err
		}
		recorded, signed = &h.Head, h.Signed
		rc, err := c.AuditExport(e.ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		r = rc
	}
	var anchors []apiclient.SignedHead
	if headFile != "" {
		b, err := os.ReadFile(headFile)
		if err != nil {
			return fmt.Errorf("--head: %w", err)
		}
		var kept apiclient.AuditHead
		if err := json.Unmarshal(b, &kept); err != nil {
			return fmt.Errorf("--head %s: %w", headFile, err)
		}
		anchors = append(anchors, apiclient.SignedHead{Head: kept.Head})
		anchors = append(anchors, kept.Signed...)
	}
	anchors = append(anchors, signed...)
	var keys signing.Keyring
	if trusted != "" {
		var err error
		if keys, err = signing.LoadKeyring(trusted); err != nil {
			return fmt.Errorf("--trusted-key: %w", err)
		}
	}

	var v audit.Verifier
	want := map[int64]bool{}
	for _, a := range anchors {
		want[a.Seq] = true
	}
	hashes := map[int64]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		var ev audit.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("line %d: not an audit event: %w", line, err)
		}
		if want[ev.Seq] {
			hashes[ev.Seq] = ev.Hash
		}
		v.Add(ev)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading the audit log: %w", err)
	}
	if recorded != nil {
		v.CheckHead(*recorded)
	}
	rep := v.Report()
	if rep.Problem == nil {
		for _, a := range anchors {
			if a.Signature != "" && keys != nil {
				if err := keys.VerifyHead(signing.Signature{KeyID: a.KeyID, Signature: a.Signature}, a.Seq, a.Hash, a.SignedAt); err != nil {
					rep.Problem = &audit.Problem{Seq: a.Seq, Reason: "signed head: " + err.Error()}
					break
				}
			}
			if a.Seq == 0 {
				continue
			}
			if p := audit.CheckAnchor(hashes, a.Head); p != nil {
				rep.Problem = p
				break
			}
		}
	}
	if e.output == "json" {
		if err := e.printJSON(rep); err != nil {
			return err
		}
	}
	if rep.Problem != nil {
		return fmt.Errorf("audit chain does NOT verify: first bad sequence number %d: %s", rep.Problem.Seq, rep.Problem.Reason)
	}
	if e.output != "json" {
		fmt.Fprintf(e.stdout, "audit chain verifies: %d events, head %d %s, %d kept or signed heads checked\n", rep.Events, rep.Head.Seq, rep.Head.Hash, len(anchors))
	}
	return nil
}
