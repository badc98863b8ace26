package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// textFramer cuts a text file into chunks of whole records without parsing
// them: it only finds the newlines that end records. With quotes set (CSV),
// a newline inside a quoted field does not end a record.
type textFramer struct {
	f      File
	quotes bool
	rows   int   // records per chunk
	end    int64 // records starting at or after end belong to the next range
	size   int64 // file size, for progress

	pos   int64  // file offset of buf[0], the next record
	line  int64  // line number of buf[0]
	buf   []byte // bytes read but not yet handed out
	eof   bool
	guess int // bytes the next chunk probably needs
	// spare holds buffers of chunks already decoded, for reuse; nil when
	// the input's chunks are not given back (recycle).
	spare chan []byte
}

// newBuf returns a buffer of length n and capacity at least c: a spare
// one when there is one big enough, which spares the zeroing and page
// faults of fresh memory.
func (t *textFramer) newBuf(n, c int) []byte {
	select {
	case b := <-t.spare:
		if cap(b) >= c {
			return b[:n]
		}
	default:
	}
	return make([]byte, n, c)
}

// recycle gives a decoded chunk's buffer back to the framer. The chunk's
// bytes must not be used after.
func (t *textFramer) recycle(c *textChunk) {
	if t.spare == nil || c.data == nil {
		return
	}
	select {
	case t.spare <- c.data[:0]:
	default:
	}
	c.data = nil
}

// seekRecord positions the framer at the first record starting at or after
// offset start (offset 0 and the first data record's offset mean "at it"),
// counting lines from first (the offset of the first data record, on line
// firstLine) so line numbers stay right.
func (t *textFramer) seekRecord(first, firstLine, start int64) error {
	t.pos, t.line = first, firstLine
	if start <= first {
		_, err := t.f.Seek(first, io.SeekStart)
		return err
	}
	// The record holding byte start-1 belongs to the range before; ours
	// begins after the next newline. Count the lines skipped on the way.
	if _, err := t.f.Seek(first, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	off := first
	for off < start-1 {
		n := int(min(int64(len(buf)), start-1-off))
		m, err := io.ReadFull(t.f, buf[:n])
		t.line += int64(bytes.Count(buf[:m], []byte{'\n'}))
		off += int64(m)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				t.pos, t.eof = off, true
				return nil
			}
			return err
		}
	}
	var one [1]byte
	for {
		m, err := t.f.Read(one[:])
		if m == 1 {
			off++
			if one[0] == '\n' {
				t.line++
				break
			}
		}
		if err == io.EOF {
			t.eof = true
			break
		}
		if err != nil {
			return err
		}
	}
	t.pos = off
	return nil
}

// textChunk is a run of whole records.
type textChunk struct {
	data      []byte
	startLine int64
	end       Position
}

// next returns the next chunk of whole records, or io.EOF.
func (t *textFramer) next() (textChunk, error) {
	if t.guess == 0 {
		t.guess = 1 << 20
	}
	var (
		i, records, lines, recLines int
		recEnd                      int
		inQ                         bool
		stop                        bool
	)
	for {
		for records < t.rows && !stop {
			if !inQ && t.end > 0 && t.pos+int64(i) >= t.end {
				stop = true
				break
			}
			j := bytes.IndexByte(t.buf[i:], '\n')
			if j < 0 {
				break
			}
			if t.quotes && bytes.Count(t.buf[i:i+j], []byte{'"'})%2 == 1 {
				inQ = !inQ
			}
			i += j + 1
			lines++
			if !inQ {
				records++
				recEnd, recLines = i, lines
			}
		}
		if records == t.rows || stop {
			break
		}
		if t.eof {
			// A last record without a final newline, or an unterminated
			// quote (the decoder rejects it).
			if len(t.buf) > recEnd && (t.end <= 0 || t.pos+int64(recEnd) < t.end) {
				recEnd, recLines = len(t.buf), lines+1
				records++
			}
			break
		}
		if len(t.buf) == cap(t.buf) {
			nb := t.newBuf(len(t.buf), max(2*cap(t.buf), t.guess))
			copy(nb, t.buf)
			t.buf = nb
		}
		n, err := t.f.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+n]
		if err == io.EOF {
			t.eof = true
		} else if err != nil {
			return textChunk{}, err
		}
	}
	if records == 0 {
		return textChunk{}, io.EOF
	}
	c := textChunk{data: t.buf[:recEnd], startLine: t.line}
	rest := t.buf[recEnd:]
	t.guess = max(1<<16, recEnd+recEnd/4)
	t.buf = t.newBuf(len(rest), max(t.guess, 2*len(rest)))
	copy(t.buf, rest)
	t.pos += int64(recEnd)
	t.line += int64(recLines)
	c.end = Position{Offset: t.pos, Line: t.line}
	return c, nil
}

// records calls fn for each record of a chunk with its line number,
// without its line ending. Blank lines are skipped.
func (c *textChunk) records(quotes bool, fn func(rec []byte, line int64)) {
	data, line := c.data, c.startLine
	for len(data) > 0 {
		i, inQ, nl := 0, false, int64(0)
		for {
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				i = len(data)
				nl++
				break
			}
			if quotes && bytes.Count(data[i:i+j], []byte{'"'})%2 == 1 {
				inQ = !inQ
			}
			i += j + 1
			nl++
			if !inQ {
				break
			}
		}
		rec := data[:i]
		rec = bytes.TrimSuffix(rec, []byte{'\n'})
		rec = bytes.TrimSuffix(rec, []byte{'\r'})
		if len(bytes.TrimSpace(rec)) > 0 {
			fn(rec, line)
		}
		data = data[i:]
		line += nl
	}
}

// readFirstRecord reads the header record of a CSV file from f's start and
// returns it with the offset and line number of the record after it.
func readFirstRecord(f File) (rec []byte, next, line int64, err error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, 0, err
	}
	var buf []byte
	chunk := make([]byte, 64<<10)
	inQ := false
	scan := 0
	for {
		n, rerr := f.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			j := bytes.IndexByte(buf[scan:], '\n')
			if j < 0 {
				break
			}
			if bytes.Count(buf[scan:scan+j], []byte{'"'})%2 == 1 {
				inQ = !inQ
			}
			scan += j + 1
			line++
			if !inQ {
				return buf[:scan], int64(scan), line + 1, nil
			}
		}
		if rerr == io.EOF {
			if len(buf) == 0 {
				return nil, 0, 0, errors.New("the file is empty; a CSV input needs a header line")
			}
			return buf, int64(len(buf)), line + 2, nil
		}
		if rerr != nil {
			return nil, 0, 0, rerr
		}
		if len(buf) > 16<<20 {
			return nil, 0, 0, fmt.Errorf("the header line is longer than 16 MiB")
		}
	}
}
