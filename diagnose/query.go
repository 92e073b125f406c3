package diagnose

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// maxChain bounds CNAME chains (RFC 2317 delegations use one link; RFC 2317
// §5.3 advises against two).
const maxChain = 8

// ednsSize is the DNS Flag Day 2020 UDP size: larger answers come back
// truncated and are asked again over TCP.
const ednsSize = 1232

var (
	errLame    = errors.New("lame answer: not authoritative and no data")
	errChain   = errors.New("CNAME chain too long or looping")
	errNoReply = errors.New("no answer")
	// errNoSOA: RFC 2308 §3 has the zone's servers put the SOA in every
	// negative answer, and resolvers should pass it on. A denial without it
	// comes from a filtering or cut-off resolver, or from one that strips it
	// (systemd-resolved's stub, some public resolvers): resolve tells these
	// apart with one probe.
	errNoSOA = errors.New("a denial without the zone's SOA, from a resolver that does not answer the SOA of in-addr.arpa either")
)

// rcodeError is an answer whose RCODE means the server could not or would not
// answer (SERVFAIL, REFUSED, …): never a statement that the record is absent.
type rcodeError int

func (e rcodeError) Error() string { return "server answered " + dns.RcodeToString[int(e)] }

// querier sends one question to one server: UDP first, TCP when the answer is
// truncated (RFC 2181 §9, RFC 7766), each attempt bounded by its own timeout,
// I/O failures retried within a small budget.
type querier struct {
	tcp      dns.Client
	conns    sockets // UDP sockets for reuse
	dialer   net.Dialer
	attempts int
	timeout  time.Duration
	observe  func(qtype uint16, outcome string, d time.Duration) // Config.QueryObserver, may be nil
}

func newQuerier(timeout time.Duration, attempts int, observe func(uint16, string, time.Duration)) *querier {
	return &querier{
		tcp:      dns.Client{Net: "tcp"},
		conns:    sockets{idle: map[string][]*socket{}},
		attempts: attempts,
		timeout:  timeout,
		observe:  observe,
	}
}

func (q *querier) exchange(ctx context.Context, server, name string, qtype uint16, rd bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = rd
	m.SetEdns0(ednsSize, false)
	err := errNoReply
	for range q.attempts {
		m.Id = dns.Id()
		var r *dns.Msg
		r, err = q.try(ctx, q.overUDP, m, server)
		if err == nil && r.Truncated {
			r, err = q.try(ctx, q.overTCP, m, server)
		}
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func (q *querier) try(ctx context.Context, send func(context.Context, *dns.Msg, string) (*dns.Msg, error), m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	start := time.Now()
	r, err := send(ctx, m, server)
	if q.observe != nil {
		q.observe(m.Question[0].Qtype, outcome(r, err), time.Since(start))
	}
	return r, err
}

// overTCP sends m over a TCP connection of its own (RFC 7766), after a
// truncated answer: rare enough not to keep connections.
func (q *querier) overTCP(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	r, _, err := q.tcp.ExchangeContext(ctx, m, server)
	return r, err
}

// overUDP sends m over a connected UDP socket, reused from an earlier
// query to server when one is idle: dialing a socket per query (socket,
// connect, poller registration, close) was most of a query's CPU. A
// socket carries one query at a time; datagrams whose ID is not m's are
// skipped (RFC 5452 §9.1), and the answer must be to m's question. A
// socket that saw any error (a timeout, whose late answer may still
// come; a refusal) is closed, not reused.
func (q *querier) overUDP(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	s := q.conns.get(server)
	if s == nil {
		c, err := q.dialer.DialContext(ctx, "udp", server)
		if err != nil {
			return nil, err
		}
		s = &socket{Conn: c}
	}
	r, err := exchangeOn(ctx, s.Conn, m)
	if err == nil && !sameQuestion(r, m) {
		err = errOtherQuestion
	}
	s.uses++
	if err != nil || s.uses >= maxSocketUses {
		s.Close()
	} else {
		q.conns.put(server, s)
	}
	return r, err
}

var errOtherQuestion = errors.New("answer to another question")

// udpBuffers are the buffers a query is packed into and its answer read
// into: the answer is unpacked into records of its own (miekg/dns never
// aliases the wire buffer, its server reuses them too), so one buffer
// serves query after query. 4096 bytes take any answer to the ednsSize
// the query advertises, and more from a server that ignores it.
var udpBuffers = sync.Pool{New: func() any { return new([4096]byte) }}

// exchangeOn sends m on c and reads until the answer with m's ID comes,
// within ctx's deadline.
func exchangeOn(ctx context.Context, c net.Conn, m *dns.Msg) (*dns.Msg, error) {
	buf := udpBuffers.Get().(*[4096]byte)
	defer udpBuffers.Put(buf)
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return nil, err
		}
	}
	wire, err := m.PackBuffer(buf[:])
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	if _, err := c.Write(wire); err != nil {
		return nil, err
	}
	for {
		n, err := c.Read(buf[:])
		if err != nil {
			return nil, err
		}
		if n < 12 || binary.BigEndian.Uint16(buf[:2]) != m.Id {
			continue // a stray or forged datagram, not the answer
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf[:n]); err != nil {
			return nil, fmt.Errorf("unpack answer: %w", err)
		}
		return r, nil
	}
}

// sameQuestion reports whether r answers m's question (RFC 5452 §9.1: ID,
// question, and the address and port it was sent to, which the connected
// socket checks).
func sameQuestion(r, m *dns.Msg) bool {
	if len(r.Question) != 1 {
		return false
	}
	a, b := r.Question[0], m.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// Bounds of socket reuse. A socket serves maxSocketUses queries, so the
// source port still changes, a guess an off-path forger must make beside
// the 16-bit ID (RFC 5452 §4); at most maxIdleSockets wait in all, none
// longer than socketIdleFor once a later query sweeps them.
const (
	maxSocketUses  = 64
	maxIdleSockets = 256
	socketIdleFor  = 10 * time.Second
)

// sockets keeps idle connected UDP sockets by server address.
type sockets struct {
	mu    sync.Mutex
	idle  map[string][]*socket
	n     int       // idle sockets in all
	swept time.Time // when idle ones were last closed for age
}

type socket struct {
	net.Conn
	uses  int
	since time.Time // idle since
}

// get takes an idle socket to server, nil when there is none.
func (p *sockets) get(server string) *socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[server]
	if len(list) == 0 {
		return nil
	}
	s := list[len(list)-1]
	list[len(list)-1] = nil
	if len(list) == 1 {
		delete(p.idle, server)
	} else {
		p.idle[server] = list[:len(list)-1]
	}
	p.n--
	return s
}

// put keeps s for the next query to server, or closes it when enough
// sockets are idle; now and then it closes those idle too long.
func (p *sockets) put(server string, s *socket) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.swept) > socketIdleFor {
		p.swept = now
		for k, list := range p.idle {
			kept := list[:0]
			for _, x := range list {
				if now.Sub(x.since) > socketIdleFor {
					x.Close()
					p.n--
				} else {
					kept = append(kept, x)
				}
			}
			clear(list[len(kept):])
			if len(kept) == 0 {
				delete(p.idle, k)
			} else {
				p.idle[k] = kept
			}
		}
	}
	if p.n >= maxIdleSockets {
		s.Close()
		return
	}
	s.since = now
	p.idle[server] = append(p.idle[server], s)
	p.n++
}

// outcome names how one attempt ended, for Config.QueryObserver: the RCODE
// of the answer, or "timeout" / "error" when none came.
func outcome(r *dns.Msg, err error) string {
	var nerr net.Error
	switch {
	case err == nil:
		if name, ok := dns.RcodeToString[r.Rcode]; ok {
			return name
		}
		return "RCODE" + strconv.Itoa(r.Rcode)
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		return "timeout"
	}
	return "error"
}

// lookup is what one question established, after following the CNAME chain
// in the answer.
type lookup struct {
	final  string   // the last name of the CNAME chain (the name itself without one)
	chain  []string // CNAME links followed, shown (link)
	rrs    []dns.RR // records of the asked type owned by final
	ttl    uint32   // smallest TTL of rrs, or the negative TTL
	extra  []dns.RR // the additional section (NS addresses)
	soa    *dns.SOA // SOA of a negative answer: its owner is the zone cut
	nx     bool     // NXDOMAIN
	neg    bool     // NXDOMAIN or NODATA (RFC 2308 §2): the record does not exist
	server string   // who answered (host:port)
	err    error    // no usable answer: timeout, SERVFAIL, REFUSED, lame
}

// ok reports whether the lookup found records.
func (l *lookup) ok() bool { return l.err == nil && len(l.rrs) > 0 }

// describe says in words what the lookup established, for messages.
func (l *lookup) describe() string {
	switch {
	case l.err != nil:
		return fmt.Sprintf("no usable answer from %s: %v", l.server, l.err)
	case l.nx:
		return "NXDOMAIN"
	case l.neg:
		return "no data"
	}
	return fmt.Sprintf("%d records", len(l.rrs))
}

// ask queries server. recursive sets RD=1 (the resolver); otherwise the
// server must answer authoritatively (AA=1), as RFC 2181 §6.1 says the zone's
// own servers do.
func (d *Diagnoser) ask(ctx context.Context, server, name string, qtype uint16, recursive bool) lookup {
	name = dns.CanonicalName(name)
	r, err := d.q.exchange(ctx, server, name, qtype, recursive)
	l := lookup{final: name, server: server, err: err}
	if err == nil {
		interpret(&l, r, qtype, recursive)
	}
	if d.log.Enabled(ctx, slog.LevelDebug) { // describe formats: skip it unless wanted
		d.log.DebugContext(ctx, "dns query", "server", server, "name", name, "type", dns.TypeToString[qtype], "rd", recursive, "result", l.describe())
	}
	return l
}

// resolveOnce asks the recursive resolver. A denial without SOA is believed
// only from a resolver that answers real questions (saneProbe); its
// negative TTL stays unknown (lookup.soa nil).
func (d *Diagnoser) resolveOnce(ctx context.Context, name string, qtype uint16) lookup {
	l := d.ask(ctx, d.resolver, name, qtype, true)
	if errors.Is(l.err, errNoSOA) {
		if ok, _ := d.sanity.check(ctx, d); ok {
			l.err, l.neg = nil, true
		}
	}
	return l
}

// saneFor is how long a resolver sanity verdict is reused: a resolver's
// health changes rarely, and one probe per diagnosis would add a round trip
// to every diagnosis of an IP without PTR behind such a resolver.
const saneFor = time.Minute

// saneProbe remembers whether the resolver answers real questions. It asks
// the SOA of in-addr.arpa: a working resolver returns it; an offline or
// filtering one (this sandbox's, which denies even the root) says NXDOMAIN
// or REFUSED, or nothing, and its answers then say nothing about the PTR.
type saneProbe struct {
	mu      sync.Mutex
	running chan struct{} // closed when the probe in flight ends
	ok      bool
	why     string // what the failed probe got, for messages
	until   time.Time
}

// check reports whether the resolver is working and, when it is not, what
// the probe got; it probes at most once per saneFor however many lookups
// ask at the same time. When ctx ends first, the answer is not sane and why
// is "": nothing was learned.
func (p *saneProbe) check(ctx context.Context, d *Diagnoser) (ok bool, why string) {
	p.mu.Lock()
	if time.Now().Before(p.until) {
		defer p.mu.Unlock()
		return p.ok, p.why
	}
	if wait := p.running; wait != nil {
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ""
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.ok, p.why
	}
	done := make(chan struct{})
	p.running = done
	p.mu.Unlock()

	l := d.ask(ctx, d.resolver, "in-addr.arpa.", dns.TypeSOA, true)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.ok, p.why = l.ok(), probeAnswer(l)
	if ctx.Err() == nil { // our own deadline is no verdict on the resolver
		p.until = time.Now().Add(saneFor)
	} else {
		p.why = ""
	}
	p.running = nil
	close(done)
	return p.ok, p.why
}

// probeAnswer says in words what a failed sanity probe got, "" for a
// working resolver.
func probeAnswer(l lookup) string {
	var rc rcodeError
	var nerr net.Error
	switch {
	case l.ok():
		return ""
	case errors.Is(l.err, errNoSOA) && l.nx:
		return "NXDOMAIN without an SOA"
	case errors.Is(l.err, errNoSOA):
		return "an empty answer without an SOA"
	case errors.As(l.err, &rc):
		return dns.RcodeToString[int(rc)]
	case errors.As(l.err, &nerr) && nerr.Timeout():
		return "no answer: the query timed out"
	case l.err != nil:
		return "an error: " + l.err.Error()
	}
	return l.describe()
}

// interpret classifies an answer as data, NXDOMAIN, NODATA or failure
// (RFC 2308 §2, RFC 1035 §4.1.1). A failure whose answer section holds a
// looping or overlong CNAME chain (a resolver's SERVFAIL after following a
// loop) is errChain: the zone of the chain is broken, not the server.
func interpret(l *lookup, r *dns.Msg, qtype uint16, recursive bool) {
	failed := r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError
	asked := l.final
	seen := map[string]bool{}
	for {
		var next string
		for _, rr := range r.Answer {
			h := rr.Header()
			if !strings.EqualFold(h.Name, l.final) {
				continue
			}
			if h.Rrtype == qtype {
				l.rrs = append(l.rrs, rr)
				if len(l.rrs) == 1 || h.Ttl < l.ttl {
					l.ttl = h.Ttl
				}
			} else if c, ok := rr.(*dns.CNAME); ok && next == "" {
				next = dns.CanonicalName(c.Target)
			}
		}
		if len(l.rrs) > 0 || next == "" {
			break
		}
		if seen[next] || len(l.chain) >= maxChain {
			l.err = errChain
			return
		}
		seen[next] = true
		l.chain = append(l.chain, link(l.final, next))
		l.final = next
	}
	if failed {
		*l = lookup{final: asked, server: l.server, err: rcodeError(r.Rcode)}
		return
	}
	for _, rr := range r.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			l.soa = soa
		}
	}
	l.extra = r.Extra
	switch {
	case !recursive && !r.Authoritative:
		// A referral or a server that does not hold the zone (RFC 2181 §6.1).
		l.err = errLame
	case recursive && !r.Authoritative && !r.RecursionAvailable && len(l.rrs) == 0 && len(l.chain) == 0:
		// A "resolver" that does not recurse and holds nothing: Go's
		// resolver calls this a lame referral too.
		l.err = errLame
	case len(l.rrs) > 0:
		// Data.
	case len(l.chain) > 0 && l.soa == nil && r.Rcode == dns.RcodeSuccess && !recursive:
		// The chain leaves this server's zones: neither data nor a denial.
		// lookupAddrs asks the resolver for the target.
	default:
		l.neg = true
		l.nx = r.Rcode == dns.RcodeNameError
		switch {
		case l.soa != nil:
			// RFC 2308 §3: the negative TTL is min(SOA TTL, SOA MINIMUM).
			l.ttl = min(l.soa.Hdr.Ttl, l.soa.Minttl)
		case recursive:
			l.neg, l.err = false, errNoSOA // l.nx kept: resolve may accept the denial
		}
	}
}

// addrs is the union of a name's A and AAAA records.
type addrs struct {
	list  []netip.Addr
	chain []string
	ttl   uint32
	neg   bool  // neither A nor AAAA exists
	err   error // A or AAAA did not answer
}

// lookupAddrs asks A and AAAA at once, at the resolver or (server != "") at
// an authoritative server.
func (d *diagnosis) lookupAddrs(ctx context.Context, server, name string) addrs {
	var a, aaaa lookup
	var wg sync.WaitGroup
	ask := func(l *lookup, t uint16) {
		if server == "" {
			*l = d.resolve(ctx, name, t)
			return
		}
		*l = d.ask(ctx, server, name, t, false)
		if l.err == nil && !l.neg && len(l.rrs) == 0 && len(l.chain) > 0 {
			// The alias leaves this server's zones: the resolver follows it.
			r := d.resolve(ctx, l.final, t)
			r.chain = append(l.chain, r.chain...)
			*l = r
		}
	}
	wg.Go(func() { ask(&a, dns.TypeA) })
	wg.Go(func() { ask(&aaaa, dns.TypeAAAA) })
	wg.Wait()
	var out addrs
	for i, l := range []lookup{a, aaaa} {
		if l.err != nil {
			// The name is the caller's to show: in a message it is quoted.
			out.err = joinLine(out.err, fmt.Errorf("%s: %w", [2]string{"A", "AAAA"}[i], l.err))
		}
		for _, rr := range l.rrs {
			out.list = append(out.list, rrAddr(rr))
		}
		if len(l.chain) > len(out.chain) {
			out.chain = l.chain
		}
		if l.ttl != 0 && (out.ttl == 0 || l.ttl < out.ttl) {
			out.ttl = l.ttl
		}
	}
	out.neg = a.neg && aaaa.neg
	return out
}

// joinLine joins the non-nil errors into one line ("a; b"), unlike
// errors.Join: messages end up on one line of a terminal, JSON or chat.
// errors.Is sees each of them.
func joinLine(errs ...error) error {
	var out error
	for _, e := range errs {
		switch {
		case e == nil:
		case out == nil:
			out = e
		default:
			out = fmt.Errorf("%w; %w", out, e)
		}
	}
	return out
}

func rrAddr(rr dns.RR) netip.Addr {
	var ip net.IP
	switch v := rr.(type) {
	case *dns.A:
		ip = v.A.To4() // miekg may hold A records in 16-byte form
	case *dns.AAAA:
		ip = v.AAAA
	}
	a, _ := netip.AddrFromSlice(ip)
	return a
}

// has reports whether ip is among the addresses. A v4-mapped AAAA does not
// confirm an IPv4 client: family-strict receivers (Postfix) would not match it.
func (a addrs) has(ip netip.Addr) bool { return slices.Contains(a.list, ip) }

func (a addrs) strings() []string {
	out := make([]string, 0, len(a.list))
	for _, x := range a.list {
		out = append(out, x.String())
	}
	return out
}
