package bounce

import (
	"html"
	"strings"
)

// statement is one logical line of a bounce: a header field with its folds
// (RFC 5322 2.2.3), a multi-line SMTP reply joined (RFC 5321 4.2.1), or a
// paragraph wrapped by the reporting MTA or a mail client.
type statement struct {
	text     string // the lines joined by single spaces
	lower    string // text, ASCII lower-cased, for matching
	field    string // lower-cased header field name when the statement is one
	returned bool   // part of the returned message, not of the bounce
}

// maxStatement bounds one statement so that a huge unbroken paragraph costs
// linear time and the evidence stays readable.
const maxStatement = 16 << 10

// slackText undoes what Slack does to message text (mrkdwn escaping,
// auto-links, code marks) and normalises line endings. Plain mail text has
// none of it and passes through unchanged.
var slackText = strings.NewReplacer(
	"\r\n", "\n", "\r", "\n",
	"&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'", "&nbsp;", " ",
	"`", "",
)

// cleanText returns s with Slack links replaced by their labels, entities
// decoded and line endings normalised.
func cleanText(s string) string {
	return slackText.Replace(unlink(s))
}

// unlink replaces Slack links <scheme:target|label> and <scheme:target> by
// the label, or the target without "mailto:". Angle brackets that are not a
// link (<user@example.com>, <<< transcript marks) stay.
func unlink(s string) string {
	if !strings.Contains(s, "<http") && !strings.Contains(s, "<mailto:") && !strings.Contains(s, "<tel:") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		// Links are short: looking no further than maxLink keeps text
		// full of unclosed "<http" linear.
		end := strings.IndexAny(s[:min(len(s), maxLink)], ">\n ")
		inner := ""
		if end > 0 && s[end] == '>' {
			inner = s[1:end]
		}
		if !isLink(inner) {
			b.WriteByte('<')
			s = s[1:]
			continue
		}
		if bar := strings.IndexByte(inner, '|'); bar >= 0 {
			inner = inner[bar+1:]
		}
		b.WriteString(strings.TrimPrefix(inner, "mailto:"))
		s = s[end+1:]
	}
}

// maxLink bounds the length of a Slack link.
const maxLink = 4 << 10

func isLink(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") ||
		strings.HasPrefix(s, "mailto:") || strings.HasPrefix(s, "tel:")
}

// htmlText returns the readable text of an HTML part: tags dropped, block
// elements turned into line breaks, script and style skipped, entities decoded.
func htmlText(body []byte) string {
	var b strings.Builder
	b.Grow(len(body))
	s := string(body)
	lower := lowerASCII(s) // same offsets as s
	unclosed := map[string]bool{}
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+lt])
		i += lt
		gt := strings.IndexByte(s[i:], '>')
		if gt < 0 {
			b.WriteString(s[i:])
			break
		}
		closing := lower[i+1:i+gt] != "" && lower[i+1] == '/'
		name := strings.TrimLeft(lower[i+1:i+gt], "/")
		i += gt + 1
		if j := strings.IndexAny(name, " \t\n/"); j >= 0 {
			name = name[:j]
		}
		switch name {
		case "script", "style", "head":
			// Skip the element's content, up to its end tag. Once an end
			// tag is known to be missing it is not searched for again, so
			// many unclosed tags cost linear time.
			if !closing && !unclosed[name] {
				if k := strings.Index(lower[i:], "</"+name); k >= 0 {
					i += k
				} else {
					unclosed[name] = true
				}
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "pre", "blockquote":
			b.WriteByte('\n')
		default:
			b.WriteByte(' ')
		}
	}
	return html.UnescapeString(b.String())
}

// splitStatements cuts a chunk into statements. After a marker that starts
// the copy of the returned message, statements are flagged returned.
func splitStatements(c chunk, out []statement) []statement {
	var cur []string
	curField := ""
	curCode := "" // "550-" when the current statement is an open multi-line reply
	returned := c.returned
	flush := func() {
		if len(cur) > 0 {
			text := strings.Join(cur, " ")
			out = append(out, statement{text: text, lower: lowerASCII(text), field: curField, returned: returned})
		}
		cur, curField, curCode = cur[:0], "", ""
	}
	size := 0
	quoted := false
	for line := range strings.Lines(cleanText(c.text)) {
		line, q := stripQuote(strings.TrimRight(line, " \t\n"))
		if q != quoted { // chat text around a quoted bounce is not part of it
			flush()
			quoted = q
		}
		trimmed := strings.TrimSpace(line)
		indented := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		switch {
		case trimmed == "":
			flush()
			continue
		case isCopyMarker(trimmed):
			flush()
			returned = true
			continue
		}
		if size > maxStatement {
			flush()
		}
		if len(cur) == 0 {
			size = 0
		}
		code := replyPrefix(trimmed)
		switch {
		case curCode != "" && code != "" && code[:3] == curCode[:3]:
			trimmed = strings.TrimSpace(trimmed[4:]) // RFC 5321 4.2.1 continuation
		case indented && len(cur) > 0:
		case !indented && fieldName(trimmed) != "":
			flush()
			curField = fieldName(trimmed)
		case curField != "":
			flush()
		}
		if code != "" && code[3] == '-' {
			curCode = code
		} else if code != "" {
			curCode = ""
		}
		cur = append(cur, trimmed)
		size += len(trimmed)
	}
	flush()
	return out
}

// stripQuote removes mail and Slack quote markers ("> ", ">> ") and
// transcript direction marks ("<<< ", ">>> ") from the start of a line, and
// reports whether the line was quoted.
func stripQuote(line string) (string, bool) {
	t := strings.TrimLeft(line, " \t")
	if !strings.HasPrefix(t, ">") && !strings.HasPrefix(t, "<<<") {
		return line, false
	}
	return strings.TrimLeft(t, "<> \t"), true
}

// replyPrefix returns "550-" or "550 " when line starts with an SMTP reply
// code and its separator (RFC 5321 4.2), "" otherwise.
func replyPrefix(line string) string {
	if len(line) < 4 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return ""
	}
	if line[3] != '-' && line[3] != ' ' {
		return ""
	}
	return line[:4]
}

// fieldName returns the lower-cased name when line starts a header field
// ("Name: value"), "" otherwise.
func fieldName(line string) string {
	colon := strings.IndexByte(line, ':')
	if colon <= 0 || colon > 40 || !isAlpha(line[0]) {
		return ""
	}
	for i := 1; i < colon; i++ {
		c := line[i]
		if !isAlpha(c) && !isDigit(c) && c != '-' {
			return ""
		}
	}
	if colon+1 < len(line) && line[colon+1] != ' ' && line[colon+1] != '\t' {
		return ""
	}
	return lowerASCII(line[:colon])
}

// copyMarkers start the copy of the returned message in human-readable
// bounces: Exim, qmail, Sendmail, Microsoft, Gmail and mail clients.
var copyMarkers = []string{
	"this is a copy of the message",            // Exim
	"below this line is a copy of the message", // qmail
	"original message follows",                 // Sendmail
	"unsent message follows",                   // Sendmail
	"original message headers",                 // Microsoft 365 NDR
	"original message",                         // Gmail, mail clients
	"content-type: message/rfc822",             // a pasted MIME DSN
	"content-type: text/rfc822-headers",
	"content-type: message/global",
}

// isCopyMarker reports whether line is one of copyMarkers, decorated with
// dashes as MTAs print them.
func isCopyMarker(line string) bool {
	if len(line) > 80 {
		return false
	}
	l := strings.Trim(lowerASCII(line), "-=_ :.,")
	for _, m := range copyMarkers {
		if strings.HasPrefix(m, "content-type") {
			if strings.HasPrefix(l, m) {
				return true
			}
			continue
		}
		if l == m || (strings.HasPrefix(l, m) && len(m) > 20) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// lowerASCII lower-cases ASCII letters only, keeping byte offsets equal to
// the original's so that matches index both.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
