package bounce

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
)

// bufReaders recycles the buffered readers that mail.ReadMessage and the
// quoted-printable decoder read through: bufio.NewReader hands back a
// *bufio.Reader that is already large enough instead of allocating 4 KiB
// per message and part.
var bufReaders = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// getBufReader returns a pooled reader of s, and the function that gives
// it back once it is no longer read.
func getBufReader(s string) (*bufio.Reader, func()) {
	br := bufReaders.Get().(*bufio.Reader)
	br.Reset(strings.NewReader(s))
	return br, func() {
		br.Reset(nil) // drop the input so the pool does not keep it alive
		bufReaders.Put(br)
	}
}

// readBufs recycles the walker's read buffer across messages; one grown
// past maxPooledBuf by a huge part is left to the collector instead.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuf = 1 << 20

// chunk is a piece of text to read. A returned chunk is the bounced message
// itself (RFC 3464 section 2: message/rfc822 or text/rfc822-headers): only
// its Received trail is used, never its wording.
type chunk struct {
	text     string
	returned bool
}

// maxDepth bounds MIME nesting and maxParts the body parts walked: real
// bounces nest three or four levels and have a handful of parts. Past
// either bound the rest is read as raw text, so a hostile message costs no
// more than a long one.
const (
	maxDepth = 8
	maxParts = 64
)

// walker carries the part count across a message's recursion, and a buffer
// that every part body and decoding is read into before it is copied out as
// a string, so reading costs one allocation of the final size.
type walker struct {
	parts int
	buf   *bytes.Buffer
}

// extract turns the input into text chunks. An RFC 5322 message is walked
// part by part (RFC 2045-2049); anything else, or a message whose structure
// is broken, is read as raw text so that no content is lost.
func extract(data string) []chunk {
	data = skipMboxLine(data)
	if strings.IndexByte(data, '\n') < 0 && strings.IndexByte(data, '\r') >= 0 {
		// Bare-CR line endings (old Mac mail): net/mail and mime/multipart
		// know only LF and CRLF.
		data = strings.ReplaceAll(data, "\r", "\n")
	}
	if !startsWithField(data) {
		return []chunk{{text: data}}
	}
	end := headerEnd(data)
	if end == len(data) {
		return []chunk{{text: data}}
	}
	br, putBack := getBufReader(data)
	msg, err := mail.ReadMessage(br)
	putBack()
	if err != nil {
		return []chunk{{text: data}}
	}
	// The header block is read as text too: a pasted DSN whose first lines
	// are Diagnostic-Code and Status fields parses as a header.
	chunks := []chunk{{text: data[:end]}}
	w := walker{buf: readBufs.Get().(*bytes.Buffer)}
	defer func() {
		if w.buf.Cap() <= maxPooledBuf {
			readBufs.Put(w.buf)
		}
	}()
	return w.walk(chunks, textproto.MIMEHeader(msg.Header), strings.TrimLeft(data[end:], "\r\n"), 0)
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

// walk appends the readable text of one MIME entity to chunks.
func (w *walker) walk(chunks []chunk, h textproto.MIMEHeader, body string, depth int) []chunk {
	body = w.decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain" // RFC 2045 5.2: the default, also for garbage
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/") && depth < maxDepth:
		return w.walkMultipart(chunks, body, params["boundary"], depth)
	case mediaType == "message/rfc822" || mediaType == "message/global" ||
		mediaType == "text/rfc822-headers" || mediaType == "message/global-headers":
		return append(chunks, chunk{text: body[:headerEnd(body)], returned: true})
	case mediaType == "text/html":
		return append(chunks, chunk{text: htmlText(body)})
	case strings.HasPrefix(mediaType, "text/") || strings.HasPrefix(mediaType, "message/"):
		// message/delivery-status (RFC 3464) is read like text: its fields
		// are lines the reader knows.
		return append(chunks, chunk{text: body})
	default:
		return chunks // images, attachments: nothing to read
	}
}

// walkMultipart appends the text of each body part. If the structure is
// broken (no boundary, truncated part), the whole body is read as raw text
// so nothing is lost.
func (w *walker) walkMultipart(chunks []chunk, body string, boundary string, depth int) []chunk {
	if boundary == "" {
		return append(chunks, chunk{text: body})
	}
	mr := multipart.NewReader(strings.NewReader(body), boundary)
	parts := 0
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil || w.parts == maxParts {
			return append(chunks, chunk{text: body})
		}
		w.parts++
		partBody, err := w.read(p)
		if err != nil {
			return append(chunks, chunk{text: body})
		}
		chunks = w.walk(chunks, p.Header, partBody, depth+1)
		parts++
	}
	if parts == 0 {
		return append(chunks, chunk{text: body})
	}
	return chunks
}

// decodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 6). A body that
// does not decode is returned as it is.
func (w *walker) decodeTransfer(cte string, body string) string {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		br, putBack := getBufReader(body)
		defer putBack()
		r = quotedprintable.NewReader(br)
	case "base64":
		// The decoder skips CR and LF but not other whitespace.
		r = base64.NewDecoder(base64.StdEncoding, strings.NewReader(strings.TrimSpace(body)))
	default:
		return body
	}
	out, err := w.read(r)
	if err != nil {
		// Keep what decoded and the raw body: a broken encoding must not
		// hide the text behind it.
		return out + "\n" + body
	}
	return out
}

// read returns all of r as a string, and the error that stopped it, if any.
func (w *walker) read(r io.Reader) (string, error) {
	w.buf.Reset()
	_, err := w.buf.ReadFrom(r)
	return w.buf.String(), err
}
