package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/watch"
)

// Monitors is the monitor scheduler as the handlers use it, in monitor's
// own types; *monitor.Scheduler is one.
type Monitors interface {
	// Add monitors addresses in a thread (a thread's monitor gains them).
	Add(ctx context.Context, req monitor.Request) error
	// Remove stops monitoring addrs (nil: all) in a thread; the count removed.
	Remove(ctx context.Context, k monitor.Key, addrs []netip.Addr) (int, error)
	// ListChannel and ListUser back `/rdns monitors` and the App Home tab.
	ListChannel(ctx context.Context, channel string) ([]monitor.Info, error)
	ListUser(ctx context.Context, user string) ([]monitor.Info, error)
}

// Action IDs of the monitor buttons.
const (
	// actionKeepMonitoring, on a watch's "fixed" message, monitors the IP
	// (its value is buttonValue's) in that thread.
	actionKeepMonitoring = "rdns_keep_monitoring"
	// actionUnmonitor, in the App Home, ends a monitor; its value is
	// monitorValue's.
	actionUnmonitor = "rdns_unmonitor"
)

// monitorsUnavailable says that monitoring cannot be done right now.
const monitorsUnavailable = "monitoring is unavailable right now"

// monitorValue is the Unmonitor button's value: "channel thread".
func monitorValue(k monitor.Key) string { return k.Channel + " " + k.Thread }

// parseMonitorValue reads monitorValue back; it came through the client,
// so it is checked as input.
func parseMonitorValue(v string) (monitor.Key, bool) {
	ch, th, ok := strings.Cut(v, " ")
	valid := func(s string) bool {
		return s != "" && len(s) <= 32 && !strings.ContainsFunc(s, func(r rune) bool {
			return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.')
		})
	}
	return monitor.Key{Channel: ch, Thread: th}, ok && valid(ch) && valid(th)
}

// monitorCommand: `/rdns monitor <targets>`. Host names are monitored by
// the addresses they have now, and their first results are the baseline;
// a pool's addresses take their first check as theirs, silently.
func (b *Bot) monitorCommand(ctx context.Context, o origin, cmd command) {
	if b.cfg.Monitors == nil {
		b.reply(ctx, o, textMessage(":hourglass: "+monitorsUnavailable+"."))
		return
	}
	var baseline []diagnose.Result
	note := ""
	if len(cmd.targets) > 0 {
		baseline, note = b.diagnose(ctx, b.diag, o, cmd.targets)
	}
	addrs := slices.Collect(cmd.set.All())
	for _, r := range baseline {
		if ip, err := netip.ParseAddr(r.IP); err == nil {
			addrs = append(addrs, ip)
		}
	}
	if len(addrs) == 0 {
		b.reply(ctx, o, textMessage(strings.TrimSpace(note+"\nNothing to monitor: no address was found.")))
		return
	}
	b.startMonitor(ctx, o, monitor.Request{User: o.user, Targets: cmd.names(), Addrs: addrs, Baseline: baseline}, note)
}

// startMonitor adds req's monitor in o's thread and says so there; a
// refusal (a cap, the store) goes to the requester alone. A slash command
// has no thread: the message that starts one must exist before Add, as
// its ts names the monitor, so it first says only what was asked (true
// whatever Add says) and is then edited to say how it went.
func (b *Bot) startMonitor(ctx context.Context, o origin, req monitor.Request, note string) {
	what := fmt.Sprintf("%s (%s)", code(strings.Join(req.Targets, " ")),
		addresses(len(slices.Compact(slices.SortedFunc(slices.Values(req.Addrs), netip.Addr.Compare)))))
	text := fmt.Sprintf(":satellite_antenna: %sMonitoring %s. I'll post in this thread only when something changes: "+
		"a PTR that breaks, changes or is fixed, or DNS that stops answering. `/rdns unmonitor` ends it.", mention(o.user), what)
	if note != "" {
		text += "\n" + note
	}
	if o.threadTS != "" {
		req.Key = monitor.Key{Channel: o.channel, Thread: o.threadTS}
		if err := b.cfg.Monitors.Add(ctx, req); err != nil {
			b.monitorRefused(ctx, o, err)
			return
		}
		b.reply(ctx, o, textMessage(text))
		return
	}
	asked := fmt.Sprintf(":satellite_antenna: %sasked me to monitor %s.", mention(o.user), what)
	ts, err := b.out.post(ctx, o.channel, "", textMessage(asked))
	if err != nil {
		if b.fallbackPossible(ctx, o, err) {
			b.respondAll(ctx, o, []message{textMessage(":warning: I can't post in this conversation, so I can't monitor here: invite me (`/invite @rdnsbot`) first.")})
		}
		return
	}
	req.Key = monitor.Key{Channel: o.channel, Thread: ts}
	err = b.cfg.Monitors.Add(ctx, req)
	if err != nil {
		text = strings.TrimSuffix(asked, ".") + ": not started."
		b.monitorRefused(ctx, o, err)
	}
	m := textMessage(text)
	if err := b.out.withRetry(ctx, func() error {
		_, _, _, err := b.out.api.UpdateMessageContext(ctx, o.channel, ts, postOptions(m, "")...)
		return err
	}); err != nil {
		b.metrics.SlackErrors.Inc()
		b.log.ErrorContext(ctx, "chat.update of the monitor's message failed", "err", err)
	}
}

// monitorRefused tells the requester alone why no monitor was added: which
// cap, or that monitoring is unavailable.
func (b *Bot) monitorRefused(ctx context.Context, o origin, err error) {
	text := ":hourglass: " + monitorsUnavailable + "; please try again."
	var ce *monitor.CapError
	if errors.As(err, &ce) {
		text = fmt.Sprintf(":no_entry: I can't monitor these: at most %d addresses may be monitored %s; "+
			"end a monitor first (`/rdns monitors`, `/rdns unmonitor &lt;targets&gt;`).", ce.Limit, ce.Scope)
	} else {
		b.log.WarnContext(ctx, "adding a monitor failed", "err", err)
	}
	m := textMessage(text)
	if o.responseURL != "" {
		err = b.out.respond(ctx, o.responseURL, m, false)
	} else {
		err = b.out.ephemeral(ctx, o.channel, o.user, o.threadTS, m)
	}
	if err != nil {
		b.metrics.SlackErrors.Inc()
		b.log.ErrorContext(ctx, "reply failed", "err", err)
	}
}

// unmonitorCommand: `/rdns unmonitor <targets>` ends the monitoring of the
// targets' addresses in this conversation (in a thread: that thread's).
func (b *Bot) unmonitorCommand(ctx context.Context, o origin, cmd command) {
	infos, ok := b.channelMonitors(ctx, o)
	if !ok {
		return
	}
	addrs := slices.Collect(cmd.set.All())
	for _, t := range cmd.targets {
		if ip, err := netip.ParseAddr(t); err == nil {
			addrs = append(addrs, ip)
		}
	}
	removed := 0
	for _, m := range infos {
		if o.threadTS != "" && m.Key.Thread != o.threadTS {
			continue
		}
		n, err := b.cfg.Monitors.Remove(ctx, m.Key, addrs)
		if err != nil {
			b.log.WarnContext(ctx, "removing a monitor failed", "err", err)
			b.reply(ctx, o, textMessage(":hourglass: "+monitorsUnavailable+"; please try again."))
			return
		}
		removed += n
	}
	targets := code(strings.Join(cmd.names(), " "))
	if removed == 0 {
		b.reply(ctx, o, textMessage(targets+" was not being monitored here."))
		return
	}
	b.reply(ctx, o, textMessage(fmt.Sprintf(":no_bell: Stopped monitoring %s of %s.", addresses(removed), targets)))
}

// channelMonitors lists o's conversation's monitors, or says why it can't.
func (b *Bot) channelMonitors(ctx context.Context, o origin) ([]monitor.Info, bool) {
	if b.cfg.Monitors == nil {
		b.reply(ctx, o, textMessage(":hourglass: "+monitorsUnavailable+"."))
		return nil, false
	}
	infos, err := b.cfg.Monitors.ListChannel(ctx, o.channel)
	if err != nil {
		b.log.WarnContext(ctx, "listing monitors failed", "err", err)
		b.reply(ctx, o, textMessage(":hourglass: "+monitorsUnavailable+"."))
		return nil, false
	}
	return infos, true
}

// monitorsCommand: `/rdns monitors` lists this conversation's monitors.
func (b *Bot) monitorsCommand(ctx context.Context, o origin) {
	infos, ok := b.channelMonitors(ctx, o)
	if !ok {
		return
	}
	b.listReply(ctx, o, "Nothing is monitored in this conversation. `/rdns monitor &lt;targets&gt;` starts a monitor.",
		"monitors", "*Monitored here*", lineEach(infos, monitorLine))
}

// monitorLine describes one monitor in one line, with its state.
func monitorLine(m monitor.Info) string {
	line := fmt.Sprintf("• %s: %s", code(clip.To(strings.Join(m.Targets, " "), 200)), addresses(m.Addresses))
	switch {
	case m.Failing > 0:
		line += fmt.Sprintf(", :x: %d failing", m.Failing)
	default:
		line += ", :white_check_mark: none failing"
	}
	if m.Propagating > 0 {
		line += fmt.Sprintf(", :hourglass_flowing_sand: %d propagating", m.Propagating)
	}
	if !m.NextCheck.IsZero() {
		line += fmt.Sprintf(", next check <!date^%d^{time}|%s>", m.NextCheck.Unix(), m.NextCheck.UTC().Format("15:04 UTC"))
	}
	if !m.Since.IsZero() {
		line += fmt.Sprintf(", since <!date^%d^{date_short_pretty}|%s>", m.Since.Unix(), m.Since.UTC().Format("2006-01-02"))
	}
	return line
}

// monitorHomeBlocks are the App Home's monitors: one section each, with
// its Unmonitor button.
func monitorHomeBlocks(infos []monitor.Info, err error) []slack.Block {
	blocks := []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "Your reverse-DNS monitors", false, false))}
	switch {
	case err != nil:
		return append(blocks, mrkdwnSection(":hourglass: "+monitorsUnavailable+"."))
	case len(infos) == 0:
		return append(blocks, mrkdwnSection("You monitor nothing. `/rdns monitor &lt;ip|block|range&gt;` keeps addresses under check for good."))
	}
	for i, m := range infos {
		if i == homeMonitors {
			blocks = append(blocks, mrkdwnSection(fmt.Sprintf("…and %d more; `/rdns monitors` in their channels lists them.", len(infos)-i)))
			break
		}
		unmon := button(actionUnmonitor, monitorValue(m.Key), "Unmonitor")
		unmon.Style = slack.StyleDanger
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType,
			clip.To(monitorLine(m)+fmt.Sprintf(" in <#%s>", escape(m.Key.Channel)), maxSectionChars), false, true), nil, slack.NewAccessory(unmon)))
	}
	return blocks
}

// homeMonitors bounds the monitors the App Home lists: the tab holds at
// most 100 blocks, shared with the watches.
const homeMonitors = 40

// unmonitorButton handles Unmonitor (App Home): the whole monitor ends.
func (b *Bot) unmonitorButton(ctx context.Context, user string, k monitor.Key) {
	if b.cfg.Monitors == nil {
		return
	}
	if _, err := b.cfg.Monitors.Remove(ctx, k, nil); err != nil {
		b.log.WarnContext(ctx, "removing a monitor failed", "err", err)
	}
	b.publishHome(ctx, user)
}

// keepMonitoringButton handles Keep monitoring on a watch's "fixed"
// message: the fixed IP is monitored in that thread from the result the
// message showed (kept in its metadata), so a change since is announced.
// Only when that message cannot be read is the address diagnosed again.
func (b *Bot) keepMonitoringButton(ctx context.Context, o origin, ip netip.Addr) {
	if b.cfg.Monitors != nil {
		if r, ok := b.fixedResult(ctx, o, ip); ok {
			b.startMonitor(ctx, o, monitor.Request{User: o.user, Targets: []string{ip.String()}, Addrs: []netip.Addr{ip}, Baseline: []diagnose.Result{r}}, "")
			return
		}
	}
	b.monitorCommand(ctx, o, command{verb: verbMonitor, targets: []string{ip.String()}})
}

// fixedResult reads ip's latest fixed announcement in o's thread (its first
// page of replies: a watch's thread is short) and returns the result it
// showed.
func (b *Bot) fixedResult(ctx context.Context, o origin, ip netip.Addr) (diagnose.Result, bool) {
	var msgs []slack.Message
	if err := b.out.withRetry(ctx, func() error {
		var err error
		msgs, _, _, err = b.out.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
			ChannelID: o.channel, Timestamp: o.threadTS, Limit: lookupPageSize, IncludeAllMetadata: true})
		return err
	}); err != nil {
		b.log.WarnContext(ctx, "the fixed announcement could not be read; diagnosing again", "err", err)
		return diagnose.Result{}, false
	}
	for _, m := range slices.Backward(msgs) {
		p := m.Metadata.EventPayload
		if m.Metadata.EventType == announcementEvent && p["kind"] == string(watch.KindFixed) && p["ip"] == ip.String() {
			return parseBaseline(ip.String(), p[baselineField])
		}
	}
	return diagnose.Result{}, false
}
