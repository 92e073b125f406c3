// Package handlers is rdnsbot's Slack side, arranged by stage, one file
// each: socket.go reads socket-mode envelopes and acks each at once;
// events.go, commands.go, bounces.go and interactions.go turn them into
// work; check.go is the one check pipeline (diagnose, watch, render,
// post); render.go builds escaped Block Kit; post.go sends it. Work runs on
// a bounded pool (this file); announcements of the recheck scheduler go out
// through announce.go, which needs only the Poster.
//
// Slack API docs: https://docs.slack.dev/apis/events-api/using-socket-mode
package handlers

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/rdnsbot/rdnsbot/bounce"
	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/metrics"
	"github.com/rdnsbot/rdnsbot/pool"
)

// targetsDiagnoser diagnoses a request's targets: a Diagnoser, or a
// diagnose.Session that a pool check of the same request shares.
type targetsDiagnoser interface {
	DiagnoseTargets(ctx context.Context, targets []string, opts diagnose.Options) diagnose.Batch
}

// Diagnoser runs the FCrDNS diagnosis; *diagnose.Diagnoser implements it.
type Diagnoser interface {
	targetsDiagnoser
	// Session shares DNS answers across the addresses of a pool (CIDR
	// block or range): pool.Check runs in one.
	Session() *diagnose.Session
}

// Config tunes the bot. Zero values mean the documented defaults.
type Config struct {
	// Workers bounds concurrent handling (diagnoses, posts); default 16.
	Workers int
	// QueueSize bounds jobs waiting for a worker, the backlog answered
	// later; default 1024. A request that finds it full is told so (in the
	// ack, or in its thread), never dropped in silence.
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
	// FileBytesBudget bounds the bytes of the file downloads held at once
	// (each weighs its size, an unknown size MaxFileBytes); default
	// DefaultFileBytesBudget, and never below MaxFileBytes. A download
	// waits up to half of JobTimeout for room; then the user is told to
	// upload it again.
	FileBytesBudget int64
	// ZoneBudget is where pool checks book their reverse domains' slots
	// (pool.PaceDomain), at ZoneRate diagnoses a second (0: pool's
	// default; negative: unpaced): give the monitor scheduler's budget and
	// rate (monitor.Config) so a domain sees one budget from this replica;
	// nil: the bot's own.
	ZoneBudget *keyrate.Limiter
	ZoneRate   float64
	// Slack bounds the waits on Slack (start-up attempts, socket handshake,
	// stalled sockets); see SlackLimits in socket.go.
	Slack SlackLimits
	// Deliveries, when set, dedupes events across replicas (the store); each
	// process also dedupes in memory.
	Deliveries Deliveries
	// SMTPProbe, when set, runs the SMTP greeting probe a request asks for
	// (`/rdns IP smtp`); nil means the reply says it is not set up.
	SMTPProbe Prober
	// Watches, when set, is the recheck scheduler; nil means watching is
	// reported unavailable.
	Watches Watches
	// Monitors, when set, is the monitor scheduler (`/rdns monitor`); nil
	// means monitoring is reported unavailable.
	Monitors Monitors
}

// Bot is the running Slack bot. Create it with New, start it with Run.
type Bot struct {
	cfg      Config
	out      *Poster
	diag     Diagnoser
	watches  Watches
	pacer    pool.Pacer
	log      *slog.Logger
	metrics  *metrics.Metrics
	bounceIn map[string]bool
	files    *fileReader
	frames   *frameClock

	self  atomic.Pointer[identity]
	ready atomic.Bool
	seen  *dedupe
	jobs  chan job
	// notices tell users in their thread that their request was refused
	// (the queue was full); a worker of their own posts them, so that a
	// full queue still answers.
	notices chan job

	// started is set at the first hello: from then on a socket that cannot
	// be reopened is retried without end (socket.go). Event loop only.
	started bool

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

// job is one unit of work for the pool; ctx carries its log attributes
// (event, channel, user) from the event loop to the worker.
type job struct {
	name string
	ctx  context.Context
	run  func(ctx context.Context)
}

// New builds a bot that talks to Slack through out (whose client also holds
// the app-level token and, in tests, the fake Slack's URL) and diagnoses
// with diag.
func New(out *Poster, diag Diagnoser, cfg Config) *Bot {
	cfg.Slack = cfg.Slack.withDefaults()
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
	if cfg.FileBytesBudget <= 0 {
		cfg.FileBytesBudget = DefaultFileBytesBudget
	}
	cfg.FileBytesBudget = max(cfg.FileBytesBudget, cfg.MaxFileBytes)
	b := &Bot{
		cfg:     cfg,
		out:     out,
		diag:    diag,
		watches: cfg.Watches,
		// One pacer for the bot: users checking one block together share
		// its reverse domain's budget (with the monitors, given theirs).
		pacer:   pool.NewRatePacerIn(cmp.Or(cfg.ZoneBudget, keyrate.New(0)), cfg.ZoneRate),
		log:     out.log,
		metrics: out.metrics,
		files: &fileReader{out: out, max: cfg.MaxFileBytes, log: out.log,
			budget: semaphore.NewWeighted(cfg.FileBytesBudget), budgetWait: cfg.JobTimeout / 2},
		frames:  newFrameClock(),
		seen:    newDedupe(dedupeTTL),
		jobs:    make(chan job, cfg.QueueSize),
		notices: make(chan job, noticeQueue),
	}
	b.metrics.GaugeFunc("rdnsbot_work_queue_depth", "Jobs waiting for a worker.", func() float64 { return float64(len(b.jobs)) })
	if len(cfg.BounceChannels) > 0 {
		b.bounceIn = make(map[string]bool)
		for _, c := range cfg.BounceChannels {
			b.bounceIn[c] = true
		}
	}
	return b
}

// Ready reports whether the bot holds a live socket-mode connection.
func (b *Bot) Ready() bool { return b.ready.Load() }

// Run identifies the bot (auth.test), connects in socket mode and handles
// events until ctx ends, or until Slack does not answer within Config.Slack
// (an *UnreachableError). Then it stops taking events and lets in-flight work
// finish (up to Config.ShutdownTimeout) before returning.
func (b *Bot) Run(ctx context.Context) error {
	sm, err := b.connect(ctx) // socket.go
	if err != nil {
		return err
	}

	// Workers run on their own context: a shutdown stops new events first
	// and cancels in-flight work only after the grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var workers sync.WaitGroup
	for range b.cfg.Workers {
		workers.Go(func() { b.work(workCtx, b.jobs) })
	}
	for range noticeWorkers {
		workers.Go(func() { b.work(workCtx, b.notices) })
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
			if runErr = b.dispatch(ctx, sm, evt); runErr != nil {
				break loop
			}
		}
	}
	b.ready.Store(false)
	cancelSock()
	close(b.jobs)
	close(b.notices)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.cfg.ShutdownTimeout):
		b.log.Warn("shutdown: cancelling in-flight work", "queued", len(b.jobs))
		cancelWork()
		<-done
	}
	return runErr
}

// work runs jobs until their queue closes.
func (b *Bot) work(ctx context.Context, jobs <-chan job) {
	for j := range jobs {
		b.runJob(ctx, j)
	}
}

func (b *Bot) runJob(ctx context.Context, j job) {
	b.metrics.InFlight.Inc()
	defer b.metrics.InFlight.Dec()
	if b.afterJob != nil {
		defer b.afterJob(j.name)
	}
	// The worker's context (cancelled after the shutdown grace period) with
	// the job's log attributes.
	ctx = copyLogAttrs(ctx, j.ctx)
	defer func() {
		if p := recover(); p != nil {
			b.metrics.Panics.Inc()
			b.log.ErrorContext(ctx, "handler panic", "job", j.name, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.JobTimeout)
	defer cancel()
	start := time.Now()
	b.log.DebugContext(ctx, "job started", "job", j.name)
	j.run(ctx)
	b.log.DebugContext(ctx, "job done", "job", j.name, "ms", time.Since(start).Milliseconds())
}

// queueFull reports whether a job enqueued now would be refused.
func (b *Bot) queueFull() bool { return len(b.jobs) >= cap(b.jobs) }

// enqueue hands work to the pool without ever blocking the event loop: a
// slow DNS answer for one user must not delay the ack for another. ctx
// carries the log attributes the job keeps.
func (b *Bot) enqueue(ctx context.Context, name string, run func(ctx context.Context)) bool {
	select {
	case b.jobs <- job{name: name, ctx: ctx, run: run}:
		return true
	default:
		b.metrics.Dropped.Inc()
		b.log.WarnContext(ctx, "work queue full, refusing job", "job", name)
		return false
	}
}

// DefaultFileBytesBudget is Config.FileBytesBudget's default: five 24 MB
// uploads read at once, and the process stays well under 512 MiB.
const DefaultFileBytesBudget = 128 << 20

// noticeWorkers post the refusal notices: posting is quick, and a few keep
// up with a burst of refusals.
const noticeWorkers = 2

// noticeQueue bounds the refusal notices waiting to be posted. A notice
// holds where to answer, not the request, so thousands cost little.
const noticeQueue = 4096

// enqueueOrTell enqueues run; when the queue is full, a notice job asks
// tell where the user should hear of it and says so there. tell runs on a
// notice worker, not on the event loop, since deciding whether a message is
// a bounce parses it; one that is not gets no answer, as when the bot has
// room. Only when the notices are full too is the request lost, counted and
// logged.
func (b *Bot) enqueueOrTell(ctx context.Context, name, eventID string, run func(ctx context.Context), tell func() (origin, bool)) {
	if b.enqueue(ctx, name, run) {
		return
	}
	notice := func(ctx context.Context) {
		o, worth := tell()
		if worth && b.firstDelivery(ctx, eventID) {
			b.metrics.Refusals.WithLabelValues("queue_full", "thread").Inc()
			b.reply(ctx, o, textMessage(":hourglass: I am overloaded right now and could not check this; please try again in a minute."))
		}
	}
	select {
	case b.notices <- job{name: name + " refused", ctx: ctx, run: notice}:
	default:
		b.metrics.Refusals.WithLabelValues("queue_full", "lost").Inc()
		b.log.ErrorContext(ctx, "work and notice queues full, request lost", "job", name)
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
		b.metrics.StoreFailed("first delivery", err)
		b.log.WarnContext(ctx, "cross-replica dedupe unavailable", "err", err)
		return true
	}
	if !first {
		b.metrics.Duplicates.Inc()
		b.log.InfoContext(ctx, "event handled by another replica")
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
