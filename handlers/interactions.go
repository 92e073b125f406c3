package handlers

import (
	"context"
	"net/netip"
	"strings"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/watch"
)

// shortcutDiagnose is the callback_id of the "Diagnose this bounce" message
// shortcut (manifest.yaml).
const shortcutDiagnose = "rdns_diagnose_bounce"

// onInteraction queues a button click or a message shortcut (already acked).
func (b *Bot) onInteraction(ctx context.Context, cb slack.InteractionCallback) {
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		b.onButtons(ctx, cb)
	case slack.InteractionTypeMessageAction:
		if cb.CallbackID == shortcutDiagnose {
			b.enqueueOrTell(withLogAttrs(ctx, "ts", cb.Message.Timestamp), "shortcut", "", func(ctx context.Context) { b.handleShortcut(ctx, cb) },
				func() (origin, bool) {
					return origin{channel: cb.Channel.ID, user: cb.User.ID, responseURL: cb.ResponseURL}, true
				})
		}
	}
}

func (b *Bot) onButtons(ctx context.Context, cb slack.InteractionCallback) {
	channel := cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Container.MessageTs
	}
	for _, a := range cb.ActionCallback.BlockActions {
		if a.ActionID == actionUnmonitor { // App Home: the value names the monitor
			if k, ok := parseMonitorValue(a.Value); ok {
				user := cb.User.ID
				b.enqueue(withLogAttrs(ctx, "action", a.ActionID), "button", func(ctx context.Context) { b.unmonitorButton(ctx, user, k) })
			}
			continue
		}
		ip, helo, ok := parseButtonValue(a.Value)
		if !ok {
			continue
		}
		o := origin{channel: channel, user: cb.User.ID, threadTS: thread, responseURL: cb.ResponseURL, source: watch.SourceButton,
			team: cb.Team.ID, helo: helo}
		action := a.ActionID
		b.enqueueOrTell(withLogAttrs(ctx, "ip", ip.String(), "thread", thread, "action", action), "button", "", func(ctx context.Context) {
			switch action {
			case actionRecheck:
				fresh := o
				fresh.fresh = true
				b.check(ctx, fresh, []string{ip.String()}, strings.TrimSpace(mention(o.user)+"rechecked:"))
			case actionWatch, actionKeepWatching:
				b.check(ctx, o, []string{ip.String()}, "")
			case actionUnwatch:
				b.stopButton(ctx, o, ip)
			case actionKeepMonitoring:
				b.keepMonitoringButton(ctx, o, ip) // monitors.go
			}
		}, func() (origin, bool) { return o, true })
	}
}

// parseButtonValue reads a button's value (buttonValue): the IP, and the
// HELO when there is one. The value came back through the client, so it
// is checked as input.
func parseButtonValue(v string) (netip.Addr, string, bool) {
	ipText, rest, _ := strings.Cut(v, " ")
	ip, isIP, err := diagnose.ParseTarget(ipText)
	if err != nil || !isIP {
		return netip.Addr{}, "", false
	}
	if rest == "" {
		return ip, "", true
	}
	h, ok := cutFold(rest, heloOption)
	if !ok {
		return netip.Addr{}, "", false
	}
	helo, err := parseHELO(h)
	return ip, helo, err == nil
}

// handleShortcut answers "Diagnose this bounce" on any message the user can
// see: in any channel (BOUNCE_CHANNELS limits only what is read unasked), in
// threads, on other bots' messages. The answer goes in the message's thread;
// where the bot cannot post, the user gets it through the response_url.
func (b *Bot) handleShortcut(ctx context.Context, cb slack.InteractionCallback) {
	msg := cb.Message
	thread := msg.ThreadTimestamp
	if thread == "" {
		thread = msg.Timestamp
	}
	if thread == "" {
		thread = cb.MessageTs
	}
	ev := &messageEvent{Type: "message", Channel: cb.Channel.ID, User: msg.User, BotID: msg.BotID, Text: msg.Text, TS: msg.Timestamp, ThreadTS: msg.ThreadTimestamp}
	for _, f := range msg.Files {
		ev.Files = append(ev.Files, slackFile{ID: f.ID, Name: f.Name, Mode: f.Mode, Filetype: f.Filetype, Mimetype: f.Mimetype,
			Size: int64(f.Size), PlainText: f.PlainText, URLPrivate: f.URLPrivate, URLPrivateDownload: f.URLPrivateDownload})
	}
	for _, a := range msg.Attachments {
		ev.Attachments = append(ev.Attachments, attachment{Text: a.Text, Fallback: a.Fallback, Pretext: a.Pretext})
	}
	o := origin{channel: cb.Channel.ID, user: cb.User.ID, threadTS: thread, responseURL: cb.ResponseURL,
		source: watch.SourceShortcut, team: cb.Team.ID}
	if b.handleBounceText(ctx, ev, o) {
		return
	}
	b.out.respondOrLog(ctx, o.responseURL, textMessage(":mag: I found no reverse-DNS rejection in that message. "+
		"It should hold the bounce's SMTP reply, e.g. `550 5.7.25 … [203.0.113.5] … PTR`. You can also run `/rdns &lt;ip&gt;`."))
}
