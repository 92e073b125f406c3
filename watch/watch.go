// Package watch rechecks watched IPs until their reverse DNS passes FCrDNS
// (RFC 8601 section 3, "iprev") at the resolver and at every authoritative
// server, and announces it in every watching Slack thread, exactly once.
//
// The Scheduler follows mox's delivery queue: one loop that selects on
// shutdown, a kick channel and one timer set to the earliest due time kept in
// the store. Claiming a due IP writes its retry time (the end of the lease)
// before the check runs, so a crash never causes a storm, and several replicas
// sharing one Redis each run a due recheck once (see package store).
//
// Rechecks follow RECHECK_INTERVALS (Intervals, decoded by EnvDecode), the last interval
// repeating, and never come sooner than the cached answer can change: the
// negative TTL the engine reported, or how long resolvers may keep the old
// answer once the fix is at the source (capped at the longest interval so a
// huge TTL cannot stall a watch). Each outcome turns into announcements:
//
//   - progress: fixed at the authoritative servers, resolvers still serve
//     the old answer (Result.FixedAtSource); once per watch.
//   - fixed: Result.Fixed; every active watch of the IP ends, so a later
//     regression is never announced as fixed twice.
//   - expired: the watch is older than WATCH_MAX_AGE; it ends.
//
// A failed Announce is retried after AnnounceLease with the same
// IdempotencyKey and a higher Attempt.
//
// # Fairness, caps and pacing
//
// Due rechecks are claimed round robin across channels (see package store),
// so a flood of watches in one channel delays another channel's recheck by
// at most one check per busy channel and slot. Config.Caps bound the
// watches per channel, per user and in total, checked atomically where the
// watch is stored; Start says which cap stopped a watch. Config.ZoneRate
// paces the rechecks of each reverse zone (the last diagnosis's
// ReverseZone), so the bot never hammers one zone's authoritative servers:
// a recheck over the rate is put off to the zone's next free slot.
//
// # Use from the Slack handlers
//
//	sch, err := watch.New(watch.Config{Store: st, Checker: diagnoser, Announcer: handlers.NewAnnouncer(poster)})
//	go sch.Run(ctx)
//
//	// after a failing diagnosis answered in a thread:
//	err := sch.Start(ctx, watch.Request{
//		Key:    watch.Key{IP: ip, Channel: ch, Thread: threadTS},
//		User:   userID,
//		Source: watch.SourceBounce,
//	}, res)
//	// errors.Is(err, watch.ErrCapped): say which cap (errors.As *watch.CapError)
//	// errors.Is(err, watch.ErrUnavailable): say "watching is unavailable"
//
//	// "Stop watching", /rdns unwatch: sch.Stop(ctx, key)
//	// /rdns list: sch.ListChannel; App Home: sch.ListUser; a gauge: sch.ActiveWatches
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/internal/loop"
	"github.com/rdnsbot/rdnsbot/store"
)

// Source says how a watch was started.
type Source string

// The stored values; they are kept across releases.
const (
	SourceCommand  Source = Source(store.SourceCommand)  // /rdns, /rdns watch
	SourceMention  Source = Source(store.SourceMention)  // @rdnsbot <ip>
	SourceBounce   Source = Source(store.SourceBounce)   // a bounce posted in a channel
	SourceButton   Source = Source(store.SourceButton)   // "Watch until fixed", "Keep watching"
	SourceShortcut Source = Source(store.SourceShortcut) // a message shortcut on a bounce
	SourceDM       Source = Source(store.SourceDM)       // a direct message to the bot
)

// Key identifies a watch: one Slack thread's interest in one IP.
type Key struct {
	IP      netip.Addr
	Channel string // Slack channel ID
	Thread  string // thread_ts of the thread the bot answers in
}

// Request asks for one thread to be told when Key.IP is fixed.
type Request struct {
	Key    Key
	User   string // Slack user ID of who asked (mentioned in the announcements)
	Source Source
	// HELO is the name the sending server announced, when known. It does
	// not change FCrDNS (RFC 8601 section 3), which alone decides "fixed",
	// but it is stored and every recheck passes it to the diagnosis, so
	// the results announced show helo_mismatch and the HELO identity's SPF.
	HELO string
}

// Info is one active watch as users see it.
type Info struct {
	Key       Key
	Status    diagnose.Status // of the last check
	Since     time.Time       // when the watch started
	NextCheck time.Time       // zero while a check runs
}

// Kind is the kind of an announcement.
type Kind string

const (
	// KindProgress: fixed at the authoritative servers, caches still serve
	// the old answer. Posted at most once per watch.
	KindProgress Kind = Kind(store.KindProgress)
	// KindFixed: FCrDNS passes everywhere; the watch ends.
	KindFixed Kind = Kind(store.KindFixed)
	// KindExpired: the watch reached its maximum age; it ends.
	KindExpired Kind = Kind(store.KindExpired)
)

// Checker diagnoses an IP; *diagnose.Diagnoser is one.
type Checker interface {
	DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result
}

// Announcer posts an announcement in its watch's thread. Attempt > 1 means an
// earlier attempt may have reached Slack: look for IdempotencyKey (kept in the
// message metadata) before posting again. A nil error means it was posted
// (now or earlier); an error is retried after AnnounceLease, unless it wraps
// ErrUndeliverable (channel archived, bot removed): then it is dropped.
type Announcer interface {
	Announce(ctx context.Context, a Announcement) error
}

// Announcement is one message for one watching thread.
type Announcement struct {
	Kind           Kind
	Key            Key       // where
	RequestedBy    string    // who asked (Slack user ID)
	Since          time.Time // when the watch started
	Result         diagnose.Result
	IdempotencyKey string
	Attempt        int
	// Elapsed is from the watch's start to Result: for "fixed", how long the
	// fix took.
	Elapsed time.Duration
	// StaleUntil is, for "progress", about when resolvers drop the old answer.
	StaleUntil time.Time
	// HELO is the watch's HELO (Request.HELO), for the announcement's
	// buttons: a watch kept or rechecked from them keeps it.
	HELO string
}

// Observer is told how the scheduler is doing, for metrics. Its methods
// must not block.
type Observer interface {
	// Rechecked is called after each recheck with how late it started
	// against its due time, and its result.
	Rechecked(lag time.Duration, r diagnose.Result)
	// StoreFailed is called on each failed store operation (op names it:
	// "cycle", "mark posted", "add", "remove", "list", "count").
	StoreFailed(op string, err error)
}

// Store is what the scheduler needs of a store.Store.
type Store interface {
	Add(ctx context.Context, w store.Watch, due time.Time, lim store.Limits) (bool, error)
	Remove(ctx context.Context, k store.Key) (bool, error)
	ListByUser(ctx context.Context, user string) ([]store.Watch, error)
	ListByChannel(ctx context.Context, channel string) ([]store.Watch, error)
	Count(ctx context.Context) (int, error)
	Cycle(ctx context.Context, now time.Time, done []store.Completion, max int, checkLease, announceLease time.Duration) (store.CycleResult, error)
	MarkPosted(ctx context.Context, p store.Pending) error
}

// Caps bound the watches: per Slack channel, per requesting user, and in
// total. A watch counts from Start until Stop or until its final
// announcement is posted. Zero means the default, a negative value no cap.
type Caps struct {
	PerChannel, PerUser, Total int
}

// DefaultCaps: a channel rarely has more than a few senders failing at
// once, a user a few servers; the total keeps Redis's memory bounded (under
// 400 bytes per watch).
var DefaultCaps = Caps{PerChannel: 50, PerUser: 20, Total: 10000}

// DefaultZoneRate is the default Config.ZoneRate: two rechecks a second per
// reverse zone, each a handful of queries to the zone's servers.
const DefaultZoneRate = 2.0

// Config configures a Scheduler; zero values mean the defaults given.
type Config struct {
	Store     Store
	Checker   Checker
	Announcer Announcer
	Clock     Clock           // SystemClock
	Intervals []time.Duration // DefaultIntervals (RECHECK_INTERVALS)
	MaxAge    time.Duration   // 72h (WATCH_MAX_AGE)
	// Concurrency bounds the checks and posts running at once: 4.
	Concurrency int
	// CheckLease is how long a claimed IP is this replica's; a replica that
	// dies mid-check has the IP checked elsewhere after it: 2m.
	CheckLease time.Duration
	// CheckTimeout bounds one diagnosis; kept under CheckLease: 1m.
	CheckTimeout time.Duration
	// AnnounceLease is how long a claimed announcement is this replica's, and
	// the retry delay after a failed post: 1m.
	AnnounceLease time.Duration
	// Poll is the longest the loop sleeps, to pick up work other replicas
	// added or left behind: 30s.
	Poll time.Duration
	// Caps: DefaultCaps (zero fields take the default).
	Caps Caps
	// ZoneRate is the most rechecks per second of IPs in one reverse zone,
	// per replica: DefaultZoneRate; negative: unpaced.
	ZoneRate float64
	Observer Observer     // none
	Logger   *slog.Logger // slog.Default()
}

// Scheduler rechecks watched IPs and announces the outcomes.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}
	// longest is the longest of cfg.Intervals: the cap on a TTL's delay.
	longest time.Duration
	limits  store.Limits
	pace    *keyrate.Slots[netip.Addr] // the zones' slots, by IP put off; used by the loop only
}

var (
	// ErrFixed: a watch was asked for an IP whose diagnosis already passes.
	ErrFixed = errors.New("watch: the IP already passes FCrDNS")
	// ErrCapped: a cap stopped a new watch; the error is a *CapError.
	ErrCapped = errors.New("watch: cap reached")
	// ErrUnavailable: the store could not be reached; nothing changed.
	ErrUnavailable = store.ErrUnavailable
	// ErrUndeliverable, wrapped by an Announcer's error, says retrying cannot
	// help; the announcement is given up as if posted (a fixed or expired
	// watch still ends). Package monitor's announcers use it too.
	ErrUndeliverable = loop.ErrUndeliverable
)

// CapScope names one of Caps.
type CapScope = loop.CapScope

const (
	CapPerChannel = loop.CapPerChannel
	CapPerUser    = loop.CapPerUser
	CapTotal      = loop.CapTotal
)

// CapError says which cap stopped a watch (Scope) and its value (Limit);
// it wraps ErrCapped.
type CapError = loop.CapError[watches]

// watches is what watch caps count.
type watches struct{}

func (watches) Sentinel() error { return ErrCapped }
func (watches) Noun() string    { return "watches" }

// New checks cfg and fills in defaults.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Checker == nil || cfg.Announcer == nil {
		return nil, errors.New("watch: Store, Checker and Announcer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if len(cfg.Intervals) == 0 {
		cfg.Intervals = DefaultIntervals
	}
	for _, d := range cfg.Intervals {
		if d <= 0 {
			return nil, fmt.Errorf("watch: interval %s is not positive", d)
		}
	}
	loop.Default(&cfg.MaxAge, 72*time.Hour)
	loop.Default(&cfg.CheckLease, 2*time.Minute)
	loop.Default(&cfg.CheckTimeout, min(time.Minute, cfg.CheckLease/2))
	loop.Default(&cfg.AnnounceLease, time.Minute)
	loop.Default(&cfg.Poll, 30*time.Second)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.CheckTimeout >= cfg.CheckLease {
		return nil, fmt.Errorf("watch: CheckTimeout %s must be shorter than CheckLease %s", cfg.CheckTimeout, cfg.CheckLease)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger.With("pkg", "watch"), kick: make(chan struct{}, 1),
		longest: slices.Max(cfg.Intervals),
		limits: store.Limits{PerChannel: loop.Cap(cfg.Caps.PerChannel, DefaultCaps.PerChannel),
			PerUser: loop.Cap(cfg.Caps.PerUser, DefaultCaps.PerUser), Total: loop.Cap(cfg.Caps.Total, DefaultCaps.Total)}}
	if cfg.ZoneRate == 0 {
		cfg.ZoneRate = DefaultZoneRate
	}
	// A slot past by a lease was another replica's claim. A negative rate
	// is no Every: unpaced.
	s.pace = keyrate.NewSlots[netip.Addr](keyrate.New(0), keyrate.PerSecond(cfg.ZoneRate), cfg.CheckLease)
	return s, nil
}

// wake wakes the loop now (after work was added); it never blocks.
func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Start watches req.Key.IP for req's thread after the failing diagnosis
// first; the first recheck is due after the first interval (or the negative
// TTL first reported). The watch starts now: WATCH_MAX_AGE counts from here.
// A thread that already watches the IP keeps its watch as it was (nil
// error). A watch that ended (fixed or expired) starts again: that is "Keep
// watching". Errors: ErrFixed (first passes), a *CapError (ErrCapped),
// ErrUnavailable and other store errors, wrapped.
func (s *Scheduler) Start(ctx context.Context, req Request, first diagnose.Result) error {
	if first.Fixed() {
		return ErrFixed
	}
	now := s.cfg.Clock.Now()
	w := store.Watch{Key: store.Key(req.Key), RequestedBy: req.User, Source: store.Source(req.Source), HELO: req.HELO,
		CreatedAt: now, Status: first.Status, CheckedAt: first.CheckedAt, Zone: first.ReverseZone}
	_, err := s.cfg.Store.Add(ctx, w, now.Add(s.delay(0, first)), s.limits)
	for _, c := range []struct {
		err   error
		scope CapScope
		limit int
	}{{store.ErrChannelLimit, CapPerChannel, s.limits.PerChannel}, {store.ErrUserLimit, CapPerUser, s.limits.PerUser}, {store.ErrTotalLimit, CapTotal, s.limits.Total}} {
		if errors.Is(err, c.err) {
			return fmt.Errorf("watch %s: %w", w.Key, &CapError{Scope: c.scope, Limit: c.limit})
		}
	}
	if err != nil {
		s.storeFailed("add", err)
		return fmt.Errorf("watch %s: %w", w.Key, err)
	}
	s.wake()
	return nil
}

// Stop ends k's watch and any announcement pending for it; false when
// there was none.
func (s *Scheduler) Stop(ctx context.Context, k Key) (bool, error) {
	removed, err := s.cfg.Store.Remove(ctx, store.Key(k))
	if err != nil {
		s.storeFailed("remove", err)
		return false, fmt.Errorf("unwatch %s: %w", store.Key(k), err)
	}
	return removed, nil
}

// ListChannel lists the active watches of a channel (/rdns list).
func (s *Scheduler) ListChannel(ctx context.Context, channel string) ([]Info, error) {
	return s.list(s.cfg.Store.ListByChannel(ctx, channel))
}

// ListUser lists the active watches a user asked for (App Home).
func (s *Scheduler) ListUser(ctx context.Context, user string) ([]Info, error) {
	return s.list(s.cfg.Store.ListByUser(ctx, user))
}

func (s *Scheduler) list(ws []store.Watch, err error) ([]Info, error) {
	if err != nil {
		s.storeFailed("list", err)
		return nil, fmt.Errorf("list watches: %w", err)
	}
	var out []Info
	for _, w := range ws {
		if w.State == store.StateActive {
			out = append(out, Info{Key: Key(w.Key), Status: w.Status, Since: w.CreatedAt, NextCheck: w.NextCheck})
		}
	}
	return out, nil
}

// ActiveWatches is how many watches count against Caps.Total: the active
// ones and those whose final announcement is still to be posted.
func (s *Scheduler) ActiveWatches(ctx context.Context) (int, error) {
	n, err := s.cfg.Store.Count(ctx)
	if err != nil {
		s.storeFailed("count", err)
		return 0, fmt.Errorf("count watches: %w", err)
	}
	return n, nil
}

func (s *Scheduler) storeFailed(op string, err error) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.StoreFailed(op, err)
	}
}

// delay is how long to wait after the checks-th recheck (0: after the
// diagnosis that started the watch) gave r.
func (s *Scheduler) delay(checks int, r diagnose.Result) time.Duration {
	iv := s.cfg.Intervals
	d := iv[min(checks, len(iv)-1)]
	var ttl uint32
	switch {
	case r.FixedAtSource() && r.Source.StaleForSeconds > 0:
		ttl = r.Source.StaleForSeconds
	case r.NegativeTTLSeconds != nil:
		ttl = *r.NegativeTTLSeconds
	}
	return max(d, min(time.Duration(ttl)*time.Second, s.longest))
}

// Run runs the loop until ctx is done, then waits for the checks and posts
// in flight (each bounded by its timeout) and records their outcomes.
//
// Each pass of the loop is one store.Cycle, one round trip: it records the
// rechecks that finished since the last pass (workers hand their outcomes to
// the loop instead of writing them one by one), claims announcements and due
// IPs for the free slots, and returns the earliest due time left, which the
// timer is set to.
func (s *Scheduler) Run(ctx context.Context) {
	timer := s.cfg.Clock.NewTimer(s.cfg.Clock.Now())
	defer timer.Stop()
	// Work outlives a shutdown request: a check cut short would only be
	// redone after its lease.
	work := context.WithoutCancel(ctx)
	finished := make(chan *store.Completion, s.cfg.Concurrency) // nil from a post
	busy := 0
	var done []store.Completion // finished rechecks not recorded yet
	collect := func(c *store.Completion) {
		busy--
		if c != nil {
			done = append(done, *c)
		}
	}
	defer func() {
		for busy > 0 {
			collect(<-finished)
		}
		s.record(work, done)
	}()
	var failures int
	for {
		// Deadlines are computed from the time the pass started: a clock
		// that moved meanwhile makes the timer fire at once, never late.
		now := s.cfg.Clock.Now()
		wake := now.Add(s.cfg.Poll)
		free := s.cfg.Concurrency - busy
		var res store.CycleResult
		var err error
		if free > 0 || len(done) > 0 { // else only a finishing worker brings news
			res, err = s.cfg.Store.Cycle(ctx, now, done, free, s.cfg.CheckLease, s.cfg.AnnounceLease)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return // shutting down: done is recorded on the way out
		case err != nil:
			s.storeFailed("cycle", err)
			failures++
			wake = now.Add(loop.Backoff(failures))
			if failures == 1 || failures%10 == 0 {
				s.log.Warn("store unavailable, retrying", "err", err, "failures", failures, "retry_at", wake, "unrecorded", len(done))
			}
			if !errors.Is(err, store.ErrUnavailable) {
				// Not a connection problem: sending the same outcomes again
				// would fail again. Their IPs are checked again after the lease.
				done = done[:0]
			}
		default:
			failures = 0
			s.logRecorded(done, res.Completed)
			done = done[:0]
			for _, p := range res.Announcements {
				busy++
				go func() {
					s.post(work, p)
					finished <- nil
				}()
			}
			for _, c := range res.Claims {
				if at := s.pace.Slot(now, c.IP, c.Zone); at.After(now) {
					// Over its zone's rate: put off to the zone's next
					// free slot, recorded in the next pass.
					done = append(done, store.Completion{Claim: c, Outcome: store.Outcome{Deferred: true, Next: at, Now: now}})
					wake = now
					continue
				}
				busy++
				go func() { finished <- s.check(work, c) }()
			}
			if !res.Next.IsZero() && busy < s.cfg.Concurrency && len(done) == 0 {
				// Wake at the earliest due time left. One already past was
				// left unclaimed with slots free, so another replica took it
				// meanwhile: look again shortly rather than spin. (With every
				// slot busy, a finishing worker wakes the loop.)
				wake = now.Add(min(s.cfg.Poll, max(res.Next.Sub(now), 10*time.Millisecond)))
			}
		}
		timer.Reset(wake)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-timer.C():
		case c := <-finished:
			collect(c)
		}
		// Collect every worker that finished meanwhile: one pass records
		// them and claims work for all the free slots at once.
		for drained := false; !drained; {
			select {
			case c := <-finished:
				collect(c)
			default:
				drained = true
			}
		}
	}
}

// record writes the outcomes still unrecorded at shutdown.
func (s *Scheduler) record(ctx context.Context, done []store.Completion) {
	if len(done) == 0 {
		return
	}
	res, err := s.cfg.Store.Cycle(ctx, s.cfg.Clock.Now(), done, 0, s.cfg.CheckLease, s.cfg.AnnounceLease)
	if err != nil {
		s.storeFailed("cycle", err)
		s.log.Warn("rechecks not recorded at shutdown; retried after the lease", "err", err, "count", len(done))
		return
	}
	s.logRecorded(done, res.Completed)
}

// logRecorded logs what became of each finished recheck.
func (s *Scheduler) logRecorded(done []store.Completion, errs []error) {
	for i, d := range done {
		log := s.log.With("ip", d.Claim.IP)
		if err := errs[i]; err != nil {
			log.Warn("recheck not recorded; retried after the lease", "err", err)
			continue
		}
		log.Debug("rechecked", "status", d.Outcome.Result.Status, "next", d.Outcome.Next, "announcements", len(d.Outcome.Transitions))
	}
}

// check runs one recheck of a claimed IP and returns its outcome, for the
// loop to record.
func (s *Scheduler) check(ctx context.Context, c store.Claim) *store.Completion {
	lag := s.cfg.Clock.Now().Sub(c.Due)
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	res := s.cfg.Checker.DiagnoseIP(cctx, c.IP, diagnose.Options{HELO: claimHELO(c)})
	cancel()
	o := s.outcome(c, res)
	if s.cfg.Observer != nil {
		s.cfg.Observer.Rechecked(max(lag, 0), o.Result)
	}
	return &store.Completion{Claim: c, Outcome: o}
}

// claimHELO is the HELO a recheck of c's IP runs with: the first active
// watch's that has one (watches of one IP in several threads are rechecked
// once, and one server sends from the IP).
func claimHELO(c store.Claim) string {
	for _, w := range c.Watches {
		if w.State == store.StateActive && w.HELO != "" {
			return w.HELO
		}
	}
	return ""
}

// outcome decides what a recheck result means for each watch of the IP.
func (s *Scheduler) outcome(c store.Claim, r diagnose.Result) store.Outcome {
	now := s.cfg.Clock.Now()
	if r.CheckedAt.IsZero() {
		r.CheckedAt = now
	}
	o := store.Outcome{Result: r, Now: now, Next: now.Add(s.delay(c.Checks+1, r))}
	for _, w := range c.Watches {
		if w.State != store.StateActive {
			continue
		}
		expires := w.CreatedAt.Add(s.cfg.MaxAge)
		var kind store.Kind
		switch {
		case r.Fixed():
			kind = store.KindFixed
		case !now.Before(expires):
			kind = store.KindExpired
		case r.FixedAtSource() && !w.ProgressAnnounced:
			kind = store.KindProgress
		}
		if kind != "" {
			o.Transitions = append(o.Transitions, store.Transition{Key: w.Key, CreatedAt: w.CreatedAt, Kind: kind})
		}
		if kind != store.KindFixed && kind != store.KindExpired && expires.Before(o.Next) {
			// Be there when the watch expires, not up to an interval later.
			o.Next = expires
		}
	}
	return o
}

// post delivers one announcement; on failure it is left to be claimed again
// after its lease.
func (s *Scheduler) post(ctx context.Context, p store.Pending) {
	a := Announcement{
		Kind: Kind(p.Kind), Key: Key(p.Watch.Key), RequestedBy: p.Watch.RequestedBy, Since: p.Watch.CreatedAt,
		Result: p.Result, IdempotencyKey: p.IdempotencyKey, Attempt: p.Attempt,
		Elapsed: p.Result.CheckedAt.Sub(p.Watch.CreatedAt), HELO: p.Watch.HELO,
	}
	if p.Kind == store.KindProgress && p.Result.Source != nil {
		a.StaleUntil = p.Result.CheckedAt.Add(time.Duration(p.Result.Source.StaleForSeconds) * time.Second)
	}
	log := s.log.With("ip", p.Watch.IP, "channel", p.Watch.Channel, "kind", p.Kind, "attempt", p.Attempt)
	err := loop.Post(ctx, s.cfg.Clock, s.cfg.AnnounceLease, log,
		func(ctx context.Context) error { return s.cfg.Announcer.Announce(ctx, a) },
		func(ctx context.Context) error { return s.cfg.Store.MarkPosted(ctx, p) })
	if err != nil {
		s.storeFailed("mark posted", err)
	}
}
