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
	}
	for _, s := range pos {
		r := ParseString(s)
		if !r.RDNS {
			t.Errorf("missed: %s", s)
		}
		if strings.Contains(s, "192.0.2.4") && !slices.Equal(r.SendingIPs, []string{"192.0.2.4"}) {
			t.Errorf("sending IPs %v: %s", r.SendingIPs, s)
		}
	}
	for _, s := range neg {
		if r := ParseString(s); r.RDNS {
			t.Errorf("false positive: %s (%s)", s, r.Evidence)
		}
	}
}
