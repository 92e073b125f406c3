package diagnose

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/miekg/dns"
)

// ParseResolver reads a recursive resolver's address the one way every entry
// point takes it (DNS_RESOLVER, bot diagnose --resolver, Config.Resolver): an
// IP address (port 53), IP:port, [IPv6]:port or host:port. "" means the
// first nameserver of /etc/resolv.conf. It returns "host:port", or an error
// when s is none of these (or, for "", when /etc/resolv.conf names no
// nameserver).
func ParseResolver(s string) (string, error) {
	if s == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return "", fmt.Errorf("diagnose: no resolver given and /etc/resolv.conf unusable: %w", err)
		}
		if len(cc.Servers) == 0 {
			return "", errors.New("diagnose: no resolver given and /etc/resolv.conf lists no nameserver")
		}
		return net.JoinHostPort(cc.Servers[0], cc.Port), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.String(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if p, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || p < 1 || p > 65535 {
		return "", fmt.Errorf("diagnose: resolver %q is not host:port", s)
	}
	return s, nil
}

// Resolver is the resolver address this Diagnoser asks, as ParseResolver
// gave it: the effective one, also when the default was used.
func (d *Diagnoser) Resolver() string { return d.resolver }
