package diagnose

import (
	"context"
	"fmt"
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
func (d *Diagnoser) askReverse(ctx context.Context, z zoneInfo, name string) []lookup {
	out := make([]lookup, len(z.servers))
	var wg sync.WaitGroup
	for i, s := range z.servers {
		wg.Go(func() { out[i] = d.ask(ctx, s.addr, name, dns.TypePTR, false) })
	}
	wg.Wait()
	return out
}

// checkSource builds the FCrDNS verdict from the authoritative answers alone
// (the reverse zone's servers for the PTR, each name's forward-zone servers
// for A/AAAA, all asked with RD=0): what the zones' owners publish right
// now. Propagation is the authoritative servers agreeing; what caches still
// hold is a separate matter, bounded by TTLs. Names the source serves but the
// resolver did not (a fix not yet in caches) cost two more round trips here.
// It sets f.source, f.srcNames, f.srcFwd, f.srcDiffer and f.srcNegTTL.
func (d *Diagnoser) checkSource(ctx context.Context, f *facts, revAns []lookup, fwd map[string][]fwdAnswer) {
	sc := &SourceCheck{Status: StatusTemperror, Servers: []ServerAnswer{}}
	f.source = sc
	zone := strings.TrimSuffix(f.rz.name, ".")
	if len(f.rz.servers) == 0 {
		msg := "no name servers found for the reverse zone"
		if f.rz.err != nil {
			msg = f.rz.err.Error()
		}
		sc.Servers = append(sc.Servers, ServerAnswer{Zone: zone, Error: msg})
		return
	}
	var names []string
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
			if !slices.Contains(names, n) && len(names) < d.cfg.MaxPTRNames {
				names = append(names, n)
			}
		}
		if l.neg && l.soa != nil && (f.srcNegTTL == nil || l.ttl > *f.srcNegTTL) {
			// The zone's own negative TTL (RFC 2308 §3), not a cache's
			// count-down; servers with different SOAs: the longest bounds.
			ttl := l.ttl
			f.srcNegTTL = &ttl
		}
		rev.add(sa.PTRNames)
		sc.Servers = append(sc.Servers, sa)
	}

	// Names only the source knows: find their zones, then ask them.
	valid := validNames(names)
	var fresh []string
	for _, n := range valid {
		if _, ok := fwd[n]; !ok {
			fresh = append(fresh, n)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range fresh {
		wg.Go(func() { store(&mu, fwd, n, d.askForward(ctx, n, d.forwardZone(ctx, n))) })
	}
	wg.Wait()

	agree := rev.answered && !rev.differ
	f.srcDiffer = rev.differ
	f.srcFwd = map[string]addrs{}
	for _, n := range valid {
		var fz agreement
		u := addrs{err: errNoReply}
		for _, fa := range fwd[n] {
			sa := ServerAnswer{Zone: fa.zone, Server: strings.TrimSuffix(fa.srv.name, "."), Address: fa.srv.addr}
			switch {
			case fa.err != nil:
				sa.Error = fmt.Sprintf("%s: %v", strings.TrimSuffix(n, "."), fa.err)
			case fa.a.err != nil:
				sa.Error = fa.a.err.Error()
			default:
				u.err = nil
				u.list = append(u.list, fa.a.list...)
				sa.Addresses = fa.a.strings()
				fz.add(sa.Addresses)
			}
			sc.Servers = append(sc.Servers, sa)
		}
		agree = agree && fz.answered && !fz.differ
		f.srcDiffer = f.srcDiffer || fz.differ
		f.srcFwd[n] = u
	}
	ptr := lookup{}
	if !rev.answered {
		ptr.err = errNoReply
	}
	sc.Status, _ = evaluate(f.ip, ptr, names, f.srcFwd)
	sc.Agree = agree
	f.srcNames = names
	if f.status != StatusTemperror && (sc.Status != f.status || !slices.Equal(sorted(names), sorted(f.names))) {
		// Resolvers may keep the old answer for its remaining TTL: the
		// negative TTL of a cached NXDOMAIN/NODATA (RFC 2308 §5), or the
		// TTL of the PTR or address records they hold.
		sc.StaleForSeconds = f.ptr.ttl
		if ttl, ok := f.negativeTTL(); ok {
			sc.StaleForSeconds = ttl
		}
		for _, a := range f.fwd {
			sc.StaleForSeconds = max(sc.StaleForSeconds, a.ttl)
		}
	}
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
func (d *Diagnoser) askForward(ctx context.Context, name string, z zoneInfo) []fwdAnswer {
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
