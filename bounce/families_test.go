package bounce

import (
	"slices"
	"strings"
	"testing"
)

// TestPhraseFamilies: paraphrases, not fixtures. Each family must catch
// wordings it was not written from, and hard negatives that share its words
// (DNS, IP, hostname, dynamic, resolve, match) must stay out.
func TestPhraseFamilies(t *testing.T) {
	pos := []string{
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
		"deferral: Remote_host_said:_451_4.7.1_Client_host_rejected:_cannot_find_your_hostname,_[192.0.2.4]/Giving_up_on_198.51.100.1./",
	}
	neg := []string{
		"554 5.7.1 <unknown[192.0.2.4]>: Client host rejected: Access denied",
		"550 5.7.1 Unfortunately, messages from [192.0.2.4] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140).",
		"554 5.7.1 Service unavailable; Client host [192.0.2.4] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.4",
		"Host or domain name not found. Name service error for name=mail.example.com type=A: Host not found",
		"connect to mx.example.com[192.0.2.4]:25: Connection timed out",
		"550 5.1.0 <alice@sender.example> sender rejected: domain does not have neither a valid MX or A record",
		"550 5.5.1 Protocol error: EHLO hostname does not resolve",
		"550 5.7.1 HELO name does not match your IP address",
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
	for _, s := range pos {
		r := mustParse(t, s)
		if !r.RDNS {
			t.Errorf("missed: %s", s)
		}
		if strings.Contains(s, "192.0.2.4") && !slices.Equal(r.SendingIPs, []string{"192.0.2.4"}) {
			t.Errorf("sending IPs %v: %s", r.SendingIPs, s)
		}
	}
	for _, s := range neg {
		if r := mustParse(t, s); r.RDNS {
			t.Errorf("false positive: %s (%s)", s, r.Evidence)
		}
	}
}

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
