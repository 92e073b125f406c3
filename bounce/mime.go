package bounce

import (
	"bufio"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"
	"sync"
	"unsafe"
)

// chunk is a piece of text to read. A returned chunk is the bounced message
// itself (RFC 3464 section 2: message/rfc822 or text/rfc822-headers): only
// its Received trail is used, never its wording.
type chunk struct {
	text     string
	returned bool
}

// maxDepth bounds MIME nesting and maxParts the body parts walked: real
// bounces nest three or four levels and have a handful of parts, a bounce
// forwarded as an attachment two levels more per forward. Past either
// bound the rest is read as raw text, so a hostile message costs no more
// than a long one and loses nothing.
const (
	maxDepth = 24
	maxParts = 64
)

// maxReturnedHeader bounds what is decoded of a transfer-encoded returned
// message (message/global may be base64, RFC 6532 3.5) to find its header:
// its Received trail is all that is read of it.
const maxReturnedHeader = 256 << 10

// walker walks the MIME structure of one input. Every entity is a
// sub-string of the input (or of the one decoding of a transfer-encoded
// part), so nesting costs no copy; only text parts are decoded, each once.
type walker struct {
	parts int
	// read counts the bytes the walk searched, split and decoded: its
	// work, which TestHostileInputsLinear checks is linear in the input.
	read int
}

// mimePart is a MIME entity (a message or body part): its Content-Type
// and Content-Transfer-Encoding field values and its body, still encoded.
type mimePart struct {
	ctype, cte string
	body       string
}

// extract turns the input into text chunks. An RFC 5322 message is walked
// part by part (RFC 2045-2049); anything else, or a message whose header is
// broken, is read as raw text so that no content is lost.
func extract(data string) []chunk {
	var w walker
	return w.extract(data)
}

func (w *walker) extract(data string) []chunk {
	data = skipMboxLine(data)
	if strings.IndexByte(data, '\n') < 0 && strings.IndexByte(data, '\r') >= 0 {
		// Bare-CR line endings (old Mac mail): the one case that costs a
		// copy of the input, as every reader below knows only LF and CRLF.
		data = strings.ReplaceAll(data, "\r", "\n")
	}
	if !startsWithField(data) {
		return []chunk{{text: data}}
	}
	e, head, ok := w.splitEntity(data)
	if !ok {
		return []chunk{{text: data}}
	}
	// The header block is read as text too: a pasted DSN whose first lines
	// are Diagnostic-Code and Status fields parses as a header.
	return w.walk([]chunk{{text: head}}, e, 0, false)
}

// skipMboxLine drops the "From sender date" line mbox files start with.
func skipMboxLine(data string) string {
	if strings.HasPrefix(data, "From ") {
		if i := strings.IndexByte(data, '\n'); i >= 0 {
			return data[i+1:]
		}
	}
	return data
}

// startsWithField reports whether data starts with an RFC 5322 header field.
func startsWithField(data string) bool {
	colon := strings.IndexByte(data, ':')
	if colon <= 0 || colon > 76 {
		return false
	}
	for i := range colon {
		if c := data[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// headerEnd returns the offset of the blank line ending the header block, or
// len(data) when there is none. The CRLF form is looked for only before
// the first LF one, so LF text is not searched to its end for it.
func headerEnd(data string) int {
	end := len(data)
	if lf := strings.Index(data, "\n\n"); lf >= 0 {
		end = lf
	}
	// "\r\n\r\n" may end past an "\n\n" it precedes ("\r\n\r\n\n").
	if crlf := strings.Index(data[:min(len(data), end+3)], "\r\n\r\n"); crlf >= 0 {
		end = crlf
	}
	return end
}

// splitEntity cuts a message or body part into its header block and its
// entity. ok is false when there is no blank line ending a header, or a
// header line is neither a field nor a fold (RFC 5322 2.2): such text is
// not a MIME entity. An empty header (the part starts with the blank
// line) is one: RFC 2046 5.1.1 gives it the default type.
func (w *walker) splitEntity(part string) (e mimePart, head string, ok bool) {
	switch {
	case strings.HasPrefix(part, "\n"):
		return mimePart{body: part[1:]}, "", true
	case strings.HasPrefix(part, "\r\n"):
		return mimePart{body: part[2:]}, "", true
	}
	end := headerEnd(part)
	w.read += end
	if end == len(part) {
		return mimePart{}, "", false
	}
	head = part[:end]
	e.body = strings.TrimLeft(part[end:], "\r\n")
	for first := true; head != ""; first = false {
		line, rest, _ := strings.Cut(head, "\n")
		head = rest
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			if first {
				return mimePart{}, "", false
			}
			continue // a fold of a field not read
		}
		name, value, found := strings.Cut(line, ":")
		if !found {
			return mimePart{}, "", false
		}
		var dst *string
		switch {
		case strings.EqualFold(name, "content-type"):
			dst = &e.ctype
		case strings.EqualFold(name, "content-transfer-encoding"):
			dst = &e.cte
		}
		if dst == nil || *dst != "" { // the first occurrence counts
			continue
		}
		value, head = unfold(value, head)
		*dst = value
	}
	return e, part[:end], true
}

// unfold returns a field value with its folds (the following lines that
// start with white space, RFC 5322 2.2.3) joined by single spaces, and the
// header after them. An unfolded value costs no copy.
func unfold(value, rest string) (string, string) {
	value = strings.TrimSpace(value)
	if rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return value, rest
	}
	var b strings.Builder
	b.WriteString(value)
	for rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if line = strings.TrimSpace(line); line != "" {
			b.WriteByte(' ')
			b.WriteString(line)
		}
	}
	return b.String(), rest
}

// walk appends the readable text of one MIME entity to chunks. inReport
// tells that e is a part of a multipart/report, whose message part is the
// returned message (RFC 3464 2): any other message part is an attached
// message, such as a bounce forwarded as an attachment, and is walked.
func (w *walker) walk(chunks []chunk, e mimePart, depth int, inReport bool) []chunk {
	mediaType, params, err := mime.ParseMediaType(e.ctype)
	if err != nil {
		mediaType = "text/plain" // RFC 2045 5.2: the default, also for garbage
	}
	isMessage := mediaType == "message/rfc822" || mediaType == "message/global"
	switch {
	case isMessage && inReport,
		mediaType == "text/rfc822-headers" || mediaType == "message/global-headers":
		return append(chunks, chunk{text: w.returnedHeader(e), returned: true})
	case !strings.HasPrefix(mediaType, "text/") && !strings.HasPrefix(mediaType, "message/") &&
		!strings.HasPrefix(mediaType, "multipart/"):
		return chunks // images, attachments: nothing to read, nothing decoded
	}
	body, raw, ok := w.decodeTransfer(e.cte, e.body, len(e.body))
	if !ok {
		// Keep what decoded and the raw body: a broken encoding must not
		// hide the text behind it.
		return append(chunks, chunk{text: body}, chunk{text: raw})
	}
	switch {
	case (isMessage || strings.HasPrefix(mediaType, "multipart/")) && depth >= maxDepth:
		return append(chunks, chunk{text: body}) // too deep: the rest is raw text
	case isMessage:
		inner, head, ok := w.splitEntity(body)
		if !ok {
			return append(chunks, chunk{text: body})
		}
		return w.walk(append(chunks, chunk{text: head}), inner, depth+1, false)
	case strings.HasPrefix(mediaType, "multipart/"):
		return w.walkMultipart(chunks, body, params["boundary"], depth, mediaType == "multipart/report")
	case mediaType == "text/html":
		return append(chunks, chunk{text: htmlText(body)})
	default:
		// message/delivery-status (RFC 3464) is read like text: its fields
		// are lines the reader knows.
		return append(chunks, chunk{text: body})
	}
}

// returnedHeader returns the header block of a returned message, decoding
// no more of it than maxReturnedHeader.
func (w *walker) returnedHeader(e mimePart) string {
	body, _, _ := w.decodeTransfer(e.cte, e.body, maxReturnedHeader)
	end := headerEnd(body)
	w.read += end
	return body[:end]
}

// walkMultipart appends the text of each body part (RFC 2046 5.1.1). The
// parts are sub-strings of body. Without a boundary or a part, the body is
// read as raw text; a last part the input cuts off runs to its end; a part
// whose header is broken, and the parts past maxParts, are read as raw text.
func (w *walker) walkMultipart(chunks []chunk, body, boundary string, depth int, report bool) []chunk {
	if boundary == "" {
		return append(chunks, chunk{text: body})
	}
	dash := "--" + boundary
	_, start, closing, found := w.nextDelimiter(body, dash, 0)
	if !found || closing {
		return append(chunks, chunk{text: body})
	}
	for {
		end, next, nextClosing, found := w.nextDelimiter(body, dash, start)
		if w.parts == maxParts {
			return append(chunks, chunk{text: body[start:]})
		}
		w.parts++
		if e, _, ok := w.splitEntity(body[start:end]); ok {
			chunks = w.walk(chunks, e, depth+1, report)
		} else {
			chunks = append(chunks, chunk{text: body[start:end]})
		}
		if !found || nextClosing {
			return chunks
		}
		start = next
	}
}

// nextDelimiter finds the next boundary delimiter line ("--boundary" at the
// start of a line, then "--" when it closes, then white space, RFC 2046
// 5.1.1) at or after from. It returns where the part before it ends (the
// line break before the delimiter belongs to it), where the next part
// starts, and whether the delimiter closes; without one, both offsets are
// len(body) and found is false.
func (w *walker) nextDelimiter(body, dash string, from int) (end, next int, closing, found bool) {
	for i := from; ; {
		k := strings.Index(body[i:], dash)
		if k < 0 {
			w.read += len(body) - i
			return len(body), len(body), false, false
		}
		at := i + k
		w.read += k + len(dash)
		i = at + len(dash)
		if at > 0 && body[at-1] != '\n' {
			continue
		}
		j := i
		closing = strings.HasPrefix(body[j:], "--")
		if closing {
			j += 2
		}
		for j < len(body) && (body[j] == ' ' || body[j] == '\t' || body[j] == '\r') {
			j++
		}
		if j < len(body) && body[j] != '\n' {
			continue // "--boundaryX": a longer line, not the delimiter
		}
		end = at
		if end > from && body[end-1] == '\n' {
			end--
			if end > from && body[end-1] == '\r' {
				end--
			}
		}
		return end, min(j+1, len(body)), closing, true
	}
}

// qpReaders recycles the buffered readers the quoted-printable decoder
// reads through: quotedprintable.NewReader uses a *bufio.Reader it is
// handed instead of allocating 4 KiB per part.
var qpReaders = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// decodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 6), decoding
// at most limit bytes into one buffer sized for them. An identity encoding
// costs nothing. When the body does not decode, ok is false and text holds
// what decoded before the error, raw the body as it is.
func (w *walker) decodeTransfer(cte, body string, limit int) (text, raw string, ok bool) {
	var r io.Reader
	size := min(len(body), limit) // neither encoding lengthens its text
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		br := qpReaders.Get().(*bufio.Reader)
		br.Reset(strings.NewReader(body))
		defer func() {
			br.Reset(nil) // drop the input so the pool does not keep it alive
			qpReaders.Put(br)
		}()
		r = quotedprintable.NewReader(br)
	case "base64":
		// The decoder skips CR and LF but not other white space.
		body = strings.TrimSpace(body)
		size = min(base64.StdEncoding.DecodedLen(len(body)), limit)
		r = base64.NewDecoder(base64.StdEncoding, strings.NewReader(body))
	default:
		return body[:min(len(body), limit)], "", true
	}
	w.read += size
	out := make([]byte, size)
	n, err := 0, error(nil)
	for n < len(out) && err == nil {
		var k int
		k, err = r.Read(out[n:])
		n += k
	}
	// out is never written again: the string aliases it.
	text = unsafe.String(unsafe.SliceData(out), n)
	if err != nil && err != io.EOF {
		return text, body, false
	}
	return text, "", true
}
