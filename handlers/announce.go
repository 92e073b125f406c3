package handlers

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/watch"
)

// announcementEvent is the message-metadata event type that marks our
// announcements, so a retried post can find an earlier attempt that did reach
// Slack (https://docs.slack.dev/messaging/message-metadata).
const announcementEvent = "rdnsbot_announcement"

var slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

// mention pings user when it is a well-formed user ID, and nothing otherwise.
func mention(user string) string {
	if slackUserID.MatchString(user) {
		return "<@" + user + "> "
	}
	return ""
}

// Announce posts one announcement in its watch's thread, exactly once: on a
// retry (Attempt > 1) it first looks for the earlier attempt's message by its
// idempotency key.
func (b *Bot) Announce(ctx context.Context, p watch.Announcement) error {
	w := p.Key
	if p.Attempt > 1 {
		found, err := b.findAnnouncement(ctx, w.Channel, w.Thread, p.IdempotencyKey)
		if err != nil {
			return fmt.Errorf("announce %s: looking for an earlier attempt: %w", p.IdempotencyKey, err)
		}
		if found {
			return nil
		}
	}
	m := announcement(p)
	meta := slack.MsgOptionMetadata(slack.SlackMetadata{
		EventType:    announcementEvent,
		EventPayload: map[string]any{"key": p.IdempotencyKey, "kind": string(p.Kind), "ip": w.IP.String()},
	})
	if _, err := b.post(ctx, w.Channel, w.Thread, m, meta); err != nil {
		if cannotPost(err) {
			// Archived, deleted or the bot was removed: retrying cannot help.
			return fmt.Errorf("announce %s: %w: %w", p.IdempotencyKey, watch.ErrUndeliverable, err)
		}
		return fmt.Errorf("announce %s: %w", p.IdempotencyKey, err)
	}
	return nil
}

// findAnnouncement reports whether the thread holds a message of ours with key.
func (b *Bot) findAnnouncement(ctx context.Context, channel, thread, key string) (bool, error) {
	params := &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: thread, Limit: 200, IncludeAllMetadata: true}
	for {
		var msgs []slack.Message
		var more bool
		var cursor string
		err := withRetry(ctx, func() error {
			var err error
			msgs, more, cursor, err = b.api.GetConversationRepliesContext(ctx, params)
			return err
		})
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			if m.Metadata.EventType == announcementEvent && m.Metadata.EventPayload["key"] == key {
				return true, nil
			}
		}
		if !more || cursor == "" {
			return false, nil
		}
		params.Cursor = cursor
	}
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
		return textMessage(text)
	default: // watch.KindExpired
		text := fmt.Sprintf(":zzz: %sI stopped watching %s after %s; it still %s.", mention(p.RequestedBy), ip,
			humanDuration(p.Elapsed), statusVerb(r))
		keep := slack.NewButtonBlockElement(actionKeepWatching, w.IP.String(), slack.NewTextBlockObject(slack.PlainTextType, "Keep watching", false, false))
		recheck := slack.NewButtonBlockElement(actionRecheck, w.IP.String(), slack.NewTextBlockObject(slack.PlainTextType, "Recheck now", false, false))
		return message{Text: text, Blocks: []slack.Block{mrkdwnSection(text), slack.NewActionBlock("", keep, recheck)}}
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
	out := "PTR " + code(name)
	if addrs := r.Forward[name]; len(addrs) > 0 {
		quoted := make([]string, len(addrs))
		for i, a := range addrs {
			quoted[i] = code(a)
		}
		out += " → " + strings.Join(quoted, ", ")
	}
	return out
}

func statusVerb(r *diagnose.Result) string {
	_, words := statusWords(r)
	return words
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
