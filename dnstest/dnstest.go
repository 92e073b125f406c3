// Package dnstest runs in-process DNS servers for tests, over UDP and TCP on
// loopback addresses.
//
// A Server answers from zones given in RFC 1035 master-file syntax. Asked with
// RD=0 it behaves as an authoritative server: AA answers, NXDOMAIN and NODATA
// with the zone's SOA in the authority section (RFC 2308 §3), referrals at zone
// cuts, REFUSED for zones it does not hold, CNAME chains followed through the
// data it holds (RFC 1034 §4.3.2). Asked with RD=1 it plays the recursive
// resolver: it answers from every zone it holds, RA set, chains resolved. Over
// UDP answers larger than the client's buffer are truncated (TC=1, RFC 2181 §9).
//
// Faults are injected per name (and optionally per type): a delay, a dropped
// query, SERVFAIL, REFUSED, forced truncation, a lame answer, a negative
// answer without its SOA. Zones and
// faults can be replaced while the server runs, so a test can publish a fix
// mid-test, or give the resolver and the authoritative servers different data
// to simulate stale caches.
//
// Listen starts several servers sharing one port on 127.0.0.1, 127.0.0.2, …,
// so NS records can point at distinct addresses the way real delegations do.
//
// Round trips are counted by causality, never by clock: every query's
// arrival and every answer's departure takes a number from one process-wide
// sequence, and a query belongs to round k+1 when an answer of round k left
// before it arrived (Group.Log, Group.Rounds). Lockstep holds every answer
// until the test releases the round, so a client's concurrent queries are
// all in before any of them is answered.
package dnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Fault changes how a server answers a name. The zero Fault answers normally.
type Fault struct {
	// Delay is added before answering (or before dropping).
	Delay time.Duration
	// Drop never answers: the client times out.
	Drop bool
	// Rcode, when not zero, answers with this RCODE and no records
	// (dns.RcodeServerFailure, dns.RcodeRefused).
	Rcode int
	// Truncate answers UDP queries with TC=1 and no records, so the client
	// must retry over TCP; TCP queries are answered normally.
	Truncate bool
	// Lame answers NOERROR with AA=0, RA=0 and no records: a server listed in
	// the NS set that is not authoritative for the zone.
	Lame bool
	// NoSOA answers normally but leaves the SOA out of negative answers, as
	// systemd-resolved's stub and some public resolvers do (against RFC 2308
	// §3/§6): the client cannot read a negative TTL from them.
	NoSOA bool
}

// Query is one query a server received, for tests that count round trips.
type Query struct {
	Name    string
	Type    uint16
	RD, TCP bool
	// Arrived and Answered order events across every server of the
	// process: when the query came in, and when its answer left (0: never,
	// a dropped query).
	Arrived, Answered uint64
	// Round is the query's causal round, set by Group.Log: 1, or one more
	// than the latest round of an answer that left before it arrived.
	Round int
}

// events numbers arrivals and departures, process-wide: servers of one
// test may be in different Groups.
var events atomic.Uint64

type faultKey struct {
	name  string
	qtype uint16
}

// Server is one DNS server on one address, serving UDP and TCP.
type Server struct {
	addr     netip.AddrPort
	udp, tcp *dns.Server
	closing  chan struct{}
	once     sync.Once

	mu     sync.RWMutex
	zones  map[string]*zone
	faults map[faultKey]Fault
	log    []Query
	step   *Lockstep // nil: answer at once
}

// Group is the set of servers started by one Listen call: they share a port.
type Group []*Server

// Listen starts n servers on 127.0.0.1 … 127.0.0.n, all on one free port.
// Close them with Group.Close.
func Listen(n int) (Group, error) {
	if n < 1 || n > 254 {
		return nil, fmt.Errorf("dnstest: cannot start %d servers", n)
	}
	var err error
	// Another process may hold the chosen port on one of the other loopback
	// addresses; a fresh port almost always works.
	for range 5 {
		var g Group
		if g, err = listen(n); err == nil {
			return g, nil
		}
	}
	return nil, err
}

func listen(n int) (Group, error) {
	var g Group
	port := 0
	for i := range n {
		s, err := start(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), uint16(port)))
		if err != nil {
			g.Close()
			return nil, err
		}
		port = int(s.addr.Port())
		g = append(g, s)
	}
	return g, nil
}

// Start is Listen for tests: it fails t on error and closes the servers
// when the test ends.
func Start(t testing.TB, n int) Group {
	t.Helper()
	g, err := Listen(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func start(ap netip.AddrPort) (*Server, error) {
	pc, err := net.ListenPacket("udp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("dnstest: listen udp %s: %w", ap, err)
	}
	addr := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	l, err := net.Listen("tcp", addr.String())
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("dnstest: listen tcp %s: %w", addr, err)
	}
	s := &Server{addr: addr, closing: make(chan struct{}), zones: map[string]*zone{}, faults: map[faultKey]Fault{}}
	ready := make(chan struct{}, 2)
	notify := func() { ready <- struct{}{} }
	s.udp = &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	s.tcp = &dns.Server{Listener: l, Handler: s, NotifyStartedFunc: notify}
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	<-ready
	<-ready
	return s, nil
}

// Addr is the server's "host:port".
func (s *Server) Addr() string { return s.addr.String() }

// IP is the server's loopback address, for NS glue in test zones.
func (s *Server) IP() string { return s.addr.Addr().String() }

// Port is the port the server listens on, over UDP and TCP.
func (s *Server) Port() int { return int(s.addr.Port()) }

// Close stops the server and releases delayed queries.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
}

// Load parses master-file text holding one or more zones (each begins with
// its SOA) and replaces the zones of the same names, atomically.
func (s *Server) Load(text string) error {
	zones, err := parseZones(text)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, z := range zones {
		s.zones[z.origin] = z
	}
	return nil
}

// Remove drops the zone with this origin, if the server holds it.
func (s *Server) Remove(origin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.zones, dns.CanonicalName(origin))
}

// SetFault makes the server misbehave for name (any name when "") and qtype
// (any type when 0). The most specific fault wins. A zero Fault removes it.
func (s *Server) SetFault(name string, qtype uint16, f Fault) {
	key := faultKey{qtype: qtype}
	if name != "" {
		key.name = dns.CanonicalName(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == (Fault{}) {
		delete(s.faults, key)
		return
	}
	s.faults[key] = f
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// Queries returns the queries received since the last ResetLog.
func (s *Server) Queries() []Query {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Query(nil), s.log...)
}

// ResetLog forgets the queries received so far.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

func (s *Server) fault(name string, qtype uint16) Fault {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range []faultKey{{name, qtype}, {name, 0}, {"", qtype}, {"", 0}} {
		if f, ok := s.faults[k]; ok {
			return f
		}
	}
	return Fault{}
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := Query{Arrived: events.Add(1), RD: r.RecursionDesired}
	_, q.TCP = w.RemoteAddr().(*net.TCPAddr)
	s.mu.RLock()
	step := s.step
	s.mu.RUnlock()
	// Logged before the answer leaves, so a client that got it sees the entry.
	reply := func(m *dns.Msg) {
		if m != nil {
			if step != nil && !step.hold(s.closing) {
				m = nil // closed while held
			}
		}
		if m != nil {
			q.Answered = events.Add(1)
		}
		s.mu.Lock()
		s.log = append(s.log, q)
		s.mu.Unlock()
		if m != nil {
			w.WriteMsg(m)
		}
	}
	if len(r.Question) != 1 {
		reply(new(dns.Msg).SetRcode(r, dns.RcodeFormatError))
		return
	}
	q.Name, q.Type = dns.CanonicalName(r.Question[0].Name), r.Question[0].Qtype
	f := s.fault(q.Name, q.Type)
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			reply(nil)
			return
		}
	}
	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case f.Drop:
		reply(nil)
		return
	case f.Rcode != 0:
		m.Rcode = f.Rcode
	case f.Truncate && !q.TCP:
		m.Truncated = true
	case f.Lame:
	default:
		s.answer(m, q.Name, q.Type, q.RD)
		if f.NoSOA && len(m.Answer) == 0 {
			m.Ns = nil
		}
	}
	if !q.TCP {
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = max(size, int(o.UDPSize()))
		}
		m.Truncate(size)
	}
	reply(m)
}

// zoneFor returns the deepest zone the server holds that encloses name.
func (s *Server) zoneFor(name string) *zone {
	for n := name; ; {
		if z, ok := s.zones[n]; ok {
			return z
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			return nil
		}
		n = n[i:]
	}
}

// answer fills m from the zones, following CNAMEs (RFC 1034 §4.3.2 step 3a).
func (s *Server) answer(m *dns.Msg, name string, qtype uint16, recursive bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m.RecursionAvailable = recursive
	for hops := 0; hops < 16; hops++ {
		z := s.zoneFor(name)
		if z == nil {
			if hops == 0 {
				m.Rcode = dns.RcodeRefused
				if recursive {
					m.Rcode = dns.RcodeNameError // the whole namespace is "ours"
				}
			}
			return // a chain leaving our data: the client follows it
		}
		if cut := z.delegation(name); cut != nil {
			if recursive {
				// A resolver would ask the child's servers; we do not hold them.
				m.Rcode = dns.RcodeServerFailure
				return
			}
			if hops == 0 {
				m.Ns = cut
				m.Extra = s.glue(cut)
			}
			return
		}
		if hops == 0 {
			m.Authoritative = !recursive
		}
		rrs := z.rrs[name]
		if data := typed(rrs, qtype); len(data) > 0 {
			m.Answer = append(m.Answer, data...)
			if qtype == dns.TypeNS {
				m.Extra = s.glue(data)
			}
			return
		}
		cname := typed(rrs, dns.TypeCNAME)
		if len(cname) == 0 || qtype == dns.TypeCNAME {
			if !z.exists(name) {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = []dns.RR{z.negativeSOA()}
			return
		}
		m.Answer = append(m.Answer, cname[0])
		name = dns.CanonicalName(cname[0].(*dns.CNAME).Target)
	}
	m.Rcode = dns.RcodeServerFailure // a CNAME loop
}

// glue returns the A and AAAA records the server holds for the NS targets.
func (s *Server) glue(ns []dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range ns {
		target := dns.CanonicalName(rr.(*dns.NS).Ns)
		if z := s.zoneFor(target); z != nil {
			out = append(out, typed(z.rrs[target], dns.TypeA)...)
			out = append(out, typed(z.rrs[target], dns.TypeAAAA)...)
		}
	}
	return out
}

// Port returns the port the group's servers share.
func (g Group) Port() int { return g[0].Port() }

// Load loads the zones into every server of the group.
func (g Group) Load(text string) error {
	var errs []error
	for _, s := range g {
		errs = append(errs, s.Load(text))
	}
	return errors.Join(errs...)
}

// Close stops every server of the group.
func (g Group) Close() {
	for _, s := range g {
		s.Close()
	}
}

// ResetLog forgets the queries every server received.
func (g Group) ResetLog() {
	for _, s := range g {
		s.ResetLog()
	}
}

// Log returns the queries every server received since the last ResetLog,
// in order of arrival, each with its causal Round.
func (g Group) Log() []Query {
	var all []Query
	for _, s := range g {
		all = append(all, s.Queries()...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Arrived < all[j].Arrived })
	for i := range all {
		all[i].Round = 1
		for _, a := range all[:i] {
			if a.Answered != 0 && a.Answered < all[i].Arrived {
				all[i].Round = max(all[i].Round, a.Round+1)
			}
		}
	}
	return all
}

// Rounds returns how many sequential round trips the logged queries took:
// the deepest causal Round (see Log). A query that left only after an
// answer it does not need (a slow goroutine) counts one round late, so
// Rounds is an upper bound: exact under Lockstep, close when the servers
// have a Delay fault that lets concurrent queries arrive first.
func (g Group) Rounds() int {
	n := 0
	for _, q := range g.Log() {
		n = max(n, q.Round)
	}
	return n
}

// Lockstep makes every server of the group hold each answer until the
// test releases it (Lockstep.Release, Lockstep.Run), so that a client's
// concurrent queries have all arrived before any is answered.
func (g Group) Lockstep() *Lockstep {
	l := &Lockstep{arrived: make(chan struct{}, 1)}
	for _, s := range g {
		s.mu.Lock()
		s.step = l
		s.mu.Unlock()
	}
	return l
}

// Lockstep holds answers for release; see Group.Lockstep.
type Lockstep struct {
	mu      sync.Mutex
	held    []chan struct{}
	arrived chan struct{} // a query came in (coalesced)
}

// hold blocks until the answer is released; false when the server closed.
func (l *Lockstep) hold(closing <-chan struct{}) bool {
	ch := make(chan struct{})
	l.mu.Lock()
	l.held = append(l.held, ch)
	l.mu.Unlock()
	select {
	case l.arrived <- struct{}{}:
	default:
	}
	select {
	case <-ch:
		return true
	case <-closing:
		return false
	}
}

// Release sends every answer held so far, as one round, and returns how
// many.
func (l *Lockstep) Release() int {
	l.mu.Lock()
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, ch := range held {
		close(ch)
	}
	return len(held)
}

// Run releases the held answers round by round until done is closed and
// returns how many rounds had any. A round is released once no query has
// come in for settle: the client has sent everything it can send without
// an answer. settle is only how long to wait for a goroutine that is slow
// to send; the count itself is causal (too short a settle splits a round,
// overcounting, never undercounting).
func (l *Lockstep) Run(done <-chan struct{}, settle time.Duration) int {
	rounds := 0
	t := time.NewTimer(settle)
	defer t.Stop()
	for {
		select {
		case <-done:
			l.Release()
			return rounds
		case <-l.arrived:
			t.Reset(settle)
		case <-t.C:
			if l.Release() > 0 {
				rounds++
			}
			t.Reset(settle)
		}
	}
}
