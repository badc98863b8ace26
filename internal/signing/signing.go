// Package signing holds Sluice's ed25519 keys and signatures: model
// artifacts are signed at push and checked before a server loads them, and
// the audit chain's head is signed at intervals. The edge agent checks
// bundles with the same functions, which is why this package depends on
// nothing else in Sluice.
//
// Keys are PEM files: PKCS #8 "PRIVATE KEY" and PKIX "PUBLIC KEY", the forms
// openssl writes (openssl genpkey -algorithm ed25519). A key is named by its
// ID, the first 16 hex digits of the sha256 of its public key.
//
// Every signed message starts with a domain string ("sluice-artifact-v1",
// "sluice-audit-head-v1"), so a signature made for one purpose can never be
// replayed for another.
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ErrBadSignature means a signature does not verify, or was made with a key
// that is not trusted.
var ErrBadSignature = errors.New("bad signature")

// ErrUnsigned means a signature was required and there is none.
var ErrUnsigned = errors.New("not signed")

// KeyID names a public key: 16 hex digits of its sha256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Generate returns a new key pair as PEM.
func Generate() (privPEM, pubPEM []byte, id string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, "", err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, "", err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), KeyID(pub), nil
}

// ParsePrivateKey reads a PEM PKCS #8 ed25519 private key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New(`not a PEM "PRIVATE KEY" block`)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T, want ed25519", k)
	}
	return priv, nil
}

// ParsePublicKey reads a PEM PKIX ed25519 public key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New(`not a PEM "PUBLIC KEY" block`)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key is %T, want ed25519", k)
	}
	return pub, nil
}

// LoadPrivateKey reads a private key file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Keyring is a set of trusted public keys by ID.
type Keyring map[string]ed25519.PublicKey

// LoadKeyring reads trusted public keys from a PEM file (which may hold
// several keys) or from every *.pub and *.pem file in a directory.
func LoadKeyring(path string) (Keyring, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".pub") || strings.HasSuffix(e.Name(), ".pem")) {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	kr := Keyring{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for {
			var blk *pem.Block
			blk, data = pem.Decode(data)
			if blk == nil {
				break
			}
			if blk.Type != "PUBLIC KEY" {
				continue
			}
			pub, err := ParsePublicKey(pem.EncodeToMemory(blk))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			kr[KeyID(pub)] = pub
		}
	}
	if len(kr) == 0 {
		return nil, fmt.Errorf("%s: no PEM public keys found", path)
	}
	return kr, nil
}

// IDs lists the keyring's key IDs, sorted.
func (kr Keyring) IDs() []string {
	ids := make([]string, 0, len(kr))
	for id := range kr {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Signature is a detached signature and the key that made it.
type Signature struct {
	// KeyID names the signing key.
	KeyID string `json:"keyId"`
	// Signature is the ed25519 signature, base64 (standard, padded).
	Signature string `json:"signature"`
}

func sign(priv ed25519.PrivateKey, msg []byte) Signature {
	return Signature{KeyID: KeyID(priv.Public().(ed25519.PublicKey)), Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, msg))}
}

func (kr Keyring) verify(sig Signature, msg []byte) error {
	pub, ok := kr[sig.KeyID]
	if !ok {
		return fmt.Errorf("%w: key %s is not trusted", ErrBadSignature, sig.KeyID)
	}
	raw, err := base64.StdEncoding.DecodeString(sig.Signature)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: signature is not %d bytes of base64", ErrBadSignature, ed25519.SignatureSize)
	}
	if !ed25519.Verify(pub, msg, raw) {
		return fmt.Errorf("%w: signature by key %s does not match", ErrBadSignature, sig.KeyID)
	}
	return nil
}

// ArtifactMessage is what an artifact signature covers: the model name and
// the artifact's sha256 digest (lowercase hex).
func ArtifactMessage(model, digest string) []byte {
	digest = strings.TrimPrefix(digest, "sha256:")
	return []byte("sluice-artifact-v1\nmodel=" + model + "\ndigest=sha256:" + digest + "\n")
}

// SignArtifact signs an artifact of model with sha256 digest.
func SignArtifact(priv ed25519.PrivateKey, model, digest string) Signature {
	return sign(priv, ArtifactMessage(model, digest))
}

// VerifyArtifact checks an artifact signature against trusted keys.
func (kr Keyring) VerifyArtifact(sig Signature, model, digest string) error {
	return kr.verify(sig, ArtifactMessage(model, digest))
}

// HeadMessage is what an audit head signature covers.
func HeadMessage(seq int64, hash string, signedAt int64) []byte {
	return []byte("sluice-audit-head-v1\nseq=" + strconv.FormatInt(seq, 10) + "\nhash=" + hash + "\nsigned_at=" + strconv.FormatInt(signedAt, 10) + "\n")
}

// SignHead signs an audit chain head.
func SignHead(priv ed25519.PrivateKey, seq int64, hash string, signedAt int64) Signature {
	return sign(priv, HeadMessage(seq, hash, signedAt))
}

// VerifyHead checks an audit head signature against trusted keys.
func (kr Keyring) VerifyHead(sig Signature, seq int64, hash string, signedAt int64) error {
	return kr.verify(sig, HeadMessage(seq, hash, signedAt))
}
