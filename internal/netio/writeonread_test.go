package netio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoOnce answers each message it reads on peer with "re:" and the
// message, size bytes at a time.
func echoOnce(t *testing.T, peer net.Conn, size int) {
	t.Helper()
	go func() {
		buf := make([]byte, size)
		if _, err := io.ReadFull(peer, buf); err != nil {
			return
		}
		peer.Write(append([]byte("re:"), buf...))
	}()
}

// TestWriteOnRead checks the request written from within the read of its
// answer: the answer arrives whole, for small and large requests (a
// large one fills the socket and is finished outside the read), on every
// kind of connection, and the write's outcome is nil.
func TestWriteOnRead(t *testing.T) {
	for _, p := range all {
		for _, size := range []int{1, 300, 4 << 20} {
			t.Run(p.name, func(t *testing.T) {
				a, b := p.make(t)
				if size > 1<<20 && p.raw {
					smallBuffers(t, a, b)
				}
				c := New(a)
				req := pattern(size)
				echoOnce(t, b, size)
				c.WriteOnRead(req)
				got := make([]byte, 0, size+3)
				buf := make([]byte, 64<<10)
				for len(got) < size+3 {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatalf("read after %d bytes: %v", len(got), err)
					}
					got = append(got, buf[:n]...)
				}
				if !bytes.Equal(got, append([]byte("re:"), req...)) {
					t.Fatalf("answer of %d bytes differs", len(got))
				}
				if err := c.Flush(); err != nil {
					t.Errorf("Flush = %v", err)
				}
				if err := c.WriteErr(); err != nil {
					t.Errorf("WriteErr = %v", err)
				}
			})
		}
	}
}

// TestWriteOnReadFlush checks that Flush writes what no Read took.
func TestWriteOnReadFlush(t *testing.T) {
	for _, p := range all {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			c := New(a)
			done := make(chan []byte, 1)
			go func() {
				buf := make([]byte, 5)
				io.ReadFull(b, buf)
				done <- buf
			}()
			c.WriteOnRead([]byte("hello"))
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := <-done; string(got) != "hello" {
				t.Errorf("peer read %q", got)
			}
			if err := c.Flush(); err != nil {
				t.Errorf("second Flush = %v", err)
			}
		})
	}
}

// TestWriteOnReadDeadline checks that a read whose deadline has passed
// sends nothing and reports the write as failed too.
func TestWriteOnReadDeadline(t *testing.T) {
	for _, p := range sockets {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			c := New(a)
			c.SetReadDeadline(time.Now().Add(-time.Second))
			c.WriteOnRead([]byte("never"))
			if _, err := c.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want a deadline error", err)
			}
			if err := c.WriteErr(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("WriteErr = %v, want the deadline error", err)
			}
			if err := c.Flush(); err == nil {
				t.Error("Flush forgot the failed write")
			}
			b.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, err := b.Read(make([]byte, 10)); n != 0 || err == nil {
				t.Errorf("peer read %d bytes, %v; want nothing", n, err)
			}
		})
	}
}

// TestWriteOnReadPeerGone checks a request to a peer that has closed:
// the read ends (the reset wakes it) and the write's error is kept, or
// the read reports the end of the stream.
func TestWriteOnReadPeerGone(t *testing.T) {
	for _, p := range sockets {
		t.Run(p.name, func(t *testing.T) {
			a, b := p.make(t)
			c := New(a)
			b.Close()
			time.Sleep(20 * time.Millisecond) // the close arrives before the request
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.WriteOnRead([]byte("anyone?"))
			_, err := c.Read(make([]byte, 10))
			if err == nil {
				t.Fatal("Read found an answer from a closed peer")
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read waited for its deadline: %v", err)
			}
		})
	}
}

// TestWriteOnReadNoAllocs checks that a request and its answer through
// WriteOnRead allocate nothing.
func TestWriteOnReadNoAllocs(t *testing.T) {
	a, b := tcpPair(t)
	c := New(a)
	go func() {
		buf := make([]byte, 100)
		for {
			if _, err := io.ReadFull(b, buf); err != nil {
				return
			}
			if _, err := b.Write(buf); err != nil {
				return
			}
		}
	}()
	req, buf := pattern(100), make([]byte, 100)
	allocs := testing.AllocsPerRun(200, func() {
		c.WriteOnRead(req)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per exchange, want 0", allocs)
	}
}
