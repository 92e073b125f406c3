// Package bounce reads mail bounces and decides whether the sender's reverse
// DNS caused the rejection (RFC 8601 iprev; RFC 7372 enhanced status X.7.25,
// "Reverse DNS validation failed"), and which sending IP was rejected.
//
// Input may be a whole RFC 5322 message, typically a delivery status
// notification (RFC 3464 multipart/report with message/delivery-status, whose
// Status field uses the RFC 3463 enhanced codes), with MIME bodies
// (RFC 2045-2049: quoted-printable, base64, multipart, HTML-only parts),
// also when forwarded as an attached message (RFC 2046 5.2.1); a bare SMTP
// reply or transcript pasted as text; or Slack message text as the Events
// API delivers it (&lt; &gt; &amp; escaped, <mailto:a@b|a@b> links, code
// fences and > quote markers).
//
// Parsing never fails on content: malformed MIME is read as raw text. Only
// input larger than MaxSize is refused, with ErrTooLarge.
package bounce

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"unsafe"
)

// MaxSize is the largest input Parse reads: 25 MiB, the common message size
// limit of the large receivers, so any bounce they return fits.
const MaxSize = 25 << 20

// ErrTooLarge is returned for input larger than MaxSize.
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

// ParseReader reads one bounce from r, in any of the forms the package doc
// lists, and parses it. It reads at most MaxSize+1 bytes, into one buffer,
// and refuses larger input with ErrTooLarge; any other error comes from r.
//
// Memory: when r tells its length (Len() int, as *bytes.Reader and
// *strings.Reader do; Size() int64, as *io.SectionReader does; or a regular
// *os.File), the buffer is allocated once, so give a download's known size
// that way. Otherwise it doubles as it fills, and the copies it leaves for
// the collector add up to about 1.4 times the input. Parsing copies no part
// of the buffer: MIME parts are walked in place, attachments that are
// neither text nor messages are skipped undecoded, and each
// transfer-encoded text part is decoded once. What parsing adds is about 5
// times the text it reads (decoded, lower-cased and line-joined copies,
// held until the verdict), so peak heap is about the input's size plus 5
// times the size of its text parts: 1.0 times the input for a 24 MB DSN
// whose bulk is attachments, nested or not, 6.2 times for 24 MB of mail
// log. The Result holds copies: the buffer is garbage once ParseReader
// returns.
func ParseReader(r io.Reader) (Result, error) {
	data, err := readInput(r)
	if err != nil {
		return Result{}, err
	}
	// data is never written again: the string aliases it.
	return ParseString(unsafe.String(unsafe.SliceData(data), len(data)))
}

// Parse parses a bounce already in memory, without copying it. data must
// not be written until Parse returns; the Result holds no part of it.
// Input larger than MaxSize is refused with ErrTooLarge.
func Parse(data []byte) (Result, error) {
	return ParseString(unsafe.String(unsafe.SliceData(data), len(data)))
}

// ParseString parses text already in memory: a Slack message, attachment or
// email file's plain_text. Input larger than MaxSize is refused with
// ErrTooLarge, as by Parse.
func ParseString(s string) (Result, error) {
	if len(s) > MaxSize {
		return Result{}, errTooLarge()
	}
	return detach(analyse(extract(s))), nil
}

func errTooLarge() error {
	return fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, MaxSize)
}

// readInput reads all of r, up to MaxSize bytes, into one buffer.
func readInput(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, sizeHint(r)+1) // +1: EOF is seen without growing
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxSize {
				return nil, errTooLarge()
			}
			grown := make([]byte, len(buf), min(2*cap(buf), MaxSize+1))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		switch {
		case len(buf) > MaxSize:
			return nil, errTooLarge()
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("bounce: read input: %w", err)
		}
	}
}

// sizeHint returns the length r says it has, within [512, MaxSize].
func sizeHint(r io.Reader) int {
	n := int64(512)
	switch r := r.(type) {
	case interface{ Len() int }:
		n = int64(r.Len())
	case interface{ Size() int64 }:
		n = r.Size()
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			n = fi.Size()
		}
	}
	return int(min(max(n, 512), MaxSize))
}

// detach copies the strings of res out of the input, which they may share
// memory with: the caller's buffer (Parse) may be reused, and a few bytes
// must not keep a 25 MiB input alive. Every string field and string slice
// is copied, whatever fields Result gains.
func detach(res Result) Result {
	v := reflect.ValueOf(&res).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); {
		case f.Kind() == reflect.String:
			f.SetString(strings.Clone(f.String()))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			for j := range f.Len() {
				f.Index(j).SetString(strings.Clone(f.Index(j).String()))
			}
		}
	}
	return res
}
