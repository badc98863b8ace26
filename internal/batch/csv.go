package batch

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"
)

// csvInput reads a CSV file with a header line.
type csvInput struct {
	f     File
	cols  []string
	comma byte
	plan  *Plan
	role  []int // per input column: feature j (>= 0), kept k (-k-2), or -1
	fr    textFramer
}

func newCSVInput(f File, size int64, path string, plan *Plan, pos Position, rng Range, chunkRows int) (*csvInput, error) {
	comma := byte(',')
	if strings.EqualFold(filepath.Ext(path), ".tsv") {
		comma = '\t'
	}
	hdr, first, firstLine, err := readFirstRecord(f)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(hdr))
	r.Comma = rune(comma)
	cols, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("header line: %w", err)
	}
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	if len(cols) > 0 {
		cols[0] = strings.TrimPrefix(cols[0], "\ufeff")
	}
	in := &csvInput{f: f, cols: cols, comma: comma, plan: plan}
	if in.role, err = columnRoles(cols, plan); err != nil {
		return nil, err
	}
	// Decode keeps no view of a chunk's bytes (kept text is copied), so
	// its buffer goes back to the framer: a few cover the chunks in flight.
	in.fr = textFramer{f: f, quotes: true, rows: chunkRows, end: rng.End, size: size, spare: make(chan []byte, 4)}
	if pos.Offset > 0 {
		in.fr.pos, in.fr.line = pos.Offset, pos.Line
		if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
			return nil, err
		}
	} else if err := in.fr.seekRecord(first, firstLine, rng.Start); err != nil {
		return nil, err
	}
	return in, nil
}

// columnRoles maps each input column to the feature or kept column it
// feeds, and names every planned column the input lacks.
func columnRoles(cols []string, plan *Plan) ([]int, error) {
	role := make([]int, len(cols))
	idx := make(map[string]int, len(cols))
	for i, c := range cols {
		role[i] = -1
		if _, dup := idx[c]; !dup {
			idx[c] = i
		}
	}
	var missing []string
	for j, name := range plan.Features {
		i, ok := idx[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		role[i] = j
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the input has no column for the model's feature(s) %s (input columns: %s)", quoteList(missing, 8), quoteList(cols, 12))
	}
	for k, name := range plan.Keep {
		i, ok := idx[name]
		if !ok {
			return nil, fmt.Errorf("kept column %q is not in the input (input columns: %s)", name, quoteList(cols, 12))
		}
		if role[i] != -1 {
			// A kept column that is also a feature: read it twice.
			continue
		}
		role[i] = -k - 2
	}
	return role, nil
}

func quoteList(xs []string, n int) string {
	var b strings.Builder
	for i, x := range xs {
		if i == n {
			fmt.Fprintf(&b, ", ... (%d more)", len(xs)-n)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(x))
	}
	return b.String()
}

func (in *csvInput) Columns() []string { return in.cols }
func (in *csvInput) Close() error      { return in.f.Close() }
func (in *csvInput) Progress() (int64, int64) {
	return in.fr.pos, in.fr.size
}

func (in *csvInput) Next(ctx context.Context) (Chunk, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := in.fr.next()
	if err != nil {
		return nil, err
	}
	return &csvChunk{in: in, c: c}, nil
}

type csvChunk struct {
	in *csvInput
	c  textChunk
}

func (c *csvChunk) End() Position { return c.c.end }

// keptIndex lists, for kept columns that are also features, the input
// column to copy from.
func (in *csvInput) keptAlsoFeature() map[int]int {
	m := map[int]int{}
	for k, name := range in.plan.Keep {
		for i, col := range in.cols {
			if col == name && in.role[i] >= 0 {
				m[k] = i
			}
		}
	}
	return m
}

func (c *csvChunk) Decode(f *Frame) error {
	in := c.in
	plan := in.plan
	f.reset(len(plan.Features), len(plan.Keep))
	dual := in.keptAlsoFeature()
	if len(dual) == 0 && bytes.IndexByte(c.c.data, '"') < 0 {
		c.decodeUnquoted(f)
	} else {
		c.decodeGeneral(f, dual)
	}
	in.fr.recycle(&c.c)
	return nil
}

// decodeGeneral is Decode for any chunk: records split with quotes in
// mind, fields parsed one by one. f must have been reset.
func (c *csvChunk) decodeGeneral(f *Frame, dual map[int]int) {
	in := c.in
	plan := in.plan
	var fields []string
	c.c.records(true, func(rec []byte, line int64) {
		x := f.addRow(line)
		row := f.Rows - 1
		var err error
		fields, err = splitCSV(rec, in.comma, fields[:0])
		if err != nil {
			f.reject("malformed CSV record: " + err.Error())
			return
		}
		if len(fields) != len(in.cols) {
			f.reject(fmt.Sprintf("has %d fields, the header has %d", len(fields), len(in.cols)))
		}
		for i, s := range fields {
			if i >= len(in.role) {
				break
			}
			switch r := in.role[i]; {
			case r >= 0:
				v, why := parseFeature(strings.TrimSpace(s), plan.AllowMissing, plan.Features[r])
				if why != "" {
					f.reject(why)
				}
				x[r] = v
			case r <= -2:
				f.Kept[-r-2][row] = textValue(strings.Clone(s))
			}
		}
		for k, i := range dual {
			if i < len(fields) {
				f.Kept[k][row] = textValue(strings.Clone(fields[i]))
			}
		}
	})
}

// splitCSV splits one record into fields. A record without quotes is split
// on comma directly; one with quotes goes through encoding/csv.
func splitCSV(rec []byte, comma byte, dst []string) ([]string, error) {
	if bytes.IndexByte(rec, '"') < 0 {
		s := unsafeString(rec)
		for {
			i := strings.IndexByte(s, comma)
			if i < 0 {
				return append(dst, s), nil
			}
			dst = append(dst, s[:i])
			s = s[i+1:]
		}
	}
	r := csv.NewReader(bytes.NewReader(rec))
	r.Comma = rune(comma)
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	return append(dst, fields...), nil
}

// decodeUnquoted is Decode for a chunk without quotes, the common case: one
// pass over the bytes that splits records and fields and parses numbers
// without building a slice of fields.
func (c *csvChunk) decodeUnquoted(f *Frame) {
	in := c.in
	plan := in.plan
	data, line := c.c.data, c.c.startLine
	comma := in.comma
	for len(data) > 0 {
		var rec []byte
		if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
			rec, data = data[:nl], data[nl+1:]
		} else {
			// The last record has no line end: give it one, which
			// scanFeatures needs to find where the record stops.
			rec = append(append(make([]byte, 0, len(data)+9), data...), '\n')[:len(data)]
			data = nil
		}
		if n := len(rec); n > 0 && rec[n-1] == '\r' {
			rec = rec[:n-1]
		}
		if isBlank(rec) {
			line++
			continue
		}
		// Every feature column the record has is set below; those it
		// lacks are set to missing after the loop.
		x := f.addRowUnset(line)
		row := f.Rows - 1
		line++
		why := ""
		col := 0 // fields read so far
		for start := 0; ; {
			if col < len(in.role) && in.role[col] >= 0 {
				// The run of short plain decimals that starts here, in
				// one go; the field it stops at is read below.
				next, k, atEnd := scanFeatures(rec, start, in.role[col:], x, comma)
				if col += k; atEnd {
					break
				}
				start = next
			}
			r := -1
			if col < len(in.role) {
				r = in.role[col]
			}
			end := start
			if r >= 0 {
				if v, e, ok := scanDecimal(rec, start, comma); ok {
					x[r], end = v, e
				} else {
					end = e
					// Trimmed as the general path trims (strings.TrimSpace).
					field := bytes.TrimSpace(rec[start:end])
					v, w := parseFeature(unsafeString(field), plan.AllowMissing, plan.Features[r])
					if w != "" && why == "" {
						why = w
					}
					x[r] = v
				}
			} else {
				if i := bytes.IndexByte(rec[start:], comma); i >= 0 {
					end = start + i
				} else {
					end = len(rec)
				}
				if r <= -2 {
					f.Kept[-r-2][row] = textValue(f.keepText(rec[start:end]))
				}
			}
			col++
			if end >= len(rec) {
				break
			}
			start = end + 1
		}
		if col != len(in.cols) {
			for _, r := range in.role[min(col, len(in.role)):] {
				if r >= 0 {
					x[r] = nan32
				}
			}
			f.reject(fmt.Sprintf("has %d fields, the header has %d", col, len(in.cols)))
		}
		if why != "" {
			f.reject(why)
		}
	}
}

// scanDecimal parses a plain decimal number ("-12.5", "0.07871", "3") at
// rec[start:], up to the next comma, and returns it with the comma's index
// (or len(rec)). ok is false when the field is anything else (exponent,
// spaces, too many digits, empty): end is still the field's end, and the
// caller parses the field the general way.
func scanDecimal(rec []byte, start int, comma byte) (v float32, end int, ok bool) {
	i, n := start, len(rec)
	neg := false
	if i < n && rec[i] == '-' {
		neg = true
		i++
	}
	// Most fields are short: parse eight bytes at once, from a copy that
	// ends the way scanFeatures needs.
	var buf [16]byte
	l := copy(buf[:8], rec[i:])
	buf[l] = '\n'
	var one [1]float32
	if next, k, atEnd := scanFeatures(buf[:l], 0, oneFeature[:], one[:], comma); k == 1 {
		if !atEnd {
			next-- // back from the next field's start to the comma
		}
		if end := i + next; end == n || rec[end] == comma {
			if neg {
				return -one[0], end, true
			}
			return one[0], end, true
		}
	}
	var mant uint64
	digits, frac := 0, -1
	for ; i < n; i++ {
		c := rec[i]
		if d := c - '0'; d <= 9 {
			mant = mant*10 + uint64(d)
			digits++
			continue
		}
		if c == '.' && frac < 0 {
			frac = digits
			continue
		}
		break
	}
	if i < n && rec[i] != comma {
		// Not a plain decimal: find the field's end for the caller.
		if j := bytes.IndexByte(rec[i:], comma); j >= 0 {
			return 0, i + j, false
		}
		return 0, n, false
	}
	if digits == 0 || digits > 19 || mant > 1<<53 {
		return 0, i, false
	}
	exp := 0
	if frac >= 0 {
		if exp = digits - frac; exp > 22 {
			return 0, i, false
		}
	}
	f := decimal32(mant, exp)
	if neg {
		f = -f
	}
	return f, i, true
}

// invPow10 holds the float64 nearest to each negative power of ten.
var invPow10 = [...]float64{1e0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10,
	1e-11, 1e-12, 1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22}

// decimal32 returns m / 10^k as float32, equal to float32(float64(m) /
// 1e k), the value a float64 parse narrowed to float32 gives, for m up to
// 2^53 and k up to 22. It multiplies by the nearest float64 to 10^-k,
// which is within two float64 ulps of the correctly rounded quotient, and
// divides only when that product lies so near a float32 rounding boundary
// that the two could narrow differently (a few in a hundred million). A
// division costs several times a multiplication.
func decimal32(m uint64, k int) float32 {
	f := float64(m)
	if k == 0 || m == 0 {
		return float32(f)
	}
	p := f * invPow10[k]
	// The low 29 bits are what float32 drops; 1<<28 is the midpoint.
	if r := math.Float64bits(p) & (1<<29 - 1); r-(1<<28-16) <= 32 {
		p = f / pow10[k]
	}
	return float32(p)
}

// isBlank reports a record of white space only, which is skipped (as
// textChunk.records skips it).
func isBlank(b []byte) bool {
	if len(b) > 0 && b[0] > ' ' && b[0] < 0x80 {
		return false // the common case, decided by the first byte
	}
	return len(bytes.TrimSpace(b)) == 0
}

// SWAR constants: one bit or mask per byte of a 64-bit word.
const (
	swarLow7 = 0x7F7F7F7F7F7F7F7F
	swarHigh = 0x8080808080808080
	swarLow4 = 0x0F0F0F0F0F0F0F0F
)

// oneFeature is the roles of a single feature field, for scanDecimal.
var oneFeature = [1]int{0}

// scanFeatures parses the feature fields from rec[start:] on while each is
// a plain decimal of at most eight characters (digits and at most one
// '.'), the common case, reading each as one little-endian word: field i
// goes to x[roles[i]]. It stops at the first field that is not a feature
// (roles[i] < 0) or not such a decimal, or after the last field, and
// returns where the field it stopped at starts, how many fields it parsed,
// and whether the last of them ended the record.
//
// The byte just past rec (rec[:len(rec)+1]) must be there and be neither a
// digit nor a '.': a record's line end does. Words are read only where
// eight bytes of rec[:cap(rec)] remain.
func scanFeatures(rec []byte, start int, roles []int, x []float32, comma byte) (next, k int, atEnd bool) {
	n := len(rec)
	last := cap(rec) - 8 // the last offset a word can be read at
	base := unsafe.Pointer(unsafe.SliceData(rec))
	for i, r := range roles {
		if r < 0 || start > last {
			return start, i, false
		}
		w := binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(base, start))[:])
		// Digits become bytes 0-9; bit 7 marks every other byte. The
		// number runs to the first other byte (at most the byte past
		// rec), or past one '.' to the next.
		t := w ^ 0x3030303030303030
		other := ((t&swarLow7 + 0x7676767676767676) | t) & swarHigh
		l := 8
		if other != 0 {
			l = bits.TrailingZeros64(other) >> 3
		}
		digits, frac := l, 0
		if l < 8 && byte(w>>(8*l)) == '.' {
			p := l
			if other &= other - 1; other != 0 {
				l = bits.TrailingZeros64(other) >> 3
			} else {
				l = 8
			}
			// Drop the dot: the bytes above it move down one.
			below := uint64(1)<<(8*p) - 1
			t = t&below | (t>>8)&^below
			digits, frac = l-1, l-p-1
		}
		end := start + l
		if digits == 0 || end < n && rec[end] != comma {
			return start, i, false
		}
		// Right-align the digits (which shifts out the bytes after them)
		// and combine them in three multiplications: pairs, quadruples,
		// then the eight.
		d := t << (8 * (8 - digits) & 63)
		d = (d * (10<<8 + 1)) >> 8
		d = ((d & 0x00FF00FF00FF00FF) * (100<<16 + 1)) >> 16
		m := ((d & 0x0000FFFF0000FFFF) * (10000<<32 + 1)) >> 32
		x[r] = decimal32(uint64(uint32(m)), frac)
		if end >= n {
			return end, i + 1, true
		}
		start = end + 1
	}
	return start, len(roles), false
}
