package bounce

import (
	"regexp"
	"strings"
)

// Phrase families that name the sender's reverse DNS as the reason. Each is a
// family, not one receiver's sentence: the sourced wordings of
// testdata/fixtures are instances. They run on lower-cased text, and only
// around the literal anchors listed with each family (see families), which
// keeps the cost per byte low.
var (
	// RFC 7372 3.3: X.7.25 "Reverse DNS validation failed".
	reStatus725 = regexp.MustCompile(`(?:^|[^\d.])[45]\.7\.25(?:$|[^\d]|\.\D)`)
	// A PTR record named as missing, bad or required.
	rePTR = regexp.MustCompile(`\bptr\b|ptr[- ]?records?\b|\bptr-`)
	// Reverse DNS under its many names.
	// Separators vary ("reverse-DNS", "check_reverse_dns_list" in a help
	// link), and so does the word order ("no DNS reverse for", "no reverse");
	// the SMTP "reverse-path" (RFC 5321 4.1.2, MAIL FROM) is not one of them.
	reReverse = regexp.MustCompile(`(?:\b|_)reverse[-_ ]?(?:dns|lookup|look-up|host ?names?|names?|mapping|resolution|records?|entry|zone|address|ptr|domain)(?:\b|_)|\br-?dns\b|\binverse[- ]?dns\b|\bdns[-_ ](?:inverse|reverse)\b|\bfcrdns\b|\biprev\b|\b(?:no|missing|without|invalid|bad) reverse(?:$|[^-_ a-z]| (?:for|on|found|set)\b)`)
	// Client host name not found (Postfix, Sendmail, and look-alikes), and
	// the receivers' codes documented as reverse DNS failures: AOL's DNS:NR
	// (no PTR) and RTR:RD (PTR typical of a dynamic address). NetEase's
	// RP:RDN is not one: it rejects the recipient.
	reHostname = regexp.MustCompile(`\b(?:cannot|can't|could not|couldn't|unable to) (?:find|resolve|look ?up|determine|verify) (?:your|the client'?s?|the sending|the connecting) (?:reverse )?(?:host ?name|ip|ip address|address|domain name)\b|\bip name (?:lookup failed|possibly forged)\b|\bunresolvable (?:relay )?host ?name\b|\bip must resolve\b|\bmismatches client ip\b|\bunverif[iy]able sending ips?\b|\bdns:nr\b|\brtr:rd\b`)
	// Forward confirmation of the PTR name (FCrDNS).
	reForward = regexp.MustCompile(`\bforward[- ]?(?:confirm\w*|dns|lookup|resolution)\b|\bdoes(?: not|n't) (?:resolve|point|match)(?: back)?(?: to)? (?:your|the|this|that)? ?(?:ip|address|sending|connecting|client)`)
	// The receiver's DNS check of the client failed (Cox "DNS check failure",
	// AT&T "failure in DNS look-up"): weak, and never when the statement is
	// about a domain's records rather than the client's address.
	reDNSFail = regexp.MustCompile(`\bdns (?:check|look-?up) fail(?:ure|ed)\b|\bfailure in dns look-?up\b`)
	// The client address has no name at all.
	reNoName = regexp.MustCompile(`\bhas no (?:valid )?(?:dns |host ?|reverse )?name\b|\bdoes(?: not|n't) have an? (?:valid )?(?:host ?name|dns name)\b|\bno (?:valid )?(?:host ?name|dns name) (?:for|found for) (?:this|your|the)\b|\bunresolv(?:able|ed) (?:relay|sending|client|connecting) (?:host ?names?|host|ip|address)\b`)
	// Generic or dynamic names, judged by the PTR.
	reGeneric = regexp.MustCompile(`\b(?:generic|dynamic|residential|dial-?up)\b[^.;]{0,40}\b(?:ptr|rdns|reverse|host ?names?|dns names?|dns)\b|\b(?:ptr|rdns|reverse dns|host ?name)\b[^.;]{0,40}\b(?:generic|dynamic)\b|\bgeneric\b.{0,30}\brelay via isp\b`)
	// Office 365's antispam header names a PTR result as a token
	// ("PTR:InfoNoRecords"); it is stripped before matching.
	rePTRToken = regexp.MustCompile(`\bptr:[a-z0-9.\-]*`)
	// Rejections about something else that may still mention DNS names.
	reBlocklist = regexp.MustCompile(`\bblocked using\b|\blisted (?:in|on|at|by)\b|\bbl(?:ack|ock)[- ]?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|barracuda|sorbs|uceprotect|senderscore|proofpoint|cloudmark`)
	reHELO      = regexp.MustCompile(`\b(?:helo|ehlo)\b`)
)

// match is one statement's verdict.
type match struct {
	rdns bool
	at   int // offset of the first matched phrase in the statement
}

// classify decides whether one statement blames the sender's reverse DNS.
// One pass finds the families' anchors; a statement with none (most of
// them) never reaches a regular expression.
func classify(st *statement) match {
	l := st.lower
	if strings.Contains(l, "ptr:") {
		l = rePTRToken.ReplaceAllStringFunc(l, func(s string) string { return strings.Repeat(" ", len(s)) })
	}
	var buf [16]hit
	hits := anchorHits(l, buf[:0])
	if len(hits) == 0 || !inRejection(st) {
		return match{}
	}
	// Strong families name rDNS outright; weak ones need a context that
	// is not a blocklist or a HELO check.
	for fi, f := range families {
		if !f.strong && fi > 0 && families[fi-1].strong && vetoed(l) {
			return match{}
		}
		if at, ok := f.find(l, fi, hits); ok {
			if (f.needs != nil && !containsAny(l, f.needs)) || containsAny(l, f.unless) {
				continue
			}
			return match{rdns: true, at: at}
		}
	}
	return match{}
}

// vetoed reports whether l is a blocklist or HELO rejection, where dynamic
// or unresolvable names are the list's or the HELO name's business.
func vetoed(l string) bool {
	return (containsAny(l, blocklistWords) && reBlocklist.MatchString(l)) ||
		((strings.Contains(l, "helo") || strings.Contains(l, "ehlo")) && reHELO.MatchString(l))
}

// family is a phrase family with the literals any of its matches contains.
type family struct {
	re      *regexp.Regexp
	anchors []string
	strong  bool     // enough on its own; weak families yield to a veto
	needs   []string // when set, the statement must contain one of them
	unless  []string // the statement must contain none of them
	// required, when set, lists literals one of which every match of re
	// contains: a window holding none is passed over without running re,
	// which costs several substring searches' worth.
	required []string
	// before and after bound how far a phrase reaches around its anchor,
	// with a few bytes to spare so that a \b at the window's edge sees the
	// word it cuts: the expression runs on that window only, and a short
	// window is what keeps the backtracking matcher cheap.
	before, after int
}

// families in the order they are tried: strong first.
var families = []family{
	{re: reStatus725, anchors: []string{"7.25"}, strong: true, before: 4, after: 8},
	{re: rePTR, anchors: []string{"ptr"}, strong: true, needs: ptrWords, unless: []string{"mechanism"}, before: 4, after: 16},
	{re: reReverse, anchors: []string{"reverse", "rdns", "r-dns", "inverse", "iprev"}, strong: true, before: 16, after: 32},
	{re: reHostname, strong: true, anchors: []string{"find your", "resolve your", "look up your", "lookup your", "determine your", "verify your",
		"the client", "the sending", "the connecting", "ip name", "unresolvable", "ip must", "mismatches client", "unverif", "dns:nr", "rtr:rd"},
		required: []string{"cannot", "can't", "could not", "couldn't", "unable to", "ip name ", "unresolvable ", "ip must resolve",
			"mismatches client ip", "unverif", "dns:nr", "rtr:rd"}, before: 28, after: 40},
	{re: reForward, anchors: []string{"forward", "not resolve", "n't resolve", "not point", "n't point", "not match", "n't match"}, before: 16, after: 48},
	{re: reDNSFail, anchors: []string{"dns check", "dns look", "failure in dns"}, unless: domainWords, before: 8, after: 24},
	{re: reNoName, anchors: []string{"has no", "not have a", "n't have a", "no host", "no dns", "no valid", "unresolv"}, before: 12, after: 40},
	{re: reGeneric, anchors: []string{"generic", "dynamic", "residential", "dial"}, before: 64, after: 64},
}

// blocklistWords gate reBlocklist.
var blocklistWords = []string{"block", "black", "listed", "bl", "spamhaus", "spamcop", "barracuda", "sorbs", "uceprotect", "senderscore", "proofpoint", "cloudmark"}

// hit is an anchor of family fam, n bytes long, found at offset at.
type hit struct{ fam, at, n int }

type anchorRef struct {
	fam int
	lit string
}

// anchorsByFirst indexes every family's anchors by their first byte, and
// anchorPairs holds, per first byte, the set of second bytes any anchor has:
// most positions of a statement are ruled out by one bit test.
var anchorsByFirst, anchorPairs = func() (t [256][]anchorRef, pairs [256][4]uint64) {
	for fi, f := range families {
		for _, a := range f.anchors {
			t[a[0]] = append(t[a[0]], anchorRef{fi, a})
			pairs[a[0]][a[1]>>6] |= 1 << (a[1] & 63)
		}
	}
	return t, pairs
}()

// anchorHits appends the anchors found in l, in one pass.
func anchorHits(l string, hits []hit) []hit {
	for i := 0; i+1 < len(l); i++ {
		if anchorPairs[l[i]][l[i+1]>>6]&(1<<(l[i+1]&63)) == 0 {
			continue
		}
		for _, a := range anchorsByFirst[l[i]] {
			if strings.HasPrefix(l[i:], a.lit) {
				hits = append(hits, hit{a.fam, i, len(a.lit)})
			}
		}
	}
	return hits
}

// find runs the family's expression only around its anchors' hits, so a
// long statement costs a few short regexp runs, not a scan of it all.
// Overlapping windows are merged first: text dense with anchors is scanned
// once, not once per anchor.
func (f family) find(l string, fi int, hits []hit) (int, bool) {
	lo, hi := -1, -1
	for _, h := range hits {
		if h.fam != fi {
			continue
		}
		wlo, whi := max(0, h.at-f.before), min(len(l), h.at+h.n+f.after)
		if lo >= 0 && wlo <= hi {
			hi = max(hi, whi)
			continue
		}
		if at, ok := f.match(l, lo, hi); ok {
			return at, true
		}
		lo, hi = wlo, whi
	}
	return f.match(l, lo, hi)
}

// match runs the family's expression on l[lo:hi]; lo < 0 is no range.
func (f family) match(l string, lo, hi int) (int, bool) {
	if lo < 0 || (f.required != nil && !containsAny(l[lo:hi], f.required)) {
		return 0, false
	}
	if loc := f.re.FindStringIndex(l[lo:hi]); loc != nil {
		return lo + loc[0], true
	}
	return 0, false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// rejectionWords mark a statement as the receiver's refusal rather than
// chat around it ("is this the rDNS thing?").
var rejectionWords = []string{"reject", "refus", "denied", "not accept", "fail", "error", "blocked", "not allowed"}

// inRejection reports whether a statement is part of a refusal: it carries
// an SMTP reply or enhanced status code, is a DSN diagnostic, or says so.
func inRejection(st *statement) bool {
	return st.field == "diagnostic-code" || st.field == "status" || hasReplyCode(st.lower) ||
		containsAny(st.lower, rejectionWords) || hasStatus(st.lower)
}

// hasReplyCode reports whether l holds a 4xx or 5xx SMTP reply code.
func hasReplyCode(l string) bool { return nextReplyCode(l, 0) >= 0 }

// nextReplyCode returns the offset of the first 4xx or 5xx SMTP reply code
// in l at or after from, or -1: three digits standing alone, followed by a
// space, a dash or the end.
func nextReplyCode(l string, from int) int {
	for i := from; i+3 <= len(l); i++ {
		c := l[i]
		if (c != '4' && c != '5') || (i > 0 && !isCodeLead(l[i-1])) {
			continue
		}
		if isDigit(l[i+1]) && isDigit(l[i+2]) && (i+3 == len(l) || l[i+3] == ' ' || l[i+3] == '-') {
			return i
		}
	}
	return -1
}

// ptrWords say that a PTR is missing, wrong or required, rather than merely
// mentioned (a how-to link, a PTR name found on a blocklist: " lack" is
// spaced so that "blacklisted" is not one). An SPF "ptr" mechanism is never
// the client's PTR.
var ptrWords = []string{
	"no ", "not ", "n't", "missing", "without", "invalid", "bad ", "fail", "mismatch",
	" lack", "must", "requir", "need", "setup", "set up", "generic", "dynamic",
	"inconsistent", "wrong", "match", "unknown", "absent", "empty",
}

// domainWords put a DNS failure on a domain's records (the recipient's MX,
// the sender domain's A) rather than on the client's address.
var domainWords = []string{" domain", "type=mx", "mx record", "name server", "nameserver", "sender address", "recipient address"}

// noiseFields are header fields whose wording is never the rejection: the
// returned message's trace and antispam stamps (X-Forefront-Antispam-Report
// carries "PTR:InfoNoRecords" in bounces about anything).
var noiseFields = map[string]bool{
	"received": true, "received-spf": true, "authentication-results": true,
	"dkim-signature": true, "domainkey-signature": true, "message-id": true,
	"references": true, "in-reply-to": true, "return-path": true, "delivered-to": true,
	"mime-version": true, "subject": true, "thread-topic": true, "thread-index": true,
	"date": true, "from": true, "to": true, "cc": true, "reply-to": true, "sender": true,
	"accept-language": true, "content-language": true, "user-agent": true,
	"feedback-id": true, "precedence": true, "auto-submitted": true,
}

// isNoise reports whether a statement is a trace or antispam header field.
func isNoise(field string) bool {
	return noiseFields[field] || strings.HasPrefix(field, "x-") ||
		strings.HasPrefix(field, "arc-") || strings.HasPrefix(field, "list-") ||
		strings.HasPrefix(field, "content-")
}

func hasStatus(l string) bool {
	_, at := findStatus(l)
	return at >= 0
}
