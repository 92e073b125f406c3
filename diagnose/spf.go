package diagnose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/miekg/dns"
)

// spfSpeculative is how many PTR names get their SPF checked while their
// forward lookups run (before we know which confirms), to save a round trip.
const spfSpeculative = 2

// spfOutcome is the SPF result for a name used as the HELO identity.
type spfOutcome struct {
	result spf.Result
	err    error
}

// checkSPF evaluates the SPF record of name as the HELO identity
// (RFC 7208 §2.3, sender postmaster@name as §2.4 does), through our resolver.
func (d *diagnosis) checkSPF(ctx context.Context, ip netip.Addr, name string) spfOutcome {
	host := strings.TrimSuffix(name, ".")
	res, err := spf.CheckHostWithSender(net.IP(ip.AsSlice()), host, "postmaster@"+host,
		spf.WithResolver(spfResolver{d}), spf.WithContext(ctx))
	return spfOutcome{result: res, err: err}
}

// spfResolver gives blitiri.com.ar/go/spf our resolver. The library
// classifies errors by asserting *net.DNSError (not errors.As), so errors are
// returned unwrapped: IsNotFound for NXDOMAIN/NODATA, IsTemporary when DNS
// did not answer.
type spfResolver struct{ d *diagnosis }

func (r spfResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	l := r.d.resolve(ctx, dns.Fqdn(name), qtype)
	return l.rrs, netError(name, l.err, l.neg)
}

func netError(name string, err error, neg bool) error {
	switch {
	case err != nil:
		var nerr net.Error
		timeout := errors.As(err, &nerr) && nerr.Timeout()
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true, IsTimeout: timeout}
	case neg:
		return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return nil
}

func (r spfResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, err
}

func (r spfResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	rrs, err := r.query(ctx, name, dns.TypeMX)
	var out []*net.MX
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	return out, err
}

func (r spfResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	a := r.d.lookupAddrs(ctx, "", dns.Fqdn(host))
	var out []net.IPAddr
	for _, ip := range a.list {
		out = append(out, net.IPAddr{IP: net.IP(ip.AsSlice())})
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, netError(host, a.err, a.neg)
}

func (r spfResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	rev, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: addr}
	}
	rrs, err := r.query(ctx, rev, dns.TypePTR)
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, err
}
