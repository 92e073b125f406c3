package handlers

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks): a
// message holds at most 50 blocks and a section's text at most 3,000
// characters. We stay a little below so escaping never tips us over.
const (
	maxBlocksPerMessage = 50
	maxSectionChars     = 2900
	maxFallbackChars    = 3500
)

// Action IDs of the buttons rdnsbot posts; each button's value is an IP.
const (
	actionRecheck      = "rdns_recheck"
	actionWatch        = "rdns_watch"
	actionUnwatch      = "rdns_unwatch"
	actionKeepWatching = "rdns_keep_watching"
)

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes untrusted text (user input, bounce text, DNS data) inert in
// Slack mrkdwn: &, < and > are its only control characters, so once they are
// entities no <!channel>, <@U…> or <http://x|y> can ping or link anyone.
func escape(s string) string { return mrkdwnEscaper.Replace(s) }

// code renders untrusted text as inline code, escaped, and without backticks
// that would end the span early.
func code(s string) string {
	return "`" + escape(strings.ReplaceAll(s, "`", "'")) + "`"
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// message is one chat.postMessage worth of content: blocks plus the plain
// text fallback shown in notifications and by clients without Block Kit.
type message struct {
	Text   string
	Blocks []slack.Block
}

func mrkdwnSection(text string) *slack.SectionBlock {
	// verbatim: no automatic linking of names or URLs in what we echo.
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(text, maxSectionChars), false, true), nil, nil)
}

func contextBlock(text string) *slack.ContextBlock {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, truncate(text, maxSectionChars), false, true))
}

// statusWords says a status the way a mail admin would.
func statusWords(r *diagnose.Result) (emoji, words string) {
	switch r.Status {
	case diagnose.StatusPass:
		return ":white_check_mark:", "passes FCrDNS"
	case diagnose.StatusFail:
		return ":x:", "has a PTR that does not point back (fail)"
	case diagnose.StatusPermerror:
		return ":x:", "has no PTR record (permerror)"
	default:
		return ":warning:", "can't tell yet: DNS did not answer (temperror)"
	}
}

// headline is the first line for one result: status and IP.
func headline(r *diagnose.Result) string {
	emoji, words := statusWords(r)
	line := fmt.Sprintf("%s *%s* %s", emoji, escape(r.IP), words)
	if r.Target != "" && r.Target != r.IP {
		line += " (from " + code(r.Target) + ")"
	}
	if r.ConfirmedName != "" {
		line += ": " + code(r.ConfirmedName)
	}
	return line
}

// plainHeadline is headline without mrkdwn decoration, for fallbacks.
func plainHeadline(r *diagnose.Result) string {
	_, words := statusWords(r)
	return escape(r.IP + " " + words)
}

// summaryMessage is the short channel message for a set of results.
func summaryMessage(results []diagnose.Result, note string) message {
	var lines, plain []string
	for i := range results {
		r := &results[i]
		lines = append(lines, headline(r))
		plain = append(plain, plainHeadline(r))
	}
	text := strings.Join(lines, "\n")
	if note != "" {
		text += "\n" + note
	}
	return message{
		Text:   truncate(strings.Join(plain, "; "), maxFallbackChars),
		Blocks: []slack.Block{mrkdwnSection(text)},
	}
}

// buttons for one result: recheck, and watch or stop watching.
func buttons(ip string, watching bool) *slack.ActionBlock {
	recheck := slack.NewButtonBlockElement(actionRecheck, ip, slack.NewTextBlockObject(slack.PlainTextType, "Recheck now", false, false))
	var w *slack.ButtonBlockElement
	if watching {
		w = slack.NewButtonBlockElement(actionUnwatch, ip, slack.NewTextBlockObject(slack.PlainTextType, "Stop watching", false, false))
	} else {
		w = slack.NewButtonBlockElement(actionWatch, ip, slack.NewTextBlockObject(slack.PlainTextType, "Watch until fixed", false, false))
		w.Style = slack.StylePrimary
	}
	return slack.NewActionBlock("", recheck, w)
}

// reportBlocks renders the full guidance for one result, with buttons
// unless withButtons is false.
func reportBlocks(r *diagnose.Result, withButtons, watching bool) []slack.Block {
	blocks := []slack.Block{mrkdwnSection(headline(r))}
	if d := details(r); d != "" {
		blocks = append(blocks, contextBlock(d))
	}
	if len(r.Findings) > 0 {
		var b strings.Builder
		for _, f := range r.Findings {
			fmt.Fprintf(&b, "%s %s\n", severityEmoji(f.Severity), escape(f.Message))
		}
		blocks = append(blocks, sections(b.String())...)
	}
	if who := whoFixes(r); who != "" {
		blocks = append(blocks, mrkdwnSection(who))
	}
	for i, step := range r.Guidance {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d.* %s", i+1, escape(step.Text))
		if len(step.Commands) > 0 {
			b.WriteString("\n```")
			for _, c := range step.Commands {
				b.WriteString(escape(strings.ReplaceAll(c, "```", "'''")) + "\n")
			}
			b.WriteString("```")
		}
		blocks = append(blocks, sections(b.String())...)
	}
	if withButtons {
		blocks = append(blocks, buttons(r.IP, watching))
	}
	return blocks
}

// sections splits long text over several sections at line breaks, so a long
// report is split rather than rejected.
func sections(text string) []slack.Block {
	var out []slack.Block
	for len(text) > maxSectionChars {
		cut := strings.LastIndexByte(text[:maxSectionChars], '\n')
		if cut <= 0 {
			cut = maxSectionChars
			for cut > 0 && !utf8.RuneStart(text[cut]) {
				cut--
			}
		}
		out = append(out, mrkdwnSection(text[:cut]))
		text = strings.TrimPrefix(text[cut:], "\n")
	}
	if strings.TrimSpace(text) != "" {
		out = append(out, mrkdwnSection(text))
	}
	return out
}

func severityEmoji(s diagnose.Severity) string {
	switch s {
	case diagnose.SeverityError:
		return ":red_circle:"
	case diagnose.SeverityWarning:
		return ":large_orange_circle:"
	default:
		return ":large_blue_circle:"
	}
}

// details lists the records seen: PTR names and where each points.
func details(r *diagnose.Result) string {
	var parts []string
	if len(r.PTRNames) > 0 {
		names := make([]string, len(r.PTRNames))
		for i, n := range r.PTRNames {
			names[i] = code(n)
			if addrs, ok := r.Forward[n]; ok {
				if len(addrs) == 0 {
					names[i] += " → (no A/AAAA)"
				} else {
					quoted := make([]string, len(addrs))
					for j, a := range addrs {
						quoted[j] = code(a)
					}
					names[i] += " → " + strings.Join(quoted, ", ")
				}
			}
		}
		parts = append(parts, "PTR: "+strings.Join(names, "; "))
	}
	if r.FixedAtSource() {
		parts = append(parts, fmt.Sprintf("Fixed at the source; resolvers may keep the old answer for up to %s.", time.Duration(r.Source.StaleForSeconds)*time.Second))
	}
	return strings.Join(parts, "\n")
}

// whoFixes names who controls the PTR: the owner of the reverse zone.
func whoFixes(r *diagnose.Result) string {
	if r.Status == diagnose.StatusPass && r.Provider == nil {
		return ""
	}
	var b strings.Builder
	if r.ReverseZone != "" {
		fmt.Fprintf(&b, "*Who can fix it:* whoever controls the reverse zone %s", code(r.ReverseZone))
		if len(r.ReverseNameservers) > 0 {
			ns := make([]string, len(r.ReverseNameservers))
			for i, n := range r.ReverseNameservers {
				ns[i] = code(n)
			}
			fmt.Fprintf(&b, " (served by %s)", strings.Join(ns, ", "))
		}
		b.WriteString(": the owner of the IP address, not your domain registrar.")
	}
	if p := r.Provider; p != nil {
		fmt.Fprintf(&b, "\n*Provider:* %s", escape(p.Name))
		if p.HowTo != "" {
			b.WriteString(". " + escape(p.HowTo))
		}
		if p.DocURL != "" && strings.HasPrefix(p.DocURL, "https://") && !strings.ContainsAny(p.DocURL, "<>|& ") {
			fmt.Fprintf(&b, " <%s|Provider docs>", p.DocURL)
		}
	}
	if r.NegativeTTLSeconds != nil {
		fmt.Fprintf(&b, "\nResolvers may cache the missing record for up to %s (negative TTL).", time.Duration(*r.NegativeTTLSeconds)*time.Second)
	}
	return strings.TrimSpace(b.String())
}

// reportMessages renders full reports for results, split over as many
// messages as Block Kit's 50-block limit needs. watching says which IPs are
// watched; nil means no buttons at all.
func reportMessages(results []diagnose.Result, watching func(ip string) bool, intro string) []message {
	var blocks []slack.Block
	var plain []string
	if intro != "" {
		blocks = append(blocks, mrkdwnSection(intro))
	}
	for i := range results {
		r := &results[i]
		if i > 0 {
			blocks = append(blocks, slack.NewDividerBlock())
		}
		blocks = append(blocks, reportBlocks(r, watching != nil, watching != nil && watching(r.IP))...)
		plain = append(plain, plainHeadline(r))
	}
	return splitMessages(blocks, truncate(strings.Join(plain, "; "), maxFallbackChars))
}

func splitMessages(blocks []slack.Block, text string) []message {
	var out []message
	for len(blocks) > 0 {
		n := min(len(blocks), maxBlocksPerMessage)
		out = append(out, message{Text: text, Blocks: blocks[:n]})
		blocks = blocks[n:]
		text += " (continued)"
	}
	return out
}

// textOnly is the fallback when Slack rejects our blocks (invalid_blocks):
// the same report as escaped mrkdwn text.
func textOnly(m message) string {
	var b strings.Builder
	for _, blk := range m.Blocks {
		switch v := blk.(type) {
		case *slack.SectionBlock:
			if v.Text != nil {
				b.WriteString(v.Text.Text + "\n")
			}
		case *slack.ContextBlock:
			for _, e := range v.ContextElements.Elements {
				if t, ok := e.(*slack.TextBlockObject); ok {
					b.WriteString(t.Text + "\n")
				}
			}
		}
	}
	if b.Len() == 0 {
		return m.Text
	}
	return b.String()
}
