package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/store"
)

// AdminTokenFile is the file in the data directory that holds the first
// admin token, readable only by its owner.
const AdminTokenFile = "admin.token"

// Bootstrap creates the first admin token of a store that has none and
// writes it to dataDir/admin.token with mode 0600. It returns the file's
// path and whether it created the token. On a store that was bootstrapped
// before (by this node or another sharing it) it does nothing.
func Bootstrap(ctx context.Context, db *store.DB, dataDir string) (path string, created bool, err error) {
	tok, hash, id, err := NewToken()
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(dataDir, AdminTokenFile)
	// The file is written first, so a committed token always has its file;
	// if another node wins, it is removed again.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("writing the admin token file: %w", err)
	}
	defer os.Remove(tmp)
	created, err = db.BootstrapToken(ctx, store.Token{ID: id, Name: "admin", Role: Admin.String(), Hash: hash, CreatedBy: "system"})
	if err != nil || !created {
		return path, false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("writing the admin token file: %w", err)
	}
	return path, true, nil
}

// ReadTokenFile reads a token written by Bootstrap (or by hand).
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok, err := ParseToken(string(trimSpace(b)))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return tok, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(path + ": no PEM certificates found")
	}
	return pool, nil
}

// LoadCertPool reads PEM CA certificates (for clients trusting a private CA).
func LoadCertPool(path string) (*x509.CertPool, error) { return loadPool(path) }
