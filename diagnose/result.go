package diagnose

import (
	"slices"
	"time"
)

// Status is the iprev result of RFC 8601 section 3, in the RFC's own words.
type Status string

const (
	// StatusPass: some PTR name forward-resolves to the IP.
	StatusPass Status = "pass"
	// StatusFail: PTR names exist, but none forward-confirms (RFC 8601 2.7.3: the
	// forward lookups gave other addresses, NXDOMAIN or no data).
	StatusFail Status = "fail"
	// StatusPermerror: the IP has no PTR record (NXDOMAIN or NODATA).
	StatusPermerror Status = "permerror"
	// StatusTemperror: DNS did not answer (timeout, SERVFAIL, REFUSED, lame
	// server) somewhere on the path; a later check may give a final result.
	StatusTemperror Status = "temperror"
)

// Severity says how much a finding matters to a receiver such as Gmail.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Code identifies a finding. Codes are a public contract (README, JSON output,
// Slack messages): never rename one.
type Code string

const (
	CodeNoPTR               Code = "no_ptr"
	CodeForwardMissing      Code = "forward_missing"
	CodeForwardMismatch     Code = "forward_mismatch"
	CodeMultiplePTR         Code = "multiple_ptr"
	CodeGenericPTR          Code = "generic_ptr"
	CodeClasslessDelegation Code = "classless_delegation"
	CodeInvalidPTRName      Code = "invalid_ptr_name"
	CodeDNSError            Code = "dns_error"
	CodePrivateIP           Code = "private_ip"
	CodeDocumentationIP     Code = "documentation_ip"
	CodeReservedIP          Code = "reserved_ip"
	CodeSPFMisaligned       Code = "spf_misaligned"
	CodeHELOMismatch        Code = "helo_mismatch"
	// CodePTRNameAlias: the PTR name is a CNAME (RFC 2181 §10.2: it should
	// not be an alias); most receivers follow it, strict ones do not.
	CodePTRNameAlias Code = "ptr_name_alias"
	// CodeCachePropagating: the authoritative servers already serve the fix,
	// the recursive resolver still serves the old answer.
	CodeCachePropagating Code = "cache_propagating"
	// CodeAuthoritativeDisagree: the reverse zone's servers give different answers.
	CodeAuthoritativeDisagree Code = "authoritative_disagree"
	// CodeSourceChanged: the authoritative servers agree on data other than
	// the resolver's (another verdict or other PTR names) that does not pass
	// (a PTR changed or removed, a new PTR whose name does not point back
	// yet): caches still serve the old answer, and the new data needs fixing.
	CodeSourceChanged Code = "source_changed"
	// CodeSiblingFails: another address of the PTR names (an AAAA next to
	// the A) does not pass FCrDNS; mail may leave from it. Never changes
	// the diagnosed IP's status.
	CodeSiblingFails Code = "sibling_fails"
	// CodeHELOLiteral: the HELO is an address literal, not a host name.
	CodeHELOLiteral Code = "helo_literal"
	// CodeNameNotPTR: the host name the user gave is not among the
	// address's PTR names; the message says which name receivers see.
	CodeNameNotPTR Code = "name_not_ptr"
	// CodeResolverUnusable: the resolver the check used answers nothing
	// (its sanity probe failed): the temperror is this machine's, not the
	// zone's, and receivers see something else.
	CodeResolverUnusable Code = "resolver_unusable"
	// CodeForwardZoneUnknown: a PTR name's forward zone has no NS at the
	// name or its parents (a domain that does not exist, a zone delegated
	// at an unusual level): the forward side comes from the resolver.
	CodeForwardZoneUnknown Code = "forward_zone_unknown"
)

// Finding is one thing the diagnosis noticed, in plain words.
//
// Every DNS name in Message (from DNS or from the user: PTR, NS, zone and
// HELO names) is shown as an inline code span, `name`, without its
// trailing dot; a backtick or control character inside it is written as an
// RFC 1035 \DDD escape (\096), so no name can close the span or format the
// text as Markdown or Slack mrkdwn. Step texts show names the same way.
// Renderers must still escape what their format needs (&, <, > for Slack).
type Finding struct {
	Code     Code     `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Provider is who most likely controls the IP's reverse zone, and so the fix.
type Provider struct {
	Name string `json:"name"`
	// HowTo is where and how the PTR is set at this provider, in one sentence.
	HowTo string `json:"how_to,omitempty"`
	// DocURL points at the provider's own documentation, when known.
	DocURL string `json:"doc_url,omitempty"`
}

// Step is one ordered fix or verification step.
type Step struct {
	Text string `json:"text"`
	// Commands are shell commands (dig …) that verify the step, shown verbatim.
	Commands []string `json:"commands,omitempty"`
}

// ServerAnswer is what one authoritative server said, queried directly (RD=0).
type ServerAnswer struct {
	Zone     string   `json:"zone"`   // the zone this server was asked about
	Server   string   `json:"server"` // name server host name
	Address  string   `json:"address"`
	PTRNames []string `json:"ptr_names,omitempty"`
	// Addresses holds the forward answers (for forward-zone servers).
	Addresses []string `json:"addresses,omitempty"`
	Error     string   `json:"error,omitempty"` // set when the server did not answer usefully
}

// SourceCheck is the FCrDNS verdict computed from the authoritative servers
// alone, bypassing every cache: it tells "fixed at the source" apart from
// "fixed everywhere".
type SourceCheck struct {
	Status  Status         `json:"status"`
	Servers []ServerAnswer `json:"servers"`
	// Agree is true when, for the reverse zone and each PTR name's forward
	// zone, at least one server answered and every server that answered gave
	// the same data. Servers that did not answer (listed with an Error) do
	// not count against it: resolvers move on to the next server.
	Agree bool `json:"agree"`
	// StaleForSeconds bounds how long resolvers may keep serving the old answer
	// when the source differs from the recursive resolver (positive TTL of the
	// old record or the negative TTL, RFC 2308).
	StaleForSeconds uint32 `json:"stale_for_seconds,omitempty"`
}

// Result is the diagnosis of one IP address. Its JSON field names are a public
// contract, documented in README.md.
type Result struct {
	Target        string              `json:"target"` // as typed
	IP            string              `json:"ip"`     // canonical text form
	Status        Status              `json:"status"`
	PTRNames      []string            `json:"ptr_names"`
	ConfirmedName string              `json:"confirmed_name,omitempty"`
	Forward       map[string][]string `json:"forward"`
	Findings      []Finding           `json:"findings"`
	// ReverseZone is the zone that holds (or would hold) the PTR, after any
	// RFC 2317 CNAME; ReverseNameservers are its NS.
	ReverseZone        string       `json:"reverse_zone,omitempty"`
	ReverseNameservers []string     `json:"reverse_nameservers,omitempty"`
	NegativeTTLSeconds *uint32      `json:"negative_ttl_seconds,omitempty"`
	Provider           *Provider    `json:"provider,omitempty"`
	Source             *SourceCheck `json:"source,omitempty"`
	// Siblings are the other addresses of the PTR names, each with its own
	// verdict (at most 8 are checked); see finding sibling_fails.
	Siblings   []Sibling `json:"siblings"`
	Guidance   []Step    `json:"guidance"`
	CheckedAt  time.Time `json:"checked_at"`
	DurationMS int64     `json:"duration_ms"`
}

// Fixed reports whether the IP passes FCrDNS at the resolver and at every
// authoritative server: the fix has propagated. When no authoritative server
// could be reached at all (a network that lets DNS out only through its
// resolver), the resolver's pass is all there is to go on: SourceUnreachable
// tells callers to say so.
func (r *Result) Fixed() bool {
	if r.Status != StatusPass || r.Source == nil {
		return false
	}
	return r.SourceUnreachable() || (r.Source.Status == StatusPass && r.Source.Agree)
}

// ResolverUnusable reports whether the diagnosis found its own resolver
// unusable (finding resolver_unusable): the status is temperror, and it
// says nothing about the address.
func (r *Result) ResolverUnusable() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Code == CodeResolverUnusable })
}

// SourceUnreachable reports whether the authoritative check was tried and no
// authoritative server answered.
func (r *Result) SourceUnreachable() bool {
	if r.Source == nil || len(r.Source.Servers) == 0 {
		return false
	}
	for _, s := range r.Source.Servers {
		if s.Error == "" {
			return false
		}
	}
	return true
}

// FixedAtSource reports whether the authoritative servers already serve a
// passing answer while the resolver does not yet.
func (r *Result) FixedAtSource() bool {
	return r.Status != StatusPass && r.Source != nil && r.Source.Status == StatusPass && r.Source.Agree
}
