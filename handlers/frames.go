package handlers

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// frameClock records when the first byte of each socket-mode message was
// read off the connection, keyed by its envelope_id, so the ack latency
// counts what slack-go does before handing the event over (reading and
// parsing a 4 MB envelope takes seconds on a busy host). It sits under the
// websocket (RFC 6455 §5.2 framing), on the plain-text side of TLS: the
// dialer it gives socketmode does the TLS handshake itself. Behind an
// HTTPS proxy the websocket library tunnels the connection itself, and the
// clock is left out (acks are then timed from dispatch).
type frameClock struct {
	now func() time.Time
	tls *tls.Config // nil: the system's roots (tests trust their own server)

	mu    sync.Mutex
	first map[string]time.Time // envelope_id → first byte read
	order []string             // insertion order, to bound first (may still hold taken ids)

	matched atomic.Int64 // acks timed from their frame
}

// maxPendingFrames bounds the envelope ids kept: an id is taken when its
// event is dispatched, so only ids of messages that never became an event
// (hello, disconnect) would pile up.
const maxPendingFrames = 256

func newFrameClock() *frameClock {
	return &frameClock{now: time.Now, first: map[string]time.Time{}}
}

// take returns when envelope id's first byte was read, forgetting it, or
// fallback when that is unknown.
func (c *frameClock) take(id string, fallback time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.first[id]
	if !ok {
		return fallback
	}
	delete(c.first, id)
	c.matched.Add(1)
	return t
}

func (c *frameClock) record(id string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.first[id]; dup {
		return
	}
	for len(c.order) >= maxPendingFrames {
		delete(c.first, c.order[0])
		c.order = c.order[1:]
	}
	c.first[id] = t
	c.order = append(c.order, id)
}

// dialer is the websocket dialer socketmode should use; handshake bounds
// the connection's set-up (TCP, TLS, HTTP upgrade).
func (c *frameClock) dialer(handshake time.Duration) *websocket.Dialer {
	d := &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: handshake}
	if os.Getenv("HTTPS_PROXY") != "" || os.Getenv("https_proxy") != "" || os.Getenv("HTTP_PROXY") != "" || os.Getenv("http_proxy") != "" {
		return d
	}
	var nd net.Dialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &timedConn{Conn: conn, c: c}, nil
	}
	d.NetDialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		raw, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.tls != nil {
			cfg = c.tls.Clone()
		}
		cfg.ServerName = host
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return &timedConn{Conn: tc, c: c}, nil
	}
	return d
}

// timedConn follows the websocket frames the server sends: for each text
// or binary message it notes the time of the read that delivered its first
// byte, and finds its top-level "envelope_id" while the bytes go by. The
// bytes themselves are passed on untouched. Server frames are never masked
// (RFC 6455 §5.1) and socketmode negotiates no compression.
type timedConn struct {
	net.Conn
	c *frameClock

	handshake int // bytes matched of the "\r\n\r\n" that ends the HTTP upgrade response
	hdr       [14]byte
	hdrLen    int   // header bytes seen of the current frame
	payload   int64 // payload bytes left in the current frame
	control   bool  // the current frame is a control frame (ping, pong, close)

	msgStart time.Time // first byte of the current message
	scan     idScanner
}

func (t *timedConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 {
		t.follow(p[:n], t.c.now())
	}
	return n, err
}

// endOfHeaders ends the HTTP response that upgrades the connection; the
// frames follow it.
const endOfHeaders = "\r\n\r\n"

// follow advances the frame parser over b, read at now.
func (t *timedConn) follow(b []byte, now time.Time) {
	for len(b) > 0 && t.handshake < len(endOfHeaders) {
		switch {
		case b[0] == endOfHeaders[t.handshake]:
			t.handshake++
		case b[0] == '\r':
			t.handshake = 1
		default:
			t.handshake = 0
		}
		b = b[1:]
	}
	for len(b) > 0 {
		if t.payload > 0 {
			k := int(min(int64(len(b)), t.payload))
			if !t.control {
				if id, ok := t.scan.feed(b[:k]); ok {
					t.c.record(id, t.msgStart)
				}
			}
			t.payload -= int64(k)
			b = b[k:]
			continue
		}
		// A frame header: 2 bytes, then 2 or 8 of extended length, then a
		// 4-byte mask key when masked.
		t.hdr[t.hdrLen] = b[0]
		t.hdrLen++
		b = b[1:]
		if t.hdrLen == 1 {
			if op := t.hdr[0] & 0x0f; op == websocket.TextMessage || op == websocket.BinaryMessage {
				t.msgStart = now
				t.scan = idScanner{}
			}
			continue
		}
		need := 2
		switch t.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if t.hdr[1]&0x80 != 0 {
			need += 4
		}
		if t.hdrLen < need {
			continue
		}
		t.payload = int64(t.hdr[1] & 0x7f)
		switch t.payload {
		case 126:
			t.payload = int64(t.hdr[2])<<8 | int64(t.hdr[3])
		case 127:
			t.payload = 0
			for _, x := range t.hdr[2:10] {
				t.payload = t.payload<<8 | int64(x)
			}
		}
		t.control = t.hdr[0]&0x08 != 0
		t.hdrLen = 0
	}
}

// idScanner finds the value of the first "envelope_id" key in a stream of
// JSON bytes. Inside JSON strings a quote is always escaped, so the bytes
// `"envelope_id"` can only be a key.
type idScanner struct {
	state int // matched bytes of the key; then afterKey, inValue, done
	id    []byte
}

const (
	idKey     = `"envelope_id"`
	afterKey  = len(idKey)
	inValue   = afterKey + 1
	scanDone  = afterKey + 2
	maxIDSize = 64
)

// feed scans b and returns the id once it is complete.
func (s *idScanner) feed(b []byte) (string, bool) {
	for _, x := range b {
		switch {
		case s.state == scanDone:
			return "", false
		case s.state < afterKey:
			switch {
			case x == idKey[s.state]:
				s.state++
			case x == '"':
				s.state = 1
			default:
				s.state = 0
			}
		case s.state == afterKey:
			switch x {
			case ' ', ':':
			case '"':
				s.state = inValue
			default:
				s.state = 0
			}
		default: // inValue
			if x == '"' {
				s.state = scanDone
				return string(s.id), len(s.id) > 0
			}
			if len(s.id) >= maxIDSize {
				s.state = scanDone
				return "", false
			}
			s.id = append(s.id, x)
		}
	}
	return "", false
}
