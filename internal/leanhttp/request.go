package leanhttp

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Request is one request read by the lean loop. Its fields and the slices
// behind them are valid only until ServeLean returns.
type Request struct {
	// Ctx ends when the server is closed.
	Ctx context.Context
	// Path is the request target before any '?'; RawQuery what follows it.
	Path     string
	RawQuery string
	// Remote is the client's address, as net/http's Request.RemoteAddr.
	Remote string
	// ContentLength is the body's declared length.
	ContentLength int64
	// Body is the whole body, or nil when ContentLength exceeds the
	// server's MaxBodyBytes (the body is then left unread).
	Body []byte
	// Lookup is Header as a function value, made once per connection.
	Lookup func(name string) string

	// head holds the header lines, each ending in CRLF.
	head []byte
}

// Header returns the first value of the header called name (any case),
// trimmed as net/http's Header.Get returns it, or "".
func (r *Request) Header(name string) string {
	v, ok := headerValue(r.head, name)
	if !ok {
		return ""
	}
	return string(v)
}

// headerValue finds the first header line called name (any case) in head
// and returns its trimmed value.
func headerValue(head []byte, name string) ([]byte, bool) {
	for len(head) > 0 {
		i := indexCRLF(head)
		if i < 0 {
			return nil, false
		}
		line := head[:i]
		head = head[i+2:]
		if len(line) > len(name) && line[len(name)] == ':' && equalFold(line[:len(name)], name) {
			return trimOWS(line[len(name)+1:]), true
		}
	}
	return nil, false
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// equalFold compares ASCII case-insensitively.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// trimOWS trims spaces and tabs at both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// maxResponseHeaders is how many headers a Handler may set besides
// Content-Type and Content-Length.
const maxResponseHeaders = 8

// Response collects one answer: the handler sets headers, then Write
// encodes the status line, the headers and the body into one buffer that
// the loop writes with one system call.
type Response struct {
	// keys and vals are the handler's headers, sorted by key as net/http
	// writes them; n are set.
	keys, vals [maxResponseHeaders]string
	n          int

	out     []byte
	written bool
	// connection is the Connection header the loop adds: "", "close" or
	// "keep-alive" (an HTTP/1.0 client that asked for it).
	connection string
	date       *dateCache
	// now is the current time as the handler last read it (SetNow), or
	// zero.
	now time.Time
	// http10 answers an HTTP/1.0 request, whose status line says
	// HTTP/1.0 as net/http's does.
	http10 bool
	// shutting, when set, makes the answer close the connection.
	shutting *atomic.Bool
}

// SetHeader sets a response header, replacing an earlier value. key must
// be in canonical form ("Retry-After"); past maxResponseHeaders further
// headers are dropped.
func (w *Response) SetHeader(key, value string) {
	i := 0
	for i < w.n && w.keys[i] < key {
		i++
	}
	if i < w.n && w.keys[i] == key {
		w.vals[i] = value
		return
	}
	if w.n == maxResponseHeaders {
		return
	}
	copy(w.keys[i+1:w.n+1], w.keys[i:w.n])
	copy(w.vals[i+1:w.n+1], w.vals[i:w.n])
	w.keys[i], w.vals[i] = key, value
	w.n++
}

// SetNow tells Write the current time, which the handler has just read,
// so that the Date header and the idle deadline after the answer need
// no reading of the clock of their own. t must be recent: read after the
// handler's last wait (for a model server, say), not before it.
func (w *Response) SetNow(t time.Time) { w.now = t }

// Write encodes the answer: status, the headers set, Content-Type (when
// not empty), Content-Length, Date, and body. Only the first call counts.
func (w *Response) Write(status int, contentType string, body []byte) {
	if w.written {
		return
	}
	w.written = true
	if w.shutting != nil && w.shutting.Load() {
		w.connection = "close"
	}
	b := w.out[:0]
	if w.http10 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if contentType != "" {
		b = append(b, "\r\nContent-Type: "...)
		b = append(b, contentType...)
	}
	for i := 0; i < w.n; i++ {
		b = append(b, "\r\n"...)
		b = append(b, w.keys[i]...)
		b = append(b, ": "...)
		b = append(b, w.vals[i]...)
	}
	if w.connection != "" {
		b = append(b, "\r\nConnection: "...)
		b = append(b, w.connection...)
	}
	b = append(b, "\r\nDate: "...)
	b = w.date.append(b, w.now)
	b = append(b, "\r\n\r\n"...)
	w.out = append(b, body...)
}

// reset readies w for the next request.
func (w *Response) reset(connection string, http10 bool) {
	w.http10 = http10
	w.n = 0
	w.keys, w.vals = [maxResponseHeaders]string{}, [maxResponseHeaders]string{}
	w.out = w.out[:0]
	w.written = false
	w.connection = connection
	w.now = time.Time{}
}

// dateCache formats the Date header once a second.
type dateCache struct {
	sec int64
	buf []byte
	// now is when the last Date was written: about when the answer went
	// out, which the loop reuses for the idle deadline that follows.
	now time.Time
}

func (d *dateCache) append(b []byte, now time.Time) []byte {
	if now.IsZero() {
		now = time.Now()
	}
	d.now = now
	if s := now.Unix(); s != d.sec || d.buf == nil {
		d.sec = s
		d.buf = now.UTC().AppendFormat(d.buf[:0], http.TimeFormat)
	}
	return append(b, d.buf...)
}
