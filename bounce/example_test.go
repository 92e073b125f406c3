package bounce_test

import (
	"fmt"

	"github.com/rdnsbot/rdnsbot/bounce"
)

// A Gmail rejection as Slack delivers a pasted quote: escaped, quoted, with a
// mailto link.
func ExampleParseString() {
	r, err := bounce.ParseString("&gt; &lt;<mailto:bob@gmail.com|bob@gmail.com>&gt;: host gmail-smtp-in.l.google.com[142.251.170.27] said:\n" +
		"&gt; 550-5.7.25 [203.0.113.5] The IP address sending this message does not have a\n" +
		"&gt; 550 5.7.25 PTR record setup. - gsmtp (in reply to end of DATA command)")
	if err != nil {
		fmt.Println(err) // only input larger than bounce.MaxSize is refused
		return
	}
	fmt.Println(r.RDNS, r.SendingIPs, r.IPSource, r.ReplyCode, r.Status)
	fmt.Println(r.Receiver, r.Recipient)
	// Output:
	// true [203.0.113.5] rejection 550 5.7.25
	// gmail-smtp-in.l.google.com bob@gmail.com
}

// A receiving admin's Postfix log line: the client is the sender, and its
// HELO, an address literal, is reported as such and never as the sending IP.
func ExampleParseString_receiverLog() {
	r, _ := bounce.ParseString("postfix/smtpd[2717]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 450 4.7.1 " +
		"Client host rejected: cannot find your reverse hostname, [198.51.100.7]; from=<a@example.org> " +
		"to=<b@example.net> proto=ESMTP helo=<[192.0.2.50]>")
	fmt.Println(r.RDNS, r.Check, r.SendingIPs, r.IPSource, r.Temporary)
	fmt.Println(r.HELO, r.HELOSource, r.HELOLiteral)
	// Output:
	// true ptr [198.51.100.7] rejection true
	// [192.0.2.50] log true
}
