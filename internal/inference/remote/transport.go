package remote

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxResponseBytes bounds a response body, so a misbehaving server cannot
// exhaust memory.
const maxResponseBytes = 256 << 20

// newDialer returns the dialer of one model's connections.
func newDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: min(timeout, 10*time.Second), KeepAlive: 30 * time.Second}
}

// newTransport returns the net/http transport of one model, used for
// readiness and metadata calls and for inference calls to https
// replicas: HTTP/1.1 keep-alive with enough idle connections for a busy
// gateway, and no transparent gzip (model servers answer uncompressed on
// a LAN, and decompression would cost more than it saves).
func newTransport(dialer *net.Dialer, timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // model servers are reached directly
		DialContext:         dialer.DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: min(timeout, 10*time.Second),
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      16 << 10,
	}
}

// bufPool holds request and response buffers. Buffers that grew past
// maxPooled are left to the garbage collector, so one huge batch does not
// pin memory.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooled = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooled {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// reqBody is a request body over a pooled buffer. The transport may read
// or close it after RoundTrip has returned (when the server answers
// before reading the whole body), so the buffer goes back to the pool
// only once the transport has closed every reader it was given.
type reqBody struct {
	b      []byte
	off    int
	closed atomic.Bool
	copied atomic.Bool // GetBody handed out another reader of b
}

func (r *reqBody) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *reqBody) Close() error {
	r.closed.Store(true)
	return nil
}

// getBody lets the transport resend the body on a new connection when a
// kept-alive one turns out to be closed.
func (r *reqBody) getBody() (io.ReadCloser, error) {
	r.copied.Store(true)
	return &reqBody{b: r.b}, nil
}

// reusable reports whether the transport is done with the buffer.
func (r *reqBody) reusable() bool { return r.closed.Load() && !r.copied.Load() }

// errTooLarge reports a response body over maxResponseBytes.
var errTooLarge = fmt.Errorf("response is larger than %d bytes", maxResponseBytes)

// readBody reads a response body into buf, up to maxResponseBytes.
func readBody(resp *http.Response, buf []byte) ([]byte, error) {
	if n := resp.ContentLength; n > maxResponseBytes {
		return buf, errTooLarge
	} else if n > 0 {
		buf = slices.Grow(buf, int(n)+1) // +1: room to read EOF without growing
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) > maxResponseBytes {
			return buf, errTooLarge
		}
	}
}
