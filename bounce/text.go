package bounce

import (
	"encoding/binary"
	"html"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// statement is one logical line of a bounce: a header field with its folds
// (RFC 5322 2.2.3), a multi-line SMTP reply joined (RFC 5321 4.2.1), or a
// paragraph wrapped by the reporting MTA or a mail client.
type statement struct {
	text  string // the lines joined by single spaces
	lower string // text, ASCII lower-cased, for matching
	field string // lower-cased header field name when the statement is one
	// hits[hitLo:hitLo+nHits] of the hits all statements share are the
	// families' anchors in lower, in order (see analyse).
	hitLo    uint32
	nHits    uint16 // a statement is at most maxStatement bytes and a line
	cues     uint8  // the cue groups its text holds (see cuesOf)
	returned bool   // part of the returned message, not of the bounce
}

// maxStatement bounds one statement so that a huge unbroken paragraph costs
// linear time and the evidence stays readable.
const maxStatement = 16 << 10

// cleanText undoes what Slack does to message text (mrkdwn escaping,
// auto-links, code marks), drops format characters and normalises line
// endings to LF. Plain mail text with LF endings comes back unchanged,
// without a copy.
func cleanText(s string) string {
	s = unlink(stripFormat(s))
	// Three fast byte searches cost less than one ContainsAny, which reads
	// byte by byte.
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '&') < 0 && strings.IndexByte(s, '`') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r':
			b.WriteByte('\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
		case '`':
		case '&':
			n := entity(s[i:])
			if n == 0 {
				b.WriteByte('&')
				continue
			}
			b.WriteString(entities[s[i:i+n]])
			i += n - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// stripFormat removes the Unicode format characters (category Cf: zero
// width spaces and joiners, bidirectional marks, soft hyphens, BOMs). They
// are invisible, so a pasted "192.0.2.1\u200b1" reads as 192.0.2.11 to the
// person who pasted it; cutting the address at the mark would name another
// host. Text without any comes back unchanged, without a copy.
func stripFormat(s string) string {
	for i := 0; i < len(s); i++ {
		if !formatLeads[s[i]] {
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !unicode.Is(unicode.Cf, r) {
			i += n - 1
			continue
		}
		var b strings.Builder
		b.Grow(len(s))
		b.WriteString(s[:i])
		for i += n; i < len(s); i += n {
			r, n = rune(s[i]), 1
			if formatLeads[s[i]] {
				r, n = utf8.DecodeRuneInString(s[i:])
			}
			if r < utf8.RuneSelf || !unicode.Is(unicode.Cf, r) {
				b.WriteString(s[i : i+n])
			}
		}
		return b.String()
	}
	return s
}

// formatLeads marks the bytes that start the UTF-8 form of a format
// character: text in most scripts never reaches the rune decoder.
var formatLeads = func() (t [256]bool) {
	var buf [utf8.UTFMax]byte
	for _, rg := range unicode.Cf.R16 {
		for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
			utf8.EncodeRune(buf[:], r)
			t[buf[0]] = true
		}
	}
	for _, rg := range unicode.Cf.R32 {
		for r := rune(rg.Lo); r <= rune(rg.Hi); r += rune(rg.Stride) {
			utf8.EncodeRune(buf[:], r)
			t[buf[0]] = true
		}
	}
	return t
}()

// entities are the ones Slack escapes, and the few pasted mail carries.
var entities = map[string]string{
	"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": `"`, "&#39;": "'", "&nbsp;": " ",
}

// entity returns the length of the entity s starts with, or 0.
func entity(s string) int {
	semi := strings.IndexByte(s[:min(len(s), 7)], ';')
	if semi < 0 {
		return 0
	}
	if _, ok := entities[s[:semi+1]]; ok {
		return semi + 1
	}
	return 0
}

// unlink replaces Slack links <scheme:target|label> and <scheme:target> by
// the label, or the target without "mailto:". Angle brackets that are not a
// link (<user@example.com>, <<< transcript marks) stay.
func unlink(s string) string {
	if !hasLink(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	done := 0  // s[:done] is written
	stop := -1 // the next '>', '\n' or ' ' at or after the current '<': found once, reused
	for i := 0; i < len(s); i++ {
		if s[i] != '<' {
			continue
		}
		if stop < i {
			stop = len(s)
			if k := strings.IndexAny(s[i:], ">\n "); k >= 0 {
				stop = i + k
			}
		}
		if stop == len(s) || s[stop] != '>' || !isLink(s[i+1:stop]) {
			continue
		}
		inner := s[i+1 : stop]
		if bar := strings.IndexByte(inner, '|'); bar >= 0 {
			inner = inner[bar+1:]
		}
		b.WriteString(s[done:i])
		b.WriteString(strings.TrimPrefix(inner, "mailto:"))
		done, i = stop+1, stop
	}
	b.WriteString(s[done:])
	return b.String()
}

// hasLink reports whether s holds "<http", "<mailto:" or "<tel:", looking
// at each '<' once rather than searching the text three times.
func hasLink(s string) bool {
	for i := 0; ; i++ {
		k := strings.IndexByte(s[i:], '<')
		if k < 0 {
			return false
		}
		i += k
		if t := s[i+1:]; strings.HasPrefix(t, "http") || strings.HasPrefix(t, "mailto:") || strings.HasPrefix(t, "tel:") {
			return true
		}
	}
}

func isLink(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") ||
		strings.HasPrefix(s, "mailto:") || strings.HasPrefix(s, "tel:")
}

// htmlText returns the readable text of an HTML part: tags dropped, block
// elements turned into line breaks, script and style skipped, entities decoded.
func htmlText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
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
// the copy of the returned message, statements are flagged returned. Lines
// are handled as offsets into the cleaned text and its lower-cased twin, so
// a one-line statement costs no copy.
func splitStatements(c chunk, out []statement, hits *[]hit) []statement {
	text := respace(cleanText(c.text))
	lower := lowerASCII(text)
	var cur [][2]int // spans of text making the current statement
	curField := ""
	curCode := "" // "550-" when the current statement is an open multi-line reply
	returned := c.returned
	size := 0
	if len(text) > 64<<10 && cap(out)-len(out) < 64 {
		// One statement per line at most: sizing once avoids regrowing a
		// large slice for a long input. A short chunk is left to append:
		// most of its lines (blank, trace fields, folds) make no
		// statement, so sizing for every line would cost more.
		out = slices.Grow(out, min(strings.Count(text, "\n")+1, len(text)/8+64))
	}
	flush := func() {
		switch {
		case len(cur) == 0 || !keepField(curField, returned):
			// Never read: not kept.
		case len(cur) == 1:
			out = append(out, newStatement(text[cur[0][0]:cur[0][1]], lower[cur[0][0]:cur[0][1]], curField, returned, hits))
		default:
			t, l := joinSpans(text, lower, cur, size)
			out = append(out, newStatement(t, l, curField, returned, hits))
		}
		cur, curField, curCode, size = cur[:0], "", "", 0
	}
	quoted := false
	for pos := 0; pos < len(text); {
		a, b := pos, len(text)
		if nl := strings.IndexByte(text[pos:], '\n'); nl >= 0 {
			b = pos + nl
		}
		pos = b + 1
		for b > a && (text[b-1] == ' ' || text[b-1] == '\t') {
			b--
		}
		a, q := stripQuote(text, a, b)
		if q != quoted { // chat text around a quoted bounce is not part of it
			flush()
			quoted = q
		}
		indented := a < b && (text[a] == ' ' || text[a] == '\t')
		for a < b && (text[a] == ' ' || text[a] == '\t') {
			a++
		}
		trimmed := text[a:b]
		switch {
		case trimmed == "":
			flush()
			continue
		case isCopyMarker(lower[a:b]):
			flush()
			returned = true
			continue
		}
		if size > maxStatement {
			flush()
		}
		code := replyPrefix(trimmed)
		field := ""
		if !indented {
			field = fieldName(lower[a:b])
		}
		switch {
		case curCode != "" && code != "" && code[:3] == curCode[:3]:
			a = skipReplyMark(text, a, b) // RFC 5321 4.2.1 continuation: the code is said once
		case indented && len(cur) > 0:
		case field != "":
			flush()
			curField = field
		case curField != "":
			flush()
		}
		if code != "" && code[3] == '-' {
			curCode = code
		} else if code != "" {
			curCode = ""
		}
		if a < b {
			cur = append(cur, [2]int{a, b})
			size += b - a + 1
		}
	}
	flush()
	return out
}

// newStatement makes a statement and finds its cues, appending its
// anchors' hits to hits, which all statements share. Of the returned
// message only the Received trail is kept, and it is read for no cue.
func newStatement(text, lower, field string, returned bool, hits *[]hit) statement {
	st := statement{text: text, lower: lower, field: field, returned: returned}
	if !returned {
		st.hitLo = uint32(len(*hits))
		st.cues, *hits = cuesOf(lower, *hits)
		st.nHits = uint16(min(len(*hits)-int(st.hitLo), 1<<16-1))
	}
	return st
}

// respace gives back the spaces of log lines that wrote them as
// underscores: qmail-send's log has "Remote_host_said:_450_4.7.1_Client_host
// _rejected:_…". A line qualifies when it has a ":_" and more underscores
// than spaces, so an underscore in a name or address elsewhere stays. The
// text keeps its length, and comes back without a copy when no line
// qualifies.
func respace(s string) string {
	// Most text has no underscore at all, which one fast byte search tells.
	if strings.IndexByte(s, '_') < 0 || !strings.Contains(s, ":_") {
		return s
	}
	var b []byte
	for start := 0; start < len(s); {
		end := len(s)
		if nl := strings.IndexByte(s[start:], '\n'); nl >= 0 {
			end = start + nl
		}
		if line := s[start:end]; strings.Contains(line, ":_") && strings.Count(line, "_") > strings.Count(line, " ") {
			if b == nil {
				b = []byte(s)
			}
			for i := start; i < end; i++ {
				if b[i] == '_' {
					b[i] = ' '
				}
			}
		}
		start = end + 1
	}
	if b == nil {
		return s
	}
	return string(b)
}

// keepField reports whether a statement with this field name (or none) is
// read. Of the returned message only the Received trail is; of the bounce,
// everything but trace and antispam fields, and Exim's X-Failed-Recipients.
func keepField(field string, returned bool) bool {
	if returned {
		return field == "received"
	}
	return !isNoise(field) || field == "x-failed-recipients"
}

// joinSpans joins the spans of text, and the same spans of its lower-cased
// twin, with single spaces. size bounds the joined length; both results
// share one allocation, as they live and die with the same statement.
func joinSpans(text, lower string, spans [][2]int, size int) (string, string) {
	b := make([]byte, 0, 2*size)
	for _, s := range [2]string{text, lower} {
		for k, sp := range spans {
			if k > 0 {
				b = append(b, ' ')
			}
			b = append(b, s[sp[0]:sp[1]]...)
		}
	}
	// b is not written again: the strings alias it.
	n := len(b) / 2
	return unsafe.String(&b[0], n), unsafe.String(&b[n], n)
}

// stripQuote skips mail and Slack quote markers ("> ", ">> ") and
// transcript direction marks ("<<< ", ">>> ") at the start of the line
// s[a:b], returning the new start and whether the line was quoted.
func stripQuote(s string, a, b int) (int, bool) {
	t := a
	for t < b && (s[t] == ' ' || s[t] == '\t') {
		t++
	}
	if t == b || (s[t] != '>' && !strings.HasPrefix(s[t:b], "<<<")) {
		return a, false
	}
	for t < b && (s[t] == '<' || s[t] == '>' || s[t] == ' ' || s[t] == '\t') {
		t++
	}
	return t, true
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

// skipReplyMark returns the offset past the reply code mark ("550-") at
// s[i:b] and the enhanced status that may follow it, with their spaces: what
// each line of a multi-line reply repeats.
func skipReplyMark(s string, i, b int) int {
	i += 4
	for i < b && s[i] == ' ' {
		i++
	}
	if st, at := findStatus(s[i:min(b, i+12)]); at == 0 {
		i += len(st)
		for i < b && s[i] == ' ' {
			i++
		}
	}
	return i
}

// fieldName returns the name when the lower-cased line starts a header
// field ("name: value"), "" otherwise.
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
	return line[:colon]
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

// copyMarkerLeads holds the first byte of each of copyMarkers.
var copyMarkerLeads = func() (t [256]bool) {
	for _, m := range copyMarkers {
		t[m[0]] = true
	}
	return t
}()

// copyMarkerDecor is what MTAs print around a copy marker.
const copyMarkerDecor = "-=_ :.,"

// isCopyMarker reports whether the lower-cased line is one of copyMarkers,
// decorated with dashes as MTAs print them.
func isCopyMarker(line string) bool {
	if len(line) > 80 {
		return false
	}
	// Most lines are ruled out by their first letter, before any search.
	start := 0
	for start < len(line) && strings.IndexByte(copyMarkerDecor, line[start]) >= 0 {
		start++
	}
	l := line[start:]
	if l == "" || !copyMarkerLeads[l[0]] ||
		!(strings.Contains(l, "message") || strings.Contains(l, "content-")) {
		return false
	}
	l = strings.TrimRight(l, copyMarkerDecor)
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
			b := make([]byte, len(s))
			copy(b, s)
			j := i
			for ; j+8 <= len(b); j += 8 {
				binary.LittleEndian.PutUint64(b[j:], lower8(binary.LittleEndian.Uint64(b[j:])))
			}
			for ; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			// b is never written again: it becomes the string without the
			// second copy string(b) would make of a whole input.
			return unsafe.String(&b[0], len(b))
		}
	}
	return s
}

// lower8 lower-cases the ASCII letters among 8 bytes at once: a byte gets
// 0x20 added when it is below 0x80, at least 'A' and at most 'Z'. Adding to
// the low 7 bits of each byte cannot carry into the next byte.
func lower8(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	low7 := w &^ highs
	geA := low7 + ones*(0x80-'A') // high bit set when the byte >= 'A'
	gtZ := low7 + ones*(0x7f-'Z') // high bit set when the byte > 'Z'
	upper := (geA &^ gtZ) &^ w & highs
	return w | upper>>2
}
