package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Publisher puts a run's finished files at their destinations: the output
// and the rejects file. LocalFS publishes by renaming; an object store
// uploads. A run appends, syncs and checkpoints its files in a local work
// directory and publishes each only once it is complete, so a Publisher
// needs no appends, syncs or renames of its own, and a destination never
// holds part of a run's file.
type Publisher interface {
	// Publish makes the complete local file local the content of dest,
	// replacing what is there, all at once: a reader of dest sees the old
	// content or the new, never a part. It may consume local (a rename)
	// or leave it for the run to remove. After a crash or an error the run
	// publishes the same file again, so publishing twice must be harmless.
	Publish(ctx context.Context, local, dest string) error
	// Exists reports whether dest exists. A run that finds a work file
	// gone but its destination present knows the file was published
	// before a crash.
	Exists(ctx context.Context, dest string) (bool, error)
	// Remove removes dest; a missing dest is not an error. A run that
	// rejected no rows removes a rejects file an earlier run left there.
	Remove(ctx context.Context, dest string) error
}

var _ Publisher = LocalFS{}

// Publish renames local to dest, creating dest's directory, and syncs the
// directory so the rename survives a crash. When the two are on different
// file systems it copies local to a temporary file beside dest, syncs it
// and renames that instead, leaving local.
func (LocalFS) Publish(_ context.Context, local, dest string) error {
	dir := filepath.Dir(dest)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := os.Rename(local, dest)
	if errors.Is(err, syscall.EXDEV) {
		err = copyInto(local, dest)
	}
	if err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// copyInto replaces dest with a copy of src, atomically: a synced
// temporary file in dest's directory renamed over dest.
func copyInto(src, dest string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// Exists reports whether a local file exists.
func (LocalFS) Exists(_ context.Context, dest string) (bool, error) {
	return fileExists(dest)
}

// Remove removes a local file, if it exists.
func (LocalFS) Remove(_ context.Context, dest string) error {
	return removeFile(dest)
}

// removeFile removes a local file; a missing one is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// fileExists reports whether a local file exists.
func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// work names the local files of a run: the data file, the rejects file
// and the checkpoint. They sit next to the output (the output's path with
// a suffix) or, for a run with a work directory, in it.
type work struct {
	// base is the path the work files are named from: the output itself,
	// or a file in the work directory named for the output.
	base string
	// data is where output rows go until the run is complete:
	// BASE.partial (text) or BASE.spool (Parquet).
	data string
	// rejects is where rejected rows go: the rejects file itself when the
	// work files sit next to the output, else BASE.rejects.csv, published
	// at the end.
	rejects string
}

// workFor returns the work files of a run with the given checkpoint path.
// staged says the work files are in a work directory (Checkpoint.Staged).
func workFor(cpPath string, spec *Spec, staged bool) work {
	base := strings.TrimSuffix(cpPath, ".checkpoint")
	w := work{base: base, data: base + ".partial", rejects: spec.Rejects}
	if spec.OutputFormat == FormatParquet {
		w.data = base + ".spool"
	}
	if staged {
		w.rejects = base + ".rejects.csv"
	}
	return w
}

// checkPublisher refuses a run whose work files would sit next to an
// output that pub does not keep on the local file system.
func checkPublisher(pub Publisher, staged bool) error {
	if _, local := pub.(LocalFS); !local && !staged {
		return fmt.Errorf("work dir: required when outputs are published through %T rather than written on the local file system", pub)
	}
	return nil
}

// publishFile publishes the complete work file local to dest, then
// removes it. A local file already gone was published before a crash, if
// dest exists.
func publishFile(ctx context.Context, pub Publisher, local, dest string) error {
	ok, err := fileExists(local)
	if err != nil {
		return err
	}
	if !ok {
		if ok, err := pub.Exists(ctx, dest); err != nil {
			return fmt.Errorf("publishing %s: %w", dest, err)
		} else if !ok {
			return fmt.Errorf("publishing %s: neither it nor %s exists", dest, local)
		}
		return nil
	}
	if err := pub.Publish(ctx, local, dest); err != nil {
		return fmt.Errorf("publishing %s: %w", dest, err)
	}
	return removeFile(local)
}
