package smtpprobe

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/smtpprobe/smtptest"
)

// server is an in-process SMTP server on 127.0.0.1:0 that plays script on
// every connection and records the client's command lines.
type server struct {
	addr netip.AddrPort
	mu   sync.Mutex
	cmds []string
}

func newServer(t *testing.T, script func(s *server, c net.Conn, in *bufio.Reader)) *server {
	t.Helper()
	s := &server{}
	s.addr = smtptest.Serve(t, func(c net.Conn) { script(s, c, bufio.NewReader(c)) })
	return s
}

// expect reads one command line from the client and records it.
func (s *server) expect(in *bufio.Reader) string {
	line, err := in.ReadString('\n')
	if err != nil {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	s.mu.Lock()
	s.cmds = append(s.cmds, line)
	s.mu.Unlock()
	return line
}

func (s *server) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// conversation greets, answers EHLO and QUIT the way a normal server does.
func conversation(greeting, ehloReply string) func(*server, net.Conn, *bufio.Reader) {
	return func(s *server, c net.Conn, in *bufio.Reader) {
		io.WriteString(c, greeting)
		if strings.HasPrefix(s.expect(in), "EHLO ") {
			io.WriteString(c, ehloReply)
			s.expect(in)
		}
		io.WriteString(c, "221 2.0.0 Bye\r\n")
	}
}

// recordingDialer dials for real and records every address it was asked for.
type recordingDialer struct {
	mu    sync.Mutex
	addrs []string
	d     net.Dialer
}

func (r *recordingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	r.mu.Lock()
	r.addrs = append(r.addrs, address)
	r.mu.Unlock()
	return r.d.DialContext(ctx, network, address)
}

func (r *recordingDialer) dialled() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}

// fakeClock is the rate limiter's clock: tests move it, never sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newProber(t *testing.T, port uint16, d contextDialer, edit func(*Config)) *Prober {
	t.Helper()
	cfg := Config{HELOName: "rdnsbot.example.net.", Port: int(port), timeout: 2 * time.Second, AllowNonPublic: true, dialer: d,
		PerIP: Limit{Burst: 100, Every: time.Second}, PerWorkspace: Limit{Burst: 100, Every: time.Second}}
	if edit != nil {
		edit(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func codes(fs []diagnose.Finding) []diagnose.Code {
	var out []diagnose.Code
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

func find(fs []diagnose.Finding, c diagnose.Code) (diagnose.Finding, bool) {
	for _, f := range fs {
		if f.Code == c {
			return f, true
		}
	}
	return diagnose.Finding{}, false
}

var loopback = netip.MustParseAddr("127.0.0.1")

func TestProbeConversations(t *testing.T) {
	const ehlo = "250-mx.example.com Hello rdnsbot.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"
	ptr := []string{"mx.example.com."}
	tests := []struct {
		name         string
		greeting     string
		wantCode     int
		wantName     string
		wantGreeting string
		wantErr      error
		wantEHLO     bool
		wantQuit     bool // QUIT only, no EHLO
		wantFindings []diagnose.Code
		wantInMsg    string
	}{
		{name: "matching greeting", greeting: "220 mx.example.com ESMTP Postfix\r\n", wantCode: 220, wantName: "mx.example.com",
			wantGreeting: "mx.example.com ESMTP Postfix", wantEHLO: true},
		{name: "matching, other case and trailing dot", greeting: "220 MX.Example.COM. ESMTP\r\n", wantCode: 220,
			wantName: "mx.example.com", wantGreeting: "MX.Example.COM. ESMTP", wantEHLO: true},
		{name: "mismatching greeting", greeting: "220 localhost.localdomain ESMTP\r\n", wantCode: 220, wantName: "localhost.localdomain",
			wantGreeting: "localhost.localdomain ESMTP", wantEHLO: true, wantFindings: []diagnose.Code{codeBannerMismatch},
			wantInMsg: "`localhost.localdomain`, which is not a PTR name of the IP (`mx.example.com`)"},
		{name: "greeting without a host name", greeting: "220 ESMTP ready\r\n", wantCode: 220, wantGreeting: "ESMTP ready",
			wantEHLO: true, wantFindings: []diagnose.Code{codeBannerMismatch}, wantInMsg: "does not start with a host name"},
		{name: "address literal", greeting: "220 [127.0.0.1] ESMTP\r\n", wantCode: 220, wantGreeting: "[127.0.0.1] ESMTP",
			wantEHLO: true, wantFindings: []diagnose.Code{codeBannerMismatch}},
		{name: "bare address", greeting: "220 127.0.0.1 ESMTP\r\n", wantCode: 220, wantGreeting: "127.0.0.1 ESMTP",
			wantEHLO: true, wantFindings: []diagnose.Code{codeBannerMismatch}},
		{name: "multi-line greeting", greeting: "220-mx.example.com ESMTP\r\n220-No UCE\r\n220 ready\r\n", wantCode: 220,
			wantName: "mx.example.com", wantGreeting: "mx.example.com ESMTP\nNo UCE\nready", wantEHLO: true},
		{name: "bare LF line ends", greeting: "220 mx.example.com\n", wantCode: 220, wantName: "mx.example.com",
			wantGreeting: "mx.example.com", wantEHLO: true},
		{name: "554 greeting", greeting: "554 mx.example.com No SMTP service here\r\n", wantCode: 554, wantName: "mx.example.com",
			wantGreeting: "mx.example.com No SMTP service here", wantErr: errRefused, wantFindings: []diagnose.Code{codeRefused},
			wantInMsg: "`554 mx.example.com No SMTP service here`"},
		{name: "421 greeting", greeting: "421 4.3.2 busy\r\n", wantCode: 421, wantGreeting: "4.3.2 busy", wantErr: errRefused,
			wantFindings: []diagnose.Code{codeRefused, codeBannerMismatch}},
		{name: "250 as a greeting", greeting: "250 mx.example.com hi\r\n", wantCode: 250, wantName: "mx.example.com",
			wantGreeting: "mx.example.com hi", wantErr: errGarbage, wantQuit: true, wantFindings: []diagnose.Code{codeBadReply},
			wantInMsg: "`250 mx.example.com hi` is neither 220 nor an error reply"},
		{name: "garbage bytes", greeting: "\x00\xff\x1b[31mHTTP/1.1 400 Bad Request\r\n", wantGreeting: "???[31mHTTP/1.1 400 Bad Request",
			wantErr: errGarbage, wantFindings: []diagnose.Code{codeBadReply}},
		{name: "codes change mid-reply", greeting: "220-mx.example.com\r\n250 oops\r\n", wantCode: 220, wantName: "mx.example.com",
			wantGreeting: "mx.example.com\n250 oops", wantErr: errGarbage, wantFindings: []diagnose.Code{codeBadReply}},
		{name: "closed mid-greeting", greeting: "220-mx.example.com\r\n", wantCode: 220, wantName: "mx.example.com",
			wantGreeting: "mx.example.com", wantErr: errClosed, wantFindings: []diagnose.Code{codeBadReply}},
		{name: "backticks and mentions in a refusal", greeting: "554 `x` <!channel> go away\r\n", wantCode: 554,
			wantGreeting: "`x` <!channel> go away", wantErr: errRefused, wantFindings: []diagnose.Code{codeRefused, codeBannerMismatch},
			wantInMsg: "`554 \\096x\\096 <!channel> go away`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(s *server, c net.Conn, in *bufio.Reader) {
				if tc.wantErr == errClosed {
					io.WriteString(c, tc.greeting) // then hang up
					return
				}
				conversation(tc.greeting, ehlo)(s, c, in)
			})
			d := &recordingDialer{}
			r := newProber(t, srv.addr.Port(), d, nil).probe(t.Context(), loopback, "T1")
			if tc.wantErr == nil && r.Err != nil || tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr) {
				t.Fatalf("Err = %v, want %v", r.Err, tc.wantErr)
			}
			if r.GreetingCode != tc.wantCode || r.GreetingName != tc.wantName || r.Greeting != tc.wantGreeting {
				t.Errorf("greeting = %d %q name %q, want %d %q name %q", r.GreetingCode, r.Greeting, r.GreetingName,
					tc.wantCode, tc.wantGreeting, tc.wantName)
			}
			if got := d.dialled(); len(got) != 1 || got[0] != srv.addr.String() {
				t.Errorf("dialled %v, want exactly [%s]", got, srv.addr)
			}
			cmds := srv.commands()
			switch {
			case tc.wantEHLO:
				want := []string{"EHLO rdnsbot.example.net", "QUIT"}
				if strings.Join(cmds, "|") != strings.Join(want, "|") {
					t.Errorf("server got %q, want %q", cmds, want)
				}
				if r.EHLOCode != 250 || len(r.EHLOReply) != 4 || r.EHLOReply[1] != "PIPELINING" || r.EHLOReply[3] != "8BITMIME" {
					t.Errorf("EHLO reply = %d %q", r.EHLOCode, r.EHLOReply)
				}
			case errors.Is(tc.wantErr, errRefused) || tc.wantQuit:
				// RFC 5321 §3.1: no EHLO after a refusal, but QUIT.
				if len(cmds) != 1 || cmds[0] != "QUIT" {
					t.Errorf("server got %q after a %d greeting, want [QUIT]", cmds, tc.wantCode)
				}
			default:
				if len(cmds) != 0 {
					t.Errorf("server got %q after a bad greeting, want nothing", cmds)
				}
			}
			fs := findings(r, loopback, ptr)
			if got := codes(fs); strings.Join(codeStrings(got), ",") != strings.Join(codeStrings(tc.wantFindings), ",") {
				t.Errorf("findings %v, want %v: %+v", got, tc.wantFindings, fs)
			}
			if tc.wantInMsg != "" && !anyMessageContains(fs, tc.wantInMsg) {
				t.Errorf("no finding message contains %q: %+v", tc.wantInMsg, fs)
			}
		})
	}
}

func codeStrings(cs []diagnose.Code) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

func anyMessageContains(fs []diagnose.Finding, s string) bool {
	for _, f := range fs {
		if strings.Contains(f.Message, s) {
			return true
		}
	}
	return false
}

// A closed port is unreachable, reported as info and never as the server's fault.
func TestProbeRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	ln.Close()
	r := newProber(t, port, nil, nil).probe(t.Context(), loopback, "T1")
	if !errors.Is(r.Err, errUnreachable) || !errors.Is(r.Err, syscall.ECONNREFUSED) {
		t.Fatalf("Err = %v, want errUnreachable wrapping ECONNREFUSED", r.Err)
	}
	fs := findings(r, loopback, []string{"mx.example.com"})
	f, ok := find(fs, codeUnreachable)
	if len(fs) != 1 || !ok || f.Severity != diagnose.SeverityInfo {
		t.Fatalf("findings %+v, want one info smtp_unreachable", fs)
	}
	for _, want := range []string{"refused", "not a fault of your server", "block outbound port 25", "`nc -v 127.0.0.1 "} {
		if !strings.Contains(f.Message, want) {
			t.Errorf("message %q lacks %q", f.Message, want)
		}
	}
}

// blackhole never completes a connection: a filtered port.
type blackhole struct{}

func (blackhole) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: ctx.Err()}
}

func TestProbeFilteredPort(t *testing.T) {
	r := newProber(t, 25, blackhole{}, func(c *Config) { c.timeout = 50 * time.Millisecond }).probe(t.Context(), loopback, "")
	if !errors.Is(r.Err, errUnreachable) || errors.Is(r.Err, errTimeout) {
		t.Fatalf("Err = %v, want errUnreachable only", r.Err)
	}
	f, ok := find(findings(r, loopback, nil), codeUnreachable)
	if !ok || !strings.Contains(f.Message, "no answer within 50ms") {
		t.Errorf("finding %+v, want smtp_unreachable naming the budget", f)
	}
}

// connected is a Dialer handing out one connection made before the probe,
// so a short budget is spent on reading only, never on connecting, however
// loaded the machine.
type connected struct {
	addr string
	conn net.Conn
}

func (c *connected) DialContext(_ context.Context, _, address string) (net.Conn, error) {
	if address != c.addr {
		return nil, errors.New("dialled " + address + ", not " + c.addr)
	}
	return c.conn, nil
}

// dialFirst connects to srv and waits until the server has run ready.
func dialFirst(t *testing.T, srv *server, ready <-chan struct{}) *connected {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	<-ready
	return &connected{addr: srv.addr.String(), conn: c}
}

// A server that accepts and never speaks costs the budget, no more: the
// typed error says so, whatever the wall clock did.
func TestProbeSilentServer(t *testing.T) {
	ready := make(chan struct{})
	srv := newServer(t, func(_ *server, c net.Conn, _ *bufio.Reader) { close(ready); io.Copy(io.Discard, c) })
	d := dialFirst(t, srv, ready)
	r := newProber(t, srv.addr.Port(), d, func(c *Config) { c.timeout = 50 * time.Millisecond }).probe(t.Context(), loopback, "")
	if !errors.Is(r.Err, errTimeout) || r.GreetingCode != 0 || r.Greeting != "" {
		t.Fatalf("result = %+v, want errTimeout and no greeting", r)
	}
	fs := findings(r, loopback, []string{"mx.example.com"})
	f, ok := find(fs, codeSlowGreeting)
	if len(fs) != 1 || !ok || f.Severity != diagnose.SeverityInfo || !strings.Contains(f.Message, "no greeting within 50ms") ||
		!strings.Contains(f.Message, "RFC 5321 §4.5.3.2") {
		t.Errorf("findings %+v, want one info smtp_slow_greeting", fs)
	}
}

// A server that greets but never answers EHLO: the greeting is kept.
func TestProbeSilentAfterGreeting(t *testing.T) {
	ready := make(chan struct{})
	srv := newServer(t, func(s *server, c net.Conn, in *bufio.Reader) {
		io.WriteString(c, "220 mx.example.com ESMTP\r\n")
		close(ready) // the greeting waits in the client's socket before the probe starts
		io.Copy(io.Discard, in)
	})
	d := dialFirst(t, srv, ready)
	r := newProber(t, srv.addr.Port(), d, func(c *Config) { c.timeout = 50 * time.Millisecond }).probe(t.Context(), loopback, "")
	if !errors.Is(r.Err, errTimeout) || r.GreetingName != "mx.example.com" || r.EHLOCode != 0 {
		t.Fatalf("result = %+v, want the greeting and errTimeout", r)
	}
	if fs := findings(r, loopback, []string{"mx.example.com"}); len(fs) != 0 {
		t.Errorf("findings %+v, want none", fs)
	}
}

func TestProbeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	srv := newServer(t, func(_ *server, c net.Conn, _ *bufio.Reader) {
		cancel() // the caller gives up while the server is silent
		io.Copy(io.Discard, c)
	})
	r := newProber(t, srv.addr.Port(), nil, nil).probe(ctx, loopback, "")
	if !errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, errTimeout) {
		t.Fatalf("Err = %v, want context.Canceled", r.Err)
	}
	// Cancelled while connecting: the caller gave up, the port is not unreachable.
	r = newProber(t, 25, blackhole{}, nil).probe(ctx, loopback, "")
	if !errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, errUnreachable) {
		t.Fatalf("Err = %v, want context.Canceled only", r.Err)
	}
	if fs := findings(r, loopback, nil); len(fs) != 0 {
		t.Errorf("findings %+v for a cancelled probe, want none", fs)
	}
}

// The greeting delay is reported when it exceeds the configured threshold
// and the budget allows waiting for it.
func TestProbeSlowGreeting(t *testing.T) {
	srv := newServer(t, func(s *server, c net.Conn, in *bufio.Reader) {
		time.Sleep(30 * time.Millisecond) // at least this, however loaded the machine
		conversation("220 mx.example.com ESMTP\r\n", "250 mx.example.com\r\n")(s, c, in)
	})
	r := newProber(t, srv.addr.Port(), nil, func(c *Config) { c.slowGreeting = time.Millisecond }).probe(t.Context(), loopback, "")
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	f, ok := find(findings(r, loopback, []string{"mx.example.com"}), codeSlowGreeting)
	if !ok || !strings.Contains(f.Message, "more than 1ms") {
		t.Errorf("finding %+v, want smtp_slow_greeting over 1ms", f)
	}
}

// Hostile servers: lines far over 512 octets and endless replies are cut
// off, and what is kept stays bounded.
func TestProbeBoundedReading(t *testing.T) {
	endless := func(prefix string) func(net.Conn) {
		return func(c net.Conn) {
			line := []byte(prefix + "-" + strings.Repeat("x", 100) + "\r\n")
			for {
				if _, err := c.Write(line); err != nil {
					return
				}
			}
		}
	}
	tests := []struct {
		name   string
		reason string
		script func(s *server, c net.Conn, in *bufio.Reader)
	}{
		{"one megabyte greeting line", "longer than 512 octets", func(_ *server, c net.Conn, _ *bufio.Reader) {
			c.Write([]byte("220 " + strings.Repeat("a", 1<<20) + "\r\n"))
		}},
		{"endless multi-line greeting", "more than 32 lines", func(_ *server, c net.Conn, _ *bufio.Reader) { endless("220")(c) }},
		{"endless EHLO reply", "more than 32 lines", func(s *server, c net.Conn, in *bufio.Reader) {
			io.WriteString(c, "220 mx.example.com\r\n")
			s.expect(in)
			endless("250")(c)
		}},
		{"one megabyte EHLO line", "starting `250-???", func(s *server, c net.Conn, in *bufio.Reader) {
			io.WriteString(c, "220 mx.example.com\r\n")
			s.expect(in)
			c.Write([]byte("250-" + strings.Repeat("\x01", 1<<20)))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, tc.script)
			r := newProber(t, srv.addr.Port(), nil, nil).probe(t.Context(), loopback, "")
			if !errors.Is(r.Err, errGarbage) {
				t.Fatalf("Err = %v, want errGarbage", r.Err)
			}
			if len(r.Greeting) > maxGreeting {
				t.Errorf("Greeting holds %d bytes, more than %d", len(r.Greeting), maxGreeting)
			}
			if n := strings.Count(r.Greeting, "\n") + 1; n > maxReplyLines {
				t.Errorf("Greeting holds %d lines", n)
			}
			if len(r.EHLOReply) > maxReplyLines {
				t.Errorf("EHLOReply holds %d lines", len(r.EHLOReply))
			}
			for _, l := range r.EHLOReply {
				if len(l) > maxLine {
					t.Errorf("EHLO line of %d bytes", len(l))
				}
				if strings.ContainsFunc(l, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
					t.Errorf("unsanitised EHLO line %q", l)
				}
			}
			if f, ok := find(findings(r, loopback, nil), codeBadReply); !ok || !strings.Contains(f.Message, tc.reason) {
				t.Errorf("finding %+v, want smtp_bad_reply saying %q", f, tc.reason)
			}
		})
	}
}

// Rate limits per IP and per workspace, on an injected clock; a refused
// probe dials nothing.
func TestProbeRateLimits(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	d := &recordingDialer{}
	p := newProber(t, 1, d, func(c *Config) { // port 1: refused at once, which is all these probes need
		c.now = clock.now
		c.PerIP = Limit{Burst: 1, Every: time.Minute}
		c.PerWorkspace = Limit{Burst: 3, Every: time.Hour}
	})
	ip := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	steps := []struct {
		advance     time.Duration
		ip, ws      string
		wantLimited bool
	}{
		{0, "127.0.0.2", "T1", false},
		{0, "127.0.0.2", "T1", true},  // same IP again at once
		{0, "127.0.0.2", "T2", true},  // from another workspace too: the limit is the IP's
		{0, "127.0.0.3", "T1", false}, // another IP, same workspace
		{time.Minute, "127.0.0.2", "T1", false},
		{time.Minute, "127.0.0.4", "T1", true}, // T1's burst of 3 is used up
		{0, "127.0.0.4", "T2", false},          // another workspace is not
		{0, "127.0.0.5", "", false},            // the CLI: per IP only
		{0, "127.0.0.5", "", true},
		{time.Hour, "127.0.0.4", "T1", false}, // T1 has one token again
	}
	wantDials := 0
	for i, s := range steps {
		clock.advance(s.advance)
		r := p.probe(t.Context(), ip(s.ip), s.ws)
		if got := errors.Is(r.Err, errRateLimited); got != s.wantLimited {
			t.Fatalf("step %d (%s from %q): limited = %v (%v), want %v", i, s.ip, s.ws, got, r.Err, s.wantLimited)
		}
		if !s.wantLimited {
			wantDials++
			if !errors.Is(r.Err, errUnreachable) {
				t.Errorf("step %d: Err = %v, want errUnreachable from port 1", i, r.Err)
			}
		} else if f, ok := find(findings(r, ip(s.ip), nil), codeNotProbed); !ok || !strings.Contains(f.Message, "not a port scanner") {
			t.Errorf("step %d: finding %+v, want smtp_not_probed", i, f)
		}
		if got := d.dialled(); len(got) != wantDials || (!s.wantLimited && got[len(got)-1] != s.ip+":1") {
			t.Fatalf("step %d: dialled %v, want %d dials, the last to %s:1", i, got, wantDials, s.ip)
		}
	}
}

// An IPv6 /64 is one host's: its addresses share the per-IP bucket.
func TestKeysIPv6Prefix(t *testing.T) {
	p := newProber(t, 25, nil, nil)
	a := p.keys(netip.MustParseAddr("2001:db8:1:2::1"), "T1")
	b := p.keys(netip.MustParseAddr("2001:db8:1:2:ffff::9"), "T1")
	c := p.keys(netip.MustParseAddr("2001:db8:1:3::1"), "T1")
	if a[0] != b[0] || a[0] == c[0] || len(a) != 2 || a[1].Name != "ws:T1" {
		t.Errorf("keys %v, %v, %v: want one bucket per /64 plus the workspace's", a, b, c)
	}
}

// The limiter's map is bounded: full of live buckets it refuses new keys,
// and keys whose buckets refilled are forgotten to make room.
func TestRateLimiterBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newProber(t, 1, nil, func(c *Config) { c.now = clock.now; c.PerIP = Limit{Burst: 5, Every: time.Minute} })
	p.limit = keyrate.New(2)
	limited := func(ip string) bool {
		return errors.Is(p.probe(t.Context(), netip.MustParseAddr(ip), "").Err, errRateLimited)
	}
	if limited("127.0.0.2") || limited("127.0.0.3") {
		t.Fatal("first two keys refused")
	}
	if !limited("127.0.0.4") {
		t.Fatal("third key allowed into a full map of live buckets")
	}
	if limited("127.0.0.2") {
		t.Fatal("a known key refused because the map is full")
	}
	clock.advance(90 * time.Second) // .3's bucket is full again; .2's is not
	if limited("127.0.0.4") {
		t.Fatal(".4 refused although .3 could be forgotten")
	}
	if n := p.limit.Len(); n != 2 {
		t.Errorf("%d keys held, want .2 and .4", n)
	}
}

func TestProbeNotPublic(t *testing.T) {
	d := &recordingDialer{}
	p := newProber(t, 25, d, func(c *Config) { c.AllowNonPublic = false })
	if r := p.probe(t.Context(), netip.Addr{}, "T1"); !errors.Is(r.Err, errNotPublic) {
		t.Errorf("zero Addr: Err = %v, want errNotPublic", r.Err)
	}
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "192.168.1.1", "100.64.0.1", "169.254.1.1", "::1", "fd00::1", "0.0.0.0", "::ffff:10.0.0.1"} {
		ip := netip.MustParseAddr(s)
		r := p.probe(t.Context(), ip, "T1")
		if !errors.Is(r.Err, errNotPublic) {
			t.Errorf("%s: Err = %v, want errNotPublic", s, r.Err)
		}
		if _, ok := find(findings(r, ip, nil), codeNotProbed); !ok {
			t.Errorf("%s: no smtp_not_probed finding", s)
		}
	}
	if got := d.dialled(); len(got) != 0 {
		t.Errorf("dialled %v, want nothing", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{HELOName: "bot\r\nRCPT TO:<x@example.com>"},
		{HELOName: "bot example"},
		{HELOName: "-bot.example.net"},
		{HELOName: "localhost"},
		{HELOName: "bot.example.net", Port: 70000},
		{HELOName: "bot_1.example.net"},
		{HELOName: " bot.example.net"},
		{HELOName: "203.0.113.5"},
		{HELOName: "[203.0.113.5]"},
		{HELOName: "203.0.113.10-20"},
		{HELOName: "bot.example.net", PerIP: Limit{Burst: 0, Every: time.Minute}},
		{HELOName: "bot.example.net", PerWorkspace: Limit{Burst: 1}},
		{HELOName: "bot.example.net", PerIP: Limit{Burst: 1 << 40, Every: time.Hour}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	p, err := New(Config{HELOName: "bot.example.net."})
	if err != nil {
		t.Fatal(err)
	}
	if c := p.cfg; c.Port != 25 || c.timeout != 5*time.Second || c.slowGreeting != 10*time.Second || c.HELOName != "bot.example.net" {
		t.Errorf("defaults = %+v", c)
	}
}

// findings on hand-made results: the cases the network cannot easily
// produce, and the quoting of hostile names.
func TestFindings(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.5")
	addr := netip.AddrPortFrom(ip, 25)
	tests := []struct {
		name string
		r    result
		ptr  []string
		want []diagnose.Code
		msg  string
	}{
		{"slow greeting over the threshold", result{Addr: addr, GreetingCode: 220, GreetingName: "mx.example.com",
			GreetingDelay: 12 * time.Second, Budget: 30 * time.Second, SlowGreeting: 10 * time.Second}, []string{"mx.example.com"},
			[]diagnose.Code{codeSlowGreeting}, "took 12s to send its greeting (more than 10s)"},
		{"fast greeting", result{Addr: addr, GreetingCode: 220, GreetingName: "mx.example.com", GreetingDelay: time.Second,
			SlowGreeting: 10 * time.Second}, []string{"MX.example.com."}, nil, ""},
		{"no PTR: nothing to compare", result{Addr: addr, GreetingCode: 220, GreetingName: "mx.example.com"}, nil, nil, ""},
		{"one of several PTR names", result{Addr: addr, GreetingCode: 220, GreetingName: "b.example.com"},
			[]string{"a.example.com.", "b.example.com."}, nil, ""},
		{"mismatch lists every PTR name", result{Addr: addr, GreetingCode: 220, GreetingName: "c.example.com"},
			[]string{"a.example.com.", "b.example.com."}, []diagnose.Code{codeBannerMismatch}, "(`a.example.com`, `b.example.com`)"},
		{"backtick in a greeting without a name", result{Addr: addr, GreetingCode: 220, Greeting: "`rm -rf` ESMTP"},
			[]string{"mx.example.com"}, []diagnose.Code{codeBannerMismatch}, "(`\\096rm -rf\\096 ESMTP`)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := findings(tc.r, ip, tc.ptr)
			if got := codes(fs); strings.Join(codeStrings(got), ",") != strings.Join(codeStrings(tc.want), ",") {
				t.Fatalf("findings %v, want %v: %+v", got, tc.want, fs)
			}
			if tc.msg != "" && !anyMessageContains(fs, tc.msg) {
				t.Errorf("no message contains %q: %+v", tc.msg, fs)
			}
			for _, f := range fs {
				if f.Code == codeBannerMismatch && f.Severity != diagnose.SeverityWarning ||
					f.Code != codeBannerMismatch && f.Severity != diagnose.SeverityInfo {
					t.Errorf("%s has severity %s", f.Code, f.Severity)
				}
			}
		})
	}
}

// BenchmarkReadReply reads a typical multi-line EHLO reply.
func BenchmarkReadReply(b *testing.B) {
	const ehlo = "250-mx.example.com Hello rdnsbot.example.net [192.0.2.1]\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n" +
		"250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n"
	rd := strings.NewReader(ehlo)
	br := bufio.NewReaderSize(rd, maxLine)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(ehlo)
		br.Reset(rd)
		if r, err := readReply(br); err != nil || len(r.lines) != 9 {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkProbe runs whole probes against an in-process server. The
// allocation figures include the server's side, which runs in this process.
func BenchmarkProbe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				in := bufio.NewReader(c)
				io.WriteString(c, "220 mx.example.com ESMTP\r\n")
				in.ReadString('\n')
				io.WriteString(c, "250-mx.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
				in.ReadString('\n')
				io.WriteString(c, "221 Bye\r\n")
			}()
		}
	}()
	p, err := New(Config{HELOName: "rdnsbot.example.net", Port: int(netip.MustParseAddrPort(ln.Addr().String()).Port()),
		AllowNonPublic: true, PerIP: Limit{Burst: 1 << 30, Every: time.Nanosecond}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := p.probe(context.Background(), loopback, ""); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
}
