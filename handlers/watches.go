package handlers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Watches is the recheck side as the handlers use it (package watch
// implements it over package store).
type Watches interface {
	// Start watches ip for a thread, first due from the failing result.
	Start(ctx context.Context, req WatchRequest, first *diagnose.Result) error
	// Stop ends the watch of ip for a thread; false when there was none.
	Stop(ctx context.Context, ip, channel, threadTS string) (bool, error)
	// ListChannel and ListUser back `/rdns list` and the App Home tab.
	ListChannel(ctx context.Context, channel string) ([]WatchInfo, error)
	ListUser(ctx context.Context, user string) ([]WatchInfo, error)
}

// WatchRequest asks for one thread to be told when ip is fixed.
type WatchRequest struct {
	IP, Channel, ThreadTS, User, Source string
}

// WatchInfo is one watch as shown to users.
type WatchInfo struct {
	IP, Channel, ThreadTS string
	Status                diagnose.Status
	Since, NextCheck      time.Time
}

// startWatches starts a watch for every result that is not passing, in
// o's thread, and says how it went. The returned func tells the renderer
// which IPs are now watched.
func (b *Bot) startWatches(ctx context.Context, o origin, results []diagnose.Result) (func(ip string) bool, string) {
	watched := map[string]bool{}
	is := func(ip string) bool { return watched[ip] }
	var failing []*diagnose.Result
	for i := range results {
		if results[i].Status != diagnose.StatusPass && !nonRoutable(&results[i]) {
			failing = append(failing, &results[i])
		}
	}
	if len(failing) == 0 || o.threadTS == "" {
		return is, ""
	}
	const recheckLater = ": press *Recheck now* once you have made the change."
	if b.watches == nil {
		return is, ":hourglass: " + errNoWatches.Error() + recheckLater
	}
	var failed []string
	for _, r := range failing {
		req := WatchRequest{IP: r.IP, Channel: o.channel, ThreadTS: o.threadTS, User: o.user, Source: o.source}
		if err := b.watches.Start(ctx, req, r); err != nil {
			b.log.WarnContext(ctx, "starting watch failed", "ip", r.IP, "err", err)
			failed = append(failed, r.IP)
			continue
		}
		watched[r.IP] = true
	}
	switch {
	case len(failed) > 0:
		return is, ":hourglass: " + errNoWatches.Error() + " for " + escape(strings.Join(failed, ", ")) + recheckLater
	case len(watched) > 0:
		return is, ":eyes: I'll keep rechecking and post in this thread when the fix has propagated."
	}
	return is, ""
}

// nonRoutable reports whether no receiver could ever see ip (private,
// documentation, reserved): watching it would never end well.
func nonRoutable(r *diagnose.Result) bool {
	for _, f := range r.Findings {
		switch f.Code {
		case diagnose.CodePrivateIP, diagnose.CodeDocumentationIP, diagnose.CodeReservedIP:
			return true
		}
	}
	return false
}

// unavailable tells the user that watching cannot be done right now.
func (b *Bot) unavailable(ctx context.Context, o origin) {
	b.reply(ctx, o, textMessage(":hourglass: "+errNoWatches.Error()+"."))
}

// channelWatches lists o's conversation's watches, or says why it can't.
func (b *Bot) channelWatches(ctx context.Context, o origin) ([]WatchInfo, bool) {
	if b.watches == nil {
		b.unavailable(ctx, o)
		return nil, false
	}
	infos, err := b.watches.ListChannel(ctx, o.channel)
	if err != nil {
		b.log.WarnContext(ctx, "listing watches failed", "channel", o.channel, "err", err)
		b.unavailable(ctx, o)
		return nil, false
	}
	return infos, true
}

// unwatchCommand: `/rdns unwatch <ip>…` in this conversation.
func (b *Bot) unwatchCommand(ctx context.Context, o origin, ips []string) {
	infos, ok := b.channelWatches(ctx, o)
	if !ok {
		return
	}
	var lines []string
	for _, ip := range ips {
		stopped := 0
		for _, w := range infos {
			if w.IP != ip || (o.threadTS != "" && w.ThreadTS != o.threadTS) {
				continue
			}
			if ok, err := b.watches.Stop(ctx, w.IP, w.Channel, w.ThreadTS); err == nil && ok {
				stopped++
			}
		}
		if stopped == 0 {
			lines = append(lines, fmt.Sprintf("%s was not being watched here.", code(ip)))
		} else {
			lines = append(lines, fmt.Sprintf(":no_bell: Stopped watching %s.", code(ip)))
		}
	}
	b.reply(ctx, o, textMessage(strings.Join(lines, "\n")))
}

// listCommand: `/rdns list` shows this conversation's watches.
func (b *Bot) listCommand(ctx context.Context, o origin) {
	infos, ok := b.channelWatches(ctx, o)
	if !ok {
		return
	}
	if len(infos) == 0 {
		b.reply(ctx, o, textMessage("Nothing is being watched in this conversation."))
		return
	}
	var lines []string
	for _, w := range infos {
		lines = append(lines, watchLine(w))
	}
	b.reply(ctx, o, message{Text: fmt.Sprintf("%d watches", len(infos)), Blocks: sections("*Watched here*\n" + strings.Join(lines, "\n"))})
}

// watchLine describes one watch in one line.
func watchLine(w WatchInfo) string {
	line := fmt.Sprintf("• %s: %s", code(w.IP), escape(string(w.Status)))
	if !w.NextCheck.IsZero() {
		line += fmt.Sprintf(", next check <!date^%d^{time}|%s>", w.NextCheck.Unix(), w.NextCheck.UTC().Format("15:04 UTC"))
	}
	if !w.Since.IsZero() {
		line += fmt.Sprintf(", watched since <!date^%d^{date_short_pretty} {time}|%s>", w.Since.Unix(), w.Since.UTC().Format(time.DateTime))
	}
	return line
}

func textMessage(text string) message {
	return message{Text: text, Blocks: []slack.Block{mrkdwnSection(text)}}
}

// onInteraction queues a button click (already acked).
func (b *Bot) onInteraction(cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return
	}
	channel := cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	thread := cb.Container.ThreadTs
	if thread == "" {
		thread = cb.Container.MessageTs
	}
	for _, a := range cb.ActionCallback.BlockActions {
		ip, isIP, err := diagnose.ParseTarget(a.Value)
		if err != nil || !isIP {
			continue
		}
		o := origin{channel: channel, user: cb.User.ID, threadTS: thread, responseURL: cb.ResponseURL, source: "button"}
		action := a.ActionID
		b.enqueue("button", func(ctx context.Context) { b.handleButton(ctx, o, action, ip.String()) })
	}
}

func (b *Bot) handleButton(ctx context.Context, o origin, action, ip string) {
	switch action {
	case actionRecheck:
		b.check(ctx, o, []string{ip}, strings.TrimSpace(mention(o.user)+"rechecked:"))
	case actionWatch, actionKeepWatching:
		b.check(ctx, o, []string{ip}, "")
	case actionUnwatch:
		if b.watches == nil {
			b.unavailable(ctx, o)
			return
		}
		ok, err := b.watches.Stop(ctx, ip, o.channel, o.threadTS)
		switch {
		case err != nil:
			b.unavailable(ctx, o)
		case ok:
			b.reply(ctx, o, textMessage(fmt.Sprintf(":no_bell: %sstopped watching %s.", mention(o.user), code(ip))))
		default:
			b.reply(ctx, o, textMessage(fmt.Sprintf("%s was not being watched in this thread.", code(ip))))
		}
	}
}

// publishHome shows the user's watches on the App Home tab.
func (b *Bot) publishHome(ctx context.Context, user string) {
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "Your reverse-DNS watches", false, false)),
	}
	var infos []WatchInfo
	var err error
	if b.watches == nil {
		err = errNoWatches
	} else {
		infos, err = b.watches.ListUser(ctx, user)
	}
	switch {
	case err != nil:
		blocks = append(blocks, mrkdwnSection(":hourglass: "+errNoWatches.Error()+"."))
	case len(infos) == 0:
		blocks = append(blocks, mrkdwnSection("You are not watching anything. Run `/rdns &lt;ip&gt;` or paste a bounce into a channel I am in."))
	default:
		var lines []string
		for _, w := range infos {
			lines = append(lines, watchLine(w)+fmt.Sprintf(" in <#%s>", escape(w.Channel)))
		}
		blocks = append(blocks, sections(strings.Join(lines, "\n"))...)
	}
	blocks = append(blocks, contextBlock("Updated <!date^"+fmt.Sprint(time.Now().Unix())+"^{date_short_pretty} {time}|now>. "+usageText))
	if len(blocks) > 100 { // Home tabs hold at most 100 blocks.
		blocks = blocks[:100]
	}
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
	if err := withRetry(ctx, func() error {
		_, err := b.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	}); err != nil {
		b.metrics.SlackErrors.Add(1)
		b.log.ErrorContext(ctx, "views.publish failed", "user", user, "err", err)
	}
}
