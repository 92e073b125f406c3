package handlers

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// frame is one server-to-client websocket frame (RFC 6455 §5.2), unmasked.
func frame(fin bool, opcode byte, payload []byte) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	var hdr []byte
	switch n := len(payload); {
	case n < 126:
		hdr = []byte{b0, byte(n)}
	case n <= 0xffff:
		hdr = []byte{b0, 126, byte(n >> 8), byte(n)}
	default:
		hdr = make([]byte, 10)
		hdr[0], hdr[1] = b0, 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	}
	return append(hdr, payload...)
}

// TestFrameClockTimesTheFirstByte feeds a fragmented 4 MB message (its
// envelope_id only at the end, a ping between the fragments) in small reads,
// each at its own tick of a fake clock: the envelope is timed from the read
// that brought its first byte, not from when its id went by.
func TestFrameClockTimesTheFirstByte(t *testing.T) {
	c := newFrameClock()
	conn := &timedConn{c: c}
	msg := `{"type":"events_api","payload":{"text":"` + strings.Repeat(`say \"envelope_id\":\"fake\" `, 150_000) + `"},"envelope_id":"E-big"}`
	half := len(msg) / 2
	stream := []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	stream = append(stream, frame(true, 0x9, []byte("ping"))...) // control frame before: no message
	stream = append(stream, frame(false, 0x1, []byte(msg[:half]))...)
	stream = append(stream, frame(true, 0x9, []byte("ping"))...)
	stream = append(stream, frame(true, 0x0, []byte(msg[half:]))...)
	stream = append(stream, frame(true, 0x1, []byte(`{"envelope_id":"E-small","type":"hello"}`))...)
	base := time.Unix(1700000000, 0)
	reads := 0
	for len(stream) > 0 {
		n := min(len(stream), 4096)
		conn.follow(stream[:n], base.Add(time.Duration(reads)*time.Second))
		stream = stream[n:]
		reads++
	}
	if reads < 1000 {
		t.Fatalf("only %d reads: the message should span many", reads)
	}
	if got := c.take("E-big", time.Time{}); !got.Equal(base) {
		t.Errorf("E-big timed at read %v, want read 0 (its first byte)", got.Sub(base))
	}
	if got := c.take("E-small", time.Time{}); !got.Equal(base.Add(time.Duration(reads-1) * time.Second)) {
		t.Errorf("E-small timed at read %v, want the last read", got.Sub(base))
	}
	if got := c.take("fake", time.Time{}); !got.IsZero() {
		t.Error("an escaped envelope_id inside a string was taken for the key")
	}
	if c.matched.Load() != 2 {
		t.Errorf("matched %d", c.matched.Load())
	}
}

// TestLargeEnvelopeAckTimedFromItsFrame sends a 1 MB envelope through the
// fake Slack: its ack is timed from the frame's first byte (the frame clock
// found it), and counted once.
func TestLargeEnvelopeAckTimedFromItsFrame(t *testing.T) {
	h := startHarness(t)
	before := h.bot.frames.matched.Load()
	inner := map[string]any{"type": "app_home_opened", "user": userAlice, "tab": "messages", "padding": strings.Repeat("x", 1<<20)}
	env, _ := h.sendEvent(inner)
	h.ack(env)
	if got := h.bot.frames.matched.Load() - before; got != 1 {
		t.Errorf("%d acks timed from their frame, want 1", got)
	}
	// The fake sees the ack before the bot has observed its latency.
	if err := waitFor(h.ctx(), func() bool { return sampleCount(t, h, "rdnsbot_ack_seconds") >= 1 }); err != nil {
		t.Fatal("ack latency never observed")
	}
	if n := sampleCount(t, h, "rdnsbot_ack_seconds"); n != 1 {
		t.Errorf("ack latency observed %d times, want 1", n)
	}
}

// TestFrameClockOverTLS: Slack's socket is wss://, where the dialer does the
// TLS handshake itself and follows the frames on the plain-text side.
func TestFrameClockOverTLS(t *testing.T) {
	upgrader := websocket.Upgrader{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"E-tls","type":"events_api"}`))
		_, _, _ = conn.ReadMessage() // until the client closes
	}))
	defer srv.Close()
	c := newFrameClock()
	c.tls = &tls.Config{RootCAs: x509.NewCertPool()}
	c.tls.RootCAs.AddCert(srv.Certificate())
	conn, _, err := c.dialer(10*time.Second).Dial("wss"+strings.TrimPrefix(srv.URL, "https"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(msg), "E-tls") {
		t.Fatalf("read %q, %v", msg, err)
	}
	if got := c.take("E-tls", time.Time{}); got.IsZero() {
		t.Error("the envelope read over TLS was not timed")
	}
}
