package handlers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// dispatch handles one socket-mode event on the event loop: ack first, then
// enqueue. Nothing here waits on DNS or Slack's Web API.
func (b *Bot) dispatch(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	env := envelope{sm: sm, req: evt.Request, received: time.Now()}
	if env.req != nil {
		env.received = b.frames.take(env.req.EnvelopeID, env.received)
		ctx = withLogAttrs(ctx, "envelope", env.req.EnvelopeID)
		ctx = withPostKeys(ctx, env.req.EnvelopeID, env.req.RetryAttempt > 0)
	}
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.ready.Store(false)
		b.log.Info("connecting to slack")
	case socketmode.EventTypeConnectionError:
		b.ready.Store(false)
		b.log.Warn("slack connection error", "err", evt.Data)
	case socketmode.EventTypeHello:
		b.ready.Store(true)
		b.log.Info("slack socket connected")
	case socketmode.EventTypeEventsAPI:
		b.metrics.Envelopes.Inc()
		b.ack(ctx, env, nil)
		b.onEventsAPI(ctx, evt.Request.Payload, evt.Request.RetryAttempt)
	case socketmode.EventTypeErrorBadMessage:
		b.onBadMessage(ctx, env, evt)
	case socketmode.EventTypeSlashCommand:
		b.metrics.Envelopes.Inc()
		cmd, _ := evt.Data.(slack.SlashCommand)
		b.onSlashCommand(withLogAttrs(ctx, "channel", cmd.ChannelID, "user", cmd.UserID), env, cmd)
	case socketmode.EventTypeInteractive:
		b.metrics.Envelopes.Inc()
		b.ack(ctx, env, nil)
		cb, _ := evt.Data.(slack.InteractionCallback)
		b.onInteraction(withLogAttrs(ctx, "channel", cb.Channel.ID, "user", cb.User.ID), cb)
	}
}

// envelope is one socket-mode request being handled on the event loop.
type envelope struct {
	sm  *socketmode.Client
	req *socketmode.Request
	// received is when the first byte of its frame was read (frameClock),
	// or when it was dispatched if that is unknown.
	received time.Time
}

// ack acknowledges an envelope, with an optional response payload.
func (b *Bot) ack(ctx context.Context, env envelope, payload any) {
	if env.req == nil || env.req.EnvelopeID == "" {
		return
	}
	if err := env.sm.AckCtx(ctx, env.req.EnvelopeID, payload); err != nil {
		b.log.WarnContext(ctx, "ack failed", "err", err)
		return
	}
	d := time.Since(env.received)
	b.metrics.Ack.Observe(d.Seconds())
	b.log.DebugContext(ctx, "acked", "ms", d.Milliseconds())
}

// onBadMessage handles envelopes slack-go could not type (its events parser
// is stricter than Slack): ack them so Slack does not redeliver, and handle
// events_api payloads from their raw JSON, which is all we read anyway.
func (b *Bot) onBadMessage(ctx context.Context, env envelope, evt socketmode.Event) {
	bad, ok := evt.Data.(*socketmode.ErrorBadMessage)
	if !ok {
		return
	}
	var req socketmode.Request
	if err := json.Unmarshal(bad.Message, &req); err != nil || req.EnvelopeID == "" {
		b.log.WarnContext(ctx, "unreadable socket message", "cause", bad.Cause)
		return
	}
	b.metrics.Envelopes.Inc()
	env.req = &req
	env.received = b.frames.take(req.EnvelopeID, env.received)
	ctx = withLogAttrs(ctx, "envelope", req.EnvelopeID)
	ctx = withPostKeys(ctx, req.EnvelopeID, req.RetryAttempt > 0)
	b.ack(ctx, env, nil)
	if req.Type == socketmode.RequestTypeEventsAPI {
		b.onEventsAPI(ctx, req.Payload, req.RetryAttempt)
	} else {
		b.log.WarnContext(ctx, "unhandled socket message", "type", req.Type, "cause", bad.Cause)
	}
}
