package store

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// A Redis that refuses a client outright (protected mode's "-DENIED Redis is
// running in protected mode ...", maxclients' "-ERR max number of clients
// reached") writes its reason and closes the connection. go-redis reads the
// line as the reply to its HELLO, takes it for an old server, sends the
// next command and reports only that write's "broken pipe". refusalConn
// keeps the reason a connection began with and puts it in front of the
// transport error that follows it, so operators read Redis's own words.

// maxRefusal bounds the reply kept (protected mode's is about 900 bytes).
const maxRefusal = 512

// refusalConn remembers an error reply that was the first thing the server
// sent, until the conversation goes on.
type refusalConn struct {
	net.Conn
	read    bool   // something was read already
	refusal string // the first reply, when it was an error
}

// refusedError is a transport error on a connection whose first reply was
// an error: reply is that reply (without the '-'), Redis's reason. It does
// not unwrap to the transport error on purpose: go-redis reports the cause
// of a failed connection handshake one Unwrap down, which would drop the
// reason again.
type refusedError struct {
	reply string
	err   error
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("redis refused the connection: %s (%v)", e.reply, e.err)
}

func (c *refusalConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		if !c.read && b[0] == '-' {
			line, _, _ := bytes.Cut(b[1:n], []byte("\r\n"))
			c.refusal = string(line[:min(len(line), maxRefusal)])
		} else if c.read {
			c.refusal = "" // the server went on talking: not a refusal
		}
		c.read = true
	}
	return n, c.explain(err)
}

func (c *refusalConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	return n, c.explain(err)
}

func (c *refusalConn) explain(err error) error {
	if err == nil || c.refusal == "" {
		return err
	}
	return &refusedError{reply: c.refusal, err: err}
}

// refusalDialer dials as go-redis does by default (timeout, TLS) and wraps
// each connection in a refusalConn.
func refusalDialer(timeout time.Duration, tlsConfig *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := redis.NewDialer(&redis.Options{DialTimeout: timeout, TLSConfig: tlsConfig})
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &refusalConn{Conn: c}, nil
	}
}
