package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/watch"
)

// Watches is the recheck scheduler as the handlers use it, in watch's own
// types; *watch.Scheduler is one.
type Watches interface {
	// Start watches an IP for a thread, first due from the failing result.
	Start(ctx context.Context, req watch.Request, first diagnose.Result) error
	// Stop ends the watch of an IP for a thread; false when there was none.
	Stop(ctx context.Context, k watch.Key) (bool, error)
	// ListChannel and ListUser back `/rdns list` and the App Home tab.
	ListChannel(ctx context.Context, channel string) ([]watch.Info, error)
	ListUser(ctx context.Context, user string) ([]watch.Info, error)
}

// unavailableText says that watching cannot be done right now.
const unavailableText = "watching is unavailable right now"

// startWatches starts a watch for every result that is not passing, in
// o's thread, and says how it went. The returned func tells the renderer
// which IPs are now watched.
func (b *Bot) startWatches(ctx context.Context, o origin, results []diagnose.Result) (func(ip string) bool, string) {
	watched := map[string]bool{}
	is := func(ip string) bool { return watched[ip] }
	var failing []*diagnose.Result
	for i := range results {
		// The bot's own resolver being unusable says nothing of the IP: a
		// watch would only recheck the bot's fault (the finding says so).
		if results[i].Status != diagnose.StatusPass && !nonRoutable(&results[i]) && !results[i].ResolverUnusable() {
			failing = append(failing, &results[i])
		}
	}
	if len(failing) == 0 || o.threadTS == "" {
		return is, ""
	}
	const recheckLater = ": press *Recheck now* once you have made the change."
	if b.watches == nil {
		return is, ":hourglass: " + unavailableText + recheckLater
	}
	var failed, capped []string
	for _, r := range failing {
		ip, err := netip.ParseAddr(r.IP)
		if err != nil {
			continue
		}
		req := watch.Request{Key: watch.Key{IP: ip, Channel: o.channel, Thread: o.threadTS}, User: o.user, Source: o.source, HELO: o.helo}
		switch err := b.watches.Start(ctx, req, *r); {
		case err == nil, errors.Is(err, watch.ErrFixed):
			watched[r.IP] = true
		case errors.Is(err, watch.ErrCapped):
			b.log.InfoContext(ctx, "watch capped", "ip", r.IP, "err", err)
			capped = append(capped, fmt.Sprintf(":no_entry: I can't watch %s: %s.", code(r.IP), capText(err)))
		default:
			b.log.WarnContext(ctx, "starting watch failed", "ip", r.IP, "err", err)
			failed = append(failed, r.IP)
		}
	}
	var notes []string
	if len(failed) > 0 {
		notes = append(notes, ":hourglass: "+unavailableText+" for "+escape(strings.Join(failed, ", "))+recheckLater)
	}
	notes = append(notes, capped...)
	if len(watched) > 0 {
		notes = append(notes, ":eyes: I'll keep rechecking and post in this thread when the fix has propagated.")
	}
	return is, strings.Join(notes, "\n")
}

// capText says which cap stopped a watch.
func capText(err error) string {
	var ce *watch.CapError
	if errors.As(err, &ce) {
		return fmt.Sprintf("at most %d watches are allowed %s, and that many are running; stop one (`/rdns list`, `/rdns unwatch &lt;ip&gt;`) first", ce.Limit, ce.Scope)
	}
	return "too many watches are running already"
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
	b.reply(ctx, o, textMessage(":hourglass: "+unavailableText+"."))
}

// channelWatches lists o's conversation's watches, or says why it can't.
func (b *Bot) channelWatches(ctx context.Context, o origin) ([]watch.Info, bool) {
	if b.watches == nil {
		b.unavailable(ctx, o)
		return nil, false
	}
	infos, err := b.watches.ListChannel(ctx, o.channel)
	if err != nil {
		b.log.WarnContext(ctx, "listing watches failed", "err", err)
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
			if w.Key.IP.String() != ip || (o.threadTS != "" && w.Key.Thread != o.threadTS) {
				continue
			}
			ok, err := b.watches.Stop(ctx, w.Key)
			if err != nil {
				b.log.WarnContext(ctx, "unwatching failed", "err", err)
				b.unavailable(ctx, o)
				return
			}
			if ok {
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
	b.listReply(ctx, o, "Nothing is being watched in this conversation.", "watches", "*Watched here*", lineEach(infos, watchLine))
}

// listReply answers a listing command with one line per item under title,
// or with empty when there is none.
func (b *Bot) listReply(ctx context.Context, o origin, empty, noun, title string, lines []string) {
	if len(lines) == 0 {
		b.reply(ctx, o, textMessage(empty))
		return
	}
	b.reply(ctx, o, message{Text: fmt.Sprintf("%d %s", len(lines), noun), Blocks: capBlocks(sections(title + "\n" + strings.Join(lines, "\n")))})
}

// lineEach renders each item as one line.
func lineEach[T any](items []T, line func(T) string) []string {
	lines := make([]string, len(items))
	for i, it := range items {
		lines[i] = line(it)
	}
	return lines
}

// stopButton handles "Stop watching".
func (b *Bot) stopButton(ctx context.Context, o origin, ip netip.Addr) {
	if b.watches == nil {
		b.unavailable(ctx, o)
		return
	}
	ok, err := b.watches.Stop(ctx, watch.Key{IP: ip, Channel: o.channel, Thread: o.threadTS})
	switch {
	case err != nil:
		b.unavailable(ctx, o)
	case ok:
		b.reply(ctx, o, textMessage(fmt.Sprintf(":no_bell: %sstopped watching %s.", mention(o.user), code(ip.String()))))
	default:
		b.reply(ctx, o, textMessage(fmt.Sprintf("%s was not being watched in this thread.", code(ip.String()))))
	}
}

// publishHome shows the user's watches and monitors on the App Home tab.
func (b *Bot) publishHome(ctx context.Context, user string) {
	var infos []watch.Info
	err := errors.New(unavailableText)
	if b.watches != nil {
		infos, err = b.watches.ListUser(ctx, user)
	}
	if err != nil {
		b.log.WarnContext(ctx, "listing watches failed", "err", err)
	}
	var monitors []monitor.Info
	monErr := errors.New(monitorsUnavailable)
	if b.cfg.Monitors != nil {
		monitors, monErr = b.cfg.Monitors.ListUser(ctx, user)
	}
	if monErr != nil {
		b.log.WarnContext(ctx, "listing monitors failed", "err", monErr)
	}
	blocks := homeBlocks(infos, err, monitorHomeBlocks(monitors, monErr), time.Now())
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}}
	if err := b.out.withRetry(ctx, func() error {
		_, err := b.out.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view})
		return err
	}); err != nil {
		b.metrics.SlackErrors.Inc()
		b.log.ErrorContext(ctx, "views.publish failed", "err", err)
	}
}
