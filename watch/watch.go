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
// Rechecks follow RECHECK_INTERVALS (ParseIntervals), the last interval
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
// # Use from the Slack handlers
//
//	sch, err := watch.New(watch.Config{Store: st, Checker: diagnoser, Announcer: poster})
//	go sch.Run(ctx)
//
//	// after a failing diagnosis answered in a thread (bounce, /rdns, mention,
//	// "Watch until fixed" or "Keep watching"):
//	added, next, err := sch.Watch(ctx, store.Watch{
//		Key:         store.Key{IP: ip, Channel: ch, Thread: threadTS},
//		RequestedBy: userID,
//		Source:      store.SourceBounce,
//	}, res)
//	if errors.Is(err, store.ErrUnavailable) { /* say "watching is unavailable" */ }
//
//	// "Stop watching" and /rdns unwatch: st.Remove(ctx, key)
//	// /rdns list: st.ListByChannel; App Home: st.ListByUser (Status, NextCheck)
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
	"github.com/rdnsbot/rdnsbot/store"
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
	Kind           store.Kind
	Watch          store.Watch // who asked (RequestedBy), where (Key), since when
	Result         diagnose.Result
	IdempotencyKey string
	Attempt        int
	// Elapsed is from the watch's start to Result: for "fixed", how long the
	// fix took.
	Elapsed time.Duration
	// StaleUntil is, for "progress", about when resolvers drop the old answer.
	StaleUntil time.Time
}

// Store is what the scheduler needs of a store.Store.
type Store interface {
	Add(ctx context.Context, w store.Watch, due time.Time) (bool, error)
	Cycle(ctx context.Context, now time.Time, done []store.Completion, max int, checkLease, announceLease time.Duration) (store.CycleResult, error)
	MarkPosted(ctx context.Context, p store.Pending) error
}

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
	Poll   time.Duration
	Logger *slog.Logger // slog.Default()
}

// Scheduler rechecks watched IPs and announces the outcomes.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}
	// longest is the longest of cfg.Intervals: the cap on a TTL's delay.
	longest time.Duration
}

var (
	// ErrFixed: a watch was asked for an IP whose diagnosis already passes.
	ErrFixed = errors.New("watch: the IP already passes FCrDNS")
	// ErrUndeliverable, wrapped by an Announcer's error, says retrying cannot
	// help; the announcement is given up as if posted (a fixed or expired
	// watch still ends).
	ErrUndeliverable = errors.New("watch: announcement undeliverable")
)

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
	setDefault(&cfg.MaxAge, 72*time.Hour)
	setDefault(&cfg.CheckLease, 2*time.Minute)
	setDefault(&cfg.CheckTimeout, min(time.Minute, cfg.CheckLease/2))
	setDefault(&cfg.AnnounceLease, time.Minute)
	setDefault(&cfg.Poll, 30*time.Second)
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.CheckTimeout >= cfg.CheckLease {
		return nil, fmt.Errorf("watch: CheckTimeout %s must be shorter than CheckLease %s", cfg.CheckTimeout, cfg.CheckLease)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("pkg", "watch"), kick: make(chan struct{}, 1),
		longest: slices.Max(cfg.Intervals)}, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// wake wakes the loop now (after work was added); it never blocks.
func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Watch starts watching w.IP for w's thread (Key, RequestedBy and Source
// are used) after the failing diagnosis first, and returns when the first
// recheck is due. The watch starts now: WATCH_MAX_AGE counts from here. added
// is false when the thread already watches the IP (it is left as it was, and
// next is only the earliest it may be checked). A watch that ended (fixed or
// expired) starts again: that is "Keep watching".
func (s *Scheduler) Watch(ctx context.Context, w store.Watch, first diagnose.Result) (added bool, next time.Time, err error) {
	if first.Fixed() {
		return false, time.Time{}, ErrFixed
	}
	now := s.cfg.Clock.Now()
	w.CreatedAt, w.Status, w.CheckedAt = now, first.Status, first.CheckedAt
	next = now.Add(s.delay(0, first))
	if added, err = s.cfg.Store.Add(ctx, w, next); err != nil {
		return false, time.Time{}, fmt.Errorf("watch %s: %w", w.Key, err)
	}
	s.wake()
	return added, next, nil
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
			failures++
			wake = now.Add(backoff(failures))
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
				busy++
				go func() { finished <- s.check(work, c) }()
			}
			if !res.Next.IsZero() && busy < s.cfg.Concurrency {
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

// backoff grows from 1s to 30s while the store stays unreachable.
func backoff(failures int) time.Duration {
	return min(time.Second<<min(failures-1, 5), 30*time.Second)
}

// record writes the outcomes still unrecorded at shutdown.
func (s *Scheduler) record(ctx context.Context, done []store.Completion) {
	if len(done) == 0 {
		return
	}
	res, err := s.cfg.Store.Cycle(ctx, s.cfg.Clock.Now(), done, 0, s.cfg.CheckLease, s.cfg.AnnounceLease)
	if err != nil {
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
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	res := s.cfg.Checker.DiagnoseIP(cctx, c.IP, diagnose.Options{})
	cancel()
	return &store.Completion{Claim: c, Outcome: s.outcome(c, res)}
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
		Kind: p.Kind, Watch: p.Watch, Result: p.Result,
		IdempotencyKey: p.IdempotencyKey, Attempt: p.Attempt,
		Elapsed: p.Result.CheckedAt.Sub(p.Watch.CreatedAt),
	}
	if p.Kind == store.KindProgress && p.Result.Source != nil {
		a.StaleUntil = p.Result.CheckedAt.Add(time.Duration(p.Result.Source.StaleForSeconds) * time.Second)
	}
	log := s.log.With("ip", p.Watch.IP, "channel", p.Watch.Channel, "kind", p.Kind, "attempt", p.Attempt)
	// A post still running when its lease ends could be duplicated by the
	// replica that claims it next (it would look for the message before it
	// exists): give up well within the lease.
	actx, cancel := context.WithTimeout(ctx, s.cfg.AnnounceLease/2)
	err := s.cfg.Announcer.Announce(actx, a)
	cancel()
	switch {
	case errors.Is(err, ErrUndeliverable):
		log.Warn("announcement undeliverable; given up", "err", err)
	case err != nil:
		log.Warn("announcement failed; retried after the lease", "err", err)
		return
	}
	if err := s.cfg.Store.MarkPosted(ctx, p); err != nil {
		// Claimed again after the lease; the poster finds its message by key.
		log.Warn("announcement posted but not recorded", "err", err)
	}
}
