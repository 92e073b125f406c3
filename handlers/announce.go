package handlers

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/watch"
)

// announcementEvent is the message-metadata event type that marks our
// announcements, so a retried post can find an earlier attempt that did reach
// Slack (https://docs.slack.dev/messaging/message-metadata).
const announcementEvent = "rdnsbot_announcement"

// Announcer posts the scheduler's announcements (watch.Announcer). It
// needs only a Poster, so the scheduler is built before the bot and the bot
// after it: no part refers back to another.
type Announcer struct{ p *Poster }

// NewAnnouncer announces through p.
func NewAnnouncer(p *Poster) *Announcer { return &Announcer{p: p} }

var _ watch.Announcer = (*Announcer)(nil)

// Announce posts one announcement in its watch's thread, exactly once: on a
// retry (Attempt > 1) it first looks for the earlier attempt's message by its
// idempotency key.
func (an *Announcer) Announce(ctx context.Context, p watch.Announcement) error {
	w := p.Key
	ctx = withLogAttrs(ctx, "ip", w.IP.String(), "channel", w.Channel, "thread", w.Thread, "announcement", p.IdempotencyKey)
	if p.Attempt > 1 {
		found, err := an.p.findAnnouncement(ctx, w.Channel, w.Thread, p.IdempotencyKey)
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
	if _, err := an.p.post(ctx, w.Channel, w.Thread, m, meta); err != nil {
		if cannotPost(err) {
			// Archived, deleted or the bot was removed: retrying cannot help.
			return fmt.Errorf("announce %s: %w: %w", p.IdempotencyKey, watch.ErrUndeliverable, err)
		}
		return fmt.Errorf("announce %s: %w", p.IdempotencyKey, err)
	}
	an.p.log.InfoContext(ctx, "announced", "kind", string(p.Kind))
	return nil
}

// findAnnouncement reports whether the thread holds a message of ours with key.
func (b *Poster) findAnnouncement(ctx context.Context, channel, thread, key string) (bool, error) {
	params := &slack.GetConversationRepliesParameters{ChannelID: channel, Timestamp: thread, Limit: 200, IncludeAllMetadata: true}
	for {
		var msgs []slack.Message
		var more bool
		var cursor string
		err := b.withRetry(ctx, func() error {
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
