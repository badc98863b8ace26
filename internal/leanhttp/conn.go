package leanhttp

import (
	"bytes"
	"cmp"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/netio"
)

// readBufSize is the per-connection read buffer: a request whose line and
// headers do not fit goes to net/http, which applies its own limit.
const readBufSize = 8 << 10

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 4 << 20

// lingerTimeout is how long a connection closed with unread input keeps
// reading, so the client gets the answer before a reset (net/http waits
// as long).
const lingerTimeout = 500 * time.Millisecond

// Connection states, for Shutdown.
const (
	stateActive int32 = iota // reading or answering a request
	stateIdle                // waiting for the first byte of a request
	stateClosed
)

// conn is one connection served by the lean loop.
type conn struct {
	s     *Server
	nc    net.Conn
	io    *netio.Conn // nc's reads and writes
	state atomic.Int32
	// rdl and wdl are the read and write deadlines set on nc (zero: none).
	rdl, wdl time.Time
	st       *connState
}

// connState is the pooled, per-connection memory.
type connState struct {
	rbuf []byte // readBufSize bytes
	big  []byte // body buffer for bodies larger than rbuf can hold
	req  Request
	resp Response
	date dateCache
	// lookup is req.Header bound once, so requests need not allocate it.
	lookup func(string) string
	// path is the last request's Path, reused while requests repeat it.
	path string
}

var statePool = sync.Pool{New: func() any {
	st := &connState{rbuf: make([]byte, readBufSize)}
	st.resp.date = &st.date
	st.lookup = st.req.Header
	return st
}}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, io: netio.New(nc)}
	c.state.Store(stateIdle) // a new connection waits for its first request
	return c
}

// verdict is what the parser makes of a request head.
type verdict int

const (
	serveLean verdict = iota // a request the lean loop answers
	handOff                  // anything else: net/http answers it
)

// parsed is a request head the lean loop serves.
type parsed struct {
	path, query   []byte
	headers       []byte // the header lines, each ending in CRLF
	contentLength int64
	close         bool // the connection closes after the answer
	keepAlive10   bool // an HTTP/1.0 client asked for keep-alive
	http10        bool
}

// serve runs the keep-alive loop until the connection closes or is handed
// to net/http.
func (c *conn) serve() {
	st := statePool.Get().(*connState)
	c.st = st
	handed := false
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("panic serving a request", "remote", c.nc.RemoteAddr().String(), "panic", p)
		}
		c.s.track(c, false)
		if !handed {
			c.nc.Close()
		}
		c.release()
	}()
	remote := c.nc.RemoteAddr().String()
	r, w := 0, 0 // unread input is st.rbuf[r:w]
	opts := &c.s.opts
	for first := true; ; first = false {
		if r == w {
			r, w = 0, 0
		} else if r > 0 {
			w = copy(st.rbuf, st.rbuf[r:w])
			r = 0
		}
		if w == 0 {
			// Wait for the request's first byte: the idle timeout between
			// requests, the header timeout before the first.
			if !first {
				if !c.state.CompareAndSwap(stateActive, stateIdle) {
					return
				}
				if c.s.shutting.Load() {
					return
				}
				// The answer just written read the clock for its Date.
				now := st.date.now
				if now.IsZero() {
					now = time.Now()
				}
				c.readDeadline(now, cmp.Or(opts.IdleTimeout, opts.ReadTimeout), true) // as net/http
				// The client sends its next request only once it has the
				// answer just written, so a read now mostly finds nothing:
				// a system call that fails, then a wait in the poller. Under
				// load other connections have work; doing it first gives
				// the next request time to arrive, and the read then takes
				// it at once. With nothing else to run, this returns at once.
				runtime.Gosched()
			} else {
				c.readDeadline(time.Now(), min0(opts.ReadHeaderTimeout, opts.ReadTimeout), false)
			}
			n, _ := c.io.Read(st.rbuf)
			if n == 0 {
				return
			}
			w = n
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) && c.state.Load() != stateActive {
			return // closed by Shutdown
		}
		t0 := time.Now()
		// Read until the head is complete. Deadlines are set only before
		// reads that need them: mostly the whole request came in the first
		// read, and each change of a deadline costs a timer update.
		var end int
		for armed := false; ; armed = true {
			var bad bool
			end, bad = headEnd(st.rbuf[:w])
			if bad {
				c.handOff(st.rbuf[:w])
				handed = true
				return
			}
			if end > 0 {
				break
			}
			if w == len(st.rbuf) {
				c.handOff(st.rbuf[:w]) // a head too large for the lean loop
				handed = true
				return
			}
			if !armed {
				c.readDeadline(t0, min0(opts.ReadHeaderTimeout, opts.ReadTimeout), false)
			}
			n, err := c.io.Read(st.rbuf[w:])
			w += n
			if err != nil && n == 0 {
				return
			}
		}
		p, v := parseHead(st.rbuf[:end], c.s.h)
		if v == handOff {
			c.handOff(st.rbuf[:w])
			handed = true
			return
		}
		c.writeDeadline(t0, opts.WriteTimeout)
		req := &st.req
		if string(p.path) != st.path {
			st.path = string(p.path) // a client on one connection mostly calls one route
		}
		*req = Request{Ctx: c.s.ctx, Path: st.path, Remote: remote, ContentLength: p.contentLength, head: p.headers, Lookup: st.lookup}
		if len(p.query) > 0 {
			req.RawQuery = string(p.query)
		}
		unread := false
		switch {
		case p.contentLength > opts.MaxBodyBytes:
			unread, p.close = true, true
			r = w
		case int64(end)+p.contentLength <= int64(len(st.rbuf)):
			need := end + int(p.contentLength)
			if w < need {
				c.readDeadline(t0, opts.ReadTimeout, false)
			}
			for w < need {
				n, err := c.io.Read(st.rbuf[w:])
				w += n
				if err != nil && w < need {
					return
				}
			}
			req.Body = st.rbuf[end:need]
			r = need
		default:
			c.readDeadline(t0, opts.ReadTimeout, false)
			body, err := readBody(c.io, st.big[:0], st.rbuf[end:w], int(p.contentLength))
			st.big = body
			if err != nil {
				return
			}
			req.Body = body
			r, w = 0, 0
		}
		// The Connection header net/http would send: none when an
		// HTTP/1.0 request closes (that is its default).
		conn := ""
		switch {
		case p.close && !p.http10:
			conn = "close"
		case p.keepAlive10:
			conn = "keep-alive"
		}
		st.resp.reset(conn, p.http10)
		st.resp.shutting = &c.s.shutting
		c.s.h.ServeLean(&st.resp, req)
		if !st.resp.written {
			st.resp.Write(200, "", nil)
		}
		p.close = p.close || st.resp.connection == "close" // Write closes when shutting down
		*req = Request{}
		if cap(st.big) > maxPooledBody {
			st.big = nil
		}
		if _, err := c.io.Write(st.resp.out); err != nil {
			return
		}
		if p.close {
			if unread {
				c.linger()
			}
			return
		}
	}
}

// eagerBody is the most memory a body gets before its bytes arrive: a
// client that declares a large Content-Length and sends nothing holds no
// more than this.
const eagerBody = 64 << 10

// readBody reads an n-byte body into buf (reused when large enough),
// starting with the bytes already read; buf grows by doubling as the body
// arrives.
func readBody(r io.Reader, buf, have []byte, n int) ([]byte, error) {
	if cap(buf) < min(n, eagerBody) {
		buf = make([]byte, 0, min(n, eagerBody))
	}
	buf = append(buf[:0], have...)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), len(buf)))
		}
		m, err := r.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// handOff passes the connection to net/http, replaying pending.
func (c *conn) handOff(pending []byte) {
	c.s.track(c, false)
	c.state.Store(stateClosed)
	_ = c.nc.SetDeadline(time.Time{})
	rc := &replayConn{Conn: c.nc, pending: bytes.Clone(pending)}
	c.s.handoff.give(rc)
}

// linger half-closes the connection and reads what the client still
// sends for a moment, so it reads the answer instead of a reset.
func (c *conn) linger() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	for {
		if _, err := c.nc.Read(c.st.rbuf); err != nil {
			return
		}
	}
}

// release returns the connection's memory to the pool.
func (c *conn) release() {
	st := c.st
	if st == nil {
		return
	}
	c.st = nil
	st.req = Request{}
	st.resp.reset("", false)
	if cap(st.resp.out) > maxPooledBody {
		st.resp.out = nil
	}
	statePool.Put(st)
}

// min0 is the smaller of two timeouts, where 0 means none.
func min0(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// deadlineSlack is the share of a timeout by which a deadline kept from
// an earlier request may run late: a deadline already within t+d and
// t+d+d/16 is left as it is. Changing a deadline updates a runtime timer,
// and with slack the idle and write deadlines of a busy connection change
// about once every sixteenth of their timeout instead of twice a request.
const deadlineSlack = 16

// readDeadline sets nc's read deadline to t+d, or to none when d is 0.
// With slack a deadline already between t+d and t+d+d/16 stays, and a new
// one is set at the end of that range.
func (c *conn) readDeadline(t time.Time, d time.Duration, slack bool) {
	if set, ok := nextDeadline(c.rdl, t, d, slack); ok {
		c.rdl = set
		_ = c.nc.SetReadDeadline(set)
	}
}

// writeDeadline is readDeadline for the write deadline, with slack.
func (c *conn) writeDeadline(t time.Time, d time.Duration) {
	if set, ok := nextDeadline(c.wdl, t, d, true); ok {
		c.wdl = set
		_ = c.nc.SetWriteDeadline(set)
	}
}

// nextDeadline returns the deadline to set for a timeout d from t, and
// whether cur must change to it.
func nextDeadline(cur, t time.Time, d time.Duration, slack bool) (time.Time, bool) {
	if d <= 0 {
		return time.Time{}, !cur.IsZero()
	}
	want := t.Add(d)
	if !slack {
		return want, !cur.Equal(want)
	}
	late := want.Add(d / deadlineSlack)
	if cur.IsZero() || cur.Before(want) || cur.After(late) {
		return late, true
	}
	return cur, false
}

// headEnd returns the length of the request head (line and headers,
// through the empty line) at the start of b, 0 while incomplete; bad is
// true for a line not ending in CRLF or a head starting with an empty
// line, which net/http judges.
func headEnd(b []byte) (end int, bad bool) {
	start := 0
	for {
		i := bytes.IndexByte(b[start:], '\n')
		if i < 0 {
			return 0, false
		}
		i += start
		if i == 0 || b[i-1] != '\r' {
			return 0, true
		}
		if i-1 == start {
			if start == 0 {
				return 0, true
			}
			return i + 1, false
		}
		start = i + 1
	}
}

// parseHead parses a complete head and decides whether the lean loop
// serves it. It is strict: anything net/http might judge differently —
// a malformed line, a header it checks, a body that is not a plain
// Content-Length — is handed off.
func parseHead(head []byte, h Handler) (parsed, verdict) {
	var p parsed
	i := indexCRLF(head)
	line := head[:i]
	rest := head[i+2 : len(head)-2] // the header lines
	method, line, ok := bytes.Cut(line, []byte{' '})
	if !ok || string(method) != "POST" {
		return p, handOff
	}
	target, proto, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(target) == 0 || target[0] != '/' {
		return p, handOff
	}
	var http10 bool
	switch string(proto) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		return p, handOff
	}
	p.path, p.query, _ = bytes.Cut(target, []byte{'?'})
	if !cleanQuery(p.query) || !h.Route(p.path) {
		return p, handOff
	}
	p.headers = rest
	hosts, lengths := 0, 0
	wantClose, wantKeepAlive := false, false
	for len(rest) > 0 {
		j := indexCRLF(rest)
		hl := rest[:j]
		rest = rest[j+2:]
		colon := bytes.IndexByte(hl, ':')
		if colon <= 0 || !isToken(hl[:colon]) {
			return p, handOff
		}
		name, value := hl[:colon], trimOWS(hl[colon+1:])
		if !validValue(value) {
			return p, handOff
		}
		switch {
		case equalFold(name, "Content-Length"):
			n, ok := parseLength(value)
			if !ok {
				return p, handOff
			}
			p.contentLength = n
			lengths++
		case equalFold(name, "Host"):
			if !validHost(value) {
				return p, handOff
			}
			hosts++
		case equalFold(name, "Connection"):
			wantClose = wantClose || hasToken(value, "close")
			wantKeepAlive = wantKeepAlive || hasToken(value, "keep-alive")
		case equalFold(name, "Transfer-Encoding"), equalFold(name, "Expect"),
			equalFold(name, "Upgrade"), equalFold(name, "Content-Encoding"):
			return p, handOff
		}
	}
	if lengths != 1 || hosts > 1 || hosts == 0 && !http10 {
		return p, handOff
	}
	p.http10 = http10
	if http10 {
		p.close = wantClose || !wantKeepAlive
		p.keepAlive10 = !p.close
	} else {
		p.close = wantClose
	}
	return p, serveLean
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isToken reports whether b is an HTTP token (a valid header name).
func isToken(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return len(b) > 0
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue reports whether a header value has no control character but
// tab (net/http refuses those).
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts the plain host[:port] forms; anything else goes to
// net/http, which decides.
func validHost(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// cleanQuery accepts a query of printable ASCII without '#'.
func cleanQuery(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated header value holds token
// (any case).
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var part []byte
		part, v, _ = bytes.Cut(v, []byte{','})
		if equalFold(trimOWS(part), token) {
			return true
		}
	}
	return false
}

// PathSegment reports whether b is a path segment the lean path routes
// as net/http's ServeMux would: not empty, not "." or "..", and made only
// of characters that need no escaping (no '%').
func PathSegment[T ~string | ~[]byte](b T) bool {
	if len(b) == 0 || len(b) == 1 && b[0] == '.' || len(b) == 2 && b[0] == '.' && b[1] == '.' {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; c >= 0x80 || !segmentChars[c] {
			return false
		}
	}
	return true
}

var segmentChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~:@!$&'()*+,;=" {
		t[c] = true
	}
	return t
}()
