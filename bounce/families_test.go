package bounce

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestPhraseFamilies: paraphrases, not fixtures. Each family must catch
// wordings it was not written from, and hard negatives that share its words
// (DNS, IP, hostname, dynamic, resolve, match) must stay out.
func TestPhraseFamilies(t *testing.T) {
	for _, s := range phrasePos {
		r := mustParse(t, s)
		if !r.RDNS {
			t.Errorf("missed: %s", s)
		}
		if strings.Contains(s, "192.0.2.4") && !slices.Equal(r.SendingIPs, []string{"192.0.2.4"}) {
			t.Errorf("sending IPs %v: %s", r.SendingIPs, s)
		}
	}
	for _, s := range phraseNeg {
		if r := mustParse(t, s); r.RDNS {
			t.Errorf("false positive: %s (%s)", s, r.Evidence)
		}
	}
}

// phrasePos and phraseNeg are TestPhraseFamilies' paraphrases.
var (
	phrasePos = []string{
		"550 5.7.1 Your IP 192.0.2.4 has no PTR record",
		"554 5.7.1 Rejected: no rDNS for 192.0.2.4",
		"550 5.7.1 [192.0.2.4] Sender IP has no reverse DNS",
		"421 4.7.0 Temporary rejection: PTR lookup failed for 192.0.2.4 (SERVFAIL)",
		"550 5.7.1 Mail from IP 192.0.2.4 refused: the hostname does not resolve back to this address (FCrDNS failed)",
		"550 Rejected because 192.0.2.4 has a generic PTR (dynamic-192-0-2-4.isp.example)",
		"550 5.7.1 Your reverse DNS (ip-192-0-2-4.isp.example) looks like a dynamic address",
		"554 5.7.1 Connection rejected: your host name does not match your IP address",
		"Sorry, your IP address (192.0.2.4) has no valid rDNS. 550",
		"550 Access denied: 192.0.2.4 - IP name lookup failed",
		"450 4.7.1 Unable to resolve your IP address to a hostname",
		"550 5.7.1 Reverse lookup of 192.0.2.4 failed",
		"553 sorry, your IP has no PTR (#5.7.1)",
		"421 4.7.25 [192.0.2.4] rDNS check failed",
		"550 No reverse lookup for your IP address",
		"550 5.7.1 Missing rDNS/PTR record for 192.0.2.4",
		"451 4.7.1 Please set up PTR (reverse DNS) for 192.0.2.4 and try again",
		"550 5.7.1 Client IP 192.0.2.4 has no DNS name",
		"550 5.7.1 Message rejected: unresolvable sending host 192.0.2.4",
		"550 5.7.1 Relaying denied. IP name possibly forged [192.0.2.4]",
		"554 5.7.1 Your mail server 192.0.2.4 does not have a hostname",
		"550 Connection from 192.0.2.4 rejected: no hostname for this IP",
		"550-5.7.25 [192.0.2.4] The IP address sending this message does not have a PTR record setup",
		"554 cmg1.fe.example.net bizsmtp 0bcW1i00G0 no DNS reverse for 192.0.2.4",
		"554 Wiadomość odrzucona: brak reverse DNS dla 192.0.2.4",
		"550 client [192.0.2.4] rejected; no rDNS",
		"451 client [192.0.2.4] rDNS lookup error (Error: queryPtr ESERVFAIL)",
		"421 Refused. You have no reverse DNS entry.",
		"421 192.0.2.4 DNS check failure - try again later",
		"421-failure in DNS look-up.",
		"554 This service permits no unverifiable sending IPs",
		"554 RTR:RD  http://postmaster.info.aol.com/errors/554rtrrd.html",
		"550 5.7.0 Your server hostname [h.example] for IP [192.0.2.4] matches a pattern. See http://spamauditor.org/best-practices/check_reverse_dns_list/",
		"550 5.7.1 HELO name does not match your IP address",
		"deferral: Remote_host_said:_451_4.7.1_Client_host_rejected:_cannot_find_your_hostname,_[192.0.2.4]/Giving_up_on_198.51.100.1./",
	}
	phraseNeg = []string{
		"554 5.7.1 <unknown[192.0.2.4]>: Client host rejected: Access denied",
		"550 5.7.1 Unfortunately, messages from [192.0.2.4] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).",
		"554 5.7.1 Service unavailable; Client host [192.0.2.4] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.4",
		"Host or domain name not found. Name service error for name=mail.example.com type=A: Host not found",
		"connect to mx.example.com[192.0.2.4]:25: Connection timed out",
		"550 5.1.0 <alice@sender.example> sender rejected: domain does not have neither a valid MX or A record",
		"550 5.5.1 Protocol error: EHLO hostname does not resolve",
		"421-4.7.0 This message does not have authentication information or fails to pass authentication checks",
		"550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
		"550 5.7.606 Access denied, banned sending IP [192.0.2.4]",
		"553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.4, because the ip is in Spamhaus's list",
		"550 5.7.1 Email rejected per DMARC policy for example.com",
		"550 5.7.23 SPF validation failed: 192.0.2.4 is not permitted to send for example.com",
		"451 4.7.1 Greylisting in action, please come back later",
		"550 5.1.1 <x@y.example>: Recipient address rejected: User unknown in local recipient table",
		"552 5.2.2 Mailbox full",
		"554 5.7.1 Client host [192.0.2.4] blocked using dul.dnsbl.sorbs.net; Dynamic IP Addresses See: http://www.sorbs.net/lookup.shtml?192.0.2.4",
		"550 5.7.1 Your IP 192.0.2.4 is listed in the Spamhaus PBL as a dynamic address",
		"450 4.1.8 <a@b.invalid>: Sender address rejected: Domain not found",
		"550 5.7.1 Message rejected: the SPF record of example.com does not designate 192.0.2.4 as permitted sender",
		"421 4.4.2 mx.example.com Error: timeout exceeded",
		"550 5.7.1 Message contains spam: reverse-engineered phishing link",
		"553 RP:RDN http://mail.163.com/help/help_spam_16.htm",
		"501 5.1.7 Bad reverse-path address syntax",
		"550 5.1.0 Invalid reverse path",
		"451 DNS temporary failure (#4.3.0)",
		"421 4.3.0 Temporary DNS lookup failure for sender domain, try again later",
		"<bob@example.com>... Deferred: Name server: example.com.: host name lookup failure",
		"Remote_host_said:_550_5.1.1_<a_b@example.com>:_Recipient_address_rejected:_User_unknown",
		"550 Message rejected: spam score 12.3 (RDNS_NONE=1.2, BAYES_99=3.5)",
		"550 5.7.23 SPF check failed: the ptr mechanism is not allowed for example.com",
		"550 5.7.1 Your PTR record mail.example.com is blacklisted",
	}
)

// TestNotTheClient: addresses a bounce gives to other hosts than the
// rejected client are never reported as the sender's.
func TestNotTheClient(t *testing.T) {
	for _, s := range []string{
		"<a@example.net>: host mx.example.net[192.0.2.222] said: 550 5.7.25 No PTR record found",
		"550-Verification failed for <a@b.example>\n550-Called:   192.0.2.1\n550-Sent:     RCPT TO:<a@b.example>\n550 Sender verify failed",
		"550 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)",
		"Connected to 192.0.2.7 but sender was rejected.\nRemote host said: 421 Refused. You have no reverse DNS entry.",
	} {
		if r := mustParse(t, s); len(r.SendingIPs) != 0 {
			t.Errorf("sending IPs %v from %q: %s", r.SendingIPs, r.IPSource, s)
		}
	}
}

// TestRespace: a log line that wrote spaces as underscores is read with
// its spaces back; underscores anywhere else stay.
func TestRespace(t *testing.T) {
	tests := map[string]string{
		"deferral: Remote_host_said:_450_4.7.1_rejected/": "deferral: Remote host said: 450 4.7.1 rejected/",
		"550 5.1.1 <john_doe@example.com>: User unknown":  "550 5.1.1 <john_doe@example.com>: User unknown",
		"x-id:_a_b_c\nkeep_me: as is":                     "x-id: a b c\nkeep_me: as is",
		"no colon_underscore_here_at_all":                 "no colon_underscore_here_at_all",
	}
	for in, want := range tests {
		if got := respace(in); got != want {
			t.Errorf("respace(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReasonClasses: the classes of issue 11, as paraphrases written for
// this test (not fixtures): each must read as its class says, with the
// sending IP when one is named and never another address.
func TestReasonClasses(t *testing.T) {
	for _, tc := range reasonClasses {
		r := mustParse(t, tc.in)
		if r.RDNS != tc.rdns || r.Check != tc.check {
			t.Errorf("%s: rdns %v check %q, want %v %q: %s (evidence %q)", tc.class, r.RDNS, r.Check, tc.rdns, tc.check, tc.in, r.Evidence)
		}
		if want := tc.ips; !slices.Equal(r.SendingIPs, append([]string{}, want...)) {
			t.Errorf("%s: sending IPs %v (source %q), want %v: %s", tc.class, r.SendingIPs, r.IPSource, want, tc.in)
		}
	}
}

var reasonClasses = []struct {
	class, in string
	rdns      bool
	ips       []string
	check     Check
}{
	// 1. A bare reason line, without code or header, placeholders included.
	{"bare", "Bad DNS PTR resource record.", true, nil, CheckPTR},
	{"bare", "Fix reverse DNS for <ip>", true, nil, CheckPTR},
	{"bare", "Fix reverse DNS for x.x.x.x", true, nil, CheckPTR},
	{"bare", "Fix reverse DNS for 192.0.2.4", true, []string{"192.0.2.4"}, CheckPTR},
	{"bare", "Connecting IP must have valid PTR record", true, nil, CheckPTR},
	{"bare", "Generic/Dynamic host names prohibited", true, nil, CheckGeneric},
	{"bare", "how do I set up reverse DNS for our PTR?", false, nil, ""},
	{"bare", "Make sure your server has a PTR record if you send mail.", false, nil, ""},
	// 2. The PTR reason inside a wording about something else.
	{"generic code", "451 4.7.0 Rate limited: IP 192.0.2.4 has no PTR record, try later", true, []string{"192.0.2.4"}, CheckPTR},
	{"generic code", "550 5.5.0 Connection from 192.0.2.4 refused: reverse DNS does not forward-confirm", true, []string{"192.0.2.4"}, CheckFCrDNS},
	{"generic code", "550 5.1.8 Sender IP 192.0.2.4 has no reverse DNS", true, []string{"192.0.2.4"}, CheckPTR},
	// 3. Forged or generic names that never say PTR.
	{"forged", "451 4.1.8 Possibly forged hostname for 192.0.2.4", true, []string{"192.0.2.4"}, CheckFCrDNS},
	{"generic", "550 5.7.1 Generic hostname rejected [dsl-192-0-2-4.isp.example]", true, nil, CheckGeneric},
	{"generic", "554 Residential connections not accepted from 192.0.2.4, relay via your ISP", true, []string{"192.0.2.4"}, CheckGeneric},
	// 4. Receiver-side log lines: the client is the sender.
	{"receiver log", "Mar  3 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.4]: 450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.4]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<[198.51.100.9]>", true, []string{"192.0.2.4"}, CheckPTR},
	{"receiver log", "2026-01-01 10:00:00 H=(mail.b.example) [2001:db8::1]:34865 F=<a@b.example> rejected RCPT <c@d.example>: reverse lookup failed", true, []string{"2001:db8::1"}, CheckPTR},
	{"receiver log", "Mar  3 10:00:00 mx sendmail[1]: ruleset=check_relay, arg1=unknown, arg2=192.0.2.4, relay=[192.0.2.4], reject=550 5.7.1 Fix reverse DNS for 192.0.2.4", true, []string{"192.0.2.4"}, CheckPTR},
	{"receiver log", "Mar  3 10:00:00 mx sendmail[1]: x: ruleset=check_rcpt, arg1=<a@b.example>, relay=host.example [192.0.2.4] (may be forged), reject=550 5.7.1 <a@b.example>... Relaying denied", false, []string{"192.0.2.4"}, ""},
	{"receiver log", "2026-01-01 10:00:00 H=[192.0.2.4] rejected connection in \"connect\" ACL: no reverse DNS", true, []string{"192.0.2.4"}, CheckPTR},
	{"forward", "550 5.7.1 PTR record of 192.0.2.4 (x.example) does not resolve back", true, []string{"192.0.2.4"}, CheckFCrDNS},
	// 5. Mangled text.
	{"spaceless", "550Clienthostrejected:cannotfindyourhostname,[192.0.2.4]", true, []string{"192.0.2.4"}, CheckPTR},
	{"spaceless", "错误代码:550 5.7.1reverseDNSlookupfailedforyourIP", true, nil, CheckPTR},
	{"spaceless link", "550 5.7.1 Message rejected, see https://postmaster.example.net/troubleshooting/senderpolicyandrdnsguidelines for help", false, nil, ""},
	{"glued code", "550拒否 5.7.1 192.0.2.4 のPTRレコードがありません", true, []string{"192.0.2.4"}, CheckPTR},
	// 6. Receivers' own languages.
	{"de", "550 5.7.1 Ihre IP-Adresse 192.0.2.4 hat keinen Reverse-DNS-Eintrag, Nachricht abgelehnt", true, []string{"192.0.2.4"}, CheckPTR},
	{"fr", "550 5.7.1 Message refusé : pas de reverse DNS pour 192.0.2.4", true, []string{"192.0.2.4"}, CheckPTR},
	{"es", "550 Mensaje rechazado: la IP 192.0.2.4 no tiene DNS inverso", true, []string{"192.0.2.4"}, CheckPTR},
	{"it", "550 Messaggio rifiutato: l'IP 192.0.2.4 non ha un record PTR", true, []string{"192.0.2.4"}, CheckPTR},
	{"pt", "550 Mensagem rejeitada: o IP 192.0.2.4 não tem DNS reverso", true, []string{"192.0.2.4"}, CheckPTR},
	{"pl", "550 Wiadomość odrzucona: brak rekordu PTR dla 192.0.2.4", true, []string{"192.0.2.4"}, CheckPTR},
	{"ru", "550 Письмо отклонено: нет PTR-записи для 192.0.2.4", true, []string{"192.0.2.4"}, CheckPTR},
	{"ja", "550 逆引きできないIPアドレス(192.0.2.4)からのメールは受信拒否します", true, []string{"192.0.2.4"}, CheckPTR},
	{"zh", "550 拒绝: IP 192.0.2.4 没有反向解析", true, []string{"192.0.2.4"}, CheckPTR},
	{"ko", "550 역방향 DNS가 없는 IP(192.0.2.4)는 수신 거부됩니다", true, []string{"192.0.2.4"}, CheckPTR},
	// 7. Who is speaking: the receiver's address is never the sender's.
	{"dma", "mail-inbound.example.net [192.0.2.25] did not like our RCPT TO:\n550 5.7.25 The IP address sending this message does not have a PTR record", true, nil, CheckPTR},
	{"courier", "<a@b.example>:\nmx.b.example [192.0.2.25]:\n\n>>> RCPT TO:<a@b.example>\n<<< 550 5.7.1 No reverse DNS for your address", true, nil, CheckPTR},
	{"gmail", "Google tried to deliver your message, but it was rejected by the server for the recipient domain b.example by mx.b.example. [192.0.2.25].\n\nThe error that the other server returned was:\n550 5.7.1 Client host rejected: cannot find your hostname", true, nil, CheckPTR},
	{"exchange", "Remote Server at mx.b.example (192.0.2.25) returned '550 5.7.25 Access denied, the sending IPv4 address [192.0.2.4] must have a reverse DNS record'", true, []string{"192.0.2.4"}, CheckPTR},
	{"hmailserver", "Remote server (192.0.2.25) issued an error.\nhMailServer sent: RCPT TO:<a@b.example>\nRemote server replied: 550 No reverse DNS for your IP", true, nil, CheckPTR},
	{"fr", "421 Votre IP n'a pas de reverse pour le moment, message refusé", true, nil, CheckPTR},
	// 8. False alarms.
	{"recipient domain", "remote delivery failed: DNS lookup failure: host mx.example.net not found", false, nil, ""},
	{"recipient domain", "550 5.1.2 Host or domain name not found. Name service error for name=example.net type=MX: Host not found", false, nil, ""},
	{"helo literal", "NOQUEUE: reject: RCPT from unknown[192.0.2.4]: 504 5.5.2 <[192.0.2.4]>: Helo command rejected: need fully-qualified hostname; helo=<[192.0.2.4]>", false, []string{"192.0.2.4"}, ""},
	{"score table", "X-Spam-Status: Yes, score=7.1 tests=RDNS_NONE,BAYES_99\n\nRDNS_NONE Delivered to internal network by a host with no rDNS", false, nil, ""},
	{"banner", "220 mx.example.net ESMTP; we reject mail from hosts without PTR records", false, nil, ""},
	{"forecast", "Without a PTR record most receivers will reject your mail.", false, nil, ""},
	{"rule", "Servers are rejected if their IP address has no PTR record.", false, nil, ""},
	{"table", "| 550 5.7.25 | The sending IP has no PTR record |", false, nil, ""},
	{"report", "The message was rejected because your IP address does not resolve to a hostname.", true, nil, CheckPTR},
	{"report", "Mail rejected: your IP has no PTR record. If you think this is an error, contact postmaster.", true, nil, CheckPTR},
	// 9. The announced name against the client address.
	{"identity", "550 5.7.1 The domain you announce does not resolve to your IP", true, nil, CheckHELOIdentity},
	{"identity", "554 Connection refused. Domain [mail.example.org] mismatches client IP [192.0.2.4]", true, []string{"192.0.2.4"}, CheckHELOIdentity},
	{"identity", "550 HELO name mail.example.org resolves to 198.51.100.9, which is not 192.0.2.4", true, []string{"192.0.2.4"}, CheckHELOIdentity},
}

// TestFastPathAgrees: the anchors and windows that keep classify fast
// must never change what a family finds. Every family's expression is run
// on every whole statement of the fixtures and of the phrase tests, and
// must match exactly where the anchored fast path does; and every family
// must match somewhere, so none can silently stop firing. Under the race
// detector the expressions take seconds, so a statement seen before with
// the same anchor hits (a third are: headers and boilerplate repeat across
// fixtures) is not run again, as both paths would answer the same, and the
// rest are shared out over the CPUs (the expressions are safe for
// concurrent use).
func TestFastPathAgrees(t *testing.T) {
	var texts []string
	for _, fx := range loadFixtures(t) {
		texts = append(texts, string(fx.body))
	}
	texts = append(append(texts, phrasePos...), phraseNeg...)
	for _, tc := range reasonClasses {
		texts = append(texts, tc.in)
	}
	type stmt struct {
		l    string
		hits []hit
	}
	var todo []stmt
	seen := map[string]bool{}
	for _, text := range texts {
		var sts []statement
		var all []hit
		for _, c := range extract(text) {
			sts = splitStatements(c, sts, &all)
		}
		for i := range sts {
			st := stmt{matchText(&sts[i]), all[sts[i].hitLo : sts[i].hitLo+uint32(sts[i].nHits)]}
			if key := fmt.Sprintf("%q%v", st.l, st.hits); !seen[key] {
				seen[key] = true
				todo = append(todo, st)
			}
		}
	}
	fired := make([]atomic.Int64, len(families))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(todo); i += workers {
				for fi, f := range families {
					slow := f.re.MatchString(todo[i].l)
					_, fast := f.find(todo[i].l, fi, todo[i].hits)
					if slow != fast {
						t.Errorf("family %d (%s): whole statement %v, fast path %v: %q", fi, f.re, slow, fast, todo[i].l)
					}
					if slow {
						fired[fi].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	for fi := range fired {
		if fired[fi].Load() == 0 {
			t.Errorf("family %d (%s) matches no statement", fi, families[fi].re)
		}
	}
}
