package handlers

import (
	"context"
	"fmt"

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

// Announce posts one announcement in its watch's thread, exactly once: it
// carries its idempotency key, and on a retry (Attempt > 1) the earlier
// attempt's message is looked for first, as after any send that may have
// been stored (Poster.postKeyed).
func (an *Announcer) Announce(ctx context.Context, p watch.Announcement) error {
	w := p.Key
	ctx = withLogAttrs(ctx, "ip", w.IP.String(), "channel", w.Channel, "thread", w.Thread, "announcement", p.IdempotencyKey)
	k := postKey{event: announcementEvent, key: p.IdempotencyKey, maybeStored: p.Attempt > 1,
		extra: map[string]any{"kind": string(p.Kind), "ip": w.IP.String()}}
	if _, err := an.p.postKeyed(ctx, w.Channel, w.Thread, announcement(p), k); err != nil {
		if cannotPost(err) {
			// Archived, deleted or the bot was removed: retrying cannot help.
			return fmt.Errorf("announce %s: %w: %w", p.IdempotencyKey, watch.ErrUndeliverable, err)
		}
		return fmt.Errorf("announce %s: %w", p.IdempotencyKey, err)
	}
	an.p.log.InfoContext(ctx, "announced", "kind", string(p.Kind))
	return nil
}
