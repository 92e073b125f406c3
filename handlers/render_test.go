package handlers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// hostile holds texts that would ping or link people if echoed raw.
var hostile = []string{"<!channel>", "<!here>", "<@U0HOSTILE>", "<http://evil.example|click>", "<#C0123>", "<!subteam^S1>"}

func TestUsageHasNoRawControlSequences(t *testing.T) {
	for _, m := range slackLink.FindAllString(usageText, -1) {
		t.Errorf("usage text holds %q, which Slack reads as a link", m)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"<!channel>":          "&lt;!channel&gt;",
		"a & b":               "a &amp; b",
		"&lt;already&gt;":     "&amp;lt;already&amp;gt;",
		"mail.example.com":    "mail.example.com",
		"<http://x|y> & <@U>": "&lt;http://x|y&gt; &amp; &lt;@U&gt;",
	} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text    string
		verb    verb
		targets []string
		bad     string // substring of the error, "" when valid
	}{
		{text: "203.0.113.5", verb: verbCheck, targets: []string{"203.0.113.5"}},
		{text: "  203.0.113.5, 2001:db8::1 ", verb: verbCheck, targets: []string{"203.0.113.5", "2001:db8::1"}},
		{text: "::ffff:192.0.2.1", verb: verbCheck, targets: []string{"192.0.2.1"}},
		{text: "can you check [192.0.2.1] and mail.example.com. please?", verb: verbCheck, targets: []string{"192.0.2.1", "mail.example.com"}},
		{text: "hello there", bad: "which IP"},
		{text: "<http://mail.example.com|mail.example.com>", verb: verbCheck, targets: []string{"mail.example.com"}},
		{text: "help", verb: verbHelp},
		{text: "LIST", verb: verbList},
		{text: "watch 198.51.100.7", verb: verbWatch, targets: []string{"198.51.100.7"}},
		{text: "unwatch 198.51.100.7", verb: verbUnwatch, targets: []string{"198.51.100.7"}},
		{text: "", bad: "which IP"},
		{text: "watch", bad: "name the IP"},
		{text: "999.1.1.1", bad: "999.1.1.1"},
		{text: "&lt;script&gt;", bad: "<script>"},
		{text: "watch mail.example.com", bad: "take an IP address"},
		{text: strings.Repeat("192.0.2.1 ", maxTargets+1), bad: "at most"},
	}
	for _, tt := range tests {
		got, err := parseCommand(tt.text)
		if tt.bad != "" {
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(ue.problem, tt.bad) {
				t.Errorf("parseCommand(%q) error = %v, want one mentioning %q", tt.text, err, tt.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCommand(%q): %v", tt.text, err)
			continue
		}
		if got.verb != tt.verb || strings.Join(got.targets, " ") != strings.Join(tt.targets, " ") {
			t.Errorf("parseCommand(%q) = %+v, want verb %d targets %v", tt.text, got, tt.verb, tt.targets)
		}
	}
}

// hostileResult is a diagnosis whose DNS data and target carry mrkdwn
// control sequences, as a hostile zone could serve.
func hostileResult() diagnose.Result {
	ttl := uint32(300)
	return diagnose.Result{
		Target: "<!channel>", IP: "192.0.2.1", Status: diagnose.StatusFail,
		PTRNames:    []string{"<@U0HOSTILE>.example."},
		Forward:     map[string][]string{"<@U0HOSTILE>.example.": {"<!here>"}},
		Findings:    []diagnose.Finding{{Code: diagnose.CodeForwardMismatch, Severity: diagnose.SeverityError, Message: "points to <http://evil.example|click>"}},
		ReverseZone: "<#C0123>", ReverseNameservers: []string{"<!subteam^S1>"},
		NegativeTTLSeconds: &ttl,
		Provider:           &diagnose.Provider{Name: "<!channel> Hosting", HowTo: "<!here>", DocURL: "https://x|<!channel>"},
		Guidance:           []diagnose.Step{{Text: "Set <!channel>", Commands: []string{"dig -x <!here> ``` <@U0HOSTILE>"}}},
	}
}

// blocksJSON is blocks as Slack receives them, without Go's HTML escaping
// (which would hide a raw "<" as \u003c).
func blocksJSON(t *testing.T, blocks []slack.Block) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(blocks); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRenderNeverEchoesControlSequences(t *testing.T) {
	r := hostileResult()
	// Notes and intros are mrkdwn built by callers, who escape what they echo.
	msgs := append([]message{summaryMessage([]diagnose.Result{r}, "note "+escape("<!channel>"))},
		reportMessages([]diagnose.Result{r}, func(string) bool { return true }, "intro "+escape("<!everyone>"), "")...)
	for _, m := range msgs {
		js := blocksJSON(t, m.Blocks)
		all := js + m.Text + textOnly(m)
		for _, h := range append(hostile, "<!everyone>") {
			if strings.Contains(all, h) {
				t.Errorf("rendered message contains raw %q: %s", h, all)
			}
		}
		if !strings.Contains(js, "&lt;!channel&gt;") {
			t.Errorf("expected the escaped form to be shown: %s", js)
		}
	}
}

func TestReportShowsStatusStepsAndButtons(t *testing.T) {
	r := diagnose.Result{
		Target: "203.0.113.5", IP: "203.0.113.5", Status: diagnose.StatusPermerror,
		Findings:    []diagnose.Finding{{Code: diagnose.CodeNoPTR, Severity: diagnose.SeverityError, Message: "203.0.113.5 has no PTR record"}},
		ReverseZone: "113.0.203.in-addr.arpa.", ReverseNameservers: []string{"ns1.isp.example."},
		Guidance: []diagnose.Step{{Text: "Ask your provider to set the PTR", Commands: []string{"dig -x 203.0.113.5 +short"}}},
	}
	for _, watching := range []bool{false, true} {
		s := blocksJSON(t, reportBlocks(&r, "", true, watching))
		for _, want := range []string{"has no PTR record (permerror)", "113.0.203.in-addr.arpa.", "not your domain registrar",
			"*1.* Ask your provider", "dig -x 203.0.113.5 +short", actionRecheck} {
			if !strings.Contains(s, want) {
				t.Errorf("report lacks %q: %s", want, s)
			}
		}
		wantAction, notAction := actionWatch, actionUnwatch
		if watching {
			wantAction, notAction = actionUnwatch, actionWatch
		}
		if !strings.Contains(s, `"`+wantAction+`"`) || strings.Contains(s, `"`+notAction+`"`) {
			t.Errorf("watching=%v: want button %s only: %s", watching, wantAction, s)
		}
	}
}

func TestReportWithoutButtons(t *testing.T) {
	r := diagnose.Result{IP: "192.0.2.1", Status: diagnose.StatusPermerror}
	for _, m := range reportMessages([]diagnose.Result{r}, nil, "", "") {
		if s := blocksJSON(t, m.Blocks); strings.Contains(s, `"actions"`) {
			t.Errorf("buttons rendered where they cannot work: %s", s)
		}
	}
}

func TestLongReportsAreSplitWithinLimits(t *testing.T) {
	r := diagnose.Result{IP: "192.0.2.1", Status: diagnose.StatusFail}
	for i := range 80 {
		r.Guidance = append(r.Guidance, diagnose.Step{Text: strings.Repeat("long step text ", 300) + string(rune('a'+i%26))})
	}
	msgs := reportMessages([]diagnose.Result{r}, func(string) bool { return false }, "", "")
	if len(msgs) < 2 {
		t.Fatalf("expected the report to be split, got %d message(s)", len(msgs))
	}
	steps := 0
	for _, m := range msgs {
		if len(m.Blocks) > maxBlocksPerMessage {
			t.Errorf("message has %d blocks", len(m.Blocks))
		}
		for _, blk := range m.Blocks {
			if s, ok := blk.(*slack.SectionBlock); ok {
				if len(s.Text.Text) > 3000 {
					t.Errorf("section of %d chars", len(s.Text.Text))
				}
				steps += strings.Count(s.Text.Text, "long step text long")
			}
		}
	}
	if steps < 80 {
		t.Errorf("steps lost in splitting: saw %d of 80", steps)
	}
}

func TestPlainSlackText(t *testing.T) {
	for in, want := range map[string]string{
		"<mailto:a@b.example|a@b.example> &lt;x&gt; &amp;": "a@b.example <x> &",
		"<http://mail.example.com>":                        "http://mail.example.com",
		"plain 192.0.2.1":                                  "plain 192.0.2.1",
	} {
		if got := plainSlackText(in); got != want {
			t.Errorf("plainSlackText(%q) = %q, want %q", in, got, want)
		}
	}
}
