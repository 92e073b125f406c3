package bounce

import (
	"regexp"
	"strings"
)

// Phrase families that name the sender's reverse DNS as the reason. Each is a
// family, not one receiver's sentence: the wordings in testdata/SOURCES.md
// are instances. They run on lower-cased text, and only on statements that
// contain one of the anchors below, which keeps the cost per byte low.
var (
	// RFC 7372 3.3: X.7.25 "Reverse DNS validation failed".
	reStatus725 = regexp.MustCompile(`(?:^|[^\d.])[45]\.7\.25(?:$|[^\d]|\.\D)`)
	// A PTR record named as missing, bad or required.
	rePTR = regexp.MustCompile(`\bptr\b|ptr[- ]?records?\b|\bptr-`)
	// Reverse DNS under its many names.
	reReverse = regexp.MustCompile(`\breverse[- ]?(?:dns|lookup|look-up|host ?names?|names?|mapping|resolution|records?|entry|zone|address|ptr|domain)\b|\br-?dns\b|\binverse[- ]?dns\b|\bdns[- ]inverse|\bfcrdns\b|\biprev\b|\bno rdns\b`)
	// Client host name not found (Postfix, Sendmail, and look-alikes).
	reHostname = regexp.MustCompile(`\b(?:cannot|can't|could not|couldn't|unable to) (?:find|resolve|look ?up|determine|verify) (?:your|the client'?s?|the sending|the connecting) (?:reverse )?(?:host ?name|ip|ip address|address|domain name)\b|\bip name (?:lookup failed|possibly forged)\b|\bunresolvable (?:relay )?host ?name\b|\bip must resolve\b|\bmismatches client ip\b|\(dns:nr\)|\bdns:nr\b|\brp:rdn\b`)
	// Forward confirmation of the PTR name (FCrDNS).
	reForward = regexp.MustCompile(`\bforward[- ]?(?:confirm\w*|dns|lookup|resolution)\b|\bdoes(?: not|n't) (?:resolve|point)(?: back)? to (?:your|the|this|that)? ?(?:ip|address|sending|connecting|client)`)
	// Generic or dynamic names, judged by the PTR.
	reGeneric = regexp.MustCompile(`\b(?:generic|dynamic|residential|dial-?up)\b[^.;]{0,40}\b(?:ptr|rdns|reverse|host ?names?|dns names?|dns)\b|\b(?:ptr|rdns|reverse dns|host ?name)\b[^.;]{0,40}\b(?:generic|dynamic)\b|\bgeneric\b.{0,30}\brelay via isp\b`)
	// Office 365's antispam header names a PTR result as a token
	// ("PTR:InfoNoRecords"); it is stripped before matching.
	rePTRToken = regexp.MustCompile(`\bptr:[a-z0-9.\-]*`)
	// Rejections about something else that may still mention DNS names.
	reBlocklist = regexp.MustCompile(`\bblocked using\b|\blisted (?:in|on|at|by)\b|\bbl(?:ack|ock)[- ]?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|barracuda|sorbs|uceprotect|senderscore|proofpoint|cloudmark`)
	reHELO      = regexp.MustCompile(`\b(?:helo|ehlo)\b`)
)

// anchors are cheap substring tests: a statement with none of them cannot
// match any family, so the regular expressions never see it.
var anchors = []string{
	"ptr", "reverse", "rdns", "7.25", "hostname", "host name", "ip name",
	"resolve", "forward", "generic", "dynamic", "dns:nr", "rp:rdn", "inverse", "iprev",
	"client ip", "your ip", "your address",
}

// match is one statement's verdict.
type match struct {
	rdns bool
	at   int // offset of the first matched phrase in the statement
}

// classify decides whether one statement blames the sender's reverse DNS.
func classify(st *statement) match {
	l := st.lower
	if !containsAny(l, anchors) || !inRejection(st) {
		return match{}
	}
	if strings.Contains(l, "ptr:") {
		l = rePTRToken.ReplaceAllStringFunc(l, func(s string) string { return strings.Repeat(" ", len(s)) })
	}
	// Strong families name rDNS outright; weak ones need a context that
	// is not a blocklist or a HELO check.
	for _, f := range strong {
		if !containsAny(l, f.anchors) {
			continue
		}
		if loc := f.re.FindStringIndex(l); loc != nil {
			if f.re == rePTR && !containsAny(l, ptrWords) {
				continue
			}
			return match{rdns: true, at: loc[0]}
		}
	}
	if reBlocklist.MatchString(l) || reHELO.MatchString(l) {
		return match{}
	}
	for _, f := range weak {
		if !containsAny(l, f.anchors) {
			continue
		}
		if loc := f.re.FindStringIndex(l); loc != nil {
			return match{rdns: true, at: loc[0]}
		}
	}
	return match{}
}

// family is a phrase family with the literals any of its matches contains,
// tested first because substring search is far cheaper than a regexp.
type family struct {
	re      *regexp.Regexp
	anchors []string
}

var (
	strong = []family{
		{reStatus725, []string{"7.25"}},
		{rePTR, []string{"ptr"}},
		{reReverse, []string{"reverse", "rdns", "r-dns", "inverse", "iprev"}},
		{reHostname, []string{"your", "client", "sending", "connecting", "ip name", "unresolvable", "ip must", "dns:nr", "rp:rdn"}},
	}
	weak = []family{
		{reForward, []string{"forward", "resolve", "point"}},
		{reGeneric, []string{"generic", "dynamic", "residential", "dial"}},
	}
)

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
		containsAny(st.lower, rejectionWords) || reStatus.MatchString(st.lower)
}

// hasReplyCode reports whether l holds a 4xx or 5xx SMTP reply code: three
// digits standing alone, followed by a space, a dash or the end.
func hasReplyCode(l string) bool {
	for i := 0; i+3 <= len(l); i++ {
		c := l[i]
		if (c != '4' && c != '5') || (i > 0 && (isDigit(l[i-1]) || l[i-1] == '.' || isAlpha(l[i-1]))) {
			continue
		}
		if isDigit(l[i+1]) && isDigit(l[i+2]) && (i+3 == len(l) || l[i+3] == ' ' || l[i+3] == '-') {
			return true
		}
	}
	return false
}

// ptrWords say that a PTR is missing, wrong or required, rather than merely
// mentioned (an SPF "ptr" mechanism, a how-to link).
var ptrWords = []string{
	"no ", "not ", "n't", "missing", "without", "invalid", "bad ", "fail", "mismatch",
	"lack", "must", "requir", "need", "setup", "set up", "generic", "dynamic",
	"inconsistent", "wrong", "match", "unknown", "absent", "empty",
}

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
