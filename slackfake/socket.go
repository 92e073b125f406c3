package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// maxRedeliveries is how often Slack retries an unacked event.
// https://docs.slack.dev/apis/events-api/#retries
const maxRedeliveries = 3

// Ack is one acknowledgement a client sent over a socket.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the ack had no payload
	At         time.Time
	// Socket is the connection it came on: 1 for the first the fake accepted,
	// counting reconnections as WaitConnected does.
	Socket int
}

// envelope is one Socket Mode request and its delivery state; guarded by Fake.mu.
type envelope struct {
	id              string
	typ             string
	payload         json.RawMessage
	acceptsResponse bool
	retryAttempt    int
	retryReason     string
	queued          bool      // waiting in pending or in a connection's queue
	firstSent       time.Time // first write to a socket; ack latency counts from here
	// lastSent is the latest write; the redelivery timer counts from it.
	lastSent time.Time
	acked    bool
	ack      Ack
}

// wireEnvelope is the frame Slack writes for a request.
// https://docs.slack.dev/apis/events-api/using-socket-mode#events
type wireEnvelope struct {
	EnvelopeID             string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason"`
}

// frame is one message waiting to be written to a socket: an envelope (marshalled when
// written, so retry fields are current) or a ready control message.
type frame struct {
	env        *envelope
	data       []byte
	closeAfter bool // close the socket once written (disconnect)
}

// conn is one Socket Mode connection. Only its writeLoop writes data frames, because
// gorilla/websocket allows one concurrent writer.
type conn struct {
	ws      *websocket.Conn
	seq     int
	wake    chan struct{} // cap 1: frames were queued
	gone    chan struct{} // closed once the connection is torn down
	queue   []frame       // guarded by Fake.mu
	closing bool          // a disconnect is queued; guarded by Fake.mu
	stalled bool          // StallSockets: write nothing, answer no ping; guarded by Fake.mu
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// abort closes the TCP connection without a close frame; both loops then end.
func (c *conn) abort() { _ = c.ws.NetConn().Close() }

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// SendEnvelope sends a Socket Mode envelope of type typ ("events_api", "slash_commands",
// "interactive", …) with payload marshalled as JSON (json.RawMessage is sent as is), and
// returns its envelope_id. With no socket connected, it waits for the next connection.
func (f *Fake) SendEnvelope(typ string, payload any) (string, error) {
	return f.sendEnvelopeWithID(newEnvelopeID(), typ, payload)
}

// sendEnvelopeWithID is SendEnvelope for helpers that need the id before the payload
// (a slash command's response_url names it).
func (f *Fake) sendEnvelopeWithID(envelopeID, typ string, payload any) (string, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("slackfake: marshalling %s payload: %w", typ, err)
	}
	e := &envelope{
		id:      envelopeID,
		typ:     typ,
		payload: raw,
		// Slash commands may be answered in the ack; events may not.
		acceptsResponse: typ == "slash_commands",
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return "", errClosed
	}
	f.envelopes[e.id] = e
	if typ == "events_api" {
		f.unackedEvents[e.id] = e
	}
	f.deliverLocked(e)
	f.notifyLocked()
	return e.id, nil
}

// Redeliver sends an envelope again with retry_attempt increased and retry_reason
// "timeout", keeping its envelope_id and payload (so its event_id).
func (f *Fake) Redeliver(envelopeID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.envelopes[envelopeID]
	if !ok {
		return fmt.Errorf("slackfake: redelivering %q: no such envelope", envelopeID)
	}
	f.redeliverLocked(e)
	f.notifyLocked()
	return nil
}

// WaitAck waits until envelopeID is acked and returns the ack's payload (nil if none)
// and its latency: from the envelope's first write to a socket to the ack's arrival.
func (f *Fake) WaitAck(ctx context.Context, envelopeID string) (json.RawMessage, time.Duration, error) {
	var (
		known bool
		ack   Ack
		sent  time.Time
	)
	err := f.Wait(ctx, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		e, ok := f.envelopes[envelopeID]
		known = ok
		if ok && e.acked {
			ack, sent = e.ack, e.firstSent
			return true
		}
		return !ok
	})
	if err != nil {
		return nil, 0, fmt.Errorf("slackfake: ack of %s: %w", envelopeID, err)
	}
	if !known {
		return nil, 0, fmt.Errorf("slackfake: ack of %s: no such envelope", envelopeID)
	}
	return ack.Payload, ack.At.Sub(sent), nil
}

// Acks returns every ack received so far, in order, including repeated ones and acks of
// unknown envelopes.
func (f *Fake) Acks() []Ack {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Ack(nil), f.acks...)
}

// Disconnect sends every socket a disconnect request with reason (Slack uses
// "refresh_requested", "warning", "link_disabled") and then closes it, as Slack does
// before it refreshes a connection. slack-go reconnects by itself.
func (f *Fake) Disconnect(reason string) error {
	data, err := json.Marshal(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "applink-fake"},
	})
	if err != nil {
		return fmt.Errorf("slackfake: marshalling disconnect: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.closing = true
		c.queue = append(c.queue, frame{data: data, closeAfter: true})
		c.signal()
	}
	return nil
}

// DropConnections closes every socket abruptly, without a close frame, like a network
// failure. Envelopes not yet written go out on the next connection (or on another one
// still open).
func (f *Fake) DropConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.abort()
	}
}

// StallSockets makes every open socket go silent while staying open, as a
// connection stuck in a dead network path does: no more pings, envelopes or pongs
// are written (envelopes queued on it go out on another connection once it is
// dropped), and what the client writes is still read. Later connections are normal.
// slack-go notices the missing pings and reconnects; Stalled counts the sockets.
func (f *Fake) StallSockets() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		if !c.stalled {
			c.stalled = true
			f.stalls++
		}
	}
	f.notifyLocked()
}

// Stalled is the number of sockets StallSockets has silenced so far.
func (f *Fake) Stalled() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stalls
}

// isStalled reports whether StallSockets silenced c.
func (f *Fake) isStalled(c *conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return c.stalled
}

// WaitConnected waits until n connections in all have been opened (each one got its
// hello), counting reconnections.
func (f *Fake) WaitConnected(ctx context.Context, n int) error {
	connected := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.connectCount >= n
	}
	if err := f.Wait(ctx, connected); err != nil {
		return fmt.Errorf("slackfake: waiting for connection %d: %w", n, err)
	}
	return nil
}

// Connections is the number of sockets open now.
func (f *Fake) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// openConnection answers apps.connections.open with a single-use websocket URL.
func openConnection(f *Fake, _ url.Values, _ []byte) (map[string]any, string) {
	ticket := randomID(16)
	f.mu.Lock()
	f.tickets[ticket] = true
	f.mu.Unlock()
	u := "ws" + f.srv.URL[len("http"):] + "/link/?ticket=" + ticket + "&app_id=" + f.cfg.identity.AppID
	return map[string]any{"url": u}, ""
}

func (f *Fake) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	f.mu.Lock()
	valid := f.tickets[ticket]
	delete(f.tickets, ticket)
	f.mu.Unlock()
	if !valid {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	c := &conn{ws: ws, wake: make(chan struct{}, 1), gone: make(chan struct{})}

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = ws.Close()
		return
	}
	f.connectCount++
	c.seq = f.connectCount
	f.conns[c] = true
	hello, err := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": len(f.conns),
		"debug_info": map[string]any{
			"host":                        "applink-fake",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
		"connection_info": map[string]any{"app_id": f.cfg.identity.AppID},
	})
	if err != nil {
		panic(fmt.Sprintf("slackfake: marshalling hello: %v", err)) // a constant map: cannot fail
	}
	c.queue = append(c.queue, frame{data: hello})
	for _, e := range f.pending {
		c.queue = append(c.queue, frame{env: e})
	}
	f.pending = nil
	c.signal()
	// Both loops are started under f.mu after the closed check, so Close's Wait
	// sees them. They run on goroutines of their own, which Close waits for:
	// this handler's is net/http's, and returns now (the upgrade took the
	// connection over).
	f.wg.Go(func() { f.writeLoop(c) })
	f.wg.Go(func() { f.readLoop(c) })
	f.notifyLocked()
	f.mu.Unlock()
}

// readLoop records acks until the socket fails, then tears the connection down.
func (f *Fake) readLoop(c *conn) {
	defer f.dropConn(c)
	c.ws.SetPingHandler(func(data string) error {
		if f.isStalled(c) {
			return nil
		}
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil // as gorilla's default handler: the close is under way
		}
		return err
	})
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var msg struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &msg); err != nil || msg.EnvelopeID == "" {
			continue // Slack ignores frames that are not acks
		}
		f.recordAck(Ack{EnvelopeID: msg.EnvelopeID, Payload: msg.Payload, At: time.Now(), Socket: c.seq})
	}
}

func (f *Fake) recordAck(a Ack) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, a)
	if e, ok := f.envelopes[a.EnvelopeID]; ok && !e.acked {
		e.acked, e.ack = true, a
		delete(f.unackedEvents, e.id)
	}
	f.notifyLocked()
}

// writeLoop writes queued frames and pings until the connection is gone.
func (f *Fake) writeLoop(c *conn) {
	ticker := time.NewTicker(f.cfg.pingInterval)
	defer ticker.Stop()
	pings := 0
	ping := func() error {
		pings++
		return c.ws.WriteControl(websocket.PingMessage, []byte("ping-"+strconv.Itoa(pings)), time.Now().Add(5*time.Second))
	}
	// Ping at once: slack-go's watchdog fails a connection whose first tick saw no ping.
	if err := ping(); err != nil {
		c.abort()
		return
	}
	for {
		select {
		case <-c.gone:
			return
		case <-ticker.C:
			if f.isStalled(c) {
				continue
			}
			if err := ping(); err != nil {
				c.abort()
				return
			}
		case <-c.wake:
			if f.isStalled(c) {
				continue // the frames stay queued and go out on the next connection
			}
			if !f.flush(c) {
				return
			}
		}
	}
}

// flush writes every queued frame; false means the connection is finished.
func (f *Fake) flush(c *conn) bool {
	for {
		f.mu.Lock()
		if len(c.queue) == 0 {
			f.mu.Unlock()
			return true
		}
		fr := c.queue[0]
		c.queue = c.queue[1:]
		data := fr.data
		if fr.env != nil {
			// Sent from here on: a Redeliver racing this write sends again, and the
			// redelivery timer counts from now.
			now := time.Now()
			if fr.env.firstSent.IsZero() {
				fr.env.firstSent = now
			}
			fr.env.lastSent = now
			fr.env.queued = false
			data = fr.env.wireLocked()
			f.notifyLocked() // the redelivery timer starts now
		}
		f.mu.Unlock()

		_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
			f.mu.Lock()
			if fr.env != nil {
				// Not delivered: give it back so it goes out on the next connection.
				f.requeueLocked(c, fr.env)
			}
			f.mu.Unlock()
			c.abort()
			return false
		}
		if fr.closeAfter {
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.abort()
			return false
		}
	}
}

// dropConn forgets a finished connection and hands its unwritten envelopes to the next one.
func (f *Fake) dropConn(c *conn) {
	c.abort()
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
	close(c.gone)
	unsent := c.queue
	c.queue = nil
	for _, fr := range unsent {
		if fr.env != nil {
			f.requeueLocked(c, fr.env)
		}
	}
	f.notifyLocked()
}

// requeueLocked puts an envelope that c did not write back in line for delivery:
// first on c while it is open, else on the newest socket left (which may have
// connected before c was seen to go), else for the next one.
func (f *Fake) requeueLocked(c *conn, e *envelope) {
	if f.conns[c] { // not dropped yet: c will write it on its next flush
		e.queued = true
		c.queue = append([]frame{{env: e}}, c.queue...)
		return
	}
	f.deliverLocked(e)
}

// deliverLocked queues e on the newest usable connection, or as pending if none.
func (f *Fake) deliverLocked(e *envelope) {
	var best *conn
	for c := range f.conns {
		if !c.closing && (best == nil || c.seq > best.seq) {
			best = c
		}
	}
	e.queued = true
	if best == nil {
		f.pending = append(f.pending, e)
		return
	}
	best.queue = append(best.queue, frame{env: e})
	best.signal()
}

func (f *Fake) redeliverLocked(e *envelope) {
	if e.queued {
		return // still waiting to go out: sending it twice would not be a retry
	}
	e.retryAttempt++
	e.retryReason = "timeout"
	f.deliverLocked(e)
}

// redeliverLoop redelivers unacked events_api envelopes WithRedelivery's wait after their
// last delivery, up to maxRedeliveries times.
func (f *Fake) redeliverLoop() {
	wait := f.cfg.redeliverWait
	for {
		f.mu.Lock()
		now := time.Now()
		var next time.Time
		for _, e := range f.unackedEvents {
			if e.queued || e.lastSent.IsZero() || e.retryAttempt >= maxRedeliveries {
				continue
			}
			due := e.lastSent.Add(wait)
			if !due.After(now) {
				f.redeliverLocked(e)
				f.notifyLocked()
			} else if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		changed := f.changed
		f.mu.Unlock()

		var fire <-chan time.Time // nil, so never, when nothing is due
		if !next.IsZero() {
			fire = time.After(time.Until(next)) // unstopped timers are collected (Go 1.23+)
		}
		select {
		case <-fire:
		case <-changed:
		case <-f.done:
			return
		}
	}
}

// wireLocked marshals e as the frame Slack writes.
func (e *envelope) wireLocked() []byte {
	data, err := json.Marshal(wireEnvelope{
		EnvelopeID:             e.id,
		Type:                   e.typ,
		Payload:                e.payload,
		AcceptsResponsePayload: e.acceptsResponse,
		RetryAttempt:           e.retryAttempt,
		RetryReason:            e.retryReason,
	})
	if err != nil {
		panic(fmt.Sprintf("slackfake: marshalling envelope: %v", err)) // payload is valid JSON already
	}
	return data
}

// newEnvelopeID returns an id shaped like Slack's (a UUID).
func newEnvelopeID() string {
	h := randomID(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
