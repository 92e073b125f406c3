package slackfake

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// errClosed is returned by waits and sends that end because the Fake was closed.
var errClosed = errors.New("slackfake: closed")

// Identity is the workspace and bot user the fake Slack answers as.
type Identity struct {
	TeamID    string // "T0FAKETEAM"
	TeamName  string // "fake-workspace"
	BotUserID string // the bot's user id, "U0FAKEBOT"
	BotID     string // the bot's bot id, "B0FAKEBOT"
	BotName   string // "rdnsbot"
	AppID     string // "A0FAKEAPP"
}

// defaultIdentity is the identity a Fake uses unless WithIdentity is given.
var defaultIdentity = Identity{
	TeamID:    "T0FAKETEAM",
	TeamName:  "fake-workspace",
	BotUserID: "U0FAKEBOT",
	BotID:     "B0FAKEBOT",
	BotName:   "rdnsbot",
	AppID:     "A0FAKEAPP",
}

// The tokens the fake accepts; clients get them from BotToken and AppToken.
const (
	botToken = "xoxb-0000-fake-bot-token"
	appToken = "xapp-1-A0FAKEAPP-0000-fake-app-token"
)

type config struct {
	identity      Identity
	pingInterval  time.Duration
	redeliverWait time.Duration
}

// Option configures a Fake.
type Option func(*config)

// WithIdentity sets the team and bot ids the fake answers with; empty fields keep
// defaultIdentity's values.
func WithIdentity(id Identity) Option {
	return func(c *config) {
		fill := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		fill(&c.identity.TeamID, id.TeamID)
		fill(&c.identity.TeamName, id.TeamName)
		fill(&c.identity.BotUserID, id.BotUserID)
		fill(&c.identity.BotID, id.BotID)
		fill(&c.identity.BotName, id.BotName)
		fill(&c.identity.AppID, id.AppID)
	}
}

// WithPingInterval sets how often the fake pings each socket (default 250ms; d <= 0
// keeps it). slack-go drops a connection that has not been pinged for its
// OptionPingInterval (default 30s), so keep this well below the client's interval.
func WithPingInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.pingInterval = d
		}
	}
}

// WithRedelivery makes the fake redeliver an events_api envelope that is not acked
// within d, up to 3 times, with retry_attempt and retry_reason "timeout", as Slack does.
// Zero (the default) turns it off; Redeliver still works.
func WithRedelivery(d time.Duration) Option {
	return func(c *config) { c.redeliverWait = d }
}

// Fault is an injected failure of one Web API call. HTTPStatus, when set and not 200,
// is the response status (429 carries Retry-After, rounded up to whole seconds as Slack
// sends it); otherwise the call answers 200 with {"ok":false,"error":Error}, Error
// defaulting to "internal_error".
//
// Stored runs the method first, so its effect stays (a posted message is in the
// channel), and only then fails: Slack stored the message but answered 500, or the
// answer was lost. Hang accepts the request and never answers, until the client gives up,
// Unhang is called (then the call is answered as if no fault were set, Stored or not) or
// the Fake closes. Drop closes the connection without an answer. With Hang or Drop,
// HTTPStatus and Error are not used.
type Fault struct {
	HTTPStatus int
	RetryAfter time.Duration
	Error      string
	Stored     bool
	Hang       bool
	Drop       bool
}

// Call is one Web API call as the fake received it.
type Call struct {
	Method string
	// Params are the form and query values, without the token.
	Params url.Values
	// Body is the request body of JSON-bodied methods (views.publish, apps.connections.open).
	Body json.RawMessage
	// Status is the HTTP status answered; Error the Slack error code, "" when ok.
	// Status is 0 while a call is being answered and for one that got no answer
	// (Fault.Hang, Fault.Drop).
	Status int
	Error  string
	// Fault is the fault injected into this call, nil if none.
	Fault *Fault
	At    time.Time
}

// Fake is an in-process fake Slack. Create it with Start or New.
type Fake struct {
	cfg  config
	srv  *httptest.Server
	done chan struct{}
	// wg holds the goroutines the Fake started itself (sockets, redelivery),
	// each by wg.Go: one that is past its Done has left the Fake's code.
	wg sync.WaitGroup

	closeOnce sync.Once

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change; see Wait
	closed  bool

	calls   []Call
	faults  map[string][]Fault
	latency map[string]time.Duration
	unhang  chan struct{} // closed and replaced by Unhang

	seq       int   // source of ids
	lastTS    int64 // the latest message ts, in microseconds
	channels  map[string]*Channel
	messages  []*Message // every posted or added message, in ts order
	files     map[string]*File
	views     map[string][]json.RawMessage
	responses map[string][]ResponsePost // response_url id -> posts

	tickets      map[string]bool
	conns        map[*conn]bool
	connectCount int
	stalls       int
	envelopes    map[string]*envelope
	// unackedEvents are the events_api envelopes not acked yet, which redeliverLoop
	// scans on every change; the acked ones, the bulk of a long test, stay out of it.
	unackedEvents map[string]*envelope
	pending       []*envelope // waiting for a connection
	acks          []Ack
}

// Start starts a Fake and closes it when t's test ends.
func Start(t testing.TB, opts ...Option) *Fake {
	t.Helper()
	f := New(opts...)
	t.Cleanup(f.Close)
	return f
}

// New starts a Fake listening on 127.0.0.1. Call Close when done.
func New(opts ...Option) *Fake {
	cfg := config{
		identity:     defaultIdentity,
		pingInterval: 250 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	f := &Fake{
		cfg:           cfg,
		done:          make(chan struct{}),
		changed:       make(chan struct{}),
		unhang:        make(chan struct{}),
		faults:        map[string][]Fault{},
		latency:       map[string]time.Duration{},
		channels:      map[string]*Channel{},
		files:         map[string]*File{},
		views:         map[string][]json.RawMessage{},
		responses:     map[string][]ResponsePost{},
		tickets:       map[string]bool{},
		conns:         map[*conn]bool{},
		envelopes:     map[string]*envelope{},
		unackedEvents: map[string]*envelope{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", f.serveAPI)
	mux.HandleFunc("GET /link/", f.serveSocket)
	mux.HandleFunc("GET /files-pri/{key}/{name}", f.serveFile)
	mux.HandleFunc("GET /files-pri/{key}/download/{name}", f.serveFile)
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>Sign in to fake-workspace</body></html>")
	})
	mux.HandleFunc("POST /commands/{id}", f.serveResponseURL)
	f.srv = httptest.NewServer(mux)
	if cfg.redeliverWait > 0 {
		f.wg.Go(f.redeliverLoop)
	}
	return f
}

// Close drops every socket, stops the server and waits for the Fake's goroutines.
func (f *Fake) Close() {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		close(f.done)
		for c := range f.conns {
			c.abort()
		}
		f.notifyLocked()
		f.mu.Unlock()
		f.srv.Close()
		f.wg.Wait()
	})
}

// APIURL is the Web API base URL, with its trailing slash, for slack.OptionAPIURL.
func (f *Fake) APIURL() string { return f.srv.URL + "/api/" }

// BotToken is the xoxb- token the Web API accepts.
func (f *Fake) BotToken() string { return botToken }

// AppToken is the xapp- token apps.connections.open accepts.
func (f *Fake) AppToken() string { return appToken }

// Identity is the team and bot the fake answers as.
func (f *Fake) Identity() Identity { return f.cfg.identity }

// FailNext makes the next n calls of method fail with fault.
func (f *Fake) FailNext(method string, n int, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[method] = append(f.faults[method], fault)
	}
}

// Unhang releases every call held by a Fault with Hang that arrived before it (every
// such call Calls lists, even one still on its way to being held): each is then
// answered as if no fault were set.
func (f *Fake) Unhang() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.unhang)
	f.unhang = make(chan struct{})
}

// SetLatency delays every later call of method by d before it is answered (0 removes it).
func (f *Fake) SetLatency(method string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency[method] = d
}

// Calls returns every Web API call so far, in the order they arrived.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Call, len(f.calls))
	copy(out, f.calls)
	return out
}

// CallsTo returns the calls of one method, in order.
func (f *Fake) CallsTo(method string) []Call {
	var out []Call
	for _, c := range f.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Wait blocks until cond returns true, ctx ends (ctx.Err()) or the Fake is closed
// (errClosed). cond is checked now and after every change of the fake's state (a call, a
// post, an ack, a connection); it may read the Fake freely but must not block.
func (f *Fake) Wait(ctx context.Context, cond func() bool) error {
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		// Taking ch before evaluating cond means no change can slip between the two.
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-f.done:
			return errClosed
		}
	}
}

// notifyLocked wakes every Wait. f.mu must be held.
func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// nextSeqLocked returns a new number, unique within this Fake.
func (f *Fake) nextSeqLocked() int {
	f.seq++
	return f.seq
}

// newIDLocked returns a new id shaped like Slack's: prefix ("C", "F", "Ev"…), then
// "0FAKE" and a unique number.
func (f *Fake) newIDLocked(prefix string) string {
	return fmt.Sprintf("%s0FAKE%04d", prefix, f.nextSeqLocked())
}

// apiMethod answers one Web API method. params holds the form and query values, body the
// raw JSON body (JSON-bodied methods only). It returns the response fields besides "ok",
// or an error code for {"ok":false,"error":code}.
type apiMethod func(f *Fake, params url.Values, body []byte) (map[string]any, string)

// appTokenMethods are the methods that take the app-level token instead of the bot token.
var appTokenMethods = map[string]bool{"apps.connections.open": true}

func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	var params url.Values
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		params = r.URL.Query()
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseForm(); err != nil {
			http.Error(w, "parsing form", http.StatusBadRequest)
			return
		}
		params = r.Form
		body = nil
	}
	token := params.Get("token")
	if auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		token = auth
	}
	params.Del("token") // params is this request's own copy

	// The call is recorded when it arrives, so a client that gives up on a hung
	// call has it counted whether or not the server noticed yet. What the call
	// will get (its fault, its latency, the Unhang that releases it) is taken
	// in the same step: a test that saw the call can count on it.
	f.mu.Lock()
	i := len(f.calls)
	got := f.arriveLocked(method)
	f.calls = append(f.calls, Call{Method: method, Params: params, Body: body, Fault: got.fault, At: time.Now()})
	f.notifyLocked()
	f.mu.Unlock()

	resp := f.answer(r.Context(), method, token, params, body, got)
	if resp.drop {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
		return
	}
	if resp.status == 0 {
		return // hung until the client left or the Fake closed: nobody to answer
	}
	f.mu.Lock()
	f.calls[i].Status, f.calls[i].Error = resp.status, resp.code
	f.notifyLocked()
	f.mu.Unlock()

	resp.write(w)
}

// apiResponse is the answer to one Web API call.
type apiResponse struct {
	status     int
	retryAfter time.Duration // sent as Retry-After with a 429
	fields     map[string]any
	code       string // Slack error code; "" means ok
	drop       bool   // close the connection without an answer
}

// arrival is what a call gets when it arrives.
type arrival struct {
	handler apiMethod     // nil: a method the fake does not serve
	fault   *Fault        // nil: none injected
	delay   time.Duration // SetLatency's
	unhang  <-chan struct{}
}

// arriveLocked takes the next fault injected into method, if any, with its
// latency and the channel the next Unhang closes. f.mu must be held.
func (f *Fake) arriveLocked(method string) arrival {
	a := arrival{handler: apiMethods[method], delay: f.latency[method], unhang: f.unhang}
	if q := f.faults[method]; a.handler != nil && len(q) > 0 {
		a.fault = &q[0]
		f.faults[method] = q[1:]
	}
	return a
}

// answer runs one call that arrived as got: latency, injected faults,
// authentication, then the method. A zero status means the call was held
// (Fault.Hang) until its client or the Fake went away.
func (f *Fake) answer(ctx context.Context, method, token string, params url.Values, body []byte, got arrival) apiResponse {
	if got.handler == nil {
		return apiResponse{status: http.StatusOK, code: "unknown_method"}
	}
	if got.delay > 0 {
		select {
		case <-time.After(got.delay):
		case <-ctx.Done():
		case <-f.done:
		}
	}

	fault := got.fault
	if fault != nil && fault.Hang && !fault.Stored {
		if !f.hold(ctx, got.unhang) {
			return apiResponse{}
		}
		fault = nil
	}
	var stored apiResponse
	if fault == nil || fault.Stored {
		stored = f.run(got.handler, method, token, params, body)
	}
	switch {
	case fault == nil:
		return stored
	case fault.Drop:
		return apiResponse{drop: true}
	case fault.Hang: // stored, then held: the effect stays, the answer waits
		if f.hold(ctx, got.unhang) {
			return stored
		}
		return apiResponse{}
	}
	resp := apiResponse{status: fault.HTTPStatus, retryAfter: fault.RetryAfter, code: fault.Error}
	if resp.status == 0 || resp.status == http.StatusOK {
		resp.status = http.StatusOK
		resp.code = cmp.Or(resp.code, "internal_error")
	}
	return resp
}

// hold waits until unhang is closed (true), or the client or the Fake goes away.
func (f *Fake) hold(ctx context.Context, unhang <-chan struct{}) bool {
	select {
	case <-unhang:
		return true
	case <-ctx.Done():
	case <-f.done:
	}
	return false
}

// run authenticates the call and runs the method.
func (f *Fake) run(handler apiMethod, method, token string, params url.Values, body []byte) apiResponse {
	if code := f.authenticate(method, token); code != "" {
		return apiResponse{status: http.StatusOK, code: code}
	}
	fields, code := handler(f, params, body)
	return apiResponse{status: http.StatusOK, fields: fields, code: code}
}

// authenticate checks the token as Slack does: none is not_authed, the other kind of
// token is not_allowed_token_type, anything else unknown is invalid_auth.
func (f *Fake) authenticate(method, token string) string {
	want, other := botToken, appToken
	if appTokenMethods[method] {
		want, other = other, want
	}
	switch token {
	case want:
		return ""
	case "":
		return "not_authed"
	case other:
		return "not_allowed_token_type"
	default:
		return "invalid_auth"
	}
}

func (r apiResponse) write(w http.ResponseWriter) {
	switch {
	case r.status == http.StatusTooManyRequests:
		if r.retryAfter > 0 {
			// Slack sends whole seconds, and slack-go parses nothing else.
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(r.retryAfter.Seconds()))))
		}
		writeJSON(w, r.status, map[string]any{"ok": false, "error": cmp.Or(r.code, "ratelimited")})
	case r.status != http.StatusOK:
		// Slack answers server errors with an HTML page, which slack-go does not parse.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(r.status)
		_, _ = fmt.Fprintf(w, "<html><body>%d %s</body></html>", r.status, http.StatusText(r.status))
	case r.code != "":
		writeJSON(w, r.status, map[string]any{"ok": false, "error": r.code})
	default:
		out := map[string]any{"ok": true}
		maps.Copy(out, r.fields)
		writeJSON(w, r.status, out)
	}
}

// writeJSON writes a Web API reply. Like Slack, it puts "ok" and "error"
// first (clients such as rdnsbot's metrics read only the reply's head to
// find them); encoding/json would sort them among the other keys.
func writeJSON(w http.ResponseWriter, status int, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	var b bytes.Buffer
	b.WriteByte('{')
	keys := slices.Sorted(maps.Keys(v))
	slices.SortStableFunc(keys, func(a, b string) int { return headRank(a) - headRank(b) })
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		vj, err := json.Marshal(v[k])
		if err != nil {
			vj = []byte("null")
		}
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteString("}\n")
	_, _ = w.Write(b.Bytes())
}

func headRank(key string) int {
	switch key {
	case "ok":
		return 0
	case "error":
		return 1
	}
	return 2
}

// randomID returns a random lower-case hex string of n bytes.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
