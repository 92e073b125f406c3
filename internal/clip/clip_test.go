package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTo(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven " + Mark},
		{"ab", 0, Mark},
		{"abcdef", 2, Mark},
		{"ünïcödé text", 7, "ün" + Mark}, // the "ï" would not fit whole
		{"日本語のテキスト", 10, "日本" + Mark},    // 3-byte runes
		{"\xff\xfe bytes", 6, "\xff\xfe " + Mark},
	} {
		got := To(tc.in, tc.n)
		if got != tc.want {
			t.Errorf("To(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if len(tc.in) > tc.n && len(got) > max(tc.n, len(Mark)) {
			t.Errorf("To(%q, %d) has %d bytes", tc.in, tc.n, len(got))
		}
		if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
			t.Errorf("To(%q, %d) = %q: not valid UTF-8", tc.in, tc.n, got)
		}
	}
}

func FuzzTo(f *testing.F) {
	f.Add("ünïcödé", 5)
	f.Add(strings.Repeat("日", 40), 64)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := To(s, n)
		switch {
		case len(s) <= n && got != s:
			t.Fatalf("To(%q, %d) = %q: changed text that fits", s, n, got)
		case len(s) > n && (!strings.HasSuffix(got, Mark) || !strings.HasPrefix(s, strings.TrimSuffix(got, Mark)) || len(got) > max(n, len(Mark))):
			t.Fatalf("To(%q, %d) = %q", s, n, got)
		case utf8.ValidString(s) && !utf8.ValidString(got):
			t.Fatalf("To(%q, %d) = %q: not valid UTF-8", s, n, got)
		}
	})
}
