package predlog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Filter selects records for Read. Zero fields select everything.
type Filter struct {
	// Endpoint selects one endpoint's records.
	Endpoint string
	// Since and Until select records with Since <= Time < Until.
	Since, Until time.Time
	// Version selects one version's records.
	Version int
	// Limit stops reading after this many records (the oldest first).
	Limit int
}

func (f *Filter) match(r *Record) bool {
	return (f.Endpoint == "" || r.Endpoint == f.Endpoint) &&
		(f.Version == 0 || r.Version == f.Version) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || r.Time.Before(f.Until))
}

// ErrPartialLine reports a last line without its newline: the end of a
// segment cut short by a crash, or a line still being written.
var ErrPartialLine = errors.New("line has no newline: cut short by a crash, or still being written")

// ErrLongLine reports a line longer than MaxLineBytes.
var ErrLongLine = errors.New("line too long")

// MaxLineBytes bounds the lines Read accepts.
const MaxLineBytes = 64 << 20

var maxLineBytes = MaxLineBytes // lowered by tests

// LineError is a line Read skipped.
type LineError struct {
	// Segment is the file name within the directory.
	Segment string
	// Line is the 1-based line number, Offset the line's byte offset.
	Line   int
	Offset int64
	// Err says what is wrong with it.
	Err error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s line %d (byte %d): %v", e.Segment, e.Line, e.Offset, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// maxReported bounds ReadReport.Corrupt.
const maxReported = 100

// ReadReport says what Read read.
type ReadReport struct {
	// Segments is the number of segment files read.
	Segments int
	// Records is the number of records passed to the callback.
	Records int
	// Skipped is the number of lines that could not be read.
	Skipped int
	// Corrupt describes the first 100 skipped lines.
	Corrupt []LineError
	// Limited reports that reading stopped at Filter.Limit.
	Limited bool
}

// ClockSlack is how far a record's time may be later than the last write
// of its segment file (a wall clock stepped back) and still be found by
// Read with Filter.Since; segments written to last before Since minus
// ClockSlack are not opened.
const ClockSlack = 5 * time.Minute

// Read passes the records in dir's segment files that match f to fn, in
// the order they were written: segment by segment, oldest first, which is
// the order of their times up to the batching delay (records of concurrent
// requests can be out of order by up to the sinks' flush interval). Lines
// that cannot be decoded are skipped and reported in the ReadReport, never
// fatal. An error from fn stops reading and is returned. Read can run while
// a FileSink writes to dir.
func Read(ctx context.Context, dir string, f Filter, fn func(Record) error) (ReadReport, error) {
	var rep ReadReport
	names, err := segmentNames(dir)
	if err != nil {
		return rep, err
	}
	br := bufio.NewReaderSize(nil, 64<<10)
	var line []byte
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		file, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted by retention since the listing
		}
		if err != nil {
			return rep, fmt.Errorf("prediction log: %w", err)
		}
		if !f.Since.IsZero() {
			if fi, err := file.Stat(); err == nil && fi.ModTime().Before(f.Since.Add(-ClockSlack)) {
				file.Close()
				continue
			}
		}
		rep.Segments++
		br.Reset(file)
		stop, err := readSegment(ctx, br, name, &line, &f, fn, &rep)
		file.Close()
		if err != nil || stop {
			return rep, err
		}
	}
	return rep, nil
}

// readSegment reads one segment's lines; stop reports that the limit was
// reached.
func readSegment(ctx context.Context, br *bufio.Reader, name string, line *[]byte, f *Filter, fn func(Record) error, rep *ReadReport) (stop bool, err error) {
	var offset int64
	for n := 1; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		var terminated, long bool
		var size int64
		*line, size, terminated, long, err = readLine(br, (*line)[:0])
		if err != nil && err != io.EOF {
			return false, fmt.Errorf("prediction log: reading %s: %w", name, err)
		}
		if size == 0 && err == io.EOF {
			return false, nil
		}
		at := offset
		offset += size
		var bad error
		switch {
		case long:
			bad = ErrLongLine
		case !terminated:
			bad = ErrPartialLine
		}
		var rec Record
		if bad == nil {
			rec, bad = DecodeLine(*line)
		}
		if bad != nil {
			rep.Skipped++
			if len(rep.Corrupt) < maxReported {
				rep.Corrupt = append(rep.Corrupt, LineError{Segment: name, Line: n, Offset: at, Err: bad})
			}
		} else if f.match(&rec) {
			if f.Limit > 0 && rep.Records == f.Limit {
				rep.Limited = true
				return true, nil
			}
			if err := fn(rec); err != nil {
				return false, err
			}
			rep.Records++
		}
		if err == io.EOF {
			return false, nil
		}
	}
}

// readLine appends the next line, with its newline, to buf and returns
// its size; terminated reports that it ended with a newline and long that
// it was longer than MaxLineBytes, in which case buf holds only its
// beginning. At the end of the input it returns io.EOF, with the
// unterminated rest in buf.
func readLine(br *bufio.Reader, buf []byte) (line []byte, size int64, terminated, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		size += int64(len(chunk))
		if !long && len(buf)+len(chunk) <= maxLineBytes {
			buf = append(buf, chunk...)
		} else {
			long = true
		}
		switch err {
		case nil:
			return buf, size, true, long, nil
		case bufio.ErrBufferFull:
			continue
		default:
			return buf, size, false, long, err
		}
	}
}
