// Package bouncetest builds the large bounces of rdnsbot's memory tests: a
// delivery status notification (RFC 3464) that Gmail rejected with
// "550 5.7.25" for 203.0.113.5, carrying a base64 attachment, flat or
// forwarded as message/rfc822 (RFC 2046 §5.2.1) several levels deep. The
// bounce package's parser tests and the bot's end-to-end memory test read
// the same inputs.
package bouncetest

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
)

// SendingIP is the address the bounces name as rejected.
const SendingIP = "203.0.113.5"

// block is whole base64 lines (57 bytes make 76 characters) of one random
// block: valid base64, repeated at memmove speed.
var block = sync.OnceValue(func() string {
	raw := make([]byte, 57*512)
	rand.NewChaCha8([32]byte{1}).Read(raw)
	var b strings.Builder
	for line := range slices.Chunk(raw, 57) {
		b.WriteString(base64.StdEncoding.EncodeToString(line) + "\n")
	}
	return b.String()
})

// Attachment is about n bytes of base64 lines (at least one block).
func Attachment(n int) string {
	return strings.TrimSuffix(strings.Repeat(block(), max(1, n/len(block()))), "\n")
}

// DSN is the bounce, its returned message carrying att as a PDF, with LF
// line ends.
func DSN(att string) string {
	return "From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail Returned to Sender\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\n\n" +
		"--dsn\nContent-Type: text/plain; charset=us-ascii\n\n" +
		"<bob@gmail.com>: host gmail-smtp-in.l.google.com[142.251.170.27] said:\n" +
		"    550-5.7.25 [" + SendingIP + "] The IP address sending this message does not have a\n" +
		"    550 5.7.25 PTR record setup. - gsmtp (in reply to end of DATA command)\n" +
		"--dsn\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n" +
		"Final-Recipient: rfc822; bob@gmail.com\nAction: failed\nStatus: 5.7.25\n" +
		"--dsn\nContent-Type: message/rfc822\n\n" +
		"Received: from mx.example.net (mx.example.net [" + SendingIP + "]) by mx.example.net\n" +
		"From: alice@example.net\nContent-Type: multipart/mixed; boundary=\"orig\"\n\n" +
		"--orig\nContent-Type: text/plain\n\nthe report\n" +
		"--orig\nContent-Type: application/pdf; name=report.pdf\nContent-Transfer-Encoding: base64\n\n" +
		att + "\n--orig--\n--dsn--\n"
}

// Nested is the DSN forwarded as an attachment forwards times
// (multipart/mixed → message/rfc822 → multipart/mixed → …), each forward
// with a base64 image of its own, about size bytes in all, with LF line
// ends.
func Nested(size, forwards int) string {
	share := size / (forwards + 1)
	msg := DSN(Attachment(share))
	for k := range forwards {
		msg = fmt.Sprintf("From: user%d@example.org\nSubject: Fwd: Undelivered Mail\n"+
			"Content-Type: multipart/mixed; boundary=\"fwd%d\"\n\n"+
			"--fwd%d\nContent-Type: text/plain\n\nSee the attached bounce.\n"+
			"--fwd%d\nContent-Type: image/png; name=shot.png\nContent-Transfer-Encoding: base64\n\n%s\n"+
			"--fwd%d\nContent-Type: message/rfc822\n\n%s\n--fwd%d--\n", k, k, k, k, Attachment(share-600), k, msg, k)
	}
	return msg
}

// CRLF gives s the line ends of mail files.
func CRLF(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
