package signing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArtifactSignatures(t *testing.T) {
	dir := t.TempDir()
	privPEM, pubPEM, id, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _, _ := Generate()
	if err := os.WriteFile(filepath.Join(dir, "release.pub"), pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.pub"), otherPub, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a key"), 0o644)
	kr, err := LoadKeyring(dir)
	if err != nil || len(kr) != 2 || kr[id] == nil {
		t.Fatalf("LoadKeyring(dir) = %v, %v", kr.IDs(), err)
	}
	keyFile := filepath.Join(dir, "release.key")
	os.WriteFile(keyFile, privPEM, 0o600)
	priv, err := LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.Repeat("ab", 32)
	sig := SignArtifact(priv, "fraud", digest)
	if sig.KeyID != id {
		t.Errorf("key id %s, want %s", sig.KeyID, id)
	}
	if err := kr.VerifyArtifact(sig, "fraud", "sha256:"+digest); err != nil {
		t.Errorf("good signature: %v", err)
	}
	for name, check := range map[string]error{
		"other model":  kr.VerifyArtifact(sig, "churn", digest),
		"other digest": kr.VerifyArtifact(sig, "fraud", strings.Repeat("cd", 32)),
		"untrusted": func() error {
			only, _ := LoadKeyring(filepath.Join(dir, "other.pub"))
			return only.VerifyArtifact(sig, "fraud", digest)
		}(),
		"garbage":   kr.VerifyArtifact(Signature{KeyID: id, Signature: "!!"}, "fraud", digest),
		"head sig":  kr.VerifyArtifact(SignHead(priv, 1, digest, 0), "fraud", digest),
		"truncated": kr.VerifyArtifact(Signature{KeyID: id, Signature: sig.Signature[:20]}, "fraud", digest),
	} {
		if !errors.Is(check, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, check)
		}
	}
	if err := kr.VerifyHead(SignHead(priv, 5, "h", 9), 5, "h", 9); err != nil {
		t.Errorf("head: %v", err)
	}
	if err := kr.VerifyHead(SignHead(priv, 5, "h", 9), 6, "h", 9); !errors.Is(err, ErrBadSignature) {
		t.Errorf("head with another seq: %v", err)
	}
	if _, err := ParsePrivateKey(pubPEM); err == nil {
		t.Error("a public key parsed as private")
	}
	if _, err := LoadKeyring(filepath.Join(dir, "README")); err == nil {
		t.Error("a file without keys gave a keyring")
	}
}
