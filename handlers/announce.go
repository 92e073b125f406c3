package handlers

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rdnsbot/rdnsbot/diagnose"
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

// Announce posts one announcement in its watch's thread, exactly once
// (announce). A fixed announcement keeps in its metadata the result it
// shows (baselinePayload): Keep monitoring starts the monitor from it.
func (an *Announcer) Announce(ctx context.Context, p watch.Announcement) error {
	w := p.Key
	ctx = withLogAttrs(ctx, "ip", w.IP.String(), "channel", w.Channel, "thread", w.Thread, "announcement", p.IdempotencyKey)
	extra := map[string]any{"kind": string(p.Kind), "ip": w.IP.String()}
	if p.Kind == watch.KindFixed {
		extra[baselineField] = baselinePayload(p.Result)
	}
	return an.announce(ctx, w.Channel, w.Thread, p.IdempotencyKey, p.Attempt, announcement(p), extra)
}

// announce posts m in thread, exactly once: it carries key in its metadata
// (with extra), and on a retry (attempt > 1) the earlier attempt's message
// is looked for first, as after any send that may have been stored
// (Poster.postKeyed). Watch and monitor announcements both post through it.
func (an *Announcer) announce(ctx context.Context, channel, thread, key string, attempt int, m message, extra map[string]any) error {
	k := postKey{event: announcementEvent, key: key, maybeStored: attempt > 1, extra: extra}
	if _, err := an.p.postKeyed(ctx, channel, thread, m, k); err != nil {
		if cannotPost(err) {
			// Archived, deleted or the bot was removed: retrying cannot help.
			return fmt.Errorf("announce %s: %w: %w", key, watch.ErrUndeliverable, err)
		}
		return fmt.Errorf("announce %s: %w", key, err)
	}
	an.p.log.InfoContext(ctx, "announced", "kind", extra["kind"])
	return nil
}

// baselineField is the metadata payload field of a fixed announcement that
// holds its result (baselinePayload).
const baselineField = "baseline"

// baseline is what a monitor compares its checks with (monitor.Request's
// Baseline): the status, the PTR names and the failing siblings.
type baseline struct {
	Status   diagnose.Status    `json:"status"`
	PTRNames []string           `json:"ptr_names,omitempty"`
	Failing  []diagnose.Sibling `json:"failing_siblings,omitempty"`
}

// baselinePayload is r's baseline as one metadata string: Slack keeps
// payload values flat.
func baselinePayload(r diagnose.Result) string {
	b, _ := json.Marshal(baseline{Status: r.Status, PTRNames: r.PTRNames, Failing: r.FailingSiblings()}) // strings only: cannot fail
	return string(b)
}

// parseBaseline reads baselinePayload back as ip's result; it came back
// through Slack, so it is checked as input.
func parseBaseline(ip string, payload any) (diagnose.Result, bool) {
	s, _ := payload.(string)
	var b baseline
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return diagnose.Result{}, false
	}
	switch b.Status {
	case diagnose.StatusPass, diagnose.StatusFail, diagnose.StatusPermerror:
	default: // a temperror is no baseline
		return diagnose.Result{}, false
	}
	return diagnose.Result{IP: ip, Status: b.Status, PTRNames: b.PTRNames, Siblings: b.Failing}, true
}
