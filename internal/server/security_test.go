package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluicehq/sluice/internal/api"
	"github.com/sluicehq/sluice/internal/apiclient"
	"github.com/sluicehq/sluice/internal/auth"
	"github.com/sluicehq/sluice/internal/jobs"
	"github.com/sluicehq/sluice/internal/oip/oippb"
)

// testServer is a real server.Run on loopback ports.
type testServer struct {
	url, grpcAddr string
	admin         string // the bootstrap admin token
	dataDir       string
	logs          *syncBuffer
}

type syncBuffer struct {
	ch  chan struct{}
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.ch <- struct{}{}
	defer func() { <-b.ch }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.ch <- struct{}{}
	defer func() { <-b.ch }()
	return b.buf.String()
}

func startTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.PredictionLog = "off"
	cfg.ShutdownTimeout = 5 * time.Second
	logs := &syncBuffer{ch: make(chan struct{}, 1)}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(addr string) { ready <- addr }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	s := &testServer{dataDir: cfg.DataDir, logs: logs}
	select {
	case addr := <-ready:
		s.url = "http://" + addr
		if cfg.Security.TLSCert != "" {
			s.url = "https://" + addr
		}
	case err := <-done:
		t.Fatalf("server did not start: %v\n%s", err, logs.String())
	}
	if tok, err := auth.ReadTokenFile(filepath.Join(cfg.DataDir, auth.AdminTokenFile)); err == nil {
		s.admin = tok
	}
	return s
}

// sampleValues fill path wildcards with names that do not exist, so
// allowed calls fail on the object (404) or the empty body (400), never
// changing the tokens the test uses.
var sampleValues = map[string]string{
	"{model}": "m-missing", "{ref}": "1", "{alias}": "a-missing", "{name}": "e-missing",
	"{token}": "t-missing", "{id}": "ap-missing", "{key}": "k-missing",
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

func routeRequest(base string, r api.Route) (method, url string) {
	method, path, ok := strings.Cut(r.Pattern, " ")
	if !ok {
		method, path = "GET", r.Pattern
	}
	if path == "/api/" {
		path = "/api/v1/no-such-route"
	}
	for k, v := range sampleValues {
		path = strings.ReplaceAll(path, k, v)
	}
	// Wildcards of routes added later: a name that does not exist.
	path = wildcard.ReplaceAllString(path, "x-missing")
	return method, base + path
}

func call(t *testing.T, client *http.Client, method, url, token string) (int, apiclient.ErrorBody) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var eb apiclient.ErrorBody
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb
}

// TestRouteRoleMatrix calls every control API route over the real HTTP
// server as no one, with a revoked token, with an expired token and with
// each role, and checks who gets in.
func TestRouteRoleMatrix(t *testing.T) {
	s := startTestServer(t, Config{Security: Security{AuthFailBurst: 100_000}})
	if s.admin == "" {
		t.Fatal("the first start wrote no admin token")
	}
	st, err := os.Stat(filepath.Join(s.dataDir, auth.AdminTokenFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	ctx := context.Background()
	admin := apiclient.New(s.url, apiclient.WithToken(s.admin))
	tokens := map[string]string{}
	for _, r := range auth.Roles() {
		tk, err := admin.CreateToken(ctx, apiclient.CreateTokenRequest{Name: "t-" + r.String(), Role: r.String()})
		if err != nil {
			t.Fatal(err)
		}
		tokens[r.String()] = tk.Token
	}
	rev, err := admin.CreateToken(ctx, apiclient.CreateTokenRequest{Name: "t-revoked", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeToken(ctx, "t-revoked"); err != nil {
		t.Fatal(err)
	}
	exp, err := admin.CreateToken(ctx, apiclient.CreateTokenRequest{Name: "t-expired", Role: "admin", Expires: "1ns"})
	if err != nil {
		t.Fatal(err)
	}

	a := api.New(nil, api.Options{Jobs: &jobs.Service{}})
	a.Register(http.NewServeMux())
	client := &http.Client{}
	for _, rt := range a.Routes() {
		method, url := routeRequest(s.url, rt)
		t.Run(rt.Pattern, func(t *testing.T) {
			for _, c := range []struct {
				who, token string
			}{{"no token", ""}, {"revoked", rev.Token}, {"expired", exp.Token}, {"malformed", "sluice_nope"}} {
				code, eb := call(t, client, method, url, c.token)
				if code != http.StatusUnauthorized || eb.Error.Code != apiclient.CodeUnauthenticated {
					t.Errorf("%s: %d %+v, want 401 unauthenticated", c.who, code, eb)
				}
			}
			for _, r := range auth.Roles() {
				code, eb := call(t, client, method, url, tokens[r.String()])
				if r.Allows(rt.Role) {
					if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
						t.Errorf("%s: %d %+v, want to get in (route needs %v)", r, code, eb, rt.Role)
					}
				} else if code != http.StatusForbidden || eb.Error.Code != apiclient.CodeForbidden || !strings.Contains(eb.Error.Message, rt.Role.String()) {
					t.Errorf("%s: %d %+v, want 403 naming %v", r, code, eb, rt.Role)
				}
			}
		})
	}
	// Inference, health and metrics stay public.
	for _, p := range []string{"/v2/health/live", "/metrics"} {
		if code, _ := call(t, client, "GET", s.url+p, ""); code != 200 {
			t.Errorf("GET %s without a token: %d, want 200", p, code)
		}
	}
}

// TestFailedAuthRateLimited checks that bad tokens from one client get 429
// after the burst, and are logged.
func TestFailedAuthRateLimited(t *testing.T) {
	s := startTestServer(t, Config{Security: Security{AuthFailBurst: 5, AuthFailEvery: time.Hour}})
	bad := auth.TokenPrefix + strings.Repeat("A", 43)
	client := &http.Client{}
	for i := range 5 {
		if code, _ := call(t, client, "GET", s.url+"/api/v1/models", bad); code != 401 {
			t.Fatalf("attempt %d: %d, want 401", i+1, code)
		}
	}
	code, eb := call(t, client, "GET", s.url+"/api/v1/models", bad)
	if code != http.StatusTooManyRequests || eb.Error.Code != apiclient.CodeRateLimited {
		t.Fatalf("6th bad attempt: %d %+v, want 429", code, eb)
	}
	if !strings.Contains(s.logs.String(), "authentication failed") {
		t.Errorf("failed attempts not logged:\n%s", s.logs.String())
	}
	// Missing credentials are not guesses: they do not count.
	s2 := startTestServer(t, Config{Security: Security{AuthFailBurst: 2, AuthFailEvery: time.Hour}})
	for range 5 {
		if code, _ := call(t, client, "GET", s2.url+"/api/v1/models", ""); code != 401 {
			t.Fatalf("no token: %d, want 401", code)
		}
	}
	if code, _ := call(t, client, "GET", s2.url+"/api/v1/models", s2.admin); code != 200 {
		t.Errorf("admin after anonymous calls: %d, want 200", code)
	}
}

func TestAuthOffWarns(t *testing.T) {
	s := startTestServer(t, Config{Security: Security{AuthOff: true}})
	if s.admin != "" {
		t.Error("--auth=off wrote an admin token")
	}
	if !strings.Contains(s.logs.String(), "AUTHENTICATION IS OFF") {
		t.Errorf("no warning in the log:\n%s", s.logs.String())
	}
	w, err := apiclient.New(s.url).Whoami(context.Background())
	if err != nil || w.Name != "anonymous" || w.Role != "admin" {
		t.Errorf("whoami with auth off = %+v, %v", w, err)
	}
}

// pki is a CA with server and client certificates, made in the test.
type pki struct {
	dir                     string
	caFile, certFile, keyFn string
	pool                    *x509.CertPool
	ca                      *x509.Certificate
	caKey                   *ecdsa.PrivateKey
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	p.certFile, p.keyFn = p.issue(t, "server", "127.0.0.1", x509.ExtKeyUsageServerAuth)
	return p
}

// issue makes a certificate for cn signed by the CA and returns its files.
func (p *pki) issue(t *testing.T, cn, ip string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature}
	if ip != "" {
		tmpl.IPAddresses = []net.IP{net.ParseIP(ip)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(p.dir, cn+".pem"), filepath.Join(p.dir, cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func (p *pki) clientTLS(t *testing.T, cn string) *tls.Config {
	cfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if cn != "" {
		cf, kf := p.issue(t, cn, "", x509.ExtKeyUsageClientAuth)
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTLSAndClientCertificates serves REST and gRPC over TLS with optional
// client certificates mapped to roles, and checks a token-only endpoint is
// enforced on both protocols.
func TestTLSAndClientCertificates(t *testing.T) {
	p := newPKI(t)
	grpcAddr := freeAddr(t)
	s := startTestServer(t, Config{GRPCAddr: grpcAddr, Security: Security{TLSCert: p.certFile, TLSKey: p.keyFn, ClientCA: p.caFile,
		CertRoles: []string{"ci-bot=deployer"}}})
	ctx := context.Background()

	// Plain HTTP to the TLS port fails; HTTPS with the CA and a token works.
	if resp, err := http.Get(strings.Replace(s.url, "https://", "http://", 1) + "/v2/health/live"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	admin := apiclient.New(s.url, apiclient.WithToken(s.admin), apiclient.WithTLS(p.clientTLS(t, "")))
	if w, err := admin.Whoami(ctx); err != nil || w.Name != "admin" {
		t.Fatalf("whoami over TLS with the admin token = %+v, %v", w, err)
	}
	// A client certificate is a principal: its CN mapped to a role.
	bot := apiclient.New(s.url, apiclient.WithTLS(p.clientTLS(t, "ci-bot")))
	if w, err := bot.Whoami(ctx); err != nil || w.Name != "cert:ci-bot" || w.Role != "deployer" || w.Via != "certificate" {
		t.Fatalf("whoami with the ci-bot certificate = %+v, %v", w, err)
	}
	model, err := os.ReadFile("../../examples/xgboost/breast_cancer.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bot.PushVersion(ctx, "bc", apiclient.PushMetadata{}, bytes.NewReader(model)); err != nil {
		t.Fatalf("deployer certificate push: %v", err)
	}
	if _, err := bot.CreateToken(ctx, apiclient.CreateTokenRequest{Name: "x", Role: "viewer"}); !isStatus(err, 403) {
		t.Errorf("deployer certificate creating a token: %v, want 403", err)
	}
	stranger := apiclient.New(s.url, apiclient.WithTLS(p.clientTLS(t, "stranger")))
	if _, err := stranger.Whoami(ctx); !isStatus(err, 401) {
		t.Errorf("unmapped certificate: %v, want 401", err)
	}
	evs, err := admin.AuditEvents(ctx, nil)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Actor != "cert:ci-bot" || evs[len(evs)-1].Action != "model.push" {
		t.Errorf("last audit event = %+v, %v; want the push by cert:ci-bot", evs, err)
	}

	// An endpoint that needs a token, over REST and gRPC.
	if _, err := admin.CreateEndpoint(ctx, apiclient.CreateEndpointRequest{Name: "bc", EndpointSpec: apiclient.EndpointSpec{Model: "bc", Version: "1", Auth: "token"}}); err != nil {
		t.Fatal(err)
	}
	viewer, err := admin.CreateToken(ctx, apiclient.CreateTokenRequest{Name: "app", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.TrimSuffix(strings.Repeat("1.5,", 30), ",")
	body := `{"inputs":[{"name":"input","datatype":"FP32","shape":[1,30],"data":[` + rows + `]}]}`
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(t, "")}}
	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {auth.TokenPrefix + strings.Repeat("B", 43), 401}, {viewer.Token, 200}} {
		req, _ := http.NewRequest("POST", s.url+"/v2/models/bc/infer", strings.NewReader(body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("REST infer with %q: %d %s, want %d", c.token, resp.StatusCode, b, c.want)
		}
	}
	// A client certificate also opens a token endpoint.
	hcCert := &http.Client{Transport: &http.Transport{TLSClientConfig: p.clientTLS(t, "ci-bot")}}
	resp, err := hcCert.Post(s.url+"/v2/models/bc/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("REST infer with a client certificate: %d, want 200", resp.StatusCode)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(grpccreds.NewTLS(p.clientTLS(t, ""))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gc := oippb.NewGRPCInferenceServiceClient(conn)
	if _, err := gc.ServerLive(ctx, &oippb.ServerLiveRequest{}); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	data := make([]float32, 30)
	for i := range data {
		data[i] = 1.5
	}
	req := &oippb.ModelInferRequest{ModelName: "bc", Inputs: []*oippb.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 30},
		Contents: &oippb.InferTensorContents{Fp32Contents: data}}}}
	if _, err := gc.ModelInfer(ctx, req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC infer without a token: %v, want Unauthenticated", err)
	}
	if _, err := gc.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "bc"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC metadata without a token: %v, want Unauthenticated", err)
	}
	tctx := grpcmd.AppendToOutgoingContext(ctx, "authorization", "Bearer "+viewer.Token)
	if _, err := gc.ModelInfer(tctx, req); err != nil {
		t.Errorf("gRPC infer with a token: %v", err)
	}
	// A plaintext gRPC client cannot talk to the TLS listener.
	plain, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := oippb.NewGRPCInferenceServiceClient(plain).ServerLive(cctx, &oippb.ServerLiveRequest{}); err == nil {
		t.Error("plaintext gRPC served on the TLS listener")
	}
}

func isStatus(err error, code int) bool {
	ae, ok := err.(*apiclient.Error)
	return ok && ae.Status == code
}
