// Package bounce reads mail bounces and decides whether the sender's reverse
// DNS caused the rejection (RFC 8601 iprev; RFC 7372 enhanced status X.7.25,
// "Reverse DNS validation failed"), and which sending IP was rejected.
//
// Input may be a whole RFC 5322 message, typically a delivery status
// notification (RFC 3464 multipart/report with message/delivery-status, whose
// Status field uses the RFC 3463 enhanced codes), with MIME bodies
// (RFC 2045-2049: quoted-printable, base64, multipart, HTML-only parts); a
// bare SMTP reply or transcript pasted as text; or Slack message text as the
// Events API delivers it (&lt; &gt; &amp; escaped, <mailto:a@b|a@b> links,
// code fences and > quote markers).
//
// Parsing never fails on content: malformed MIME is read as raw text. Only
// input larger than MaxSize is refused, with ErrTooLarge.
package bounce

import (
	"errors"
	"fmt"
	"io"
)

// MaxSize is the largest input Parse reads: 25 MiB, the common message size
// limit of the large receivers, so any bounce they return fits.
const MaxSize = 25 << 20

// ErrTooLarge is returned by Parse for input larger than MaxSize.
var ErrTooLarge = errors.New("bounce: input larger than 25 MiB")

// IP sources: where Result.SendingIPs came from, most trustworthy first.
const (
	// SourceRejection: the rejecting server named the IP in its reply.
	SourceRejection = "rejection"
	// SourceTranscript: the receiver's greeting or EHLO reply in the SMTP
	// transcript echoed the client address ("Hello x [ip]", "at your service, [ip]").
	SourceTranscript = "transcript"
	// SourceDSN: the DSN's Reporting-MTA field is an address literal (RFC 3464 2.2.2).
	SourceDSN = "dsn"
	// SourceReceived: the "by" clause of the returned message's newest
	// Received field (RFC 5321 4.4): the sending host stamped its own address.
	SourceReceived = "received"
)

// Result is what a bounce says about the rejection. The JSON names are those
// of `bot parse-bounce --json` (documented in README.md).
type Result struct {
	// RDNS is true when the rejection is caused by the sender's reverse DNS:
	// no PTR, a PTR that does not forward-confirm, a generic or dynamic PTR.
	RDNS bool `json:"rdns"`
	// SendingIPs are the rejected sender's addresses, never the receiver's.
	SendingIPs []string `json:"sending_ips"`
	// IPSource says where SendingIPs came from: one of the Source constants,
	// or "" when no IP was found.
	IPSource string `json:"ip_source"`
	// ReplyCode is the SMTP reply code (RFC 5321 4.2), 0 if none was found.
	ReplyCode int `json:"reply_code"`
	// Status is the enhanced status code (RFC 3463), e.g. "5.7.25".
	Status string `json:"status"`
	// Temporary is true for a 4xx reply (or 4.x.x status): the sender retries.
	Temporary bool `json:"temporary"`
	// Receiver is the rejecting host, or the provider when only that is known.
	Receiver string `json:"receiver"`
	// Recipient is the address whose delivery failed.
	Recipient string `json:"recipient"`
	// Evidence holds the lines the verdict rests on, joined by newlines.
	Evidence string `json:"evidence"`
}

// Parse reads one bounce from r, in any of the forms the package doc lists.
// It reads at most MaxSize bytes and returns ErrTooLarge beyond that; any
// other error comes from r.
func Parse(r io.Reader) (Result, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return Result{}, fmt.Errorf("bounce: read input: %w", err)
	}
	if len(data) > MaxSize {
		return Result{}, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, MaxSize)
	}
	return parse(string(data)), nil
}

// ParseString parses text already in memory: a Slack message, attachment or
// email file's plain_text. Text beyond MaxSize is ignored.
func ParseString(s string) Result {
	if len(s) > MaxSize {
		s = s[:MaxSize]
	}
	return parse(s)
}

// parse splits the input into text chunks and reads the verdict from them.
func parse(s string) Result {
	return analyse(extract(s))
}
