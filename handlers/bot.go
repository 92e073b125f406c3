// Package handlers is rdnsbot's Slack side: it reads socket-mode envelopes
// (slash commands, message and mention events, button clicks), acks each at
// once, and hands the work to a bounded pool that diagnoses IPs, reads
// bounces and replies in threads with escaped Block Kit messages.
//
// Slack API docs: https://docs.slack.dev/apis/events-api/using-socket-mode
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/rdnsbot/rdnsbot/bounce"
	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Diagnoser runs the FCrDNS diagnosis; *diagnose.Diagnoser implements it.
type Diagnoser interface {
	Diagnose(ctx context.Context, target string, opts diagnose.Options) ([]diagnose.Result, error)
}

// Config tunes the bot. Zero values mean the documented defaults.
type Config struct {
	// Workers bounds concurrent handling (diagnoses, posts); default 16.
	Workers int
	// QueueSize bounds jobs waiting for a worker; default 1024.
	QueueSize int
	// BounceChannels limits bounce reading to these channel IDs; empty means
	// every channel the bot is in.
	BounceChannels []string
	// JobTimeout bounds one job (diagnosis plus replies); default 60s.
	JobTimeout time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight jobs; default 20s.
	ShutdownTimeout time.Duration
	// MaxFileBytes bounds bounce files downloaded from Slack; default
	// bounce.MaxSize, the most the parser reads.
	MaxFileBytes int64
	// SocketOptions are passed to socketmode.New (tests shorten ping intervals).
	SocketOptions []socketmode.Option
	// Deliveries, when set, dedupes events across replicas (the store); each
	// process also dedupes in memory.
	Deliveries Deliveries
	Logger     *slog.Logger
	Metrics    *Metrics
}

// Bot is the running Slack bot. Create it with New, start it with Run.
type Bot struct {
	cfg        Config
	api        *slack.Client
	diag       Diagnoser
	watches    Watches
	log        *slog.Logger
	metrics    *Metrics
	httpClient *http.Client
	bounceIn   map[string]bool

	self  atomic.Pointer[identity]
	ready atomic.Bool
	seen  *dedupe
	jobs  chan job

	// afterJob, when set (by tests), is called after each job.
	afterJob func(name string)
}

// Deliveries records which events some replica already handles.
type Deliveries interface {
	FirstDelivery(ctx context.Context, eventID string, ttl time.Duration) (bool, error)
}

// identity is who the bot is in the workspace (auth.test), so it never
// reacts to its own messages.
type identity struct{ UserID, BotID string }

type job struct {
	name string
	run  func(ctx context.Context)
}

// New builds a bot on api (a slack.Client with the bot token, the app-level
// token and, in tests, the fake Slack's URL). Until UseWatches is called,
// watching is reported unavailable.
func New(api *slack.Client, diag Diagnoser, cfg Config) *Bot {
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = 60 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = bounce.MaxSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &Metrics{}
	}
	b := &Bot{
		cfg:        cfg,
		api:        api,
		diag:       diag,
		log:        cfg.Logger.With("pkg", "handlers"),
		metrics:    cfg.Metrics,
		httpClient: &http.Client{Timeout: 30 * time.Second},
		seen:       newDedupe(dedupeTTL),
		jobs:       make(chan job, cfg.QueueSize),
	}
	if len(cfg.BounceChannels) > 0 {
		b.bounceIn = make(map[string]bool)
		for _, c := range cfg.BounceChannels {
			b.bounceIn[c] = true
		}
	}
	return b
}

// UseWatches connects the recheck scheduler; call it before Run. (The
// scheduler announces through the bot, so the two are built in turn.)
func (b *Bot) UseWatches(w Watches) { b.watches = w }

// Ready reports whether the bot holds a live socket-mode connection.
func (b *Bot) Ready() bool { return b.ready.Load() }

// Run identifies the bot (auth.test), connects in socket mode and handles
// events until ctx ends. Then it stops taking events and lets in-flight work
// finish (up to Config.ShutdownTimeout) before returning.
func (b *Bot) Run(ctx context.Context) error {
	auth, err := b.api.AuthTestContext(ctx)
	if err != nil {
		return fmt.Errorf("slack auth.test: %w", err)
	}
	b.self.Store(&identity{UserID: auth.UserID, BotID: auth.BotID})
	b.log.InfoContext(ctx, "authenticated", "team", auth.Team, "bot_user", auth.UserID, "bot_id", auth.BotID)

	sm := socketmode.New(b.api, b.cfg.SocketOptions...)

	// Workers run on their own context: a shutdown stops new events first
	// and cancels in-flight work only after the grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var workers sync.WaitGroup
	for range b.cfg.Workers {
		workers.Go(func() { b.work(workCtx) })
	}

	sockCtx, cancelSock := context.WithCancel(ctx)
	defer cancelSock()
	sockErr := make(chan error, 1)
	go func() { sockErr <- sm.RunContext(sockCtx) }()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-sockErr:
			if ctx.Err() == nil {
				runErr = fmt.Errorf("slack socket mode: %w", err)
			}
			break loop
		case evt := <-sm.Events:
			b.dispatch(ctx, sm, evt)
		}
	}
	b.ready.Store(false)
	cancelSock()
	close(b.jobs)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.cfg.ShutdownTimeout):
		b.log.Warn("shutdown: cancelling in-flight work", "in_flight", b.metrics.InFlight.Load())
		cancelWork()
		<-done
	}
	return runErr
}

// work runs jobs until the queue closes.
func (b *Bot) work(ctx context.Context) {
	for j := range b.jobs {
		b.runJob(ctx, j)
	}
}

func (b *Bot) runJob(ctx context.Context, j job) {
	b.metrics.InFlight.Add(1)
	defer b.metrics.InFlight.Add(-1)
	if b.afterJob != nil {
		defer b.afterJob(j.name)
	}
	defer func() {
		if p := recover(); p != nil {
			b.metrics.Panics.Add(1)
			b.log.Error("handler panic", "job", j.name, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.JobTimeout)
	defer cancel()
	j.run(ctx)
}

// queueFull reports whether a job enqueued now would be refused.
func (b *Bot) queueFull() bool { return len(b.jobs) >= cap(b.jobs) }

// enqueue hands work to the pool without ever blocking the event loop: a
// slow DNS answer for one user must not delay the ack for another.
func (b *Bot) enqueue(name string, run func(ctx context.Context)) bool {
	select {
	case b.jobs <- job{name: name, run: run}:
		return true
	default:
		b.metrics.Dropped.Add(1)
		b.log.Warn("work queue full, dropping job", "job", name)
		return false
	}
}

// dispatch handles one socket-mode event on the event loop: ack first, then
// enqueue. Nothing here waits on DNS or Slack's Web API.
func (b *Bot) dispatch(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	env := envelope{sm: sm, req: evt.Request, received: time.Now()}
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
		b.metrics.Envelopes.Add(1)
		b.ack(ctx, env, nil)
		b.onEventsAPI(ctx, evt.Request.Payload, evt.Request.RetryAttempt)
	case socketmode.EventTypeErrorBadMessage:
		b.onBadMessage(ctx, env, evt)
	case socketmode.EventTypeSlashCommand:
		b.metrics.Envelopes.Add(1)
		cmd, _ := evt.Data.(slack.SlashCommand)
		b.onSlashCommand(ctx, env, cmd)
	case socketmode.EventTypeInteractive:
		b.metrics.Envelopes.Add(1)
		b.ack(ctx, env, nil)
		cb, _ := evt.Data.(slack.InteractionCallback)
		b.onInteraction(cb)
	}
}

// envelope is one socket-mode request being handled on the event loop.
type envelope struct {
	sm       *socketmode.Client
	req      *socketmode.Request
	received time.Time
}

// ack acknowledges an envelope, with an optional response payload.
func (b *Bot) ack(ctx context.Context, env envelope, payload any) {
	if env.req == nil || env.req.EnvelopeID == "" {
		return
	}
	if err := env.sm.AckCtx(ctx, env.req.EnvelopeID, payload); err != nil {
		b.log.Warn("ack failed", "envelope", env.req.EnvelopeID, "err", err)
		return
	}
	b.metrics.ObserveAck(time.Since(env.received))
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
		b.log.Warn("unreadable socket message", "cause", bad.Cause)
		return
	}
	b.metrics.Envelopes.Add(1)
	env.req = &req
	b.ack(ctx, env, nil)
	if req.Type == socketmode.RequestTypeEventsAPI {
		b.onEventsAPI(ctx, req.Payload, req.RetryAttempt)
	} else {
		b.log.Warn("unhandled socket message", "type", req.Type, "cause", bad.Cause)
	}
}

// firstDelivery reports whether no other replica took eventID already. It
// runs on a worker, not the event loop: it may wait on the store. When the
// store cannot tell, handling twice beats not handling at all.
func (b *Bot) firstDelivery(ctx context.Context, eventID string) bool {
	if b.cfg.Deliveries == nil || eventID == "" {
		return true
	}
	first, err := b.cfg.Deliveries.FirstDelivery(ctx, eventID, dedupeTTL)
	if err != nil {
		b.log.WarnContext(ctx, "cross-replica dedupe unavailable", "event_id", eventID, "err", err)
		return true
	}
	if !first {
		b.metrics.Duplicates.Add(1)
		b.log.InfoContext(ctx, "event handled by another replica", "event_id", eventID)
	}
	return first
}

// dedupeTTL covers Slack's retries (immediately, after 1 and 5 minutes).
const dedupeTTL = 10 * time.Minute

// dedupe remembers event ids for a while: Slack redelivers an event whose
// envelope it thinks was not acked (retry_attempt > 0), and each event must
// be handled once.
type dedupe struct {
	mu   sync.Mutex
	ttl  time.Duration
	seen map[string]time.Time
	last time.Time
}

func newDedupe(ttl time.Duration) *dedupe {
	return &dedupe{ttl: ttl, seen: make(map[string]time.Time)}
}

// first reports whether id is new, remembering it.
func (d *dedupe) first(id string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.last) > d.ttl/4 {
		for k, t := range d.seen {
			if now.Sub(t) > d.ttl {
				delete(d.seen, k)
			}
		}
		d.last = now
	}
	if _, dup := d.seen[id]; dup {
		return false
	}
	d.seen[id] = now
	return true
}

// errNoWatches is returned when no watch store is configured or reachable.
var errNoWatches = errors.New("watching is unavailable right now")
