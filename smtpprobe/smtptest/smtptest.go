// Package smtptest runs an in-process SMTP server for tests of the SMTP
// greeting probe: it greets with a fixed 220 reply (RFC 5321 §3.1), answers
// EHLO with 250 (§4.1.1.1) and QUIT with 221 (§4.1.1.10), and records the
// commands it was sent. It listens on 127.0.0.1 only.
package smtptest

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// Server is a running test SMTP server.
type Server struct {
	addr netip.AddrPort
	mu   sync.Mutex
	cmds []string
}

// Start listens on 127.0.0.1 on a free port and greets every connection
// with "220 <greeting>"; it stops when the test ends.
func Start(t testing.TB, greeting string) *Server {
	t.Helper()
	s := &Server{}
	s.addr = Serve(t, func(c net.Conn) { s.serve(c, greeting) })
	return s
}

// Serve listens on 127.0.0.1 on a free port and runs handle on each
// connection (closing it after), for tests that script the server's side
// themselves; it stops, and waits for the handlers, when the test ends.
func Serve(t testing.TB, handle func(c net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

func (s *Server) serve(c net.Conn, greeting string) {
	in := bufio.NewReader(c)
	if _, err := c.Write([]byte("220 " + greeting + "\r\n")); err != nil {
		return
	}
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		reply := "502 5.5.1 not implemented"
		switch verb {
		case "EHLO", "HELO":
			reply = "250 test server"
		case "QUIT":
			c.Write([]byte("221 2.0.0 bye\r\n"))
			return
		}
		if _, err := c.Write([]byte(reply + "\r\n")); err != nil {
			return
		}
	}
}

// Addr is the address the server listens on (127.0.0.1).
func (s *Server) Addr() netip.Addr { return s.addr.Addr() }

// Port is the server's TCP port.
func (s *Server) Port() int { return int(s.addr.Port()) }

// Commands are the command lines received so far, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}
