package diagnose

// ParseResolver reads a recursive resolver's address the one way every entry
// point takes it (DNS_RESOLVER, bot diagnose --resolver, Config.Resolver): an
// IP address (port 53), IP:port, [IPv6]:port or host:port. "" means the
// first nameserver of /etc/resolv.conf. It returns "host:port", or an error
// when s is none of these (or, for "", when /etc/resolv.conf names no
// nameserver). The parser itself stays in diagnose.go, where New uses it.
func ParseResolver(s string) (string, error) { return resolverAddr(s) }

// Resolver is the resolver address this Diagnoser asks, as ParseResolver
// gave it: the effective one, also when the default was used.
func (d *Diagnoser) Resolver() string { return d.resolver }
