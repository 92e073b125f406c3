package diagnose

import (
	"strconv"
	"strings"
)

// code shows a DNS name (from DNS or from the user) in human text as an
// inline code span, without its trailing dot. Every finding message and
// step text shows names through it; commands are built from names that
// passed commandHost instead.
func code(name string) string { return CodeSpan(strings.TrimSuffix(name, ".")) }

// CodeSpan shows untrusted text as an inline code span, so that Markdown
// and Slack mrkdwn characters in it (*, _, ~, backticks) format nothing. A
// backtick or control character inside is written as an RFC 1035 §5.1
// \DDD escape (\096), so the span cannot be closed early. It is the one
// code-span writer of rdnsbot: findings, Slack replies and the SMTP probe
// use it (Slack replies escape &, < and > on top).
func CodeSpan(s string) string {
	var b strings.Builder
	b.WriteByte('`')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '`' || c < 0x20 || c == 0x7f {
			b.WriteByte('\\')
			d := strconv.Itoa(int(c))
			b.WriteString(strings.Repeat("0", 3-len(d)) + d)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('`')
	return b.String()
}

// codeList shows each name with code, joined by ", ".
func codeList(names []string) string {
	shown := make([]string, len(names))
	for i, n := range names {
		shown[i] = code(n)
	}
	return strings.Join(shown, ", ")
}

// link shows one CNAME link of a chain.
func link(alias, target string) string { return code(alias) + " -> " + code(target) }
