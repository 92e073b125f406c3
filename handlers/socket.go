package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// SlackLimits bound how long the bot waits for Slack before it gives up:
// a Slack API that accepts connections and never answers must end the
// process (so that its orchestrator restarts it and says so), not hang it.
// Zero values mean the defaults. Each Web API call is bounded by the
// slack.Client's own http.Client (its Timeout).
type SlackLimits struct {
	// Attempts bounds the failed tries at start-up of auth.test, and of
	// opening the first socket (apps.connections.open, then the websocket
	// dial); default 6.
	Attempts int
	// Backoff is the first wait between auth.test attempts, doubling up to
	// 30s; default 1s. (slack-go backs off between socket attempts itself.)
	Backoff time.Duration
	// Handshake bounds the websocket handshake; default 10s.
	Handshake time.Duration
	// PingTimeout is how long a socket may go without a ping from Slack
	// before it counts as stalled and is replaced (slack-go's watchdog,
	// socketmode.OptionPingInterval); default 30s.
	PingTimeout time.Duration
}

func (l SlackLimits) withDefaults() SlackLimits {
	l.Attempts = cmp.Or(max(l.Attempts, 0), 6)
	l.Backoff = cmp.Or(max(l.Backoff, 0), time.Second)
	l.Handshake = cmp.Or(max(l.Handshake, 0), 10*time.Second)
	l.PingTimeout = cmp.Or(max(l.PingTimeout, 0), 30*time.Second)
	return l
}

// maxStartupBackoff caps the wait between auth.test attempts.
const maxStartupBackoff = 30 * time.Second

// UnreachableError says Slack's API did not answer Method in Attempts tries
// (timeouts, refused or dropped connections, 5xx, rate limits).
type UnreachableError struct {
	Method   string
	Attempts int
	Err      error // the last attempt's
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: no answer in %d attempts: %v", e.Method, e.Attempts, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// connect identifies the bot (auth.test, retried with backoff while Slack
// does not answer) and returns the socket-mode client to run.
func (b *Bot) connect(ctx context.Context) (*socketmode.Client, error) {
	limits := b.cfg.Slack
	wait := limits.Backoff
	for attempt := 1; ; attempt++ {
		auth, err := b.out.api.AuthTestContext(ctx)
		if err == nil {
			b.self.Store(&identity{UserID: auth.UserID, BotID: auth.BotID})
			b.log.InfoContext(ctx, "authenticated", "team", auth.Team, "bot_user", auth.UserID, "bot_id", auth.BotID)
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("slack auth.test: %w", ctx.Err())
		}
		if !unanswered(err) {
			return nil, fmt.Errorf("slack auth.test: %w", err)
		}
		if attempt >= limits.Attempts {
			return nil, &UnreachableError{Method: "auth.test", Attempts: attempt, Err: err}
		}
		b.log.WarnContext(ctx, "slack auth.test did not answer, retrying", "attempt", attempt, "of", limits.Attempts, "wait", wait.String(), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("slack auth.test: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxStartupBackoff)
	}
	return socketmode.New(b.out.api,
		socketmode.OptionDialer(b.frames.dialer(limits.Handshake)),
		socketmode.OptionPingInterval(limits.PingTimeout)), nil
}

// unanswered reports whether err means Slack did not (properly) answer, so
// that asking again may help: a lost answer, a 5xx, a rate limit. An
// ok:false answer such as invalid_auth is final.
func unanswered(err error) bool {
	var rl *slack.RateLimitedError
	return mayBeStored(err) || errors.As(err, &rl)
}

// dispatch handles one socket-mode event on the event loop: ack first, then
// enqueue. Nothing here waits on DNS or Slack's Web API. It fails when the
// first socket could not be opened in SlackLimits.Attempts tries.
func (b *Bot) dispatch(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) error {
	ctx, env := b.newEnvelope(ctx, sm, evt.Request, time.Now())
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.ready.Store(false)
		b.log.Info("connecting to slack")
	case socketmode.EventTypeConnectionError:
		b.ready.Store(false)
		ce, _ := evt.Data.(*slack.ConnectionErrorEvent)
		if ce == nil {
			b.log.Warn("slack connection error", "err", evt.Data)
			break
		}
		if !b.started && ce.Attempt >= b.cfg.Slack.Attempts {
			return &UnreachableError{Method: "apps.connections.open", Attempts: ce.Attempt, Err: ce.ErrorObj}
		}
		// Once running, slack-go retries with its own backoff (up to 5
		// minutes) while /readyz says the bot is not connected.
		b.log.Warn("slack connection error, retrying", "attempt", ce.Attempt, "wait", ce.Backoff.String(), "err", ce.ErrorObj)
	case socketmode.EventTypeHello:
		b.started = true
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
	return nil
}

// envelope is one socket-mode request being handled on the event loop.
type envelope struct {
	sm  *socketmode.Client
	req *socketmode.Request
	// received is when the first byte of its frame was read (frameClock),
	// or when it was dispatched if that is unknown.
	received time.Time
}

// newEnvelope starts the handling of req (nil for events that carry none),
// dispatched at the given time: when its frame arrived, and its id in ctx's
// log attributes and post keys.
func (b *Bot) newEnvelope(ctx context.Context, sm *socketmode.Client, req *socketmode.Request, dispatched time.Time) (context.Context, envelope) {
	env := envelope{sm: sm, req: req, received: dispatched}
	if req == nil {
		return ctx, env
	}
	env.received = b.frames.take(req.EnvelopeID, dispatched)
	ctx = withLogAttrs(ctx, "envelope", req.EnvelopeID)
	return withPostKeys(ctx, req.EnvelopeID, req.RetryAttempt > 0), env
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
	ctx, env = b.newEnvelope(ctx, env.sm, &req, env.received)
	b.ack(ctx, env, nil)
	if req.Type == socketmode.RequestTypeEventsAPI {
		b.onEventsAPI(ctx, req.Payload, req.RetryAttempt)
	} else {
		b.log.WarnContext(ctx, "unhandled socket message", "type", req.Type, "cause", bad.Cause)
	}
}
