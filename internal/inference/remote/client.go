package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/netio"
)

// This file holds the client inference calls to plain-http replicas use:
// HTTP/1.1 over a pool of kept-alive connections, one pool per replica,
// with everything done on the calling goroutine.
//
// Why not net/http.Transport: behind the gateway, the calls through it
// took about 45% of the gateway's CPU per proxied request (about 50 µs of
// 116 µs on the benchmark machine; bench/gateway), and about 25% (24 µs
// of 94 µs) with this client. The Transport runs two goroutines per
// connection and hands each request and response between them over
// channels, and it sends a request whose body is not a bytes.Reader (or
// bytes.Buffer, strings.Reader) in two writes, headers then body, so
// that each call paid two system calls and two TCP segments where one
// does. Here the request (headers and body) is one prepared buffer
// written with one system call, and the response is parsed from the
// connection's reader by the caller, which then owns it.
//
// What it implements of HTTP/1.1 (RFC 9112) for responses: a status line
// of HTTP/1.0 or 1.1, interim 1xx responses (skipped), bodies framed by
// Content-Length, by chunked Transfer-Encoding (chunk extensions and
// trailers read and ignored) or by the end of the connection, no body
// for 204 and 304, and Connection: close / keep-alive. Anything else
// (another transfer coding, conflicting Content-Length values, a
// malformed line) is an error and the connection is closed. HTTPS
// replicas, and hosts that are not plain ASCII, keep using net/http.
//
// A connection taken from the pool may have been closed by the server
// while idle. When the call fails on such a connection before any byte
// of a response arrived, it is retried on a new connection to the same
// replica, as net/http does for idempotent requests (inference is).

// Limits of what a response's head may hold.
const (
	maxHeaderBytes = 1 << 20 // status line and header fields together
	idleTimeout    = 90 * time.Second
	maxIdlePerHost = 256
	readBufferSize = 16 << 10
	// quietIdle is how long a connection may have been idle for a call to
	// send its request from within the read of the answer (exchange).
	quietIdle = time.Second
)

// aLongTimeAgo is a deadline in the past: setting it interrupts a
// blocked read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// connPool holds one replica's idle connections.
type connPool struct {
	addr   string // host:port to dial
	dialer *net.Dialer

	mu     sync.Mutex
	idle   []*httpConn // guarded by mu; the most recently used last
	closed bool        // guarded by mu; set by close
}

// httpConn is one HTTP/1.1 connection.
type httpConn struct {
	nc        net.Conn
	io        *netio.Conn // nc's reads and writes
	br        *bufio.Reader
	idleSince time.Time // when it went back to the pool
	dl        time.Time // the deadline set on nc
	line      []byte    // a header line longer than br's buffer is assembled here

	// A context's end cuts its call short through a function registered
	// with context.AfterFunc. The registration stays between calls while
	// they come with the same context (the gateway's calls share the
	// server's), so that a call does not register and unregister one;
	// the function cuts only the call in progress on the context it
	// watches.
	wmu       sync.Mutex
	watched   <-chan struct{} // the Done channel watched
	stopWatch func() bool     // ends that watch
	callDone  <-chan struct{} // Done of the call in progress; nil between calls
	cut       bool            // the call in progress was cut short
}

// close closes the connection and ends its context watch.
func (c *httpConn) close() {
	c.wmu.Lock()
	stop := c.stopWatch
	c.watched, c.stopWatch = nil, nil
	c.wmu.Unlock()
	if stop != nil {
		stop()
	}
	c.nc.Close()
}

// ended is the watch of done: it cuts the call in progress when the call
// is done's.
func (c *httpConn) ended(done <-chan struct{}) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.callDone == done {
		c.cut = true
		_ = c.nc.SetDeadline(aLongTimeAgo)
	}
	if c.watched == done {
		c.watched, c.stopWatch = nil, nil
	}
}

// newConnPool returns the pool of a replica, or nil when the replica
// must be reached through net/http (https, or a host name that is not
// plain ASCII and would need IDNA encoding).
func newConnPool(u *url.URL, dialer *net.Dialer) *connPool {
	if u.Scheme != "http" || !isASCII(u.Host) {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return &connPool{addr: net.JoinHostPort(u.Hostname(), port), dialer: dialer}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// requestHead returns the head of a replica's inference POST up to the
// Content-Length value, which each call appends.
func requestHead(u *url.URL, header map[string][]string) []byte {
	host := u.Host
	if len(host) > 0 && host[len(host)-1] == ':' {
		host = host[:len(host)-1] // "host:" means the default port
	}
	b := []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, k := range sortedKeys(header) {
		for _, v := range header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return append(b, "Content-Length: "...)
}

// get returns an idle connection, or nil.
func (p *connPool) get(now time.Time) *httpConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(c.idleSince) < idleTimeout {
			return c
		}
		c.close()
	}
	return nil
}

// put returns a connection that finished a call cleanly to the pool. The
// call began at start, which is taken as the start of the idle time: a
// little early, so the connection only ever looks idle longer than it
// was, and no clock is read for it.
func (p *connPool) put(c *httpConn, start time.Time) {
	if start.IsZero() {
		start = time.Now()
	}
	c.idleSince = start
	p.mu.Lock()
	if !p.closed && len(p.idle) < maxIdlePerHost {
		p.idle = append(p.idle, c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// close closes the idle connections; connections in use are closed when
// they come back.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

func (p *connPool) dial(ctx context.Context, deadline time.Time) (*httpConn, error) {
	d := *p.dialer
	if d.Deadline.IsZero() || deadline.Before(d.Deadline) {
		d.Deadline = deadline
	}
	nc, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	nio := netio.New(nc)
	return &httpConn{nc: nc, io: nio, br: bufio.NewReaderSize(nio, readBufferSize)}, nil
}

// response is a response read by roundTrip.
type response struct {
	status int
	body   []byte
}

// roundTrip sends req, a complete HTTP/1.1 request, and reads the
// response, appending its body to dst. It returns the body read so far
// with any error, so the caller can keep the buffer.
func (p *connPool) roundTrip(ctx context.Context, req []byte, dl deadline, dst []byte) (response, error) {
	for {
		c := p.get(dl.now)
		reused := c != nil
		if c == nil {
			var err error
			if c, err = p.dial(ctx, dl.t); err != nil {
				return response{body: dst}, err
			}
		}
		resp, keep, started, err := c.exchange(ctx, req, dl, dst)
		if err == nil && keep {
			p.put(c, dl.now)
		} else {
			c.close()
		}
		if err != nil && reused && !started && ctx.Err() == nil && time.Now().Before(dl.t) {
			dst = resp.body[:0]
			continue // a kept-alive connection the server had closed: try a new one
		}
		return resp, err
	}
}

// exchange writes req and reads the response. keep reports whether the
// connection may carry another call, started whether any byte of a
// response arrived.
func (c *httpConn) exchange(ctx context.Context, req []byte, dl deadline, dst []byte) (resp response, keep, started bool, err error) {
	resp.body = dst
	if err := c.arm(ctx, dl); err != nil {
		return resp, false, false, err
	}
	// On a connection new or idle a moment (quietIdle), the request goes
	// out in the first read of the response, which then waits for it
	// without first finding nothing there: nothing is due before the
	// request (bytes left over make disarm drop a connection). After a
	// longer rest the server may have closed it, which only a read made
	// at once sees. The read goes on when the write failed: a server may
	// answer (413, say) and close before reading the whole request.
	var werr error
	if c.idleSince.IsZero() || dl.now.Sub(c.idleSince) < quietIdle {
		c.io.WriteOnRead(req)
		resp, keep, started, err = c.readResponse(dst)
		werr = c.io.Flush()
	} else {
		_, werr = c.io.Write(req)
		resp, keep, started, err = c.readResponse(dst)
	}
	keep, err = c.disarm(keep, werr, err)
	return resp, keep, started, err
}

// arm sets the deadline of a call on the connection and makes the end of
// ctx cut it short; disarm undoes that when the call is over.
func (c *httpConn) arm(ctx context.Context, dl deadline) error {
	if c.dl.Before(dl.t) || c.dl.After(dl.t.Add(dl.slack)) {
		set := dl.t.Add(dl.slack)
		if err := c.nc.SetDeadline(set); err != nil {
			return err
		}
		c.dl = set
	}
	done := ctx.Done()
	if done == nil {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.callDone, c.cut = done, false
	if done != c.watched {
		if c.stopWatch != nil {
			c.stopWatch() // if it has started, it finds its call over
		}
		c.watched = done
		c.stopWatch = context.AfterFunc(ctx, func() { c.ended(done) })
	}
	return nil
}

// disarm ends a call armed by arm, given whether the responses left the
// connection reusable (keep), the write's error and the read's. It
// returns whether the connection may carry another call, and the error to
// report: the write's, when both failed.
func (c *httpConn) disarm(keep bool, werr, err error) (bool, error) {
	if c.br.Buffered() > 0 {
		keep = false // bytes nobody asked for: the connection's state is unknown
	}
	if werr != nil {
		keep = false
		if err != nil {
			err = werr
		}
	}
	c.wmu.Lock()
	if c.cut {
		keep = false // the deadline is in the past
	}
	c.callDone, c.cut = nil, false
	c.wmu.Unlock()
	return keep, err
}

// errMalformed wraps every violation of the protocol by the server.
var errMalformed = errors.New("malformed HTTP response")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// readResponse reads one final response (after any 1xx ones). Bytes
// after it stay buffered: the caller decides what they mean.
func (c *httpConn) readResponse(dst []byte) (resp response, keep, started bool, err error) {
	resp.body = dst
	if _, err = c.br.Peek(1); err != nil {
		return resp, false, false, err
	}
	started = true
	var h head
	for headBytes := 0; ; {
		if h, err = c.readHead(&headBytes); err != nil {
			return resp, false, true, err
		}
		if h.status >= 200 || h.status == 101 {
			break
		}
	}
	if h.status == 101 {
		return resp, false, true, malformed("unexpected 101 Switching Protocols")
	}
	resp.status = h.status
	keep = h.keepAlive
	switch {
	case h.status == 204 || h.status == 304:
	case h.chunked:
		resp.body, err = c.readChunked(dst)
		keep = keep && h.contentLength < 0 // both framings: RFC 9112 §6.3 says close
	case h.contentLength >= 0:
		resp.body, err = c.readN(dst, h.contentLength)
	default:
		resp.body, err = c.readToEOF(dst)
		keep = false
	}
	if err != nil {
		return resp, false, true, err
	}
	return resp, keep, true, nil
}

// head is what a response's head says about the response.
type head struct {
	status        int
	contentLength int64 // -1 when absent
	chunked       bool
	keepAlive     bool
}

// readHead reads a status line and header fields, adding their size to
// *n and failing past maxHeaderBytes.
func (c *httpConn) readHead(n *int) (head, error) {
	h := head{contentLength: -1}
	line, err := c.readLine(n)
	if err != nil {
		return h, err
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return h, malformed("status line %q", truncate(line))
	}
	minor := line[7]
	if minor != '0' && minor != '1' {
		return h, malformed("unsupported version %q", line[:8])
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return h, malformed("status line %q", truncate(line))
		}
		h.status = h.status*10 + int(d-'0')
	}
	if h.status < 100 {
		return h, malformed("status %d", h.status)
	}
	connClose, connKeepAlive := false, false
	for {
		line, err := c.readLine(n)
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			return h, malformed("header line %q", truncate(line))
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			v, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || v < 0 || len(value) == 0 || value[0] == '+' {
				return h, malformed("Content-Length %q", truncate(value))
			}
			if h.contentLength >= 0 && h.contentLength != v {
				return h, malformed("conflicting Content-Length values")
			}
			h.contentLength = v
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) || h.chunked {
				return h, malformed("unsupported Transfer-Encoding %q", truncate(value))
			}
			h.chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				connClose = connClose || bytes.EqualFold(tok, []byte("close"))
				connKeepAlive = connKeepAlive || bytes.EqualFold(tok, []byte("keep-alive"))
			}
		}
	}
	h.keepAlive = !connClose && (minor == '1' || connKeepAlive)
	return h, nil
}

// readLine returns the next line without its CRLF (or LF). The line is
// valid until the next read.
func (c *httpConn) readLine(n *int) ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		c.line = append(c.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && *n+len(c.line) <= maxHeaderBytes {
			line, err = c.br.ReadSlice('\n')
			c.line = append(c.line, line...)
		}
		line = c.line
	}
	*n += len(line)
	if *n > maxHeaderBytes {
		return nil, malformed("response head is larger than %d bytes", maxHeaderBytes)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, nil
}

// readN appends exactly n body bytes to dst.
func (c *httpConn) readN(dst []byte, n int64) ([]byte, error) {
	if n > maxResponseBytes || int64(len(dst))+n > maxResponseBytes {
		return dst, errTooLarge
	}
	start := len(dst)
	dst = grow(dst, int(n))
	_, err := io.ReadFull(c.br, dst[start:start+int(n)])
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return dst[:start+int(n)], err
}

// readChunked appends a chunked body to dst, reading and ignoring chunk
// extensions and trailer fields.
func (c *httpConn) readChunked(dst []byte) ([]byte, error) {
	n := 0
	for {
		line, err := c.readLine(&n)
		if err != nil {
			return dst, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		line = bytes.Trim(line, " \t")
		size, err := strconv.ParseUint(string(line), 16, 63)
		if err != nil || len(line) == 0 {
			return dst, malformed("chunk size %q", truncate(line))
		}
		if size == 0 {
			for {
				line, err := c.readLine(&n)
				if err != nil {
					return dst, err
				}
				if len(line) == 0 {
					return dst, nil
				}
			}
		}
		if dst, err = c.readN(dst, int64(size)); err != nil {
			return dst, err
		}
		n = 0 // chunk-size lines and trailers are bounded, not the data
		if line, err = c.readLine(&n); err != nil {
			return dst, err
		}
		if len(line) != 0 {
			return dst, malformed("chunk data longer than its size")
		}
	}
}

// readToEOF appends everything until the server closes the connection.
func (c *httpConn) readToEOF(dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = grow(dst, 4096)
		}
		n, err := c.br.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > maxResponseBytes {
			return dst, errTooLarge
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// grow returns b with room for n more bytes.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// truncate shortens what an error message quotes from a response.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
