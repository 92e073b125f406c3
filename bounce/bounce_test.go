package bounce

import (
	"encoding/base64"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseString(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		rdns      bool
		ips       []string
		source    IPSource
		code      int
		status    string
		temporary bool
		receiver  string
		recipient string
		evidence  string // checked when set
	}{
		{
			name: "slack escaped quote with mailto link",
			in: "is this it?\n&gt; &lt;<mailto:bob@gmail.com|bob@gmail.com>&gt;: host gmail-smtp-in.l.google.com[142.251.170.27] said:\n" +
				"&gt; 550-5.7.25 [203.0.113.5] The IP address sending this message does not have a\n&gt; 550-5.7.25 PTR record setup. - gsmtp",
			rdns: true, ips: []string{"203.0.113.5"}, source: SourceRejection, code: 550, status: "5.7.25",
			receiver: "gmail-smtp-in.l.google.com", recipient: "bob@gmail.com",
		},
		{
			name: "code fence and http link",
			in:   "```450 4.7.1 Client host rejected: cannot find your reverse hostname, [2001:db8::7]\nsee <https://www.postfix.org/postconf.5.html|postconf>```",
			rdns: true, ips: []string{"2001:db8::7"}, source: SourceRejection, code: 450, status: "4.7.1", temporary: true,
		},
		{
			name: "one-line wrapped multi-line reply",
			in:   "550-5.7.25 [203.0.113.5] The IP address sending this message does not have a 550-5.7.25 PTR record setup",
			rdns: true, ips: []string{"203.0.113.5"}, source: SourceRejection, code: 550, status: "5.7.25",
			evidence: "550-5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR record setup",
		},
		{
			name: "receiver address is never the sender's",
			in:   "<a@example.net>: host mx.example.net[192.0.2.222] said: 550 5.7.25 No PTR record found (in reply to MAIL FROM command)",
			rdns: true, ips: []string{}, code: 550, status: "5.7.25", receiver: "mx.example.net", recipient: "a@example.net",
		},
		{
			name: "exim receiver with space before bracket",
			in:   "  a@example.net\n    host mx.example.net [192.0.2.222]\n    SMTP error from remote mail server after RCPT TO:<a@example.net>:\n    550 Reverse DNS lookup failed for host 198.51.100.9",
			rdns: true, ips: []string{"198.51.100.9"}, source: SourceRejection, code: 550, receiver: "mx.example.net", recipient: "a@example.net",
		},
		{
			name: "antispam header inside an unrelated bounce",
			in:   "550 5.1.1 <x@example.com>: Recipient address rejected: User unknown\n\nX-Forefront-Antispam-Report: CIP:198.51.100.1;CTRY:;LANG:en;\n PTR:InfoNoRecords;CAT:NONE;",
			ips:  []string{}, code: 550, status: "5.1.1", recipient: "x@example.com",
		},
		{
			name: "recipient MX lookup failure",
			in:   "<a@example.com>: Host or domain name not found. Name service error for name=example.com type=MX: Host not found, try again",
			ips:  []string{}, recipient: "a@example.com",
		},
		{
			name: "helo rejection",
			in:   "450 4.7.1 <localhost>: Helo command rejected: Host not found",
			ips:  []string{}, code: 450, status: "4.7.1", temporary: true,
		},
		{
			name: "chat that mentions rDNS without a bounce",
			in:   "hey, does anyone know how to set up reverse DNS for our PTR?",
			ips:  []string{},
		},
		{
			name: "blocklist naming a dynamic range",
			in:   "554 5.7.1 Service unavailable; Client host [198.51.100.63] blocked using dnsbl.sorbs.net; Dynamic IP Addresses",
			ips:  []string{"198.51.100.63"}, source: SourceRejection, code: 554, status: "5.7.1",
		},
		{
			name: "reverse zone name is not an address",
			in:   "550 5.7.25 no PTR at 5.113.0.203.in-addr.arpa for [203.0.113.5]",
			rdns: true, ips: []string{"203.0.113.5"}, source: SourceRejection, code: 550, status: "5.7.25",
		},
		{
			name: "DSN Reporting-MTA address literal",
			in:   "Reporting-MTA: dns; [203.0.113.44]\n\nFinal-Recipient: rfc822; z@example.org\nStatus: 5.7.25\nRemote-MTA: dns; mx.example.org\nDiagnostic-Code: smtp; 550 5.7.25 Reverse DNS validation failed",
			rdns: true, ips: []string{"203.0.113.44"}, source: SourceDSN, code: 550, status: "5.7.25", receiver: "mx.example.org", recipient: "z@example.org",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.in)
			if r.RDNS != tc.rdns {
				t.Errorf("rdns %v, want %v (evidence %q)", r.RDNS, tc.rdns, r.Evidence)
			}
			if !slices.Equal(r.SendingIPs, tc.ips) || r.IPSource != tc.source {
				t.Errorf("ips %v from %q, want %v from %q", r.SendingIPs, r.IPSource, tc.ips, tc.source)
			}
			if r.ReplyCode != tc.code || r.Status != tc.status || r.Temporary != tc.temporary {
				t.Errorf("code %d status %q temporary %v, want %d %q %v", r.ReplyCode, r.Status, r.Temporary, tc.code, tc.status, tc.temporary)
			}
			if r.Receiver != tc.receiver || r.Recipient != tc.recipient {
				t.Errorf("receiver %q recipient %q, want %q %q", r.Receiver, r.Recipient, tc.receiver, tc.recipient)
			}
			if tc.rdns && r.Evidence == "" {
				t.Error("no evidence for a positive verdict")
			}
			if tc.evidence != "" && r.Evidence != tc.evidence {
				t.Errorf("evidence %q, want %q", r.Evidence, tc.evidence)
			}
		})
	}
}

// mustParse parses in with ParseString, failing the test on an error.
func mustParse(tb testing.TB, in string) Result {
	tb.Helper()
	r, err := ParseString(in)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// noHint hides the length of a reader, as a network body does.
type noHint struct{ r io.Reader }

func (n noHint) Read(p []byte) (int, error) { return n.r.Read(p) }

// wrongSize says it is 1000 bytes long, whatever it holds.
type wrongSize struct{ io.Reader }

func (wrongSize) Size() int64 { return 1000 }

// TestTooLarge: every entry point refuses input past MaxSize, with or
// without a length to go by, and reads exactly MaxSize. The filler is an
// attachment, which is skipped unread, so the test costs the reading only.
func TestTooLarge(t *testing.T) {
	head := "Content-Type: multipart/mixed; boundary=b\n\n--b\n\n550 5.7.25 no PTR for [203.0.113.5]\n" +
		"--b\nContent-Type: application/octet-stream\n\n"
	exact := head + strings.Repeat("a", MaxSize-len(head))
	entries := map[string]func(string) (Result, error){
		"ParseString": ParseString,
		"Parse":       func(s string) (Result, error) { return Parse([]byte(s)) },
		"ParseReader": func(s string) (Result, error) { return ParseReader(strings.NewReader(s)) },
		"ParseReader without length": func(s string) (Result, error) {
			return ParseReader(noHint{io.MultiReader(strings.NewReader(s[:10]), strings.NewReader(s[10:]))})
		},
		"ParseReader with a wrong length": func(s string) (Result, error) {
			return ParseReader(wrongSize{strings.NewReader(s)})
		},
	}
	for name, parse := range entries {
		t.Run(name, func(t *testing.T) {
			r, err := parse(exact)
			if err != nil || !r.RDNS || !slices.Equal(r.SendingIPs, []string{"203.0.113.5"}) {
				t.Fatalf("MaxSize input: %+v, %v", r, err)
			}
			_, err = parse(exact + "a")
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "limit 26214400 bytes") {
				t.Fatalf("MaxSize+1: err %v, want ErrTooLarge with the limit", err)
			}
		})
	}
}

// TestParseReaderStops: ParseReader reads no more than MaxSize+1 bytes of
// an endless input.
func TestParseReaderStops(t *testing.T) {
	var n countingReader
	if _, err := ParseReader(&n); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	if n > MaxSize+1+64<<10 {
		t.Fatalf("read %d bytes of an endless input", n)
	}
}

// countingReader is an endless input of 'a's that counts what was read.
type countingReader int

var as = strings.Repeat("a", 64<<10)

func (c *countingReader) Read(p []byte) (int, error) {
	n := copy(p, as)
	*c += countingReader(n)
	return n, nil
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseReadError(t *testing.T) {
	if _, err := ParseReader(failReader{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err %v, want the reader's error wrapped", err)
	}
}

// TestResultDetached: Parse reads the caller's buffer in place, and the
// Result shares no memory with it: the buffer may be reused at once.
func TestResultDetached(t *testing.T) {
	in := "From: MAILER-DAEMON\nContent-Type: multipart/report; boundary=b\n\n--b\nContent-Type: text/plain\n\n" +
		"<bob@example.org>: host mx.example.org[192.0.2.9] said: 550 5.7.25 [203.0.113.5] no PTR record\n--b--\n"
	want := mustParse(t, in)
	buf := []byte(in)
	got, err := Parse(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if !reflect.DeepEqual(got, want) || want.Receiver == "" || want.Recipient == "" || want.Evidence == "" {
		t.Fatalf("after the buffer was overwritten: %+v, want %+v", got, want)
	}
}

// TestMalformedMIME: broken structure degrades to the raw text.
func TestMalformedMIME(t *testing.T) {
	tests := map[string]string{
		"missing boundary":  "Content-Type: multipart/report\n\n550 5.7.25 [203.0.113.5] no PTR record\n",
		"wrong boundary":    "Content-Type: multipart/mixed; boundary=zzz\n\n--aaa\n\n550 5.7.25 [203.0.113.5] no PTR record\n--aaa--\n",
		"truncated part":    "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n550 5.7.25 [203.0.113.5] no PTR record\n",
		"bad base64":        "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n550 5.7.25 [203.0.113.5] no PTR record!!\n",
		"bad content type":  "Content-Type: ;;;===\n\n550 5.7.25 [203.0.113.5] no PTR record\n",
		"bad header folded": "Subject: x\n bad\n\x00weird: y\n\n550 5.7.25 [203.0.113.5] no PTR record\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustParse(t, in)
			if !r.RDNS || !slices.Equal(r.SendingIPs, []string{"203.0.113.5"}) {
				t.Errorf("got %+v", r)
			}
		})
	}
}

// TestMIMEParts: which parts are read. A bounce forwarded as an attached
// message is walked; the returned message of a DSN is not read for its
// wording; attachments that are not text are skipped undecoded; text parts
// are decoded whatever their transfer encoding.
func TestMIMEParts(t *testing.T) {
	const rejection = "550 5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR record setup."
	b64 := base64.StdEncoding.EncodeToString([]byte(rejection))
	part := func(header, body string) string { return "--b\n" + header + "\n\n" + body + "\n" }
	mixed := func(parts ...string) string {
		return "From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n" + strings.Join(parts, "") + "--b--\n"
	}
	dsn := "From: MAILER-DAEMON@example.net\nContent-Type: multipart/report; boundary=r\n\n" +
		"--r\nContent-Type: text/plain\n\n" + rejection + "\n--r--\n"
	tests := map[string]struct {
		in   string
		rdns bool
	}{
		"forwarded bounce": {mixed(part("Content-Type: text/plain", "see below"), part("Content-Type: message/rfc822", dsn)), true},
		"forwarded, base64": {mixed(part("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64",
			base64.StdEncoding.EncodeToString([]byte(dsn)))), true},
		"returned message wording": {"Content-Type: multipart/report; boundary=b\n\n" +
			part("Content-Type: text/plain", "Delivery failed: mailbox full") +
			part("Content-Type: message/rfc822", "Subject: hi\n\n"+rejection) + "--b--\n", false},
		"image attachment":   {mixed(part("Content-Type: image/png\nContent-Transfer-Encoding: base64", b64)), false},
		"octet-stream":       {mixed(part("Content-Type: application/octet-stream", rejection)), false},
		"text attachment":    {mixed(part("Content-Type: text/plain; name=log.txt\nContent-Transfer-Encoding: base64", b64)), true},
		"quoted-printable":   {mixed(part("Content-Transfer-Encoding: Quoted-Printable", strings.Replace(rejection, "PTR", "P=\nT=52", 1))), true},
		"html":               {mixed(part("Content-Type: text/html", "<p>"+rejection+"</p>")), true},
		"no part header":     {mixed("--b\n\n" + rejection + "\n"), true},
		"broken part header": {mixed(part("Content-Type: image/png\nnot a field", rejection)), true},
		"folded type":        {"Content-Type: multipart/mixed;\n\tboundary=b\n\n" + part("Content-Type: text/plain", rejection) + "--b--\n", true},
		"cut off":            {strings.TrimSuffix(mixed(part("Content-Type: text/plain", rejection)), "--b--\n"), true},
		"epilogue ignored":   {mixed(part("Content-Type: text/plain", "hello")) + rejection, false},
		"longer boundary":    {mixed(part("Content-Type: image/png", "x"), "--bb\n\n"+rejection+"\n"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := mustParse(t, tc.in)
			if r.RDNS != tc.rdns || (tc.rdns && !slices.Equal(r.SendingIPs, []string{"203.0.113.5"})) {
				t.Errorf("got %+v, want rdns %v", r, tc.rdns)
			}
		})
	}
}

// TestLineEndings: a MIME message is decoded whatever its line endings:
// LF, CRLF or bare CR.
func TestLineEndings(t *testing.T) {
	msg := "From: MAILER-DAEMON\nContent-Type: multipart/report; boundary=b\n\n--b\nContent-Type: text/plain\n" +
		"Content-Transfer-Encoding: base64\n\n" + base64.StdEncoding.EncodeToString([]byte("550 5.7.25 [203.0.113.5] no PTR record")) + "\n--b--\n"
	for name, eol := range map[string]string{"LF": "\n", "CRLF": "\r\n", "CR": "\r"} {
		r := mustParse(t, strings.ReplaceAll(msg, "\n", eol))
		if !r.RDNS || !slices.Equal(r.SendingIPs, []string{"203.0.113.5"}) {
			t.Errorf("%s: got %+v", name, r)
		}
	}
}

func TestScanIPs(t *testing.T) {
	tests := map[string][]string{
		"[203.0.113.5]":                 {"203.0.113.5"},
		"ip=203.0.113.5&c=rdns":         {"203.0.113.5"},
		"IPv6:2001:db8::1 and 1.2.3.4.": {"2001:db8::1", "1.2.3.4"},
		"192.0.2.1:25 said":             {"192.0.2.1"},
		"5.7.25 10:41:45 1.2.3":         nil,
		"ec2-1-2-3-4 a1.2.3.4 1.2.3.4x": nil,
		"4.3.2.1.in-addr.arpa":          nil,
		"[::ffff:192.0.2.9]":            {"::ffff:192.0.2.9"},
		"dead:beef":                     nil,
	}
	for in, want := range tests {
		var got []string
		for _, a := range scanIPs(lowerASCII(in)) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("scanIPs(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestFormatCharacters: an invisible format character (Unicode Cf) inside
// an address never turns it into another address: it is dropped, and the
// address reads as it looks.
func TestFormatCharacters(t *testing.T) {
	for name, mark := range map[string]string{
		"zero width space": "\u200b", "zero width joiner": "\u200d", "word joiner": "\u2060",
		"byte order mark": "\ufeff", "soft hyphen": "\u00ad", "right-to-left mark": "\u200f", "tag": "\U000E0041",
	} {
		in := "550 5.7.25 [192.0.2.1" + mark + "1] The IP address sending this message does not have a PTR record setup"
		r := mustParse(t, in)
		if !r.RDNS || !slices.Equal(r.SendingIPs, []string{"192.0.2.11"}) {
			t.Errorf("%s: rdns %v, sending IPs %v, want [192.0.2.11]", name, r.RDNS, r.SendingIPs)
		}
	}
	// Text in other scripts is kept byte for byte.
	for _, s := range []string{"plain ascii", "逆引き 반송 отклонено «café»", "bad \xff\xfe utf-8 \xe2\x80"} {
		if got := stripFormat(s); got != s {
			t.Errorf("stripFormat(%q) = %q", s, got)
		}
	}
}

// TestFormatLeads: every format character starts with a byte the fast
// path looks at, so none slips through unseen.
func TestFormatLeads(t *testing.T) {
	var buf [4]byte
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.Is(unicode.Cf, r) {
			utf8.EncodeRune(buf[:], r)
			if !formatLeads[buf[0]] {
				t.Errorf("U+%04X: lead byte %#x not marked", r, buf[0])
			}
			if s := "a" + string(r) + "b"; stripFormat(s) != "ab" {
				t.Errorf("U+%04X: stripFormat(%q) = %q", r, s, stripFormat(s))
			}
		}
	}
}

// TestAddressAfterRepetition: an address named after a long run of the
// same matching reply lines is still found.
func TestAddressAfterRepetition(t *testing.T) {
	noise := strings.Repeat("550-5.7.25 The sending IP does not have a PTR record.\n", (64<<10)/54+1)
	for name, in := range map[string]string{
		"continued reply": noise + "550 5.7.25 [203.0.113.9] Please set up a PTR record.\n",
		"paragraphs":      strings.ReplaceAll(noise, "\n", "\n\n") + "550 5.7.25 [203.0.113.9] Please set up a PTR record.\n",
	} {
		r := mustParse(t, in)
		if !r.RDNS || !slices.Equal(r.SendingIPs, []string{"203.0.113.9"}) {
			t.Errorf("%s: rdns %v, sending IPs %v, want [203.0.113.9]", name, r.RDNS, r.SendingIPs)
		}
		if n := strings.Count(r.Evidence, "\n") + 1; n > maxHits+1 {
			t.Errorf("%s: %d evidence lines", name, n)
		}
	}
}

// TestHELO: the sending host's HELO name, where the bounce shows it, and
// whether it is an address literal; such a literal is never the sending IP.
func TestHELO(t *testing.T) {
	tests := []struct {
		name, in, helo string
		src            HELOSource
		literal        bool
		ips            []string
	}{
		{"transcript", "<<< 220 mx.example.net ESMTP\n>>> EHLO mail.example.org\n<<< 250-mx.example.net Hello [203.0.113.5]\n>>> MAIL FROM:<a@example.org>\n<<< 550 5.7.25 no PTR record",
			"mail.example.org", HELOTranscript, false, []string{"203.0.113.5"}},
		{"transcript literal", "Sent: EHLO [198.51.100.7]\nGot: 250-mx.example.net\nSent: RCPT TO:<b@example.net>\nGot: 550 5.7.1 Client host rejected: cannot find your hostname",
			"[198.51.100.7]", HELOTranscript, true, []string{}},
		{"postfix log", "NOQUEUE: reject: RCPT from unknown[192.0.2.4]: 450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.4]; from=<a@b.example> to=<c@d.example> proto=ESMTP helo=<Mail.B.example>",
			"Mail.B.example", HELOLog, false, []string{"192.0.2.4"}},
		{"postfix log literal", "NOQUEUE: reject: RCPT from unknown[192.0.2.4]: 450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.4]; proto=ESMTP helo=<[198.51.100.7]>",
			"[198.51.100.7]", HELOLog, true, []string{"192.0.2.4"}},
		{"exim log", "2026-01-01 10:00:00 H=(box.b.example) [192.0.2.4]:51515 F=<a@b.example> rejected RCPT <c@d.example>: reverse DNS lookup failed",
			"box.b.example", HELOLog, false, []string{"192.0.2.4"}},
		{"exim log bare address", "2016-07-21 14:29:05 H=(198.51.100.7) [192.0.2.4] rejected EHLO or HELO 198.51.100.7: Access denied - Invalid HELO name",
			"198.51.100.7", HELOLog, true, []string{"192.0.2.4"}},
		{"helo rejected", "450 4.7.1 <localhost.localdomain>: Helo command rejected: Host not found",
			"localhost.localdomain", HELORejection, false, []string{}},
		{"received", "Reporting-MTA: dns; out.example.org\nFinal-Recipient: rfc822; c@d.example\nDiagnostic-Code: smtp; 550 5.7.25 no PTR\n\n--- Original message follows\n\nReceived: from [10.0.0.5] (helo=[10.0.0.5]) by out.example.org (Postfix) with ESMTPSA id 1; Mon, 2 Mar 2026 10:00:00 +0000\n",
			"out.example.org", HELOReceived, false, []string{}},
		{"none", "550 5.7.25 no PTR record for [203.0.113.5]", "", "", false, []string{"203.0.113.5"}},
	}
	for _, tc := range tests {
		r := mustParse(t, tc.in)
		if r.HELO != tc.helo || r.HELOSource != tc.src || r.HELOLiteral != tc.literal {
			t.Errorf("%s: HELO %q from %q literal %v, want %q from %q literal %v", tc.name, r.HELO, r.HELOSource, r.HELOLiteral, tc.helo, tc.src, tc.literal)
		}
		if !slices.Equal(r.SendingIPs, tc.ips) {
			t.Errorf("%s: sending IPs %v, want %v", tc.name, r.SendingIPs, tc.ips)
		}
	}
}
