package bounce

import (
	"regexp"
	"slices"
	"strings"
)

// Phrase families that name the sender's reverse DNS as the reason. Each is a
// concept, not one receiver's sentence: the client's reverse name (its PTR,
// the hostname of its address) missing, not forward-confirming, generic or
// dynamic, or the name it announced not resolving to its address. The sourced
// wordings of testdata/fixtures are instances. They run on lower-cased text,
// and only around the literal anchors listed with each family (see
// families), which keeps the cost per byte low. Words that pasted text often
// loses its spaces around ("cannotfindyourhostname") are matched with the
// space optional.
var (
	// RFC 7372 3.3: X.7.25 "Reverse DNS validation failed".
	reStatus725 = regexp.MustCompile(`(?:^|[^\d.])[45]\.7\.25(?:$|[^\d]|\.\D)`)
	// A PTR record named as missing, bad or required.
	rePTR = regexp.MustCompile(`\bptr\b|ptr[- ]?records?\b|\bptr-`)
	// Reverse DNS under its many names. Separators vary
	// ("reverse-DNS", "check_reverse_dns_list" in a help link), and so does
	// the word order ("no DNS reverse for", "no reverse"); the SMTP
	// "reverse-path" (RFC 5321 4.1.2, MAIL FROM) is not one of them.
	reReverse = regexp.MustCompile(`(?:\b|_)reverse[-_ ]?(?:dns|lookup|look-up|host ?names?|names?|mapping|resolution|records?|entry|zone|address|ptr|domain)(?:\b|_)|\br-?dns\b|\binverse[- ]?dns\b|\bdns[-_ ](?:inverse|reverse|inverso|reverso)\b|\bfcrdns\b|\biprev\b|\b(?:no|missing|without|invalid|bad|pas de|sans|sin|kein|keinen|brak) reverse(?:$|[^-_ a-z]| (?:for|on|found|set|pour|para|für|dla)\b)`)
	// Reverse DNS in the receivers' own languages, apart so that text
	// without them costs reReverse nothing more.
	reReverseIntl = regexp.MustCompile(`rückwärts(?:auflösung|-?dns|eintrag)|résolution inverse|resolución inversa|risoluzione inversa|resolução reversa|odwrotn\S* (?:rekord|dns|wpis|strefa)|[оО]братн\S* (?:dns|зон|запис)|逆引き|反向解析|反解|역방향|리버스 ?도메인`)
	// The client's host name not found (Postfix, Sendmail, and look-alikes), and
	// the receivers' codes documented as reverse DNS failures: AOL's DNS:NR
	// (no PTR) and RTR:RD (PTR typical of a dynamic address). NetEase's
	// RP:RDN is not one: it rejects the recipient.
	reHostname = regexp.MustCompile(`\b(?:cannot|can't|could ?not|couldn't|unable ?to) ?(?:find|resolve|look ?up|determine|verify) ?(?:your|the ?client'?s?|the ?sending|the ?connecting) ?(?:reverse ?)?(?:host ?name|ip|ip ?address|address|domain ?name)\b|\bip name (?:lookup failed|possibly forged)\b|\bunresolvable (?:relay )?host ?name\b|\bip must resolve\b|\bunverif[iy]able sending ips?\b|\bdns:nr\b|\brtr:rd\b|\bunknown relay (?:host ?)?name\b`)
	// Forward confirmation of the PTR name (FCrDNS), and its failure named
	// as a forgery.
	reForward = regexp.MustCompile(`\bforward[- ]?(?:confirm\w*|dns|lookup|resolution)\b|\bdoes(?: not|n't) (?:resolve|point|match)(?: back)?(?: to)? (?:your|the|this|that)? ?(?:ip|address|sending|connecting|client)|\bforged (?:host ?name|ptr|rdns|reverse)|\bhost ?name (?:is )?(?:possibly )?forged\b|\bdoes(?: not|n't) resolve back(?:$|[.,;)])`)
	// The name the client announced (HELO, MAIL FROM domain) does not resolve
	// to its address: an identity check on the client's name.
	reIdentity = regexp.MustCompile(`\bmismatches client ip\b|\b(?:helo|ehlo|domain|host ?name|name)\b[^.;]{0,60}\b(?:does(?: not|n't) (?:resolve|point|match)(?: back)?(?: to)?|is not|isn't) (?:your|the client'?s?|the connecting|the sending|this) ?(?:ip|address|client)|\b(?:helo|ehlo|domain|host ?name)\b[^;]{0,80}\b(?:is not|isn't) \[?[0-9a-f]{1,4}[.:][0-9a-f.:]*[0-9a-f]`)
	// The receiver's DNS check of the client failed (Cox "DNS check failure",
	// AT&T "failure in DNS look-up"): weak, and never when the statement is
	// about a domain's records rather than the client's address.
	reDNSFail = regexp.MustCompile(`\bdns (?:check|look-?up) fail(?:ure|ed)\b|\bfailure in dns look-?up\b`)
	// The client address has no name at all.
	reNoName = regexp.MustCompile(`\bhas no (?:valid )?(?:dns |host ?|reverse )?name\b|\bdoes(?: not|n't) have an? (?:valid )?(?:host ?name|dns name)\b|\bno (?:valid )?(?:host ?name|dns name) (?:for|found for) (?:this|your|the)\b|\bunresolv(?:able|ed) (?:relay|sending|client|connecting) (?:host ?names?|host|ip|address)\b|\b(?:client|connecting|remote|your|their|its|sender'?s?) (?:ip ?(?:address)?|host|address)(?: \[?[0-9a-f.:]+\]?)? does(?: not|n't) (?:properly )?resolve\b`)
	// Generic, dynamic or residential names, judged by the PTR; the
	// rejection may name what it judged (hosts, connections) or quote the
	// reverse name in brackets instead of saying PTR.
	reGeneric = regexp.MustCompile(`\b(?:generic|dynamic|residential|dial-?up)\b[^.;]{0,40}\b(?:ptr|rdns|reverse|host ?names?|dns names?|dns|connections?|hosts?|clients?)\b|\b(?:ptr|rdns|reverse dns|host ?name)\b[^.;]{0,40}\b(?:generic|dynamic)\b|\bgeneric\b.{0,30}\brelay via isp\b|\b(?:generic|dynamic|residential)\b[^;\[\]]{0,60}\[[a-z0-9-]+(?:\.[a-z0-9-]+)+\]`)
	// The same concepts in text that lost its spaces, where no word
	// boundary is left to anchor on ("reverseDNSlookupfailed"): tried only
	// on such text (see spaceless).
	reSqueezed = regexp.MustCompile(`reverse-?(?:dns|lookup|hostname)|rdns|ptr-?record|dnsptr|fcrdns|forwardconfirm|(?:cannot|unableto|couldnot)(?:find|resolve|lookup|verify)(?:your|theclient)|ipnamelookupfailed`)
	// Office 365's antispam header names a PTR result as a token
	// ("PTR:InfoNoRecords"); it is stripped before matching.
	rePTRToken = regexp.MustCompile(`\bptr:[a-z0-9.\-]*`)
	// Rejections about something else that may still mention DNS names.
	reBlocklist = regexp.MustCompile(`\bblocked using\b|\blisted (?:in|on|at|by|as)\b|\bbl(?:ack|ock)[- ]?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|barracuda|sorbs|uceprotect|senderscore|proofpoint|cloudmark|\bdul\b`)
	reHELO      = regexp.MustCompile(`\b(?:helo|ehlo)\b`)
	// A spam-filter rule name ("RDNS_NONE", "BAYES_99") marks a score table
	// or test report, which lists what was checked, not why mail was refused.
	reRuleName = regexp.MustCompile(`\b[A-Z][A-Z0-9]+_[A-Z0-9_]*[A-Z0-9]\b`)
)

// match is one statement's verdict.
type match struct {
	rdns  bool
	at    int   // offset of the first matched phrase in the statement
	check Check // what the phrase says the receiver checked
}

// classify decides whether one statement blames the sender's reverse DNS.
// hits are its families' anchors, found when it was cut (cuesOf); a
// statement with none (most of them) never reaches a regular expression.
// A statement counts when it is
// part of a refusal (see inRejection), or, when bare is set because nothing
// in the input is, when it reads as a reason on its own (see bareReason):
// users paste the one line that matters, without the reply code.
func classify(st *statement, hits []hit, bare bool) match {
	if !st.has(cueAnchor) {
		// Of the glued stems, only these lack an anchor.
		if !st.has(cueGlued) {
			return match{}
		}
		return squeezed(st, st.lower, bare)
	}
	l := matchText(st)
	alone := false
	if !inRejection(st) {
		if !bare || !bareReason(st, l) {
			return match{}
		}
		alone = true
	}
	// Strong families name rDNS outright; weak ones need a context that
	// is not a blocklist or a HELO check, and so does a reason read alone.
	// Once a weak family is reached, the first veto ends the search: the
	// statement is the blocklist's or the HELO check's.
	for fi, f := range families {
		at, ok := f.find(l, fi, hits)
		if !ok || (f.needs != nil && !containsAny(l, f.needs)) || containsAny(l, f.unless) {
			continue
		}
		if (alone || !f.strong) && vetoed(l) {
			return match{}
		}
		return match{rdns: true, at: at, check: checkOf(l, f.check, hits)}
	}
	return squeezed(st, l, bare)
}

// squeezed reads a statement that lost its spaces ("550Clienthostrejected:
// cannotfindyourhostname"), where the families' anchors and word boundaries
// find nothing: the concepts' stems, in a refusal.
func squeezed(st *statement, l string, bare bool) match {
	if !spaceless(l) || !(inRejection(st) || (bare && bareReason(st, l))) || vetoed(l) {
		return match{}
	}
	if loc := reSqueezed.FindStringIndex(l); loc != nil {
		return match{rdns: true, at: loc[0], check: CheckPTR}
	}
	return match{}
}

// gluedStems are reSqueezed's stems that hold none of the families' anchors.
var gluedStems = []string{"cannot", "unableto", "couldnot", "ipnamelookup"}

// spaceless reports whether l has a word of 24 or more letters, digits and
// punctuation with 20 letters or more: words glued together. Links and
// dotted names are passed over: their parts are names, not sentences.
func spaceless(l string) bool {
	for tok := range strings.FieldsSeq(l) {
		if len(tok) < 24 || strings.Contains(tok, "://") || strings.HasPrefix(tok, "www.") {
			continue
		}
		run, letters := 0, 0
		for i := 0; i < len(tok); i++ {
			switch c := tok[i]; {
			case c == '.' || c == '/' || c == '=' || c == '&' || c == '@':
				run, letters = 0, 0
			default:
				run++
				if isAlpha(c) {
					letters++
				}
				if run >= 24 && letters >= 20 {
					return true
				}
			}
		}
	}
	return false
}

// matchText is the statement's lower-cased text as the families read it,
// with antispam result tokens blanked out.
func matchText(st *statement) string {
	if !strings.Contains(st.lower, "ptr:") {
		return st.lower
	}
	return rePTRToken.ReplaceAllStringFunc(st.lower, func(s string) string { return strings.Repeat(" ", len(s)) })
}

// checkOf refines what a matched statement says was checked: the family's
// own concept, unless the statement is more specific (a generic name, a
// failed forward confirmation), as the families' anchors found in it tell.
func checkOf(l string, c Check, hits []hit) Check {
	if c != CheckPTR {
		return c
	}
	if _, ok := families[genericFamily].find(l, genericFamily, hits); ok {
		return CheckGeneric
	}
	if _, ok := families[forwardFamily].find(l, forwardFamily, hits); ok && !containsAny(l, missingPTRWords) {
		return CheckFCrDNS
	}
	return CheckPTR
}

// missingPTRWords say there is no PTR at all: a statement that says so and
// also names forward confirmation is about the missing PTR.
var missingPTRWords = []string{"no ptr", "not have a ptr", "missing ptr", "no reverse", "no rdns", "without ptr"}

// genericFamily and forwardFamily index families for checkOf.
var genericFamily, forwardFamily = slices.IndexFunc(families, func(f family) bool { return f.re == reGeneric }),
	slices.IndexFunc(families, func(f family) bool { return f.re == reForward })

// bareReason reports whether a statement outside any refusal still reads
// as the receiver's reason, pasted alone ("Fix reverse DNS for 192.0.2.1",
// "Bad DNS PTR resource record."): short, not a question, a condition, a
// forecast, advice or a table row, not a positive reply (a greeting
// announcing a policy), and not a blocklist listing or a spam score table.
func bareReason(st *statement, l string) bool {
	return len(l) <= maxBareReason && replyPrefix(l) == "" && strings.IndexByte(l, '?') < 0 && !conditional(l) &&
		!tableRow(st.text) && !containsAny(l, adviceWords) && !reRuleName.MatchString(st.text) &&
		!(containsAny(l, rejectionWords) && !asserted(l)) // "most systems will reject you"
}

// maxBareReason bounds a reason read without a refusal around it: a
// receiver's reason is one sentence or two, a how-to is longer.
const maxBareReason = 240

// adviceWords mark a how-to or a checklist, which names what to set up
// rather than what was refused.
var adviceWords = []string{
	"make sure", "if you", "if your", "how to", "how do", "should", "anyone", "you can", "recommend",
	"dkim", "dmarc", "spam folder", "попадает в спам", "причины",
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
	check   Check    // the concept the family names
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
	{re: reStatus725, anchors: []string{"7.25"}, strong: true, check: CheckPTR, before: 4, after: 8},
	{re: reIdentity, strong: true, check: CheckHELOIdentity, anchors: []string{"mismatches client", "not resolve", "n't resolve", "not point", "n't point", "not match", "n't match", "is not", "isn't"},
		required: []string{"mismatches client", "helo", "ehlo", "domain", "name"}, before: 96, after: 48},
	{re: rePTR, anchors: []string{"ptr"}, strong: true, check: CheckPTR, needs: ptrWords, unless: []string{"mechanism"}, before: 4, after: 16},
	{re: reReverse, anchors: []string{"reverse", "rdns", "r-dns", "inverse", "iprev", "dns inverso", "dns reverso"}, strong: true, check: CheckPTR, before: 12, after: 18},
	{re: reReverseIntl, anchors: []string{"rückwärts", "résolution", "resolución", "risoluzione", "resolução", "odwrotn", "обратн", "Обратн", "逆引き", "反向", "反解", "역방향", "리버스"}, strong: true, check: CheckPTR, before: 4, after: 40},
	{re: reHostname, strong: true, check: CheckPTR, anchors: []string{"find your", "findyour", "resolve your", "resolveyour", "look up your", "lookup your", "lookupyour", "determine your", "verify your",
		"the client", "theclient", "the sending", "the connecting", "ip name", "unresolvable", "ip must", "unverif", "dns:nr", "rtr:rd", "unknown relay"},
		required: []string{"cannot", "can't", "could not", "couldnot", "couldn't", "unable to", "unableto", "ip name ", "unresolvable ", "ip must resolve",
			"unverif", "dns:nr", "rtr:rd", "unknown relay"}, before: 28, after: 40},
	{re: reForward, check: CheckFCrDNS, anchors: []string{"forward", "not resolve", "n't resolve", "not point", "n't point", "not match", "n't match", "forged"}, before: 24, after: 48},
	{re: reDNSFail, check: CheckPTR, anchors: []string{"dns check", "dns look", "failure in dns"}, unless: domainWords, before: 8, after: 24},
	{re: reNoName, check: CheckPTR, anchors: []string{"has no", "not have a", "n't have a", "no host", "no dns", "no valid", "unresolv", "not resolve", "n't resolve"}, before: 72, after: 24},
	{re: reGeneric, check: CheckGeneric, anchors: []string{"generic", "dynamic", "residential", "dial"}, before: 64, after: 72},
}

// blocklistWords gate reBlocklist.
var blocklistWords = []string{"block", "black", "listed", "dnsbl", "rbl", "spamhaus", "spamcop", "barracuda", "sorbs", "uceprotect", "senderscore", "proofpoint", "cloudmark", "dul"}

// hit is an anchor of family fam, n bytes long, found at offset at. A
// statement is shorter than 2 GiB.
type hit struct{ fam, at, n int32 }

// Cues are the word groups every statement is tagged with when it is cut
// (statement.cues): one pass over its text, instead of a search per word
// by each reader that asks.
const (
	cueAnchor   = iota // a family's anchor: classify reads the statement
	cueGlued           // gluedStems: glued text may hold a phrase
	cueRefusal         // rejectionWordsIntl
	cueHELO            // a HELO argument may be quoted
	cueQmail           // qmailWords, and telnet's "Trying addr..."
	cueReceiver        // the receiver names itself: Exchange, Microsoft, Sendmail
	cueEcho            // a greeting echoing the client address
)

// cueLex finds every cue; the families' anchors are also reported with
// their family, for classify (statement.hitLo).
var cueLex = func() *lexicon {
	x := &lexicon{}
	for fi, f := range families {
		for _, a := range f.anchors {
			x.add(cueAnchor, fi, a)
		}
	}
	for c, words := range map[int][]string{
		cueGlued:    gluedStems,
		cueRefusal:  rejectionWordsIntl,
		cueHELO:     {"helo", "ehlo", "h="},
		cueQmail:    append([]string{"trying "}, qmailWords...),
		cueReceiver: {"remote server (", "remote server at ", "remote host (", "remote host at ", "receiving server:", "while talking to"},
		cueEcho:     {"hello", "at your service"},
	} {
		for _, w := range words {
			x.add(c, -1, w)
		}
	}
	return x
}()

// cuesOf returns the cue groups found in the lower-cased text l, one bit
// per group, and appends the families' anchors found to hits.
func cuesOf(l string, hits []hit) (uint8, []hit) {
	var m uint8
	cueLex.each(l, func(w lexWord, at int) {
		m |= 1 << w.group
		if w.fam >= 0 {
			hits = append(hits, hit{int32(w.fam), int32(at), int32(len(w.lit))})
		}
	})
	return m, hits
}

// has reports whether the statement holds a word of cue group c.
func (st *statement) has(c int) bool { return st.cues&(1<<c) != 0 }

// find runs the family's expression only around its anchors' hits, so a
// long statement costs a few short regexp runs, not a scan of it all.
// Overlapping windows are merged first: text dense with anchors is scanned
// once, not once per anchor.
func (f family) find(l string, fi int, hits []hit) (int, bool) {
	lo, hi := -1, -1
	for _, h := range hits {
		if int(h.fam) != fi {
			continue
		}
		wlo, whi := max(0, int(h.at)-f.before), min(len(l), int(h.at+h.n)+f.after)
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
// chat around it ("is this the rDNS thing?"). The receivers' own languages
// say it too (German, French, Spanish, Italian, Portuguese, Polish, Russian,
// Japanese, Chinese, Korean, Vietnamese): those words are found by the cue
// pass (cueRefusal), where text without them costs nothing.
var (
	rejectionWords     = []string{"reject", "refus", "denied", "not accept", "fail", "error", "blocked", "not allowed"}
	rejectionWordsIntl = []string{
		"abgelehnt", "abgewiesen", "abweis", "zurückgewiesen", "rejet", "rechaz", "rifiut", "respint",
		"rejeitad", "recusad", "odrzuc", "odmow", "отклон", "отказ", "отбива", "блокир",
		"拒否", "拒絶", "拒绝", "退信", "退回", "거부", "차단", "반송", "từ chối",
	}
)

// inRejection reports whether a statement is part of a refusal: it carries
// an SMTP reply or enhanced status code, is a DSN diagnostic, or says so.
// A greeting or other positive reply that only announces a policy ("220
// mx ESMTP; we reject hosts without PTR") refuses nothing.
// Documentation is not a refusal either: a table row ("| code | meaning |"),
// a rule or a forecast ("will reject", "if … is rejected") rather than the
// report of a refusal.
func inRejection(st *statement) bool {
	if st.field == "diagnostic-code" || st.field == "status" {
		return true
	}
	if tableRow(st.text) {
		return false
	}
	if hasReplyCode(st.lower) {
		return true
	}
	return replyPrefix(st.lower) == "" && (st.has(cueRefusal) || (containsAny(st.lower, rejectionWords) && asserted(st.lower)) || hasStatus(st.lower))
}

// tableRow reports whether text is a row of a markdown or ASCII table.
func tableRow(text string) bool {
	t := strings.TrimSpace(text)
	return strings.HasPrefix(t, "|") && strings.Count(t, "|") >= 3
}

// asserted reports whether the refusal words of l report a refusal rather
// than state a rule or a forecast: one of them is neither qualified by a
// modal ("will reject", "may be rejected") nor in a sentence that states a
// condition ("Reject mail if the client has no PTR"), unless that sentence
// tells of a message refused ("if … it was blocked").
func asserted(l string) bool {
	for _, w := range rejectionWords {
		for k := strings.Index(l, w); k >= 0; {
			lead := strings.TrimSuffix(l[max(0, k-12):k], "be ")
			sentence := sentenceAt(l, k)
			modal := slices.ContainsFunc(modals, func(m string) bool { return strings.HasSuffix(lead, m) })
			if !modal && (!conditional(sentence) || containsAny(sentence, refusedWords)) {
				return true
			}
			next := strings.Index(l[k+len(w):], w)
			if next < 0 {
				break
			}
			k += len(w) + next
		}
	}
	return false
}

// sentenceAt returns the sentence of l around offset k: a stop followed by
// a space ends one, a dot inside a number or a name does not.
func sentenceAt(l string, k int) string {
	lo, hi := 0, len(l)
	for _, stop := range [...]string{". ", "; ", "! ", ": "} {
		if i := strings.LastIndex(l[:k], stop); i >= 0 && i+len(stop) > lo {
			lo = i + len(stop)
		}
		if i := strings.Index(l[k:], stop); i >= 0 && k+i < hi {
			hi = k + i
		}
	}
	return l[lo:hi]
}

// conditional reports whether a sentence states a condition ("if …").
func conditional(s string) bool { return strings.HasPrefix(s, "if ") || strings.Contains(s, " if ") }

// modals qualify a refusal as possible, not done; refusedWords tell of one
// done.
var (
	modals       = []string{"will ", "would ", "may ", "might ", "can ", "could ", "should ", "to "}
	refusedWords = []string{"was rejected", "was blocked", "was refused", "was denied", "were rejected", "were blocked", "been rejected", "been blocked", "been refused", "bounced"}
)

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
		// A reply glued to a word in another script ("550拒否") still is one.
		if isDigit(l[i+1]) && isDigit(l[i+2]) && (i+3 == len(l) || l[i+3] == ' ' || l[i+3] == '-' || l[i+3] >= 0x80) {
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
	"kein", "fehl", "pas de", "aucun", "manquant", "sin ", "falta", "no tiene", "senza", "manca",
	"non ha", "sem ", "não", "brak", "нет", "Нет", "отсутств", "ない", "ません", "なし", "未設定", "没有", "未设置", "无", "없",
}

// domainWords put a DNS failure on a domain's records (the recipient's MX,
// the sender domain's A) rather than on the client's address.
// A host named as "not found" (dma's "DNS lookup failure: host X not
// found") is a name being resolved, not the client's address.
var domainWords = []string{" domain", "type=mx", "mx record", "name server", "nameserver", "sender address", "recipient address",
	" not found", "nxdomain", "smarthost"}

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
