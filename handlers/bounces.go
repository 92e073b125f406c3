package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/bounce"
	"github.com/rdnsbot/rdnsbot/watch"
)

// maxBounceIPs bounds the IPs diagnosed for one bounce.
const maxBounceIPs = 5

// handleMessage reads a channel message for reverse-DNS bounces and answers
// in its thread. Ordinary chatter and other bounces get nothing.
func (b *Bot) handleMessage(ctx context.Context, ev *messageEvent) {
	o := origin{channel: ev.Channel, user: ev.User, threadTS: ev.replyThread(), source: watch.SourceBounce, team: ev.Team}
	if b.handleBounceText(ctx, ev, o) || ev.ChannelType != "im" {
		return
	}
	// In a DM with the bot, plain text is a command: "203.0.113.5", "list".
	if cmd, err := parseCommand(ev.Text); err == nil {
		o.source = watch.SourceDM
		b.runCommand(ctx, o, cmd)
	} else if len(ev.Files) == 0 {
		b.reply(ctx, o, usageReply(err))
	}
}

// handleBounceText looks for an rDNS bounce in everything ev carries: text,
// shared messages, emails sent to the channel and uploaded files. It reports
// whether it found one (and answered).
func (b *Bot) handleBounceText(ctx context.Context, ev *messageEvent, o origin) bool {
	var found []bounce.Result
	var refused []message
	consider := func(r bounce.Result) {
		if r.RDNS {
			found = append(found, r)
		}
	}
	for _, text := range messageTexts(ev) {
		r, err := bounce.ParseString(text)
		if err != nil {
			b.log.WarnContext(ctx, "reading bounce text", "err", err)
			continue
		}
		consider(r)
	}
	for i := range ev.Files {
		r, err := b.files.read(ctx, &ev.Files[i])
		if err != nil {
			b.log.WarnContext(ctx, "reading bounce file", "file", ev.Files[i].ID, "err", err)
			if m, reason := refusalMessage(err); reason != "" {
				b.metrics.Refusals.WithLabelValues(reason, "thread").Inc()
				refused = append(refused, m)
			}
			continue
		}
		consider(r)
	}
	// An upload refused unread may be a bounce: never pass it over in silence.
	for _, m := range refused {
		b.reply(ctx, o, m)
	}
	if len(found) == 0 {
		return len(refused) > 0
	}
	b.metrics.BouncesFound.Inc()
	var ips []string
	for _, r := range found {
		for _, ip := range r.SendingIPs {
			if !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
		}
	}
	if o.helo == "" {
		o.helo = b.bounceHELO(ctx, found)
	}
	intro := bounceIntro(found[0], ips, o.helo)
	if len(ips) == 0 {
		b.reply(ctx, o, message{Text: "rdnsbot: this bounce names no sending IP", Blocks: []slack.Block{mrkdwnSection(intro)}})
		return true
	}
	if len(ips) > maxBounceIPs {
		ips = ips[:maxBounceIPs]
	}
	b.check(ctx, o, ips, intro)
	return true
}

// bounceHELO is the first HELO the bounces show that passes parseHELO (a
// literal stays one: the diagnosis reports helo_literal; bounce never
// takes it for the sending IP). Others are dropped: they would reach the
// store and Slack.
func (b *Bot) bounceHELO(ctx context.Context, found []bounce.Result) string {
	for _, r := range found {
		if r.HELO == "" {
			continue
		}
		helo, err := parseHELO(r.HELO)
		if err == nil {
			return helo
		}
		b.log.InfoContext(ctx, "ignoring the bounce's HELO", "err", err)
	}
	return ""
}

// bounceIntro says what the bounce is, in one line, from escaped parts;
// helo is the HELO the diagnosis gets ("" for none).
func bounceIntro(r bounce.Result, ips []string, helo string) string {
	var what []string
	if r.ReplyCode != 0 {
		what = append(what, fmt.Sprint(r.ReplyCode))
	}
	if r.Status != "" {
		what = append(what, r.Status)
	}
	desc := "a reverse-DNS rejection"
	if len(what) > 0 {
		desc += " (" + code(strings.Join(what, " ")) + ")"
	}
	if r.Receiver != "" {
		desc += " from " + code(r.Receiver)
	}
	if r.Temporary {
		desc += ", temporary for now"
	}
	if len(ips) == 0 {
		return ":mag: This bounce is " + desc + ", but it does not say which IP address your server sent from. " +
			"Mention me in this thread with it, e.g. `@rdnsbot 203.0.113.5`, or run `/rdns &lt;ip&gt;`."
	}
	quoted := make([]string, len(ips))
	for i, ip := range ips {
		quoted[i] = code(ip)
	}
	return ":mag: This bounce is " + desc + " of mail sent from " + strings.Join(quoted, ", ") + "." + heloChecked(r, helo) + " Here is what DNS says now:"
}

// heloChecked says, for a rejection of the HELO identity (the receiver
// resolved the name the server announced, not only its PTR), that this is
// what was checked; "" for other rejections.
func heloChecked(r bounce.Result, helo string) string {
	if r.Check != bounce.CheckHELOIdentity {
		return ""
	}
	if helo == "" {
		return " The receiver checked the name your server announced in HELO/EHLO: it must resolve to the sending IP. " +
			"The bounce does not show that name; mention me with `helo=NAME` to have it compared with the PTR."
	}
	return " The receiver checked the name your server announced in HELO/EHLO, " + code(helo) +
		": it must resolve to the sending IP, and the findings below compare it with the PTR."
}

// messageTexts lists the texts a message carries: its own, and those of
// messages shared into it (attachments with is_share / is_msg_unfurl).
func messageTexts(ev *messageEvent) []string {
	var texts []string
	add := func(s string) {
		if strings.TrimSpace(s) != "" && !slices.Contains(texts, s) {
			texts = append(texts, s)
		}
	}
	add(ev.Text)
	for _, a := range ev.Attachments {
		for _, mb := range a.MessageBlocks {
			add(mb.Message.Text)
			add(richText(mb.Message.Blocks))
		}
		add(a.Text)
		add(a.Pretext)
		add(a.Fallback)
	}
	return texts
}

// richText flattens rich_text blocks (how a forwarded message carries its
// original) into plain text: text and link elements, in order, with the
// sections and preformatted parts on their own lines.
func richText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var blocks []any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return ""
	}
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			switch v["type"] {
			case "text":
				s, _ := v["text"].(string)
				b.WriteString(s)
			case "link":
				if s, _ := v["text"].(string); s != "" {
					b.WriteString(s)
				} else {
					s, _ := v["url"].(string)
					b.WriteString(s)
				}
			case "rich_text_section", "rich_text_preformatted", "rich_text_quote", "rich_text_list":
				walk(v["elements"])
				b.WriteByte('\n')
				return
			}
			walk(v["elements"])
		}
	}
	walk(blocks)
	return b.String()
}
