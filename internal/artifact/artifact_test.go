package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, dir
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPutAndRead(t *testing.T) {
	s, dir := openStore(t)
	ctx := context.Background()
	content := []byte(`{"learner":{"gradient_booster":{}}}`)
	d, n, err := s.Put(ctx, bytes.NewReader(content))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if d != sum(content) || n != int64(len(content)) {
		t.Errorf("Put = %s, %d; want %s, %d", d, n, sum(content), len(content))
	}
	if !s.Has(d) {
		t.Errorf("Has(%s) = false after Put", d)
	}
	got, err := s.ReadAll(d)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("ReadAll = %q, %v; want %q", got, err, content)
	}
	rc, size, err := s.Open(d)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	streamed, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || size != int64(len(content)) || !bytes.Equal(streamed, content) {
		t.Errorf("Open+ReadAll = %q (size %d), %v; want %q", streamed, size, err, content)
	}
	p, err := s.Path(d)
	if want := filepath.Join(dir, "sha256", d[:2], d); err != nil || p != want {
		t.Errorf("Path = %q, %v; want %q", p, err, want)
	}
	if info, err := os.Stat(p); err != nil || info.Mode().Perm()&0o222 != 0 {
		t.Errorf("blob file mode = %v, %v; want read-only", info.Mode(), err)
	}

	// The empty blob is a blob like any other.
	d, n, err = s.PutBytes(ctx, nil)
	if err != nil || d != sum(nil) || n != 0 {
		t.Errorf("PutBytes(nil) = %s, %d, %v; want %s, 0", d, n, err, sum(nil))
	}
	if got, err := s.ReadAll(d); err != nil || len(got) != 0 {
		t.Errorf("ReadAll(empty) = %q, %v", got, err)
	}
}

func TestDedup(t *testing.T) {
	s, dir := openStore(t)
	ctx := context.Background()
	content := []byte("same model bytes")
	d1, _, err := s.PutBytes(ctx, content)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path(d1)
	before, _ := os.Stat(p)
	d2, n, err := s.Put(ctx, strings.NewReader(string(content)))
	if err != nil || d2 != d1 || n != int64(len(content)) {
		t.Fatalf("second Put = %s, %d, %v; want %s", d2, n, err, d1)
	}
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) {
		t.Error("second Put replaced the existing blob; want it kept")
	}
	if got, want := files(t, dir), []string{"sha256/" + d1[:2] + "/" + d1}; !slices.Equal(got, want) {
		t.Errorf("files after dedup = %v; want %v (temp file removed)", got, want)
	}
}

func TestConcurrentPutSameContent(t *testing.T) {
	s, dir := openStore(t)
	content := bytes.Repeat([]byte("tree "), 50_000)
	const n = 8
	var wg sync.WaitGroup
	digests := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			digests[i], _, errs[i] = s.PutBytes(context.Background(), content)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || digests[i] != sum(content) {
			t.Errorf("Put #%d = %s, %v; want %s", i, digests[i], errs[i], sum(content))
		}
	}
	if got := files(t, dir); len(got) != 1 {
		t.Errorf("files after concurrent Puts = %v; want exactly the one blob", got)
	}
	if got, err := s.ReadAll(sum(content)); err != nil || !bytes.Equal(got, content) {
		t.Errorf("ReadAll after concurrent Puts: %d bytes, %v", len(got), err)
	}
}

func TestCorruptionDetected(t *testing.T) {
	s, _ := openStore(t)
	d, _, err := s.PutBytes(context.Background(), []byte("weights: 0.25 0.5 0.75"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.Path(d)
	// Flip one byte on disk, keeping the size.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("weights: 0.25 0.5 0.76"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(d); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), d) {
		t.Errorf("ReadAll of a damaged blob error = %v; want ErrCorrupt naming %s", err, d)
	}
	rc, _, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrCorrupt) {
		t.Errorf("streaming a damaged blob to the end: error = %v; want ErrCorrupt", err)
	}
}

func TestBadDigests(t *testing.T) {
	s, _ := openStore(t)
	good := sum([]byte("x"))
	for _, d := range []string{
		"",
		"abc",
		strings.ToUpper(good),
		good[:63],
		good + "0",
		"../../../../etc/passwd",
		"../" + good[3:],
		good[:62] + "/x",
		"sha256:" + good,
		strings.Repeat("g", 64),
	} {
		if _, err := s.Path(d); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Path(%q) error = %v; want ErrInvalidDigest", d, err)
		}
		if _, _, err := s.Open(d); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Open(%q) error = %v; want ErrInvalidDigest", d, err)
		}
		if _, err := s.ReadAll(d); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ReadAll(%q) error = %v; want ErrInvalidDigest", d, err)
		}
		if s.Has(d) {
			t.Errorf("Has(%q) = true", d)
		}
	}
	if _, _, err := s.Open(good); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of a missing blob error = %v; want ErrNotFound", err)
	}
	if s.Has(good) {
		t.Errorf("Has of a missing blob = true")
	}
}

func TestPutCancelled(t *testing.T) {
	s, dir := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Put(ctx, strings.NewReader("never stored")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context error = %v; want context.Canceled", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("files after a cancelled Put = %v; want none", got)
	}
}

func TestPutReadError(t *testing.T) {
	s, dir := openStore(t)
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("partial"), errReader{boom})
	if _, _, err := s.Put(context.Background(), r); !errors.Is(err, boom) {
		t.Errorf("Put error = %v; want the reader's error", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("files after a failed Put = %v; want none", got)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestOpenRemovesStaleTemps simulates a crash mid-Put: the temp file it
// leaves is removed by the next Open once it is old, and kept while it could
// still belong to a running Put.
func TestOpenRemovesStaleTemps(t *testing.T) {
	_, dir := openStore(t)
	stale := filepath.Join(dir, "tmp", "put-stale")
	fresh := filepath.Join(dir, "tmp", "put-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half a model"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temp file still there (stat error %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
}

// FuzzPath checks that no string gets a path outside the blob directory.
func FuzzPath(f *testing.F) {
	for _, seed := range []string{sum(nil), "../x", strings.Repeat("a", 64), strings.Repeat(".", 64), "/" + strings.Repeat("a", 63)} {
		f.Add(seed)
	}
	dir := f.TempDir()
	s, err := Open(dir)
	if err != nil {
		f.Fatal(err)
	}
	root := filepath.Join(dir, "sha256") + string(filepath.Separator)
	f.Fuzz(func(t *testing.T, d string) {
		p, err := s.Path(d)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, root) || filepath.Clean(p) != p || filepath.Base(p) != d {
			t.Errorf("Path(%q) = %q, outside %s", d, p, root)
		}
	})
}

func BenchmarkPut(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	content := bytes.Repeat([]byte{1, 2, 3, 4}, 256<<10) // 1 MiB
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.PutBytes(context.Background(), content); err != nil {
			b.Fatal(err)
		}
	}
}
