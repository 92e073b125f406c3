package bounce

import (
	"fmt"
	"testing"
)

func TestZZProbe(t *testing.T) {
	for _, s := range []string{
		"501 5.1.7 Bad reverse-path address syntax",
		"550 5.1.0 Invalid reverse path",
		"451 DNS temporary failure (#4.3.0)",
		"550 5.1.8 DNS lookup failure for domain example.com",
		"<bob@example.com>... Deferred: Name server: example.com.: host name lookup failure",
		"451 4.4.0 DNS query failed. The error was: SMTPSEND.DNS.MxLoopback",
		"553 RP:RDN http://mail.163.com/help/help_spam_16.htm",
		"550 5.7.1 Sender domain has no reverse MX",
		"421 4.3.0 Temporary DNS lookup failure for sender domain, try again later",
		"550 5.7.1 Client host rejected: Improper use of SMTP command pipelining",
		"554 5.7.1 <unknown[203.0.113.5]>: Client host rejected: Access denied",
		"550 5.7.1 <x@y.com>: Relay access denied",
		"550 Message rejected: spam score 12.3 (RDNS_NONE=1.2, BAYES_99=3.5)",
		"550 5.7.1 Rejected by rspamd: RDNS_NONE, HFILTER_HOSTNAME_UNKNOWN, BAYES_SPAM",
		"554 5.7.1 Your message looks like spam. Reasons: no reverse for sending host, bad helo",
		"Remote_host_said:_550_5.1.1_<a_b@example.com>:_Recipient_address_rejected:_User_unknown",
		"deferral: Remote_host_said:_451_4.7.1_Client_host_rejected:_cannot_find_your_hostname,_[203.0.113.9]/",
		"550 5.7.0 Mail from a_b@example.com rejected: reverse_path invalid",
		"550 Rejected: DNS check failed for sender domain example.com",
	} {
		r := ParseString(s)
		fmt.Printf("%v %v %q\n", r.RDNS, r.SendingIPs, s)
	}
}
