package diagnose

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// fwdAnswer is one authoritative server's A+AAAA answer for a name.
type fwdAnswer struct {
	zone string
	srv  server
	a    addrs
	err  error // the zone's servers could not be found
}

// askReverse asks every server of the reverse zone for the PTR at name.
func (d *diagnosis) askReverse(ctx context.Context, z zoneInfo, name string) []lookup {
	out := make([]lookup, len(z.servers))
	var wg sync.WaitGroup
	for i, s := range z.servers {
		wg.Go(func() { out[i] = d.ask(ctx, s.addr, name, dns.TypePTR, false) })
	}
	wg.Wait()
	return out
}

// sourceFacts is what the authoritative servers publish (checkSource).
type sourceFacts struct {
	check  *SourceCheck
	names  []string          // PTR names the reverse zone's servers give
	fwd    map[string]addrs  // their addresses, from their zones' servers
	zones  map[string]string // each name's forward zone, where found
	differ bool              // two authoritative answers differ
	negTTL *uint32           // the reverse zone's negative TTL, from its servers
	// noCut are the names whose forward zone's servers could not be
	// identified although every NS question was answered: their addresses
	// are the resolver's.
	noCut []string
}

// checkSource builds the FCrDNS verdict from the authoritative answers alone
// (the reverse zone's servers for the PTR, each name's forward-zone servers
// for A/AAAA, all asked with RD=0): what the zones' owners publish right
// now. Propagation is the authoritative servers agreeing; what caches still
// hold is a separate matter, bounded by TTLs. Names the source serves but the
// resolver did not (a fix not yet in caches) cost two more round trips here.
func (d *diagnosis) checkSource(ctx context.Context, f *facts, revAns []lookup, fwd map[string][]fwdAnswer) sourceFacts {
	sc := &SourceCheck{Status: StatusTemperror, Servers: []ServerAnswer{}}
	out := sourceFacts{check: sc, fwd: map[string]addrs{}, zones: map[string]string{}}
	zone := strings.TrimSuffix(f.rz.name, ".")
	if len(f.rz.servers) == 0 {
		msg := "no name servers found for the reverse zone"
		if f.rz.err != nil {
			msg = f.rz.err.Error()
		}
		if zone == "" {
			zone = strings.TrimSuffix(f.ptrAt, ".") // the name asked about: never an entry naming nothing
		}
		sc.Servers = append(sc.Servers, ServerAnswer{Zone: zone, Error: msg})
		return out
	}
	var rev agreement
	for i, s := range f.rz.servers {
		l := revAns[i]
		sa := ServerAnswer{Zone: zone, Server: strings.TrimSuffix(s.name, "."), Address: s.addr}
		if l.err != nil {
			sa.Error = l.err.Error()
			sc.Servers = append(sc.Servers, sa)
			continue
		}
		for _, rr := range l.rrs {
			n := dns.CanonicalName(rr.(*dns.PTR).Ptr)
			sa.PTRNames = append(sa.PTRNames, strings.TrimSuffix(n, "."))
			if !slices.Contains(out.names, n) && len(out.names) < d.cfg.MaxPTRNames {
				out.names = append(out.names, n)
			}
		}
		if l.neg && l.soa != nil && (out.negTTL == nil || l.ttl > *out.negTTL) {
			// The zone's own negative TTL (RFC 2308 §3), not a cache's
			// count-down; servers with different SOAs: the longest bounds.
			ttl := l.ttl
			out.negTTL = &ttl
		}
		rev.add(sa.PTRNames)
		sc.Servers = append(sc.Servers, sa)
	}

	// Names only the source knows: find their zones, then ask them.
	valid := validNames(out.names)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range valid {
		if _, ok := fwd[n]; !ok {
			wg.Go(func() { setLocked(&mu, fwd, n, d.askForward(ctx, n, d.forwardZone(ctx, n))) })
		}
	}
	wg.Wait()

	agree := rev.answered && !rev.differ
	out.differ = rev.differ
	for _, n := range valid {
		var fz agreement
		u := addrs{err: errNoReply}
		for _, fa := range fwd[n] {
			sa := ServerAnswer{Zone: fa.zone, Server: strings.TrimSuffix(fa.srv.name, "."), Address: fa.srv.addr}
			switch {
			case errors.Is(fa.err, errNoZoneCut):
				// Every NS question was answered and none names the
				// zone: no server is left to ask, and the resolver's
				// answer (the one receivers get) decides the forward side.
				sa.Zone, sa.Error = strings.TrimSuffix(n, "."), fa.err.Error()
				u = d.lookupAddrs(ctx, "", n)
				fz.add(u.strings())
				out.noCut = append(out.noCut, n)
			case fa.err != nil:
				sa.Zone = cmp.Or(sa.Zone, strings.TrimSuffix(n, "."))
				sa.Error = fa.err.Error()
			case fa.a.err != nil:
				sa.Error = fa.a.err.Error()
			default:
				u.err = nil
				for _, ip := range fa.a.list {
					if !u.has(ip) {
						u.list = append(u.list, ip)
					}
				}
				sa.Addresses = fa.a.strings()
				fz.add(sa.Addresses)
			}
			if fa.zone != "" {
				out.zones[n] = fa.zone
			}
			sc.Servers = append(sc.Servers, sa)
		}
		agree = agree && fz.answered && !fz.differ
		out.differ = out.differ || fz.differ
		out.fwd[n] = u
	}
	ptr := lookup{}
	if !rev.answered {
		ptr.err = errNoReply
	}
	sc.Status, _ = evaluate(f.ip, ptr, out.names, out.fwd)
	sc.Agree = agree
	if f.status != StatusTemperror && (sc.Status != f.status || !slices.Equal(sorted(out.names), sorted(f.names))) {
		// Resolvers may keep the old answer for its remaining TTL: the
		// negative TTL of a cached NXDOMAIN/NODATA (RFC 2308 §5), or the
		// TTL of the PTR or address records they hold.
		sc.StaleForSeconds = f.ptr.ttl
		if f.ptr.neg && out.negTTL != nil {
			sc.StaleForSeconds = *out.negTTL // as facts.negativeTTL
		}
		for _, a := range f.fwd {
			sc.StaleForSeconds = max(sc.StaleForSeconds, a.ttl)
		}
	}
	return out
}

// agreement tracks what one zone's servers answered: whether any did, and
// whether two answers differ. Servers that did not answer (a dead address,
// an IPv6 address on a host without IPv6) are reported, but they are not a
// disagreement: RFC 1034 §5.3.3 has resolvers try the next server.
type agreement struct {
	first    []string
	answered bool
	differ   bool
}

func (a *agreement) add(data []string) {
	data = sorted(data)
	if !a.answered {
		a.first, a.answered = data, true
		return
	}
	a.differ = a.differ || !slices.Equal(a.first, data)
}

// askForward asks every server of the name's forward zone for A and AAAA.
func (d *diagnosis) askForward(ctx context.Context, name string, z zoneInfo) []fwdAnswer {
	if len(z.servers) == 0 {
		err := z.err
		if err == nil {
			err = errNoReply
		}
		return []fwdAnswer{{zone: strings.TrimSuffix(z.name, "."), err: err}}
	}
	out := make([]fwdAnswer, len(z.servers))
	var wg sync.WaitGroup
	for i, s := range z.servers {
		wg.Go(func() {
			out[i] = fwdAnswer{zone: strings.TrimSuffix(z.name, "."), srv: s, a: d.lookupAddrs(ctx, s.addr, name)}
		})
	}
	wg.Wait()
	return out
}

func validNames(names []string) []string {
	var out []string
	for _, n := range names {
		if invalidName(n) == "" {
			out = append(out, n)
		}
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
