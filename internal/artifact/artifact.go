package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: no blob has the digest.
	ErrNotFound = errors.New("artifact not found")
	// ErrCorrupt: the blob's bytes no longer hash to its digest.
	ErrCorrupt = errors.New("artifact corrupted: content does not match its sha256")
	// ErrInvalidDigest: the digest is not 64 lowercase hex characters.
	ErrInvalidDigest = errors.New("invalid digest: want 64 lowercase hex characters (sha256)")
)

// staleTemp is how old a temp file must be before Open removes it. A Put
// still running in another process is younger than this.
const staleTemp = time.Hour

// Store is a content-addressed blob store in a local directory:
//
//	DIR/sha256/ab/abcdef...   one read-only file per blob, named by its sha256
//	DIR/tmp/put-*             uploads in progress (same filesystem, for rename)
//
// It is safe for concurrent use by several goroutines and processes.
type Store struct {
	dir string
}

// Open opens (creating as needed) the store in dir and removes temp files
// older than an hour, which only a crash mid-Put leaves behind.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir}
	for _, d := range []string{s.blobRoot(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("opening artifact store: %w", err)
		}
	}
	if err := s.removeStaleTemps(time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("opening artifact store: %w", err)
	}
	return s, nil
}

func (s *Store) blobRoot() string { return filepath.Join(s.dir, "sha256") }
func (s *Store) tmpDir() string   { return filepath.Join(s.dir, "tmp") }

func (s *Store) removeStaleTemps(before time.Time) error {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "put-") {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue // gone already, or possibly still being written
		}
		if err := os.Remove(filepath.Join(s.tmpDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// ValidateDigest returns an error wrapping ErrInvalidDigest unless d is 64
// lowercase hex characters. Checking this before building a path is what
// keeps a caller-controlled digest inside the store's directory.
func ValidateDigest(d string) error {
	if len(d) != sha256.Size*2 {
		return fmt.Errorf("digest %q: %w", truncate(d), ErrInvalidDigest)
	}
	for i := 0; i < len(d); i++ {
		if c := d[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("digest %q: %w", truncate(d), ErrInvalidDigest)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Path returns the file holding the blob with digest d. The file may not
// exist; use Has to check.
func (s *Store) Path(d string) (string, error) {
	if err := ValidateDigest(d); err != nil {
		return "", err
	}
	return s.path(d), nil
}

func (s *Store) path(d string) string { return filepath.Join(s.blobRoot(), d[:2], d) }

// Has reports whether a blob with digest d is stored. Invalid digests are
// never stored.
func (s *Store) Has(d string) bool {
	if ValidateDigest(d) != nil {
		return false
	}
	info, err := os.Stat(s.path(d))
	return err == nil && info.Mode().IsRegular()
}

// Put stores everything r yields and returns its sha256 digest and size.
// The content streams to a temp file while being hashed, is fsynced, then
// renamed into place, so a blob is either absent or complete. Storing
// content that is already present keeps the existing blob. Put stops with
// ctx's error if ctx ends first.
func (s *Store) Put(ctx context.Context, r io.Reader) (digest string, size int64, err error) {
	tmp, err := os.CreateTemp(s.tmpDir(), "put-*")
	if err != nil {
		return "", 0, fmt.Errorf("storing artifact: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return "", 0, fmt.Errorf("storing artifact: %w", err)
	}
	if err := tmp.Chmod(0o444); err != nil { // blobs are immutable
		return "", 0, fmt.Errorf("storing artifact: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("storing artifact: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("storing artifact: %w", err)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	final := s.path(digest)
	if info, err := os.Stat(final); err == nil && info.Size() == size {
		return digest, size, nil // dedup: the deferred cleanup removes tmp
	}
	// Absent, or present with the wrong size (damaged): install ours. Rename
	// is atomic, so concurrent Puts of the same content each install a
	// complete, identical file and the last one wins.
	shard := filepath.Dir(final)
	if err := os.MkdirAll(shard, 0o755); err != nil {
		return "", 0, fmt.Errorf("storing artifact %s: %w", digest, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, fmt.Errorf("storing artifact %s: %w", digest, err)
	}
	tmp = nil
	// Make the rename itself durable.
	if err := syncDir(shard); err != nil {
		return "", 0, fmt.Errorf("storing artifact %s: %w", digest, err)
	}
	return digest, size, nil
}

// PutBytes stores b; see Put.
func (s *Store) PutBytes(ctx context.Context, b []byte) (digest string, size int64, err error) {
	return s.Put(ctx, bytes.NewReader(b))
}

// Open opens the blob with digest d and returns it with its size. The
// reader verifies the content as it is read: the Read that reaches the end
// returns an error wrapping ErrCorrupt instead of io.EOF if the bytes do not
// hash to d. A caller that stops early gets no verification.
func (s *Store) Open(d string) (io.ReadCloser, int64, error) {
	if err := ValidateDigest(d); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("artifact %s: %w", d, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("artifact %s: %w", d, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("artifact %s: %w", d, err)
	}
	return &verifyingReader{f: f, h: sha256.New(), digest: d}, info.Size(), nil
}

// ReadAll returns the whole blob with digest d, after checking that it still
// hashes to d (else an error wrapping ErrCorrupt).
func (s *Store) ReadAll(d string) ([]byte, error) {
	rc, size, err := s.Open(d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(size) + bytes.MinRead) // one allocation when the size holds
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// verifyingReader hashes what it reads and checks the digest at EOF.
type verifyingReader struct {
	f      *os.File
	h      hash.Hash
	digest string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(v.h.Sum(nil)) != v.digest {
		return n, fmt.Errorf("artifact %s: %w", v.digest, ErrCorrupt)
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.f.Close() }

// ctxReader fails reads once ctx is done, so a Put of a slow or endless
// stream can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
