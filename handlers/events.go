package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/bounce"
)

// eventCallback is the outer Events API payload. We decode the raw JSON
// ourselves: slack-go's typed events lack fields we need (files on message
// events, message_blocks on shared-message attachments).
type eventCallback struct {
	Type    string          `json:"type"`
	EventID string          `json:"event_id"`
	Event   json.RawMessage `json:"event"`
}

type innerEvent struct {
	Type string `json:"type"`
}

// messageEvent is a message or app_mention event, with the fields rdnsbot
// reads (https://docs.slack.dev/reference/events/message).
type messageEvent struct {
	Type        string       `json:"type"`
	Subtype     string       `json:"subtype"`
	Channel     string       `json:"channel"`
	ChannelType string       `json:"channel_type"`
	User        string       `json:"user"`
	Team        string       `json:"team"`
	BotID       string       `json:"bot_id"`
	Text        string       `json:"text"`
	TS          string       `json:"ts"`
	ThreadTS    string       `json:"thread_ts"`
	Hidden      bool         `json:"hidden"`
	Files       []slackFile  `json:"files"`
	Attachments []attachment `json:"attachments"`
}

// slackFile is a file object; email files carry mode "email" and the body
// in plain_text (has_more when it is cut).
type slackFile struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Mode               string `json:"mode"`
	Filetype           string `json:"filetype"`
	Mimetype           string `json:"mimetype"`
	Size               int64  `json:"size"`
	Subject            string `json:"subject"`
	PlainText          string `json:"plain_text"`
	PreviewPlainText   string `json:"preview_plain_text"`
	HasMore            bool   `json:"has_more"`
	PreviewIsTruncated bool   `json:"preview_is_truncated"`
	URLPrivateDownload string `json:"url_private_download"`
	URLPrivate         string `json:"url_private"`
	FileAccess         string `json:"file_access"`
}

func (f *slackFile) isEmail() bool { return f.Mode == "email" || f.Filetype == "email" }

// attachment is a legacy attachment; shared/forwarded messages arrive as
// attachments with is_share or is_msg_unfurl and the original in
// message_blocks.
type attachment struct {
	Text          string `json:"text"`
	Fallback      string `json:"fallback"`
	Pretext       string `json:"pretext"`
	IsShare       bool   `json:"is_share"`
	IsMsgUnfurl   bool   `json:"is_msg_unfurl"`
	MessageBlocks []struct {
		Message struct {
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		} `json:"message"`
	} `json:"message_blocks"`
}

// ignoredSubtypes are message subtypes that never carry a new bounce: edits,
// deletions, joins and other housekeeping.
var ignoredSubtypes = map[string]bool{
	"message_changed": true, "message_deleted": true, "message_replied": true,
	"channel_join": true, "channel_leave": true, "channel_topic": true, "channel_purpose": true,
	"channel_name": true, "channel_archive": true, "channel_unarchive": true, "group_join": true,
	"group_leave": true, "pinned_item": true, "unpinned_item": true, "ekm_access_denied": true,
	"assistant_app_thread": true, "tombstone": true,
}

// onEventsAPI routes one events_api payload (on the event loop: no I/O).
func (b *Bot) onEventsAPI(ctx context.Context, payload json.RawMessage, retryAttempt int) {
	var cb eventCallback
	if err := json.Unmarshal(payload, &cb); err != nil || cb.Type != "event_callback" {
		b.log.DebugContext(ctx, "ignoring events_api payload", "type", cb.Type, "err", err)
		return
	}
	ctx = withLogAttrs(ctx, "event_id", cb.EventID)
	if cb.EventID != "" {
		ctx = withPostKeys(ctx, cb.EventID, retryAttempt > 0) // the same on every delivery
	}
	if cb.EventID != "" && !b.seen.first(cb.EventID, time.Now()) {
		b.metrics.Duplicates.Inc()
		b.log.InfoContext(ctx, "dropping redelivered event", "retry_attempt", retryAttempt)
		return
	}
	var inner innerEvent
	if err := json.Unmarshal(cb.Event, &inner); err != nil {
		return
	}
	switch inner.Type {
	case "message":
		var ev messageEvent
		if err := json.Unmarshal(cb.Event, &ev); err != nil {
			b.log.WarnContext(ctx, "unreadable message event", "err", err)
			return
		}
		if b.wantsMessage(&ev) {
			b.enqueueOrTell(withLogAttrs(ctx, "channel", ev.Channel, "user", ev.User, "ts", ev.TS), "bounce", cb.EventID, func(ctx context.Context) {
				if b.firstDelivery(ctx, cb.EventID) {
					b.handleMessage(ctx, &ev)
				}
			}, func() (origin, bool) {
				// A DM is always answered (a command, or the usage), so it
				// is told too; elsewhere only what may be a bounce is.
				return ev.busyOrigin(), ev.ChannelType == "im" || mayBeBounce(&ev)
			})
		}
	case "app_mention":
		var ev messageEvent
		if err := json.Unmarshal(cb.Event, &ev); err != nil || b.isSelf(&ev) {
			return
		}
		b.enqueueOrTell(withLogAttrs(ctx, "channel", ev.Channel, "user", ev.User, "ts", ev.TS), "mention", cb.EventID, func(ctx context.Context) {
			if b.firstDelivery(ctx, cb.EventID) {
				b.handleMention(ctx, &ev)
			}
		}, func() (origin, bool) { return ev.busyOrigin(), true })
	case "app_home_opened":
		var ev struct {
			User string `json:"user"`
			Tab  string `json:"tab"`
		}
		if err := json.Unmarshal(cb.Event, &ev); err != nil || ev.Tab != "home" {
			return
		}
		b.enqueue(withLogAttrs(ctx, "user", ev.User), "home", func(ctx context.Context) { b.publishHome(ctx, ev.User) })
	}
}

func (b *Bot) isSelf(ev *messageEvent) bool {
	self := b.self.Load()
	return self != nil && ((ev.User != "" && ev.User == self.UserID) || (ev.BotID != "" && ev.BotID == self.BotID))
}

// wantsMessage decides cheaply whether a message event may hold a bounce.
// Email posts come from Slackbot with a bot_id, so bot messages are kept;
// only our own are dropped.
func (b *Bot) wantsMessage(ev *messageEvent) bool {
	if ev.Hidden || ignoredSubtypes[ev.Subtype] || b.isSelf(ev) || ev.Channel == "" {
		return false
	}
	if b.bounceIn != nil && !b.bounceIn[ev.Channel] && ev.ChannelType != "im" {
		return false
	}
	// A message that mentions us is answered through its app_mention event.
	if self := b.self.Load(); self != nil && strings.Contains(ev.Text, "<@"+self.UserID+">") {
		return false
	}
	return ev.Text != "" || len(ev.Files) > 0 || len(ev.Attachments) > 0
}

// replyThread is where a reply to ev goes: its thread, or a new one under it.
func (ev *messageEvent) replyThread() string {
	if ev.ThreadTS != "" {
		return ev.ThreadTS
	}
	return ev.TS
}

// mayBeBounce reports whether a message the bot had no room for deserves a
// "busy" answer: its text reads as a reverse-DNS bounce, or it carries a
// file that may be one (not downloaded: there is no room for that either).
// Chatter gets no answer, as when the bot has room.
func mayBeBounce(ev *messageEvent) bool {
	for i := range ev.Files {
		if f := &ev.Files[i]; f.isEmail() || bounceFile(f) {
			return true
		}
	}
	for _, text := range messageTexts(ev) {
		if r, err := bounce.ParseString(text); err == nil && r.RDNS {
			return true
		}
	}
	return false
}

// busyOrigin is where the bot says it had no room for ev: its thread.
func (ev *messageEvent) busyOrigin() origin {
	return origin{channel: ev.Channel, user: ev.User, threadTS: ev.replyThread()}
}
