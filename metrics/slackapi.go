package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"
)

// peekBytes is how much of a Web API reply is read to find its "ok" and
// "error" fields: Slack writes them first, and the rest (message lists,
// file bodies) is passed on unread.
const peekBytes = 512

// SlackTransport wraps next (nil: http.DefaultTransport) so that every Slack
// Web API call made through it is counted by method (chat.postMessage, from
// the URL path) and outcome: "ok", Slack's error code ("not_in_channel"),
// "ratelimited" for HTTP 429, or the HTTP status class ("5xx", "transport").
// Give it to slack-go with slack.OptionHTTPClient.
func (m *Metrics) SlackTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		method := apiMethod(req)
		start := time.Now()
		resp, err := next.RoundTrip(req)
		m.slackSecs.WithLabelValues(method).Observe(time.Since(start).Seconds())
		if err != nil {
			m.slackCalls.WithLabelValues(method, "transport").Inc()
			return resp, err
		}
		m.slackCalls.WithLabelValues(method, outcome(resp, method)).Inc()
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// apiMethod is the Web API method a request calls ("files" for a file
// download, which is no API method).
func apiMethod(req *http.Request) string {
	if !strings.Contains(req.URL.Path, "/api/") {
		return "files"
	}
	return path.Base(req.URL.Path)
}

// outcome reads a reply's outcome; the body stays whole for the caller.
func outcome(resp *http.Response, method string) string {
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return "ratelimited"
	case resp.StatusCode != http.StatusOK:
		return fmt.Sprintf("%dxx", resp.StatusCode/100)
	case method == "files" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"):
		return "2xx"
	}
	br := bufio.NewReaderSize(resp.Body, peekBytes)
	head, _ := br.Peek(peekBytes) // short at EOF: fine
	resp.Body = readCloser{br, resp.Body}
	ok, code, found := okField(head)
	switch {
	case !found:
		return "2xx"
	case ok:
		return "ok"
	case code != "":
		return code
	}
	return "error"
}

type readCloser struct {
	io.Reader
	io.Closer
}

// okField reads the top-level "ok" and "error" of a JSON object's first
// bytes. found is false when "ok" was not among them.
func okField(head []byte) (ok bool, code string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(head))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false, "", false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			break
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		switch key {
		case "ok":
			found = true
			ok = string(v) == "true"
		case "error":
			if err := json.Unmarshal(v, &code); err != nil || len(code) > 64 {
				code = "error"
			}
		}
		if found && (ok || code != "") {
			return ok, code, true
		}
	}
	return ok, code, found
}
