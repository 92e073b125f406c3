package handlers

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/watch"
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

// code renders untrusted text as inline code (diagnose.CodeSpan), escaped.
func code(s string) string { return escape(diagnose.CodeSpan(s)) }

// capBlocks keeps a message within Block Kit's block limit.
func capBlocks(blocks []slack.Block) []slack.Block {
	return blocks[:min(len(blocks), maxBlocksPerMessage)]
}

// codes is names in code spans, or "none".
func codes(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = code(n)
	}
	return strings.Join(out, ", ")
}

// message is one chat.postMessage worth of content: blocks plus the plain
// text fallback shown in notifications and by clients without Block Kit.
type message struct {
	Text   string
	Blocks []slack.Block
}

func mrkdwnSection(text string) *slack.SectionBlock {
	// verbatim: no automatic linking of names or URLs in what we echo.
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip.To(text, maxSectionChars), false, true), nil, nil)
}

func contextBlock(text string) *slack.ContextBlock {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, clip.To(text, maxSectionChars), false, true))
}

// statusEmoji marks a status; the words are diagnose's (Status.Words).
func statusEmoji(s diagnose.Status) string {
	switch s {
	case diagnose.StatusPass:
		return ":white_check_mark:"
	case diagnose.StatusFail, diagnose.StatusPermerror:
		return ":x:"
	default:
		return ":warning:"
	}
}

// headline is the first line for one result: status and IP. An IP that
// passes while another address of its name does not (the AAAA next to the
// A: mail may leave from it) gets a warning and the sibling's problem.
func headline(r *diagnose.Result) string {
	emoji, sib := statusEmoji(r.Status), siblingClause(r)
	if sib != "" {
		emoji = ":warning:"
	}
	line := fmt.Sprintf("%s *%s* %s", emoji, escape(r.IP), r.Status.Words())
	if r.Target != "" && r.Target != r.IP {
		line += " (from " + code(r.Target) + ")"
	}
	if r.ConfirmedName != "" {
		line += ": " + code(r.ConfirmedName)
	}
	return line + sib
}

// siblingClause is ", but <sibling's problem>" for a passing result with a
// failing sibling (diagnose's SiblingSummary, names already in code spans,
// escaped here), "" otherwise: a failing IP's own problem comes first.
func siblingClause(r *diagnose.Result) string {
	if r.Status != diagnose.StatusPass {
		return ""
	}
	if s := r.SiblingSummary(); s != "" {
		return ", but " + escape(s)
	}
	return ""
}

// plainHeadline is headline without mrkdwn decoration, for fallbacks.
func plainHeadline(r *diagnose.Result) string {
	return escape(r.IP+" "+r.Status.Words()) + siblingClause(r)
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
		Text:   clip.To(strings.Join(plain, "; "), maxFallbackChars),
		Blocks: []slack.Block{mrkdwnSection(text)},
	}
}

// button is one of our buttons: its value is the IP it acts on, and the
// HELO of the request (buttonValue).
func button(action, value, label string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(action, value, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
}

// buttonValue is "IP" or "IP helo=NAME": a recheck or watch started from
// the button is diagnosed with the HELO of the request that posted it.
func buttonValue(ip, helo string) string {
	if helo == "" {
		return ip
	}
	return ip + " " + heloOption + helo
}

// buttons for one result: recheck, and watch or stop watching.
func buttons(ip, helo string, watching bool) *slack.ActionBlock {
	v := buttonValue(ip, helo)
	w := button(actionUnwatch, v, "Stop watching")
	if !watching {
		w = button(actionWatch, v, "Watch until fixed")
		w.Style = slack.StylePrimary
	}
	return slack.NewActionBlock("", button(actionRecheck, v, "Recheck now"), w)
}

// reportBlocks renders the full guidance for one result, with buttons
// (carrying helo) unless withButtons is false.
func reportBlocks(r *diagnose.Result, helo string, withButtons, watching bool) []slack.Block {
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
		blocks = append(blocks, buttons(r.IP, helo, watching))
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
			names[i] = pointsTo(r, n)
		}
		parts = append(parts, "PTR: "+strings.Join(names, "; "))
	}
	if r.FixedAtSource() {
		parts = append(parts, fmt.Sprintf("Fixed at the source; resolvers may keep the old answer for up to %s.", time.Duration(r.Source.StaleForSeconds)*time.Second))
	}
	return strings.Join(parts, "\n")
}

// pointsTo shows a PTR name and the addresses it resolves to, as far as
// they were looked up: `mail.example.com` → `203.0.113.5`.
func pointsTo(r *diagnose.Result, name string) string {
	addrs, ok := r.Forward[name]
	switch {
	case !ok:
		return code(name)
	case len(addrs) == 0:
		return code(name) + " → (no A/AAAA)"
	}
	quoted := make([]string, len(addrs))
	for i, a := range addrs {
		quoted[i] = code(a)
	}
	return code(name) + " → " + strings.Join(quoted, ", ")
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
		b.WriteString("\n*Provider:* " + providerText(p))
	}
	if r.NegativeTTLSeconds != nil {
		fmt.Fprintf(&b, "\nResolvers may cache the missing record for up to %s (negative TTL).", time.Duration(*r.NegativeTTLSeconds)*time.Second)
	}
	return strings.TrimSpace(b.String())
}

// providerText names a provider, how to set a PTR there and a link to
// its docs (only a plain https URL: the link syntax must not be forged).
func providerText(p *diagnose.Provider) string {
	text := escape(p.Name)
	if p.HowTo != "" {
		text += ". " + escape(p.HowTo)
	}
	if p.DocURL != "" && strings.HasPrefix(p.DocURL, "https://") && !strings.ContainsAny(p.DocURL, "<>|& ") {
		text += fmt.Sprintf(" <%s|Provider docs>", p.DocURL)
	}
	return text
}

// reportMessages renders full reports for results, split over as many
// messages as Block Kit's 50-block limit needs. watching says which IPs are
// watched; nil means no buttons at all. helo is the request's HELO, for
// the buttons.
func reportMessages(results []diagnose.Result, watching func(ip string) bool, intro, helo string) []message {
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
		blocks = append(blocks, reportBlocks(r, helo, watching != nil, watching != nil && watching(r.IP))...)
		plain = append(plain, plainHeadline(r))
	}
	return splitMessages(blocks, clip.To(strings.Join(plain, "; "), maxFallbackChars))
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

var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// mention pings user when it is a well-formed user ID, and nothing otherwise.
func mention(user string) string {
	if slackUserID.MatchString(user) {
		return "<@" + user + "> "
	}
	return ""
}

// announcement renders the message for one pending announcement.
func announcement(p watch.Announcement) message {
	w, r := p.Key, &p.Result
	ip := code(w.IP.String())
	switch p.Kind {
	case watch.KindProgress:
		until := p.StaleUntil
		text := fmt.Sprintf(":hourglass_flowing_sand: %sFixed at the source: the authoritative servers now answer %s for %s. "+
			"Resolvers may keep the old answer until about <!date^%d^{time}|%s>; I'll post here when it passes everywhere.",
			mention(p.RequestedBy), records(r), ip, until.Unix(), until.UTC().Format("15:04 UTC"))
		return textMessage(text)
	case watch.KindFixed:
		where := "at the resolver and at every authoritative server"
		if r.SourceUnreachable() {
			where = "at the resolver (the zone's own servers could not be reached to confirm)"
		}
		text := fmt.Sprintf(":tada: %s%s is fixed: %s. FCrDNS passes %s, so receivers such as Gmail will accept it. "+
			"It took %s from when I started watching.", mention(p.RequestedBy), ip, records(r), where, humanDuration(p.Elapsed))
		// "Fixed" is about the watched IP; a sibling mail may leave from is
		// worth saying, not worth keeping the watch for.
		if s := r.SiblingSummary(); s != "" {
			text += "\n:warning: Still to fix: " + escape(s) + "."
		}
		// From watch to monitor: keep it under check, posting only on change.
		keep := button(actionKeepMonitoring, w.IP.String(), "Keep monitoring")
		return message{Text: text, Blocks: []slack.Block{mrkdwnSection(text), contextBlock("Keep monitoring checks it for good and posts here only if it changes."),
			slack.NewActionBlock("", keep)}}
	default: // watch.KindExpired
		text := fmt.Sprintf(":zzz: %sI stopped watching %s after %s; it still %s.", mention(p.RequestedBy), ip,
			humanDuration(p.Elapsed), r.Status.Words())
		v := buttonValue(w.IP.String(), p.HELO)
		keep := button(actionKeepWatching, v, "Keep watching")
		return message{Text: text, Blocks: []slack.Block{mrkdwnSection(text), slack.NewActionBlock("", keep, button(actionRecheck, v, "Recheck now"))}}
	}
}

// records shows the PTR and where it points, e.g. `mail.example.com` → `203.0.113.5`.
func records(r *diagnose.Result) string {
	name := r.ConfirmedName
	if name == "" && len(r.PTRNames) > 0 {
		name = r.PTRNames[0]
	}
	if name == "" {
		return "no PTR yet"
	}
	return "PTR " + pointsTo(r, name)
}

// humanDuration prints d the way people say it: 3m, 1h 12m, 2d 4h.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "less than a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// usageText is mrkdwn: its angle brackets are escaped, or Slack would read
// <ip|hostname> as a link.
const usageText = "*Usage*\n" +
	"• `/rdns &lt;ip|hostname&gt; […]`: check reverse DNS (FCrDNS) the way Gmail and Outlook do\n" +
	"• `/rdns 203.0.113.0/28` or `/rdns 203.0.113.10-203.0.113.20`: check a pool (IPv4 up to /22, IPv6 up to /120): one summary, details in its thread\n" +
	"• `/rdns &lt;ip&gt; helo=&lt;name&gt;`: also compare the name your server announces in HELO/EHLO\n" +
	"• `/rdns &lt;ip&gt; smtp`: also read your server's SMTP greeting on port 25 (rate-limited)\n" +
	"• `/rdns watch &lt;ip&gt;`: recheck until it is fixed, and say so here\n" +
	"• `/rdns unwatch &lt;ip&gt;`: stop rechecking\n" +
	"• `/rdns list`: what is watched in this conversation\n" +
	"• `/rdns monitor &lt;ip|block|range|host&gt; […]`: keep checking for good; post in its thread only when something changes\n" +
	"• `/rdns unmonitor &lt;ip|block|range&gt; […]`: stop monitoring; `/rdns monitors`: what is monitored here\n" +
	"• `/rdns help`: this help\n" +
	"Or paste/forward a bounce (`550 5.7.25 …`) into a channel I am in, or mention me with an IP."

// usageMessage shows what went wrong (mrkdwn, escaped by its usageError)
// and how to use the command.
func usageMessage(problem string) message {
	text := usageText
	if problem != "" {
		text = ":warning: " + problem + "\n" + usageText
	}
	return message{Text: "rdnsbot usage", Blocks: []slack.Block{mrkdwnSection(text)}}
}

// watchLine describes one watch in one line.
func watchLine(w watch.Info) string {
	line := fmt.Sprintf("• %s: %s", code(w.Key.IP.String()), escape(string(w.Status)))
	if !w.NextCheck.IsZero() {
		line += fmt.Sprintf(", next check <!date^%d^{time}|%s>", w.NextCheck.Unix(), w.NextCheck.UTC().Format("15:04 UTC"))
	}
	if !w.Since.IsZero() {
		line += fmt.Sprintf(", watched since <!date^%d^{date_short_pretty} {time}|%s>", w.Since.Unix(), w.Since.UTC().Format(time.DateTime))
	}
	return line
}

// maxHomeBlocks is the App Home tab's block limit
// (https://docs.slack.dev/reference/views/home-tab-view).
const maxHomeBlocks = 100

// homeBlocks is the App Home tab: the user's watches, or why there are
// none, then the monitors' blocks, then the usage. It alone applies the
// tab's block limit, keeping the usage last.
func homeBlocks(infos []watch.Info, err error, monitors []slack.Block, now time.Time) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "Your reverse-DNS watches", false, false)),
	}
	switch {
	case err != nil:
		blocks = append(blocks, mrkdwnSection(":hourglass: "+unavailableText+"."))
	case len(infos) == 0:
		blocks = append(blocks, mrkdwnSection("You are not watching anything. Run `/rdns &lt;ip&gt;` or paste a bounce into a channel I am in."))
	default:
		var lines []string
		for _, w := range infos {
			lines = append(lines, watchLine(w)+fmt.Sprintf(" in <#%s>", escape(w.Key.Channel)))
		}
		blocks = append(blocks, sections(strings.Join(lines, "\n"))...)
	}
	blocks = append(blocks, monitors...)
	blocks = blocks[:min(len(blocks), maxHomeBlocks-1)]
	return append(blocks, contextBlock("Updated <!date^"+fmt.Sprint(now.Unix())+"^{date_short_pretty} {time}|now>. "+usageText))
}

func textMessage(text string) message {
	return message{Text: text, Blocks: []slack.Block{mrkdwnSection(text)}}
}
