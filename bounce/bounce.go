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

// IPSource says where Result.SendingIPs came from.
type IPSource string

// IP sources, most trustworthy first.
const (
	// SourceRejection: the rejecting server named the IP in its reply, or
	// the receiving admin's log line named the client it rejected.
	SourceRejection IPSource = "rejection"
	// SourceTranscript: the receiver's greeting or EHLO reply in the SMTP
	// transcript echoed the client address ("Hello x [ip]", "at your service, [ip]").
	SourceTranscript IPSource = "transcript"
	// SourceDSN: the DSN's Reporting-MTA field is an address literal (RFC 3464 2.2.2).
	SourceDSN IPSource = "dsn"
	// SourceReceived: the "by" clause of the returned message's newest
	// Received field (RFC 5321 4.4): the sending host stamped its own address.
	SourceReceived IPSource = "received"
)

// HELOSource says where Result.HELO came from.
type HELOSource string

// HELO sources, most trustworthy first.
const (
	// HELOTranscript: the client's own EHLO or HELO command in an SMTP
	// transcript (">>> EHLO name", "Sent: EHLO name").
	HELOTranscript HELOSource = "transcript"
	// HELOLog: a receiving server's log line about the client, pasted by
	// its admin: Postfix "helo=<name>", Exim "H=(name) [ip]".
	HELOLog HELOSource = "log"
	// HELORejection: the receiver's reply quoted the name it refused
	// ("<name>: Helo command rejected", "rejected EHLO or HELO name").
	HELORejection HELOSource = "rejection"
	// HELOReceived: the "by" host of the returned message's newest Received
	// field, the sending MTA's own name: its HELO unless configured otherwise.
	HELOReceived HELOSource = "received"
)

// Check names what a reverse-DNS rejection says the receiver checked.
type Check string

// Checks, as the wording of a reverse-DNS rejection names them.
const (
	// CheckPTR: the client address has no PTR (no reverse name at all), or
	// the wording does not say more than "reverse DNS failed".
	CheckPTR Check = "ptr"
	// CheckFCrDNS: the PTR name does not resolve back to the client address
	// (forward confirmation, RFC 8601 2.7.3 iprev), or looks forged.
	CheckFCrDNS Check = "fcrdns"
	// CheckGeneric: the PTR name is generic, dynamic or residential.
	CheckGeneric Check = "generic"
	// CheckHELOIdentity: the name the client announced (HELO or MAIL FROM
	// domain) does not resolve to the client address.
	CheckHELOIdentity Check = "helo_identity"
)

// Result is what a bounce says about the rejection. The JSON names are those
// of `bot parse-bounce --json` (documented in README.md).
type Result struct {
	// RDNS is true when the rejection is caused by the sender's reverse DNS:
	// no PTR, a PTR that does not forward-confirm, a generic or dynamic PTR,
	// or an announced name that does not resolve to the client address.
	RDNS bool `json:"rdns"`
	// Check says what the receiver checked, when RDNS; "" otherwise.
	Check Check `json:"check"`
	// SendingIPs are the rejected sender's addresses, never the receiver's
	// and never a HELO address literal.
	SendingIPs []string `json:"sending_ips"`
	// IPSource says where SendingIPs came from, "" when no IP was found.
	IPSource IPSource `json:"ip_source"`
	// HELO is the name the sending host announced in EHLO or HELO, as the
	// bounce shows it ("mail.example.com", "[192.0.2.7]"), "" if it does not.
	HELO string `json:"helo"`
	// HELOSource says where HELO came from, "" when HELO is.
	HELOSource HELOSource `json:"helo_source"`
	// HELOLiteral is true when HELO is an address literal (RFC 5321 4.1.3)
	// or a bare address: a client that does not name itself.
	HELOLiteral bool `json:"helo_literal"`
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
