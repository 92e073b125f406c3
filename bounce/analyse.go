package bounce

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// Receiver contexts: where a bounce names the rejecting server and its
// address. Those addresses are never reported as the sender's.
var (
	// RFC 3464 2.3.5 Remote-MTA, Microsoft "Receiving server: name (ip)",
	// Sendmail "while talking to name.:". qmail's wordings are read by
	// qmailReceivers.
	reRemoteMTA = regexp.MustCompile(`^remote-mta:\s*dns\s*;\s*\[?([^\s\];]+)\]?(?:\s*\(?\[?([0-9a-f:.]+)\]?\)?)?`)
	reReceiving = regexp.MustCompile(`\breceiving server:\s*([a-z0-9.\-]+)(?:\s*\(([0-9a-f:.]+)\))?`)
	// Exchange "Remote Server at mx.example.net (192.0.2.1) returned …",
	// hMailServer "Remote server (192.0.2.1) issued an error."
	reRemoteServer = regexp.MustCompile(`\bremote (?:server|host)(?: at)?(?: ([a-z0-9][a-z0-9.\-]*))? \(\[?([0-9a-f:.]+)\]?\)`)
	reTalking      = regexp.MustCompile(`\bwhile talking to\s+([a-z0-9][a-z0-9.\-]*[a-z0-9])\.?:`)

	// The receiver echoing the client's address in its greeting or EHLO reply.
	reEcho = regexp.MustCompile(`(?:\bhello\b|at your service,)[^\[\]]{0,80}\[([0-9a-f:.]+)\]`)

	reRcptTo = regexp.MustCompile(`\brcpt to:\s*<([^<>\s]+@[^<>\s]+)>`)
)

// providers name the receiver from its wording when no host is given.
var providers = []struct{ marker, name string }{
	{"gsmtp", "google"}, {"google.com", "google"}, {"gmail", "google"},
	{"outlook.com", "microsoft"}, {"hotmail", "microsoft"}, {"protection.outlook", "microsoft"},
	{"yahoo", "yahoo"}, {"aol.com", "aol"}, {"gmx", "gmx"}, {"web.de", "web.de"},
	{"mail.com", "mail.com"}, {"1und1", "ionos"}, {"comcast", "comcast"},
	{"t-online", "t-online"}, {"orange.fr", "orange"}, {"mwinf", "orange"},
	{"mail.ru", "mail.ru"}, {"qq.com", "qq"},
}

// analyse reads the verdict and the details out of the chunks.
func analyse(chunks []chunk) Result {
	// Most bounces make fewer than 32 statements: one allocation holds them.
	sts := make([]statement, 0, 32)
	var anchors []hit // the statements' anchor hits (statement.hitLo)
	for _, c := range chunks {
		sts = splitStatements(c, sts, &anchors)
	}
	recv := findReceiver(sts)
	bare := !slices.ContainsFunc(sts, func(st statement) bool { return !st.returned && !isNoise(st.field) && inRejection(&st) })
	var hits, hitAt []int
	var checks []Check
	primary := -1
	named := false // a hit names an address
	for i := range sts {
		st := &sts[i]
		if st.returned || isNoise(st.field) {
			continue
		}
		full := len(hits) >= maxHits
		if full && named {
			break // a bounce that says it more often repeats itself
		}
		// Past maxHits, only an address named after the repetition is
		// still wanted: a statement naming none is not even read.
		if full && !namesIP(st.lower, recv.skip) {
			continue
		}
		m := classify(st, anchors[st.hitLo:st.hitLo+uint32(st.nHits)], bare)
		if !m.rdns {
			if primary < 0 && isRejection(st) {
				primary = i
			}
			continue
		}
		named = named || namesIP(st.lower, recv.skip)
		hits = append(hits, i)
		hitAt = append(hitAt, m.at)
		checks = append(checks, m.check)
	}
	res := Result{RDNS: len(hits) > 0}
	at := 0
	if res.RDNS {
		// The first matched statement carrying a reply code is the
		// rejection; a bare DSN Status field only backs it up.
		k := 0
		for j, i := range hits {
			if hasReplyCode(sts[i].lower) {
				k = j
				break
			}
		}
		primary, at, res.Check = hits[k], hitAt[k], checks[k]
	}
	if primary >= 0 {
		res.ReplyCode, res.Status = replyCode(sts[primary].lower, at)
	}
	if st := dsnStatus(sts); res.Status == "" && st != "" && (res.ReplyCode == 0 || int(st[0]-'0') == res.ReplyCode/100) {
		res.Status = st // a DSN Status of another class than the reply describes the retry, not the reply
	}
	res.Temporary = res.ReplyCode/100 == 4 || (res.ReplyCode == 0 && strings.HasPrefix(res.Status, "4."))
	by, _ := newestReceivedBy(sts)
	res.SendingIPs, res.IPSource = sendingIPs(sts, hits, primary, recv.skip, by)
	res.HELO, res.HELOSource = findHELO(sts, by)
	res.HELOLiteral = isAddressLiteral(res.HELO)
	res.Receiver = recv.host
	if res.Receiver == "" && primary >= 0 {
		res.Receiver = provider(sts[primary].lower)
	}
	if res.Receiver == "" && recv.firstIP.IsValid() {
		res.Receiver = recv.firstIP.String() // qmail names the receiver by address only
	}
	res.Recipient = recipient(sts, primary)
	res.Evidence = evidence(sts, hits, hitAt, primary)
	return res
}

// isRejection reports whether a statement carries a negative SMTP reply or
// a DSN diagnostic, or is a receiving server's log line recording a refusal:
// the candidate to report when no rDNS phrase matched.
func isRejection(st *statement) bool {
	return st.field == "diagnostic-code" || hasReplyCode(st.lower) || isReceiverLog(st.lower)
}

// isReceiverLog reports whether l is a receiving server's log line about a
// refused client, as its admin pastes it: Postfix "NOQUEUE: reject: RCPT
// from name[ip]", Exim "H=(helo) [ip] … rejected …", Sendmail "ruleset=…,
// relay=[ip], reject=…". The address in it is the client's, the sender's.
func isReceiverLog(l string) bool {
	return strings.Contains(l, "noqueue: reject") || (strings.Contains(l, "h=") && strings.Contains(l, " rejected ")) ||
		(strings.Contains(l, "ruleset=") && strings.Contains(l, "reject="))
}

// replyCode returns the SMTP reply code and enhanced status nearest before
// offset at (the matched phrase), or the first ones in the statement. A 2xx
// (a transcript's 250) is never the rejection.
func replyCode(l string, at int) (int, string) {
	code, status := 0, ""
	for i := nextReplyCode(l, 0); i >= 0 && (i <= at || code == 0); i = nextReplyCode(l, i+4) {
		code = int(l[i]-'0')*100 + int(l[i+1]-'0')*10 + int(l[i+2]-'0')
		status = ""
		rest := strings.TrimLeft(l[min(len(l), i+4):], " #")
		if st, at := findStatus(rest[:min(len(rest), 12)]); at == 0 {
			status = st
		}
	}
	if st, _ := findStatus(l); status == "" && st != "" && (code == 0 || int(st[0]-'0') == code/100) {
		status = st
	}
	return code, status
}

// isCodeLead reports whether c may precede a reply code: not part of a
// number, a word or an address.
func isCodeLead(c byte) bool {
	return !isDigit(c) && !isAlpha(c) && c != '.' && c != '-' && c != '/' && c != '_'
}

// dsnStatus returns the first RFC 3464 Status field, if any.
func dsnStatus(sts []statement) string {
	for i := range sts {
		if sts[i].field == "status" && !sts[i].returned {
			if st, _ := findStatus(sts[i].lower); st != "" {
				return st
			}
		}
	}
	return ""
}

type receiver struct {
	host    string
	firstIP netip.Addr
	ips     map[netip.Addr]bool
}

// skip reports whether a is no candidate for the sender's address: the
// receiver's, or one that no host sends from.
func (r receiver) skip(a netip.Addr) bool {
	a = a.Unmap()
	return r.ips[a] || a.IsLoopback() || a.IsUnspecified()
}

// findReceiver collects the rejecting server's name and every address the
// bounce gives it.
func findReceiver(sts []statement) receiver {
	r := receiver{ips: map[netip.Addr]bool{}}
	add := func(host, ip string) {
		if a, err := netip.ParseAddr(ip); err == nil {
			r.ips[a.Unmap()] = true
			if !r.firstIP.IsValid() {
				r.firstIP = a.Unmap()
			}
		} else if r.host == "" && host == "" && strings.Contains(ip, ".") {
			host = ip // Remote-MTA: dns; name
		}
		if r.host == "" && host != "" && !strings.HasPrefix(host, "unknown") {
			r.host = strings.TrimSuffix(host, ".")
		}
	}
	for i := range sts {
		st := &sts[i]
		if st.returned {
			continue
		}
		l := st.lower
		if st.field == "remote-mta" {
			if m := reRemoteMTA.FindStringSubmatch(l); m != nil {
				add("", m[1])
				add("", m[2])
			}
			continue
		}
		if isNoise(st.field) {
			continue
		}
		if strings.IndexByte(l, '[') >= 0 {
			bracketReceivers(l, add)
		}
		if st.has(cueReceiver) {
			for _, m := range reRemoteServer.FindAllStringSubmatch(l, -1) {
				add(m[1], m[2])
			}
			for _, m := range reReceiving.FindAllStringSubmatch(l, -1) {
				add(m[1], m[2])
			}
			for _, m := range reTalking.FindAllStringSubmatch(l, -1) {
				add(m[1], "")
			}
		}
		if st.has(cueQmail) && (containsAny(l, qmailWords) || tryingAddress(l)) && !strings.Contains(l, "did not like our") {
			for _, ip := range qmailReceivers(l) {
				add("", strings.TrimRight(ip, "."))
			}
		}
	}
	return r
}

// qmailWords lead or follow the receiver's address in qmail's wording.
var qmailWords = []string{"connected to", "does not like", "failed after i sent", "giving up on"}

// tryingAddress reports whether l holds telnet's "Trying 192.0.2.1...".
func tryingAddress(l string) bool {
	k := strings.Index(l, "trying ")
	return k >= 0 && k+len("trying ") < len(l) && isIPChar(l[k+len("trying ")])
}

// qmailReceivers returns, in order, the addresses qmail gives the receiver:
// "connected to 192.0.2.1", "192.0.2.1 does not like recipient" (or
// sender), "192.0.2.1 failed after i sent the message", "giving up on
// 192.0.2.1"; and telnet's "Trying 192.0.2.1..." in a pasted session. A
// candidate is a run of hex digits, dots and colons (not validated here).
// It reads as the regular expression
//
//	\bconnected to\s+\[?([0-9a-f:.]+)\]?|(?:^|\s)([0-9a-f:.]+) (?:does not like (?:recipient|sender)|failed after i sent the message)|\b(?:giving up on|trying) ([0-9a-f:.]+)
//
// would with FindAll (leftmost, non-overlapping), in one pass instead of a
// backtracking run per position.
func qmailReceivers(l string) []string {
	var out []string
	run := func(i int) int { // the end of the candidate starting at i
		for i < len(l) && isIPChar(l[i]) {
			i++
		}
		return i
	}
	for p := 0; p < len(l); p++ {
		wordStart := p == 0 || !isWordChar(l[p-1])
		switch {
		case wordStart && strings.HasPrefix(l[p:], "connected to"):
			q := p + len("connected to")
			j := q
			for j < len(l) && isSpace(l[j]) {
				j++
			}
			if j == q {
				continue
			}
			if j < len(l) && l[j] == '[' {
				j++
			}
			if e := run(j); e > j {
				out = append(out, l[j:e])
				if e < len(l) && l[e] == ']' {
					e++
				}
				p = e - 1
			}
		case wordStart && (strings.HasPrefix(l[p:], "giving up on ") || strings.HasPrefix(l[p:], "trying ")):
			q := p + len("trying ")
			if l[p] == 'g' {
				q = p + len("giving up on ")
			}
			if e := run(q); e > q {
				out = append(out, l[q:e])
				p = e - 1
			}
		case p == 0 || isSpace(l[p]):
			q := p // (?:^|\s): the candidate starts at the text's start or after a space
			if isSpace(l[p]) {
				q++
			}
			if e := run(q); e > q {
				if n := qmailVerdictLen(l[e:]); n > 0 {
					out = append(out, l[q:e])
					p = e + n - 1
				}
			}
		}
	}
	return out
}

// qmailVerdictLen returns the length of the qmail phrase s starts with
// after a receiver's address, or 0.
func qmailVerdictLen(s string) int {
	for _, v := range [...]string{" does not like recipient", " does not like sender", " failed after i sent the message"} {
		if strings.HasPrefix(s, v) {
			return len(v)
		}
	}
	return 0
}

// isSpace is the \s class of regular expressions: ASCII whitespace
// except vertical tab.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// isWordChar is the \w class: what a \b boundary separates from the rest.
func isWordChar(c byte) bool { return isAlpha(c) || isDigit(c) || c == '_' }

// receiverLead words put the host and address after them in the receiver's
// role: Postfix "host mx[ip] said", "connect to mx[ip]", "relay=mx[ip]",
// "lost connection with mx[ip]", "conversation with mx[ip] timed out",
// Exim "host mx [ip]", ZoneMTA "mx=mx[ip]", Gmail "rejected by the server
// for the recipient domain d by mx. [ip]".
var receiverLead = []string{"host ", "connect to ", "connection to ", "relay=", "lost connection with ", "conversation with ", "mx=", "by "}

// receiverVerbs, after "name[addr]", make it the one that spoke: the
// sending MTA reports what the receiver said or did. Postfix "said",
// "refused to talk to me"; DragonFly Mail Agent "did not like our RCPT TO";
// qmail "does not like recipient".
var receiverVerbs = []string{"said", "refused", "did not like", "does not like", "replied", "responded", "answered"}

// bracketReceivers reports each "name[addr]" or "name [addr]" that is the
// receiver: led by receiverLead or followed by one of receiverVerbs
// (Postfix "mx.example.net[192.0.2.1]:25 said:"), or alone before a colon.
// A Sendmail receiver's ruleset log ("ruleset=check_relay, …,
// relay=[addr], reject=550 …") names the client by relay=. In an Exim delivery log
// line, one with a transport ("T=remote_smtp"), "H=mx [addr]" is the
// receiver too; in a line logging a rejection Exim received, H= is the
// client, so it is not.
func bracketReceivers(l string, add func(host, ip string)) {
	delivery := strings.Contains(l, " t=")
	// Sendmail logs the client it checks as "relay=host [ip]" with the
	// ruleset that refused it.
	sendmailCheck := strings.Contains(l, "ruleset=")
	for i := 0; ; {
		open := strings.IndexByte(l[i:], '[')
		if open < 0 {
			return
		}
		open += i
		end := strings.IndexByte(l[open:min(len(l), open+48)], ']')
		if end < 0 {
			i = open + 1
			continue
		}
		end += open
		i = end
		ip := strings.TrimPrefix(l[open+1:end], "ipv6:")
		if _, err := netip.ParseAddr(ip); err != nil {
			continue
		}
		before := strings.TrimSuffix(l[:open], " ")
		h := len(before)
		for h > 0 && (isAlpha(before[h-1]) || isDigit(before[h-1]) || before[h-1] == '.' || before[h-1] == '-') {
			h--
		}
		host := strings.TrimSuffix(before[h:], ".")
		after := strings.TrimLeft(l[end+1:], ":0123456789 ")
		led := delivery && strings.HasSuffix(before[:h], "h=")
		for _, w := range receiverLead {
			led = led || (strings.HasSuffix(before[:h], w) && !(w == "relay=" && sendmailCheck))
		}
		// Courier and others put "name [addr]:" on a line of its own before
		// the transcript of what that host said.
		alone := strings.TrimSpace(l[end+1:]) == ":"
		if led || alone || slices.ContainsFunc(receiverVerbs, func(v string) bool { return strings.HasPrefix(after, v) }) {
			add(host, ip)
		}
	}
}

// sendingIPs returns the rejected sender's addresses and where they came
// from: the rejection text first, then what the message itself proves.
// Addresses for which skip is true (the receiver's) are left out.
// by is the newest Received field's "by" clause (newestReceivedBy).
func sendingIPs(sts []statement, hits []int, primary int, skip func(netip.Addr) bool, by string) ([]string, IPSource) {
	if len(hits) == 0 && primary >= 0 {
		hits = []int{primary}
	}
	var ips []string
	seen := map[netip.Addr]bool{}
	unseen := func(a netip.Addr) bool { return !skip(a) && !seen[a.Unmap()] }
	keep := func(a netip.Addr) {
		if unseen(a) {
			seen[a.Unmap()] = true
			ips = append(ips, a.Unmap().String())
		}
	}
	for _, i := range hits {
		// The receiver's EHLO echo in a transcript is reported as such.
		l := sts[i].lower
		if sts[i].has(cueEcho) {
			l = reEcho.ReplaceAllString(l, "")
		}
		for _, a := range namedIPs(l, skip) {
			keep(a)
		}
	}
	if len(ips) > 0 {
		return ips, SourceRejection
	}
	for i := range sts {
		st := &sts[i]
		if st.returned || isNoise(st.field) || !st.has(cueEcho) {
			continue
		}
		for _, m := range reEcho.FindAllStringSubmatch(st.lower, -1) {
			if a, err := netip.ParseAddr(m[1]); err == nil {
				keep(a)
			}
		}
	}
	if len(ips) > 0 {
		return ips, SourceTranscript
	}
	for i := range sts {
		if sts[i].field == "reporting-mta" && !sts[i].returned {
			for _, a := range scanIPs(sts[i].lower) {
				keep(a)
			}
		}
	}
	if len(ips) > 0 {
		return ips, SourceDSN
	}
	// The newest Received field is first; its "by" clause is the sending
	// host. The "from" clause is the submitting client.
	if by != "" {
		for _, a := range scanIPs(by) {
			if a.IsGlobalUnicast() && !a.IsPrivate() {
				keep(a)
			}
		}
	}
	if len(ips) > 0 {
		return ips, SourceReceived
	}
	return []string{}, ""
}

// newestReceivedBy returns the "by" clause of the returned message's newest
// Received field (RFC 5321 4.4: the first one), up to its date.
func newestReceivedBy(sts []statement) (string, bool) {
	i := slices.IndexFunc(sts, func(st statement) bool { return st.returned && st.field == "received" })
	if i < 0 {
		return "", false
	}
	_, by, ok := strings.Cut(sts[i].lower, " by ")
	by, _, _ = strings.Cut(by, ";")
	return by, ok
}

// reReceivedBy is the host name a "by" clause starts with.
var reReceivedBy = regexp.MustCompile(`^([a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)+)`)

// findHELO returns the name the sending host announced and where the bounce
// shows it (see heloIn). The returned message's own Received fields are the
// weakest source: their "by" host is the sending MTA's name, its HELO unless
// it is configured to say another.
func findHELO(sts []statement, by string) (string, HELOSource) {
	found, best := "", HELOReceived
	for i := range sts {
		st := &sts[i]
		if st.returned || isNoise(st.field) || !st.has(cueHELO) {
			continue
		}
		if lo, hi, src := heloIn(st.lower); hi > lo && heloRank(src) < heloRank(best) {
			found, best = st.text[lo:hi], src
			if src == HELOTranscript {
				break
			}
		}
	}
	if found != "" {
		return found, best
	}
	if by != "" {
		if m := reReceivedBy.FindStringSubmatch(strings.TrimSpace(by)); m != nil {
			return m[1], HELOReceived
		}
	}
	return "", ""
}

// heloSources are the HELO sources, most trustworthy first.
var heloSources = []HELOSource{HELOTranscript, HELOLog, HELORejection, HELOReceived}

func heloRank(src HELOSource) int { return slices.Index(heloSources, src) }

// heloIn returns the span of the most direct HELO argument l quotes, and
// its source. A transcript shows the client's command on a line of its own
// or followed by the server's 250 reply ("EHLO name" then "250-…", "Sent:
// EHLO name" then "Got: 250"); a receiver's log names it (Postfix
// "helo=<name>", Exim "H=(name) [ip]" or "H=host (name) [ip]"); a HELO
// rejection quotes it (Postfix "<name>: Helo command rejected", Exim
// "rejected EHLO or HELO name:").
func heloIn(l string) (lo, hi int, src HELOSource) {
	rank := len(heloSources)
	keep := func(a, b int, s HELOSource) {
		if r := heloRank(s); b > a && r < rank {
			lo, hi, src, rank = a, b, s, r
		}
	}
	for k := 0; k+5 <= len(l); k++ {
		switch {
		case (strings.HasPrefix(l[k:], "ehlo ") || strings.HasPrefix(l[k:], "helo ")) && (k == 0 || isSpace(l[k-1])):
			a, b := k+5, heloEnd(l, k+5)
			rest := strings.TrimLeft(l[b:], " ")
			alone := rest == "" && (k == 0 || l[:k] == "sent: ")
			switch before := strings.TrimRight(l[:k], " "); {
			case alone || strings.HasPrefix(rest, "250") || strings.HasPrefix(rest, "got: 250") || strings.HasPrefix(rest, "<<< 250"):
				keep(a, b, HELOTranscript)
			case l[a:b] != "or" && (strings.HasSuffix(before, "rejected") || strings.HasSuffix(before, "rejected ehlo or")):
				keep(a, b, HELORejection)
			}
		case strings.HasPrefix(l[k:], "helo=<"):
			a := k + len("helo=<")
			if e := strings.IndexByte(l[a:], '>'); e > 0 && !strings.ContainsAny(l[a:a+e], " <") {
				keep(a, a+e, HELOLog)
			}
		case strings.HasPrefix(l[k:], "h=") && (k == 0 || isSpace(l[k-1])):
			// Exim: H=(helo) [ip], or H=host (helo) [ip].
			a := k + 2
			if a < len(l) && l[a] != '(' {
				sp := strings.IndexByte(l[a:], ' ')
				if sp < 0 {
					continue
				}
				a += sp + 1
			}
			if a < len(l) && l[a] == '(' {
				if e := strings.IndexByte(l[a:], ')'); e > 1 && strings.HasPrefix(l[a+e:], ") [") && !strings.ContainsAny(l[a+1:a+e], " (") {
					keep(a+1, a+e, HELOLog)
				}
			}
		case strings.HasPrefix(l[k:], ": helo command rejected") && k > 0 && l[k-1] == '>':
			if a := strings.LastIndexByte(l[:k-1], '<'); a >= 0 && !strings.ContainsAny(l[a+1:k-1], " ") {
				keep(a+1, k-1, HELORejection)
			}
		}
	}
	return lo, hi, src
}

// heloEnd returns the end of the HELO argument starting at a: a name, or
// an address literal in brackets; a trailing ':' is punctuation.
func heloEnd(l string, a int) int {
	b := a
	for b < len(l) && !isSpace(l[b]) {
		b++
	}
	return a + len(strings.TrimSuffix(l[a:b], ":"))
}

// isAddressLiteral reports whether a HELO value is an address, bracketed
// as RFC 5321 4.1.3 writes it ("[192.0.2.7]", "[IPv6:2001:db8::7]") or bare.
func isAddressLiteral(helo string) bool {
	h := strings.TrimSuffix(strings.TrimPrefix(helo, "["), "]")
	if len(h) > 5 && strings.EqualFold(h[:5], "ipv6:") {
		h = h[5:]
	}
	_, err := netip.ParseAddr(h)
	return err == nil || strings.HasPrefix(helo, "[")
}

// provider names the receiver from markers in the rejection text.
func provider(l string) string {
	for _, p := range providers {
		if strings.Contains(l, p.marker) {
			return p.name
		}
	}
	return ""
}

// recipient finds the address whose delivery failed: the DSN's recipient
// fields, the RCPT TO of a transcript, Postfix's "<a@b>:" prefix, or the
// first address in the rejection.
func recipient(sts []statement, primary int) string {
	for _, f := range []string{"final-recipient", "original-recipient", "x-failed-recipients"} {
		for i := range sts {
			if sts[i].field == f && !sts[i].returned {
				if locs := findEmails(sts[i].lower); locs != nil {
					return sts[i].text[locs[0][0]:locs[0][1]]
				}
			}
		}
	}
	for i := range sts {
		if sts[i].returned {
			continue
		}
		k := strings.Index(sts[i].lower, "rcpt to:")
		if k < 0 {
			continue
		}
		// No match starts before the first "rcpt to:": the expression runs
		// from there, keeping the byte before it for the \b.
		from := max(0, k-1)
		if m := reRcptTo.FindStringSubmatchIndex(sts[i].lower[from:]); m != nil {
			return sts[i].text[from+m[2] : from+m[3]]
		}
	}
	for i := range sts {
		t := sts[i].text
		if !sts[i].returned && strings.HasPrefix(t, "<") {
			if j := strings.Index(t, ">:"); j > 0 && strings.Contains(t[:j], "@") && !strings.ContainsAny(t[1:j], " <") {
				return t[1:j]
			}
		}
	}
	if primary >= 0 {
		for _, loc := range findEmails(sts[primary].lower) {
			e := sts[primary].lower[loc[0]:loc[1]]
			if strings.HasPrefix(e, "postmaster@") || strings.HasPrefix(e, "mailer-daemon@") {
				continue
			}
			return sts[primary].text[loc[0]:loc[1]]
		}
	}
	return ""
}

// maxEvidence bounds one evidence line; maxHits the number of lines.
const (
	maxEvidence = 600
	maxHits     = 4
)

// evidence joins the matched statements (or the rejection when none
// matched), cut to a readable length around the matched phrase.
func evidence(sts []statement, hits, hitAt []int, primary int) string {
	if len(hits) == 0 {
		if primary < 0 {
			return ""
		}
		hits, hitAt = []int{primary}, []int{0}
	}
	var lines []string
	for k, i := range hits {
		if len(lines) == maxHits {
			break
		}
		if t := dropContinuations(excerpt(sts[i].text, hitAt[k])); !slices.Contains(lines, t) {
			lines = append(lines, t)
		}
	}
	return strings.Join(lines, "\n")
}

// dropContinuations removes the " 550-5.7.25" marks a multi-line reply
// flattened onto one line repeats after its first line (RFC 5321 4.2.1),
// for readable evidence.
func dropContinuations(t string) string {
	var b strings.Builder
	done, first := 0, true
	for i := 0; i+4 <= len(t); i++ {
		if (i > 0 && t[i-1] != ' ') || t[i+3] != '-' || !isDigit(t[i]) || !isDigit(t[i+1]) || !isDigit(t[i+2]) {
			continue
		}
		if first { // the reply's own code stays
			first = false
			continue
		}
		end := skipReplyMark(t, i, len(t))
		b.WriteString(t[done:i])
		done, i = end, end
	}
	if done == 0 {
		return t
	}
	b.WriteString(t[done:])
	return b.String()
}

// excerpt cuts text to maxEvidence bytes keeping offset at in view, on
// UTF-8 boundaries.
func excerpt(text string, at int) string {
	if len(text) <= maxEvidence {
		return text
	}
	start := max(0, at-maxEvidence/3)
	end := min(len(text), start+maxEvidence)
	// Both cuts stay inside [start, end]: text that is not UTF-8 (a run of
	// continuation bytes) must not walk either one past the other.
	for start > 0 && start < end && text[start]&0xC0 == 0x80 {
		start++
	}
	for end > start && end < len(text) && text[end]&0xC0 == 0x80 {
		end--
	}
	return text[start:end]
}
