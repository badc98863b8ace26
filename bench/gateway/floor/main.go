// Command floor is the cost floor of a Go proxy in the gateway benchmark:
// an HTTP/1.1 keep-alive proxy with none of Sluice's work. Each client
// connection gets one connection to each backend; each request goes to
// the first backend 95% of the time and to the second otherwise, and
// body in is body out. It parses only what framing needs (the end of the
// head and Content-Length), so it is no server for anything but the
// harness's fake model server.
//
//	floor LISTEN STABLE CANARY    # addresses as host:port
package main

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: floor LISTEN STABLE CANARY")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go serve(c, os.Args[2], os.Args[3])
	}
}

// serve proxies the requests of one client connection until it closes.
func serve(c net.Conn, stable, canary string) {
	defer c.Close()
	var backends [2]net.Conn
	for i, addr := range []string{stable, canary} {
		b, err := net.Dial("tcp", addr)
		if err != nil {
			log.Print(err)
			return
		}
		defer b.Close()
		backends[i] = b
	}
	in, out := make([]byte, 16<<10), make([]byte, 16<<10)
	for {
		req, err := readMessage(c, in)
		if err != nil {
			return
		}
		b := backends[0]
		if rand.IntN(100) >= 95 {
			b = backends[1]
		}
		if _, err := b.Write(req); err != nil {
			return
		}
		resp, err := readMessage(b, out)
		if err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// readMessage reads one HTTP/1.1 message, head and Content-Length body,
// into buf.
func readMessage(c net.Conn, buf []byte) ([]byte, error) {
	w := 0
	for {
		if end := bytes.Index(buf[:w], []byte("\r\n\r\n")); end >= 0 {
			n, err := contentLength(buf[:end])
			if err != nil {
				return nil, err
			}
			need := end + 4 + n
			if need > len(buf) {
				return nil, errors.New("message too large")
			}
			for w < need {
				m, err := c.Read(buf[w:])
				if err != nil {
					return nil, err
				}
				w += m
			}
			return buf[:need], nil
		}
		if w == len(buf) {
			return nil, errors.New("head too large")
		}
		m, err := c.Read(buf[w:])
		if err != nil {
			return nil, err
		}
		w += m
	}
}

// contentLength returns the Content-Length of a message head, 0 when it
// has none.
func contentLength(head []byte) (int, error) {
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Content-Length")) {
			return strconv.Atoi(string(bytes.TrimSpace(value)))
		}
	}
	return 0, nil
}
