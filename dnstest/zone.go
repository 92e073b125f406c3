package dnstest

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// zone is one zone's data, keyed by canonical owner name.
type zone struct {
	origin string
	soa    *dns.SOA
	rrs    map[string][]dns.RR
}

// parseZones reads master-file text (RFC 1035 §5) holding one or more
// zones: every SOA starts a zone at its owner, and each record goes to the
// deepest zone that encloses it. NS records at a child's apex are also kept
// in the parent, where they are the delegation (RFC 1034 §4.2.1).
func parseZones(text string) ([]*zone, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	var all []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		all = append(all, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("dnstest: parse zone: %w", err)
	}
	var zones []*zone
	for _, rr := range all {
		if soa, ok := rr.(*dns.SOA); ok {
			zones = append(zones, &zone{origin: dns.CanonicalName(soa.Hdr.Name), soa: soa, rrs: map[string][]dns.RR{}})
		}
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("dnstest: zone text has no SOA record")
	}
	for _, rr := range all {
		owner := dns.CanonicalName(rr.Header().Name)
		var deepest *zone
		for _, z := range zones {
			if !dns.IsSubDomain(z.origin, owner) {
				continue
			}
			if rr.Header().Rrtype == dns.TypeNS && owner != z.origin {
				z.rrs[owner] = append(z.rrs[owner], rr) // delegation in the parent
			}
			if deepest == nil || dns.CountLabel(z.origin) > dns.CountLabel(deepest.origin) {
				deepest = z
			}
		}
		if deepest == nil {
			return nil, fmt.Errorf("dnstest: record %q lies outside every zone in the text", rr.Header().Name)
		}
		if rr.Header().Rrtype == dns.TypeNS && owner != deepest.origin {
			continue // already added above
		}
		deepest.rrs[owner] = append(deepest.rrs[owner], rr)
	}
	return zones, nil
}

// exists reports whether name owns records or is an empty non-terminal:
// only then is a negative answer NODATA rather than NXDOMAIN (RFC 8020).
func (z *zone) exists(name string) bool {
	if len(z.rrs[name]) > 0 {
		return true
	}
	for owner := range z.rrs {
		if strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

// delegation returns the NS records of the zone cut at or above name
// inside z, if name lies in a delegated child.
func (z *zone) delegation(name string) []dns.RR {
	for n := name; dns.CountLabel(n) > dns.CountLabel(z.origin); {
		for _, rr := range z.rrs[n] {
			if rr.Header().Rrtype == dns.TypeNS {
				return typed(z.rrs[n], dns.TypeNS)
			}
		}
		i, _ := dns.NextLabel(n, 0)
		n = n[i:]
	}
	return nil
}

// negativeSOA is the SOA put in the authority section of NXDOMAIN and NODATA
// answers, with its TTL lowered to MINIMUM (RFC 2308 §3).
func (z *zone) negativeSOA() dns.RR {
	soa := dns.Copy(z.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
}

func typed(rrs []dns.RR, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}
