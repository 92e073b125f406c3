// Package diagnose explains why an IP address fails forward-confirmed reverse
// DNS, the "iprev" check of RFC 8601 §3 that receivers such as Gmail enforce
// with "550 5.7.25" (RFC 7372), and what to do about it.
//
// For each address it looks up the PTR names (in-addr.arpa, ip6.arpa nibbles,
// RFC 2317 CNAME delegations followed), forward-resolves every name (A and
// AAAA) and reports the RFC 8601 status: pass, fail, permerror (no PTR) or
// temperror (DNS did not answer; never reported as a missing record). It also
// finds the reverse zone's cut and name servers and asks them directly
// (RD=0), so that "fixed at the source, caches still stale" can be told from
// "fixed everywhere", reads the negative TTL (RFC 2308 §3), names the likely
// provider, flags generic provider names, checks PTR/HELO/SPF alignment
// (RFC 7208, which never changes the iprev status), gives every other
// address of the PTR names (the AAAA next to the A: its "siblings") its own
// verdict, and builds ordered fix steps with the dig commands that verify
// them.
//
// Queries go over UDP (connected sockets, reused query after query) with
// TCP fallback on truncation; a Session shares answers among the diagnoses
// of a pool or batch; independent queries run concurrently: the verdict
// needs two sequential round trips, the full
// report three when the resolver returns the name servers' addresses with
// the NS answer, four when a sibling's PTR names a host the diagnosis has
// not looked up yet. The authoritative servers, SPF and the siblings get a
// shorter deadline of their own, so that dead servers never cost the
// resolver's verdict.
package diagnose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Errors in DiagnoseTargets' outcomes; test them with errors.Is.
var (
	// ErrInvalidTarget: the target is neither an IP address nor a host name.
	ErrInvalidTarget = errors.New("diagnose: invalid target")
	// ErrNoAddress: the host name exists in no A or AAAA record (DNS said no).
	ErrNoAddress = errors.New("diagnose: host name has no A or AAAA record")
	// ErrLookup: the host name's A or AAAA lookup did not answer (DNS did
	// not say). When the other family gave addresses, DiagnoseTargets
	// returns their results together with this error.
	ErrLookup = errors.New("diagnose: host name lookup failed")
	// ErrTooManyAddresses: the host name has more addresses than are
	// diagnosed (MaxHostAddresses); DiagnoseTargets returns the results of
	// the first ones together with this error.
	ErrTooManyAddresses = errors.New("diagnose: host name has too many addresses")
	// ErrBatchCap: the target's addresses (an IP itself, or a host name's)
	// fell beyond MaxBatchAddresses: they were not diagnosed at all, so
	// nothing is known of them yet.
	ErrBatchCap = errors.New("diagnose: not diagnosed: too many distinct addresses in one request")
)

// MaxHostAddresses caps the addresses of one host name that are diagnosed:
// each costs a dozen queries, and a zone can publish hundreds of A records.
const MaxHostAddresses = 8

// Config configures a Diagnoser. Zero values mean the documented defaults.
type Config struct {
	// Resolver is the recursive resolver "host:port"; "" means the first
	// nameserver of /etc/resolv.conf.
	Resolver string
	// Timeout bounds one whole diagnosis (default 5s).
	Timeout time.Duration
	// QueryTimeout bounds one query attempt (default 1s).
	QueryTimeout time.Duration
	// Attempts is how many times a query that got no answer is sent (default 2).
	Attempts int
	// AuthorityPort is the port authoritative servers are asked on (default
	// 53); tests point it at a dnstest port.
	AuthorityPort int
	// MaxPTRNames caps the PTR names evaluated, as RFC 8601 §3 requires
	// (default 10, the guideline the RFC gives).
	MaxPTRNames int
	// Providers names who controls a reverse zone (default DefaultProviders).
	Providers []ProviderRule
	// Logger receives debug logs of every query (default slog.Default()).
	Logger *slog.Logger
	// QueryObserver, when set, is called once per query attempt (each UDP
	// try, each TCP retry after truncation, each resend after a timeout)
	// with the question's type, how it ended (the answer's RCODE name,
	// "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED"…, or "timeout" / "error"
	// when no answer came) and how long it took: for metrics. It runs on the
	// querying goroutine and must be quick and safe for concurrent use.
	QueryObserver func(qtype uint16, outcome string, d time.Duration)
	// Reuse is how long a finished diagnosis of DiagnoseTargets answers
	// repeated requests for its address (default DefaultReuse; negative:
	// never, though concurrent requests still share one diagnosis).
	// Rechecks never reuse: Options.Fresh, and DiagnoseIP.
	Reuse time.Duration
}

// Options are per-diagnosis inputs.
type Options struct {
	// HELO is the name the mail server announces (EHLO/HELO, RFC 5321
	// §4.1.1.1); when set it is compared with the PTR name (findings
	// helo_mismatch, helo_literal) and its SPF record is the one checked for
	// the HELO identity (RFC 7208 §2.3).
	HELO string
	// Name is the host name the user gave ("/rdns mail.example.com"): the
	// name the mail server means to be. When an address's PTR names do not
	// include it, finding name_not_ptr says which name receivers see.
	// DiagnoseTargets sets it for each host-name target.
	Name string
	// Fresh makes DiagnoseTargets ask DNS even when a diagnosis of the same
	// address finished within Config.Reuse: for a recheck, which must say
	// what DNS says now.
	Fresh bool
}

// Diagnoser runs diagnoses; it is safe for concurrent use.
type Diagnoser struct {
	cfg      Config
	resolver string
	q        *querier
	log      *slog.Logger
	sanity   saneProbe
	flights  *flights
}

// New checks cfg, fills in defaults and returns a Diagnoser.
func New(cfg Config) (*Diagnoser, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 2
	}
	if cfg.AuthorityPort == 0 {
		cfg.AuthorityPort = 53
	}
	if cfg.AuthorityPort < 0 || cfg.AuthorityPort > 65535 {
		return nil, fmt.Errorf("diagnose: authority port %d out of range", cfg.AuthorityPort)
	}
	if cfg.MaxPTRNames <= 0 {
		cfg.MaxPTRNames = 10
	}
	if cfg.Providers == nil {
		cfg.Providers = DefaultProviders
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Reuse == 0 {
		cfg.Reuse = DefaultReuse
	}
	resolver, err := ParseResolver(cfg.Resolver)
	if err != nil {
		return nil, err
	}
	return &Diagnoser{cfg: cfg, resolver: resolver, q: newQuerier(cfg.QueryTimeout, cfg.Attempts, cfg.QueryObserver), log: cfg.Logger,
		flights: newFlights(cfg.Reuse)}, nil
}

// capAddrs keeps the distinct addresses, IPv4 first, at most limit of them with
// each family getting half when both have more: a host's IPv6 address (the
// one that often lacks a PTR) must not be crowded out by many A records.
// distinct is how many different addresses there were.
func capAddrs(list []netip.Addr, limit int) (kept []netip.Addr, distinct int) {
	var v4, v6 []netip.Addr
	for _, ip := range list {
		ip = ip.Unmap()
		switch {
		case slices.Contains(v4, ip) || slices.Contains(v6, ip):
		case ip.Is4():
			v4 = append(v4, ip)
		default:
			v6 = append(v6, ip)
		}
	}
	n6 := min(len(v6), limit-min(len(v4), limit/2))
	n4 := min(len(v4), limit-n6)
	return append(v4[:n4], v6[:n6]...), len(v4) + len(v6)
}

// DiagnoseIP diagnoses one valid address (ParseTarget gives one); the
// Result's Target is the address. DNS failures are in the Result (status
// temperror, finding dns_error), never an error.
func (d *Diagnoser) DiagnoseIP(ctx context.Context, ip netip.Addr, opts Options) Result {
	return d.Session().DiagnoseIP(ctx, ip, opts)
}

// server is one authoritative name server: its name and "addr:port".
type server struct{ name, addr string }

// zoneInfo is a zone cut and the servers of that zone.
type zoneInfo struct {
	name    string
	servers []server
	err     error
}

// facts is everything the lookups established for one IP.
type facts struct {
	ip       netip.Addr
	rev      string
	ptr      lookup
	ptrAt    string   // the name that holds (or would hold) the PTR, after any CNAME
	names    []string // PTR names, canonical, capped at MaxPTRNames
	dropped  int      // PTR names beyond the cap
	fwd      map[string]addrs
	rz       zoneInfo
	soaMname string
	spfName  string // the HELO identity whose SPF was checked ("" none)
	spf      spfOutcome
	status   Status
	confirm  string
	src      sourceFacts
	siblings siblingFacts
	// resolverDown says why the resolver is unusable (its sanity probe
	// failed after the PTR lookup did), "" when it is usable.
	resolverDown string
	// start is when the lookups began (Result.CheckedAt), took how long
	// they ran (Result.DurationMS).
	start time.Time
	took  time.Duration
}

// negativeTTL is how long resolvers may cache the PTR's denial: from the
// reverse zone's own servers when they deny it too (a resolver's copy counts
// down, RFC 2308 §5), else from the resolver's SOA; ok is false when the
// answer is not negative or no SOA came with it.
func (f *facts) negativeTTL() (ttl uint32, ok bool) {
	switch {
	case !f.ptr.neg:
		return 0, false
	case f.src.negTTL != nil:
		return *f.src.negTTL, true
	case f.ptr.soa != nil:
		return f.ptr.ttl, true
	}
	return 0, false
}

// lookUp runs the DNS side of one diagnosis: everything that asks. Of the
// options only HELO is asked about; Name is report's.
func (s *Session) lookUp(ctx context.Context, ip netip.Addr, opts Options) *facts {
	d := s.begin()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	ip = ip.Unmap()
	rev, _ := dns.ReverseAddr(ip.String())
	f := &facts{ip: ip, rev: rev, fwd: map[string]addrs{}, start: start}
	d.gather(ctx, f, opts)
	f.took = time.Since(start)
	return f
}

// report builds the Result from facts without asking DNS: findings and
// guidance that depend on the name asked about (Options.Name) are made here,
// so one lookUp serves every name of an address. f is only read: facts
// shared by several requests stay as lookUp left them.
func (d *Diagnoser) report(ctx context.Context, f *facts, target string, opts Options) Result {
	res := Result{
		Target:        target,
		IP:            f.ip.String(),
		Status:        f.status,
		PTRNames:      trimDots(f.names),
		ConfirmedName: strings.TrimSuffix(f.confirm, "."),
		Forward:       map[string][]string{},
		Findings:      []Finding{},
		ReverseZone:   strings.TrimSuffix(f.rz.name, "."),
		Source:        f.src.check,
		Siblings:      append([]Sibling{}, f.siblings.list...),
		CheckedAt:     f.start.UTC(),
	}
	for name, a := range f.fwd {
		res.Forward[strings.TrimSuffix(name, ".")] = a.strings()
	}
	for _, s := range f.rz.servers {
		if !slices.Contains(res.ReverseNameservers, strings.TrimSuffix(s.name, ".")) {
			res.ReverseNameservers = append(res.ReverseNameservers, strings.TrimSuffix(s.name, "."))
		}
	}
	if ttl, ok := f.negativeTTL(); ok {
		res.NegativeTTLSeconds = &ttl
	}
	res.Provider = d.provider(f)
	res.Findings = d.findings(f, res.Provider, opts)
	res.Guidance = d.guidance(f, &res, opts)
	res.DurationMS = f.took.Milliseconds()
	d.log.DebugContext(ctx, "diagnosed", "ip", res.IP, "status", res.Status, "ms", res.DurationMS)
	return res
}

// Bounds of the source check, SPF and the siblings, which are not the
// verdict: at most auxMaxWait, and at most auxShare of the diagnosis's
// remaining budget, so that dead authoritative servers cost that much and
// never the resolver's verdict.
const (
	auxMaxWait = 1500 * time.Millisecond
	auxShare   = 0.4
)

// gather runs the lookups, independent ones at once, in three rounds (four
// when a sibling address has PTR names the diagnosed one has not).
func (d *diagnosis) gather(ctx context.Context, f *facts, opts Options) {
	wait := auxMaxWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Duration(float64(time.Until(dl))*auxShare))
	}
	auxCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()

	// Round 1: the PTR, and NS at the same name: a negative NS answer's SOA
	// names the zone that holds the PTR, after any RFC 2317 CNAME (RFC 2308
	// §2). A given HELO name's SPF needs nothing else, so it starts now.
	var spfWG sync.WaitGroup
	if helo := heloName(opts.HELO); helo != "" {
		f.spfName = helo
		spfWG.Go(func() { f.spf = d.checkSPF(auxCtx, f.ip, helo) })
	}
	var nsRev lookup
	var wg sync.WaitGroup
	wg.Go(func() { f.ptr = d.resolve(ctx, f.rev, dns.TypePTR) })
	wg.Go(func() { nsRev = d.resolve(ctx, f.rev, dns.TypeNS) })
	wg.Wait()
	f.ptrAt = f.ptr.final
	if f.ptr.err != nil && nsRev.err == nil {
		f.ptrAt = nsRev.final
	}
	f.names, f.dropped = ptrNames(f.ptr, d.cfg.MaxPTRNames)

	// Round 2: forward lookups of every name (the verdict), the zone cuts
	// and servers of the reverse zone and of every name's forward zone, SPF.
	// Round 3: the authoritative servers, bypassing every cache, and the
	// PTR of every other address the names have (the siblings). Each chain
	// starts its next query as soon as its own answer is in, so one slow
	// lookup does not hold back the others.
	var mu sync.Mutex
	var revAns []lookup
	srcFwd := map[string][]fwdAnswer{}
	if f.ptr.err != nil {
		// The resolver may be unusable rather than the zone broken: its
		// probe runs alongside the reverse zone's lookups.
		wg.Go(func() {
			if ok, why := d.sanity.check(ctx, d.Diagnoser); !ok {
				f.resolverDown = why
			}
		})
	}
	wg.Go(func() {
		f.rz = d.reverseZone(ctx, f, nsRev)
		revAns = d.askReverse(auxCtx, f.rz, f.ptrAt)
	})
	sib := newSiblingChecker(d, f.ip)
	valid := validNames(f.names)
	speculated := valid[:min(len(valid), spfSpeculative)]
	if f.spfName != "" {
		speculated = nil
	}
	spf := map[string]spfOutcome{}
	for _, name := range valid {
		wg.Go(func() {
			a := d.lookupAddrs(ctx, "", name)
			setLocked(&mu, f.fwd, name, a)
			sib.start(auxCtx, name, a.list)
		})
		wg.Go(func() { setLocked(&mu, srcFwd, name, d.askForward(auxCtx, name, d.forwardZone(auxCtx, name))) })
		if slices.Contains(speculated, name) {
			// SPF may need a further round trip ("a", "mx"): it runs
			// alongside the rest rather than before it.
			spfWG.Go(func() { setLocked(&mu, spf, name, d.checkSPF(auxCtx, f.ip, name)) })
		}
	}
	wg.Wait()
	f.status, f.confirm = evaluate(f.ip, f.ptr, f.names, f.fwd)
	if f.spfName == "" && f.confirm != "" {
		f.spfName = f.confirm
		if !slices.Contains(speculated, f.confirm) {
			spfWG.Go(func() { setLocked(&mu, spf, f.confirm, d.checkSPF(auxCtx, f.ip, f.confirm)) })
		}
	}
	if f.resolverDown == "" {
		f.src = d.checkSource(auxCtx, f, revAns, srcFwd)
	} else {
		// Nothing the resolver failed to say is the zone's doing.
		f.src = sourceFacts{check: &SourceCheck{Status: StatusTemperror, Servers: []ServerAnswer{}}}
	}
	f.siblings = sib.wait(f.names, f.fwd)
	spfWG.Wait()
	if o, ok := spf[f.spfName]; ok {
		f.spf = o
	}
}

// ptrNames returns the PTR answer's names, canonical and distinct, at most
// limit of them (RFC 8601 §3), and how many more there were.
func ptrNames(ptr lookup, limit int) (names []string, dropped int) {
	for _, rr := range ptr.rrs {
		name := dns.CanonicalName(rr.(*dns.PTR).Ptr)
		switch {
		case slices.Contains(names, name):
		case len(names) == limit:
			dropped++
		default:
			names = append(names, name)
		}
	}
	return names, dropped
}

// reverseZone finds the servers of the zone holding the PTR: from the NS
// answer itself when the PTR's name is a zone apex, else from the zone the
// negative answer's SOA names.
func (d *diagnosis) reverseZone(ctx context.Context, f *facts, nsRev lookup) zoneInfo {
	if nsRev.ok() {
		return d.servers(ctx, nsRev.final, nsRev)
	}
	soa := nsRev.soa
	if soa == nil {
		soa = f.ptr.soa
	}
	if soa == nil {
		return zoneInfo{err: fmt.Errorf("no zone cut found for %s: NS %s", code(f.rev), nsRev.describe())}
	}
	f.soaMname = dns.CanonicalName(soa.Ns)
	return d.zoneAt(ctx, dns.CanonicalName(soa.Hdr.Name))
}

// evaluate applies RFC 8601 §3: pass when some PTR name's addresses include
// the IP; fail when none does and every forward lookup completed; permerror
// when there is no PTR; temperror when DNS did not answer.
func evaluate(ip netip.Addr, ptr lookup, names []string, fwd map[string]addrs) (Status, string) {
	switch {
	case ptr.err != nil:
		return StatusTemperror, ""
	case len(names) == 0:
		return StatusPermerror, ""
	}
	tempFailed := false
	for _, name := range names {
		a := fwd[name]
		if a.has(ip) {
			return StatusPass, name
		}
		if a.err != nil {
			tempFailed = true
		}
	}
	if tempFailed {
		return StatusTemperror, ""
	}
	return StatusFail, ""
}

// zoneAt asks the resolver for the NS of a known zone.
func (d *diagnosis) zoneAt(ctx context.Context, zone string) zoneInfo {
	l := d.resolve(ctx, zone, dns.TypeNS)
	if !l.ok() {
		return zoneInfo{name: zone, err: fmt.Errorf("NS %s: %s", code(zone), l.describe())}
	}
	return d.servers(ctx, zone, l)
}

// maxZoneDepth bounds the NS questions forwardZone asks for one name: a PTR
// name from DNS may have 127 labels. It asks at the name itself and at its
// ancestors of at most maxZoneDepth labels (example.co.uk has 3, a delegated
// mail.corp.example.co.uk 5), so at most maxZoneDepth questions: top-level
// domains are never asked.
const maxZoneDepth = 5

// forwardZone finds the zone cut of a host name by asking NS at the name and
// its ancestors at once: the deepest that has NS records is the zone.
func (d *diagnosis) forwardZone(ctx context.Context, name string) zoneInfo {
	var cands []string
	for n := name; dns.CountLabel(n) >= 2; {
		if n == name || dns.CountLabel(n) <= maxZoneDepth {
			cands = append(cands, n)
		}
		i, _ := dns.NextLabel(n, 0)
		n = n[i:]
	}
	ls := make([]lookup, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Go(func() { ls[i] = d.resolve(ctx, c, dns.TypeNS) })
	}
	wg.Wait()
	var errs []error
	for i, l := range ls {
		if l.ok() && len(l.chain) == 0 {
			return d.servers(ctx, cands[i], l)
		}
		if l.err != nil {
			errs = append(errs, fmt.Errorf("NS %s: %w", code(cands[i]), l.err))
		}
	}
	if len(errs) == 0 {
		// Every question was answered: the name's domain does not exist,
		// or its zone is delegated deeper than maxZoneDepth labels.
		return zoneInfo{err: fmt.Errorf("%w for %s: no NS records at it or at its parent domains of up to %d labels", errNoZoneCut, code(name), maxZoneDepth)}
	}
	return zoneInfo{err: fmt.Errorf("the zone of %s could not be found: %w", code(name), joinLine(errs...))}
}

// errNoZoneCut: no NS question found a zone, and every one was answered.
var errNoZoneCut = errors.New("the servers of the forward zone could not be identified")

// servers turns an NS answer into addresses: those in the additional
// section, else looked up (one more round trip).
func (d *diagnosis) servers(ctx context.Context, zone string, ns lookup) zoneInfo {
	z := zoneInfo{name: zone}
	var mu sync.Mutex
	var wg sync.WaitGroup
	add := func(name string, ip netip.Addr) {
		mu.Lock()
		defer mu.Unlock()
		z.servers = append(z.servers, server{name: name, addr: netip.AddrPortFrom(ip.Unmap(), uint16(d.cfg.AuthorityPort)).String()})
	}
	for _, rr := range ns.rrs {
		name := dns.CanonicalName(rr.(*dns.NS).Ns)
		found := false
		for _, x := range ns.extra {
			if strings.EqualFold(x.Header().Name, name) {
				if ip := rrAddr(x); ip.IsValid() {
					add(name, ip)
					found = true
				}
			}
		}
		if found {
			continue
		}
		wg.Go(func() {
			a := d.lookupAddrs(ctx, "", name)
			for _, ip := range a.list {
				add(name, ip)
			}
			if len(a.list) == 0 {
				mu.Lock()
				z.err = joinLine(z.err, fmt.Errorf("name server %s has no address", code(name)))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(z.servers, func(a, b server) int { return strings.Compare(a.name+a.addr, b.name+b.addr) })
	return z
}

// setLocked sets m[k] = v under mu, for results coming from concurrent lookups.
func setLocked[V any](mu *sync.Mutex, m map[string]V, k string, v V) {
	mu.Lock()
	defer mu.Unlock()
	m[k] = v
}

func trimDots(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.TrimSuffix(n, "."))
	}
	return out
}
