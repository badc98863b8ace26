package predlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of FileOptions.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultSegmentAge   = time.Hour
	DefaultMaxBytes     = 1 << 30
	DefaultMaxAge       = 7 * 24 * time.Hour
)

// FileOptions configures a FileSink.
type FileOptions struct {
	// Dir holds the segment files; it is created if missing. One sink
	// per directory: the sink deletes old segments there.
	Dir string
	// SegmentBytes is the size at which a segment is closed and the next
	// begun; a segment holds at least one line. 0 means
	// DefaultSegmentBytes.
	SegmentBytes int64
	// SegmentAge is the age at which a segment is closed and the next
	// begun. 0 means DefaultSegmentAge.
	SegmentAge time.Duration
	// MaxBytes bounds the segments' total size: the oldest are deleted so
	// that they and a full current segment fit, which keeps
	// MaxBytes/SegmentBytes - 1 closed segments. 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxAge is how long a segment is kept after its last write. 0 means
	// DefaultMaxAge.
	MaxAge time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// FileSink writes records as JSON lines to segment files named
// seg-<start>.jsonl, where start is the segment's creation time in Unix
// nanoseconds, 20 digits, so that names sort in time order.
//
// A batch is written with one write call. Segments are synced to disk when
// they are closed (on rotation and on Close); a process crash loses
// nothing written, while a power loss can lose the unsynced tail of the
// newest segment. A crash in the middle of a write leaves at most a partial
// last line, which Read skips and reports. After a restart, or a failed
// write, the sink begins a new segment, so a partial line is always a
// segment's last.
type FileSink struct {
	opts FileOptions

	mu      sync.Mutex
	f       *os.File  // the segment being written; nil before the first write after open or rotation
	name    string    // f's file name
	size    int64     // bytes written to f
	created time.Time // when f was begun
	written time.Time // f's last write
	sealed  []segment // closed segments, oldest first
	last    int64     // start of the newest segment's name, so names only grow
	buf     []byte    // encoding buffer, reused
	closed  bool
}

// segment is a closed segment file.
type segment struct {
	name    string
	size    int64
	written time.Time // last write
}

var _ Sink = (*FileSink)(nil)
var _ Maintainer = (*FileSink)(nil)

// NewFileSink opens the segment directory, creating it if needed, and
// applies retention to the segments already there.
func NewFileSink(opts FileOptions) (*FileSink, error) {
	if opts.Dir == "" {
		return nil, errors.New("prediction log: no directory")
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.SegmentAge <= 0 {
		opts.SegmentAge = DefaultSegmentAge
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("prediction log: %w", err)
	}
	names, err := segmentNames(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &FileSink{opts: opts}
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(opts.Dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("prediction log: %w", err)
		}
		s.sealed = append(s.sealed, segment{name: name, size: fi.Size(), written: fi.ModTime()})
		s.last, _ = segmentStart(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.retainLocked(opts.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// Write appends the batch to the current segment, beginning a new one
// when the current one is too old or a line would make it too big.
func (s *FileSink) Write(_ context.Context, batch []Record) error {
	if len(batch) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := s.opts.Now()
	if s.f != nil && now.Sub(s.created) >= s.opts.SegmentAge {
		if err := s.sealLocked(now); err != nil {
			return err
		}
	}
	s.buf = s.buf[:0]
	for i := range batch {
		start := len(s.buf)
		s.buf = AppendJSON(s.buf, &batch[i])
		s.buf = append(s.buf, '\n')
		if s.f == nil {
			if err := s.openLocked(now); err != nil {
				return err
			}
		}
		if s.size+int64(len(s.buf)) > s.opts.SegmentBytes && s.size+int64(start) > 0 {
			// Line i does not fit: finish this segment without it.
			if err := s.writeLocked(s.buf[:start], now); err != nil {
				return err
			}
			if err := s.sealLocked(now); err != nil {
				return err
			}
			if err := s.openLocked(now); err != nil {
				return err
			}
			s.buf = s.buf[:copy(s.buf, s.buf[start:])]
		}
	}
	return s.writeLocked(s.buf, now)
}

// Maintain closes the current segment when it has grown too old while no
// records came, and applies retention; the Logger calls it every minute.
func (s *FileSink) Maintain(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	now := s.opts.Now()
	if s.f != nil && now.Sub(s.created) >= s.opts.SegmentAge {
		return s.sealLocked(now)
	}
	return s.retainLocked(now)
}

// Close syncs and closes the current segment. It is idempotent.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := syncClose(s.f)
	s.f = nil
	return err
}

// openLocked begins a segment.
func (s *FileSink) openLocked(now time.Time) error {
	start := max(now.UnixNano(), s.last+1)
	name := segmentName(start)
	f, err := os.OpenFile(filepath.Join(s.opts.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("prediction log: beginning a segment: %w", err)
	}
	// Sync the directory so that the new name survives a power loss.
	if d, err := os.Open(s.opts.Dir); err == nil {
		d.Sync()
		d.Close()
	}
	s.f, s.name, s.size, s.created, s.last = f, name, 0, now, start
	return nil
}

// writeLocked writes p to the current segment. A failed write may have
// left part of a line, so the segment is closed and the next write begins
// a new one.
func (s *FileSink) writeLocked(p []byte, now time.Time) error {
	if len(p) == 0 {
		return nil
	}
	n, err := s.f.Write(p)
	s.size += int64(n)
	s.written = now
	if err != nil {
		err = fmt.Errorf("prediction log: writing %s: %w", s.name, err)
		if serr := s.sealLocked(now); serr != nil {
			err = errors.Join(err, serr)
		}
		return err
	}
	return nil
}

// sealLocked syncs and closes the current segment and applies retention.
func (s *FileSink) sealLocked(now time.Time) error {
	if s.f == nil {
		return nil
	}
	err := syncClose(s.f)
	if err != nil {
		err = fmt.Errorf("prediction log: closing %s: %w", s.name, err)
	}
	if s.size == 0 {
		os.Remove(filepath.Join(s.opts.Dir, s.name)) // nothing to keep
	} else {
		s.sealed = append(s.sealed, segment{name: s.name, size: s.size, written: s.written})
	}
	s.f, s.name, s.size = nil, "", 0
	return errors.Join(err, s.retainLocked(now))
}

// retainLocked deletes the oldest closed segments while they and a full
// current segment would be over MaxBytes, and those last written more than
// MaxAge ago. So the directory stays within MaxBytes (a single line larger
// than SegmentBytes aside). The current segment is never deleted.
func (s *FileSink) retainLocked(now time.Time) error {
	total := max(s.size, s.opts.SegmentBytes)
	for _, seg := range s.sealed {
		total += seg.size
	}
	var errs []error
	for len(s.sealed) > 0 {
		seg := s.sealed[0]
		if total <= s.opts.MaxBytes && now.Sub(seg.written) <= s.opts.MaxAge {
			break
		}
		if err := os.Remove(filepath.Join(s.opts.Dir, seg.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("prediction log: retention: %w", err))
		}
		total -= seg.size
		s.sealed = s.sealed[1:]
	}
	return errors.Join(errs...)
}

func syncClose(f *os.File) error {
	return errors.Join(f.Sync(), f.Close())
}

const (
	segmentPrefix = "seg-"
	segmentSuffix = ".jsonl"
)

func segmentName(start int64) string {
	return fmt.Sprintf("%s%020d%s", segmentPrefix, start, segmentSuffix)
}

// segmentStart parses the start time of a segment file name.
func segmentStart(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, segmentSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil && n >= 0
}

// segmentNames lists the segment files in dir, oldest first. Other files
// are left alone.
func segmentNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prediction log: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, ok := segmentStart(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}
