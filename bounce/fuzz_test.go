package bounce

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzParse: no input panics, and the verdict is self-consistent.
func FuzzParse(f *testing.F) {
	f.Add([]byte("550-5.7.25 [203.0.113.5] no PTR\n550 5.7.25 x - gsmtp"))
	f.Add([]byte("Content-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nStatus: 5.7.25\n--b--"))
	f.Add([]byte("&gt; &lt;<mailto:a@b|a@b>&gt; ```x``` <http://x|y>"))
	f.Add([]byte("Content-Transfer-Encoding: base64\n\n!!!"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=a\n\n--a--a\n--a--\n"))
	files, _ := filepath.Glob("testdata/fixtures/*.eml")
	for _, p := range files[:min(len(files), 12)] {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			t.Fatal(err) // only input larger than MaxSize is refused
		}
		// Read one byte at a time, with no length to size the buffer by,
		// the input parses the same.
		if rr, err := ParseReader(iotest.OneByteReader(bytes.NewReader(data))); err != nil || !reflect.DeepEqual(rr, r) {
			t.Fatalf("ParseReader: %+v, %v; Parse: %+v", rr, err, r)
		}
		if r.SendingIPs == nil {
			t.Fatal("nil SendingIPs")
		}
		if (len(r.SendingIPs) == 0) != (r.IPSource == "") {
			t.Fatalf("ips %v with source %q", r.SendingIPs, r.IPSource)
		}
		for _, ip := range r.SendingIPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				t.Fatalf("sending IP %q: %v", ip, err)
			}
		}
		if r.RDNS && r.Evidence == "" {
			t.Fatal("positive without evidence")
		}
		if strings.Count(r.Evidence, "\n") >= maxHits {
			t.Fatalf("evidence has more than %d lines", maxHits)
		}
	})
}
