package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/artifact"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/gateway"
	"github.com/sluicehq/sluice/internal/inference"
	"github.com/sluicehq/sluice/internal/inference/xgboost"
	"github.com/sluicehq/sluice/internal/signing"
	"github.com/sluicehq/sluice/internal/store"
)

func keyPair(t *testing.T) (signing.Keyring, func(model string, data []byte) *signing.Signature) {
	t.Helper()
	privPEM, pubPEM, _, err := signing.Generate()
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := signing.ParsePrivateKey(privPEM)
	pub, _ := signing.ParsePublicKey(pubPEM)
	kr := signing.Keyring{signing.KeyID(pub): pub}
	return kr, func(model string, data []byte) *signing.Signature {
		sum := sha256.Sum256(data)
		s := signing.SignArtifact(priv, model, hex.EncodeToString(sum[:]))
		return &s
	}
}

// TestRequireSignature: a server that requires signatures refuses unsigned
// and badly signed pushes, and refuses to load stored versions that are not
// signed by a trusted key.
func TestRequireSignature(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, _ := artifact.Open(filepath.Join(dir, "artifacts"))
	trusted, sign := keyPair(t)
	_, signOther := keyPair(t)
	model := readModel(t, "breast_cancer.json")

	// An open server takes an unsigned version and a version signed by an
	// unknown key (kept for servers that check it).
	open := New(db, blobs, inference.NewFormats(xgboost.Format{}), Options{})
	if _, err := open.Push(ctx, PushRequest{Model: "bc", Artifact: model}); err != nil {
		t.Fatal(err)
	}
	if _, err := open.Push(ctx, PushRequest{Model: "bc", Artifact: model, ArtifactSignature: signOther("bc", model)}); err != nil {
		t.Fatal(err)
	}

	strict := New(db, blobs, inference.NewFormats(xgboost.Format{}), Options{TrustedKeys: trusted, RequireSignature: true})
	for name, sig := range map[string]*signing.Signature{
		"unsigned":       nil,
		"untrusted key":  signOther("bc", model),
		"other model":    sign("churn", model),
		"other artifact": sign("bc", model[:len(model)-1]),
		"bad signature":  {KeyID: sign("bc", model).KeyID, Signature: "AAAA"},
	} {
		_, err := strict.Push(ctx, PushRequest{Model: "bc", Artifact: model, ArtifactSignature: sig})
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s push: %v, want ErrSignature", name, err)
		}
	}
	v3, err := strict.Push(ctx, PushRequest{Model: "bc", Artifact: model, ArtifactSignature: sign("bc", model)})
	if err != nil {
		t.Fatalf("signed push: %v", err)
	}
	var stored signing.Signature
	if err := json.Unmarshal(v3.ArtifactSignature, &stored); err != nil || stored.KeyID == "" {
		t.Fatalf("stored signature %s: %v", v3.ArtifactSignature, err)
	}

	// Loading: versions 1 (unsigned) and 2 (untrusted key) are refused with
	// a clear error; version 3 loads.
	for v, want := range map[int]string{1: "is not signed", 2: "is not trusted", 3: ""} {
		sv, err := db.GetVersion(ctx, "bc", v)
		if err != nil {
			t.Fatal(err)
		}
		_, err = strict.load(ctx, sv)
		switch {
		case want == "" && err != nil:
			t.Errorf("version %d: %v", v, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refusing to load")):
			t.Errorf("version %d: %v, want refusal mentioning %q", v, err, want)
		}
	}
	strict.Attach(gateway.New(gateway.Options{}))
	if _, err := strict.PinnedBackend(ctx, "bc", 1); !errors.Is(err, ErrSignature) {
		t.Errorf("pinned unsigned version: %v, want ErrSignature", err)
	}
}

func TestApprovalsThroughRegistry(t *testing.T) {
	s, _ := newService(t)
	alice := audit.WithActor(context.Background(), "alice")
	bob := audit.WithActor(context.Background(), "bob")
	if _, err := s.RequestApproval(alice, "", "x"); !errors.Is(err, ErrInvalid) {
		t.Errorf("no object: %v", err)
	}
	a, err := s.RequestApproval(alice, "endpoint/fraud", "promote 2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecideApproval(alice, a.ID, true, ""); !errors.Is(err, store.ErrForbidden) {
		t.Fatalf("self-approval: %v", err)
	}
	done := make(chan store.Approval, 1)
	go func() {
		got, err := s.WaitApproval(context.Background(), a.ID, 5*time.Millisecond)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	if _, err := s.DecideApproval(bob, a.ID, false, "error rate"); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.Status != store.ApprovalRejected || got.DecidedBy != "bob" || got.Reason != "error rate" {
		t.Errorf("waited for %+v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, _ := s.RequestApproval(alice, "endpoint/fraud", "again")
	cancel()
	if _, err := s.WaitApproval(ctx, b.ID, time.Millisecond); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitApproval after cancel: %v", err)
	}
}

func TestEndpointSpecAuthAndApproval(t *testing.T) {
	for _, tt := range []struct {
		auth, approval string
		ok             bool
	}{{"", "", true}, {"token", "required", true}, {"public", "none", true}, {"tokens", "", false}, {"", "yes", false}} {
		sp := EndpointSpec{Model: "m", Version: "1", Auth: tt.auth, Approval: tt.approval}
		err := sp.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("auth %q approval %q: %v", tt.auth, tt.approval, err)
		}
		if err != nil && !strings.Contains(err.Error(), "auth") && !strings.Contains(err.Error(), "approval") {
			t.Errorf("error %v does not name the field", err)
		}
	}
	if !(EndpointSpec{Approval: ApprovalRequired}).NeedsApproval() {
		t.Error("NeedsApproval false for required")
	}
}

// FuzzEndpointSpec decodes untrusted endpoint specs the way the store's
// documents are read and validates them: never a panic.
func FuzzEndpointSpec(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","version":"1"}`,
		`{"model":"m","traffic":{"split":[{"version":1,"weight":90},{"version":2,"weight":10}]},"auth":"token","approval":"required"}`,
		`{"model":"m","version":"-1","protection":{"rateLimit":-1}}`,
		`{"model":"m","segmentBy":{"header":"x","feature":"y"}}`,
		`[`, `{"model":"m","version":"@prod","rolling":{"to":2,"steps":0}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var sp EndpointSpec
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if dec.Decode(&sp) != nil {
			return
		}
		if err := sp.Validate(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
		}
	})
}
