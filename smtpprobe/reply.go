package smtpprobe

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/rdnsbot/rdnsbot/internal/clip"
)

const (
	// maxLine is the longest reply line accepted, CRLF included (RFC 5321
	// §4.5.3.1.5). It is also the read buffer's size: nothing longer is
	// ever held in memory.
	maxLine = 512
	// maxReplyLines is the most lines one reply may have. EHLO replies of
	// real servers have about a dozen.
	maxReplyLines = 32
	// maxGreeting bounds result.Greeting in bytes.
	maxGreeting = 1024
)

// The ways a reply can be garbage; each wraps errGarbage, and findings
// words them apart.
var (
	errLineTooLong  = fmt.Errorf("%w: a line longer than %d octets (RFC 5321 §4.5.3.1.5)", errGarbage, maxLine)
	errTooManyLines = fmt.Errorf("%w: more than %d lines in one reply", errGarbage, maxReplyLines)
	errBadLine      = fmt.Errorf("%w: a line not of the form NNN text, or a code changing mid-reply (RFC 5321 §4.2)", errGarbage)
	errGreetingCode = fmt.Errorf("%w: a greeting whose code is neither 220 nor an error (RFC 5321 §4.3.2)", errGarbage)
)

// reply is one SMTP reply (RFC 5321 §4.2): a code and its text lines.
type reply struct {
	code  int
	lines []string // sanitised text after "NNN " or "NNN-"
}

// readReply reads one reply, single- or multi-line ("250-…" … "250 …").
// Errors other than errGarbage come from the connection (io.EOF, timeouts).
func readReply(br *bufio.Reader) (reply, error) {
	var r reply
	for {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			r.lines = append(r.lines, sanitize(raw))
			return r, errLineTooLong
		}
		if err != nil {
			return r, err // a partial last line is dropped: it never ended
		}
		line := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
		code, last, text, ok := parseLine(line)
		if !ok || (r.code != 0 && code != r.code) {
			r.lines = append(r.lines, sanitize([]byte(line)))
			return r, errBadLine
		}
		r.code = code
		r.lines = append(r.lines, sanitize([]byte(text)))
		if last {
			return r, nil
		}
		if len(r.lines) == maxReplyLines {
			return r, errTooManyLines
		}
	}
}

// parseLine splits "NNN text", "NNN-text" or "NNN"; the code's digits are
// limited as in RFC 5321 §4.2 (2-5, 0-5, 0-9).
func parseLine(line string) (code int, last bool, text string, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, "", false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	switch {
	case len(line) == 3:
		return code, true, "", true
	case line[3] == ' ':
		return code, true, line[4:], true
	case line[3] == '-':
		return code, false, line[4:], true
	}
	return 0, false, "", false
}

// sanitize keeps printable ASCII, turns a tab into a space and anything
// else into '?': SMTP replies are ASCII (RFC 5321 §2.4), and nothing a
// server sends may carry control characters into a message.
func sanitize(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c == '\t':
			out = append(out, ' ')
		case c == '\r' || c == '\n':
		case c < 0x20 || c > 0x7e:
			out = append(out, '?')
		default:
			out = append(out, c)
		}
	}
	return string(out)
}

// joinBounded joins lines with "\n", clipped to maxGreeting bytes.
func joinBounded(lines []string) string {
	return clip.To(strings.Join(lines, "\n"), maxGreeting)
}

// greetingName is the host name a greeting starts with: RFC 5321 §4.2
// "220 SP (Domain / address-literal) [SP textstring]".
func greetingName(g reply) string {
	if len(g.lines) == 0 {
		return ""
	}
	first, _, _ := strings.Cut(g.lines[0], " ")
	if hostNameProblem(first) != "" {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(first, "."))
}
