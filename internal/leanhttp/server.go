// Package leanhttp serves a few hot HTTP/1.1 routes without net/http's
// per-request machinery, and hands every other connection to a net/http
// Server.
//
// A Server owns the TCP listener. Each connection is read by a keep-alive
// loop with pooled buffers: it parses the request line and headers in
// place, and when the Handler claims the route and the request is plain
// (POST, HTTP/1.0 or 1.1, a Content-Length body, no Transfer-Encoding,
// Expect, Upgrade or Content-Encoding, nothing malformed) it reads the body
// and lets the Handler answer into one buffer written with one system
// call. The first request it does not claim, for whatever reason, moves
// the connection to net/http for good: the connection is passed through an
// in-memory listener (Handoff) with the bytes already read replayed first,
// so net/http sees exactly what the client sent and answers every other
// route, and every malformed or unusual request, as it always does.
//
// What this saves per request, compared with net/http: the Request and
// ResponseWriter values and their header maps, the per-request context,
// and the background read net/http starts after the body to notice a
// client that goes away (an extra system call and poller wake-up). The
// price of the last: a request context here ends only when the server is
// closed, not when the client hangs up.
package leanhttp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Handler answers the requests the lean path serves.
type Handler interface {
	// Route reports whether a POST to path (the request target before any
	// '?') is served here; the connection goes to net/http when not.
	Route(path []byte) bool
	// ServeLean answers r into w, by calling w.Write once.
	ServeLean(w *Response, r *Request)
}

// Options bound what a Server accepts; they mirror net/http.Server's.
type Options struct {
	// ReadHeaderTimeout bounds reading a request's line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the start of a request to the
	// end of its answer.
	WriteTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection; 0 means ReadTimeout.
	IdleTimeout time.Duration
	// MaxBodyBytes is the largest body read (it must be set); a larger
	// Content-Length reaches the Handler with a nil Body, and the
	// connection is closed after the answer without reading it.
	MaxBodyBytes int64
	// Logger receives handler panics; nil discards them.
	Logger *slog.Logger
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("leanhttp: server closed")

// Server serves a listener: the lean routes itself, the rest through
// Handoff.
type Server struct {
	opts    Options
	h       Handler
	handoff *handoffListener
	log     *slog.Logger

	// ctx is the context of every request; cancel ends it when the
	// server is closed (or Shutdown runs out of time).
	ctx    context.Context
	cancel context.CancelFunc

	shutting atomic.Bool

	mu    sync.Mutex
	ln    net.Listener       // guarded by mu
	conns map[*conn]struct{} // guarded by mu: connections the lean loop owns
}

// New returns a Server that answers h's routes and passes other
// connections to Handoff.
func New(h Handler, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{opts: opts, h: h, log: log, ctx: ctx, cancel: cancel,
		handoff: newHandoffListener(), conns: map[*conn]struct{}{}}
}

// Handoff is the listener of the net/http Server that takes the
// connections the lean loop does not serve. Its Addr is the real
// listener's once Serve has started.
func (s *Server) Handoff() net.Listener { return s.handoff }

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutting.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.ln = ln
	s.handoff.setAddr(ln.Addr())
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return ErrServerClosed
			}
			if temporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.track(c, true) {
			nc.Close()
			continue
		}
		go c.serve()
	}
}

// temporary reports a transient accept failure (too many open files and
// the like), which Serve waits out as net/http does.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track adds (add) or removes a connection; it refuses to add one once
// shutting down.
func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutting.Load() {
			return false
		}
		s.conns[c] = struct{}{}
		return true
	}
	delete(s.conns, c)
	return true
}

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
			delete(s.conns, c)
		}
	}
	return len(s.conns) == 0
}

// stopAccepting marks the server as shutting down and closes its listener.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutting.Store(true)
	if s.ln != nil {
		s.ln.Close()
	}
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in flight to be answered; their connections close after the
// answer. When ctx ends first it closes everything (cancelling the
// requests' context) and returns ctx's error. It does not stop the
// net/http Server behind Handoff: shut that down too.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Close stops accepting, cancels the requests' context and closes every
// connection the lean loop owns at once.
func (s *Server) Close() error {
	s.stopAccepting()
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.nc.Close()
		delete(s.conns, c)
	}
	return nil
}

// handoffListener is the in-memory listener through which connections
// reach the net/http Server.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr atomic.Pointer[net.Addr]
}

func newHandoffListener() *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) setAddr(a net.Addr) { l.addr.Store(&a) }

// Accept returns the next connection handed over.
func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept fail; connections handed over after it are closed.
func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is the address of the listener the Server serves.
func (l *handoffListener) Addr() net.Addr {
	if a := l.addr.Load(); a != nil {
		return *a
	}
	return &net.TCPAddr{}
}

// give passes c to net/http, or closes it when net/http is gone.
func (l *handoffListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

// replayConn is a connection handed to net/http: reads return the bytes
// the lean loop had already read, then the connection's own.
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes a TCP connection, which net/http uses to let the
// client read an error answer before the connection is reset.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
