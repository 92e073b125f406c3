package handlers

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// TestUsageEchoesInputAsCode: input echoed in a usage reply is an inline
// code span, so mrkdwn (* _ ~ `) in it is shown, not applied, and cannot
// end the span early.
func TestUsageEchoesInputAsCode(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"check *bold*", "`*bold*` is not an IP address or host name"},
		{"check _it_", "`_it_` is not an IP address or host name"},
		{"check ~s~", "`~s~` is not an IP address or host name"},
		{"check a`b", "`a\\096b` is not an IP address or host name"},
		{"watch mail.example", "watch and unwatch take an IP address, not `mail.example`"},
		{"check 192.0.2.1 helo=*bold*_it_~s~`x`", "helo=`*bold*_it_~s~\\096x` is not a host name"},
		{"check a&b*x*", "`a&amp;b*x*` is not"},
	} {
		_, err := parseCommand(tc.text)
		if err == nil {
			t.Errorf("parseCommand(%q) succeeded; want a usage error", tc.text)
			continue
		}
		m := usageReply(err)
		sec, ok := m.Blocks[0].(*slack.SectionBlock)
		if !ok {
			t.Fatalf("usage block is %T; want a section", m.Blocks[0])
		}
		got, _, _ := strings.Cut(sec.Text.Text, "\n") // the problem; the rest is the usage
		if !strings.Contains(got, tc.want) {
			t.Errorf("parseCommand(%q): usage shows %q; want it to contain %q", tc.text, got, tc.want)
		}
		if strings.Contains(got, `"`) {
			t.Errorf("parseCommand(%q): usage quotes the input instead of a code span: %q", tc.text, got)
		}
	}
}

// TestPoolRefusalIsShownAsCode: pool's refusal quotes the user's text, so
// the whole message is one code span and none of it is read as mrkdwn.
func TestPoolRefusalIsShownAsCode(t *testing.T) {
	for _, text := range []string{"check 192.0.2.1-*x*", "check 192.0.2.0/16 _y_"} {
		_, err := parseCommand(text)
		if err == nil {
			t.Fatalf("parseCommand(%q) succeeded; want a usage error", text)
		}
		sec := usageReply(err).Blocks[0].(*slack.SectionBlock)
		got, _, _ := strings.Cut(sec.Text.Text, "\n")
		got = strings.TrimPrefix(got, ":warning: ")
		if !strings.HasPrefix(got, "`") || !strings.HasSuffix(got, "`") || strings.Count(got, "`") != 2 {
			t.Errorf("parseCommand(%q): usage shows %q; want one code span", text, got)
		}
	}
}
