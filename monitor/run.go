package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/internal/loop"
	"github.com/rdnsbot/rdnsbot/pool"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// Run checks and announces until ctx is done; then it gives back the
// claims no worker has taken, waits for the checks and posts running (each
// bounded by its timeout) and records them.
//
// Concurrency workers check the claims the loop hands them; posts run on
// goroutines of their own. Each pass of the loop is one MonitorCycle, one
// round trip: it records the outcomes finished since the last pass, claims
// announcements and due addresses for the room left under Batch, and
// returns the earliest due time left, which the timer is set to. A pass
// runs when the timer fires, when work is added, and when the workers have
// finished all they had, half a batch of outcomes, or (more being due)
// enough to free half the batch: the round trip's cost is shared by many
// checks however few run at once.
func (s *Scheduler) Run(ctx context.Context) {
	r := &runner{s: s, work: context.WithoutCancel(ctx), // a check cut short would only be redone after its lease
		claims: make(chan store.MonitorClaim, s.cfg.Batch), finished: make(chan store.MonitorCompletion, s.cfg.Batch),
		posted: make(chan struct{}, s.cfg.Batch), slots: keyrate.NewSlots[slotKey](s.cfg.ZoneBudget, s.zone, s.cfg.CheckLease)}
	var workers sync.WaitGroup
	for range s.cfg.Concurrency {
		workers.Go(func() {
			for c := range r.claims {
				r.finished <- s.check(r.work, c)
			}
		})
	}
	defer func() {
		r.stop()
		workers.Wait()
		if len(r.done) == 0 {
			return
		}
		if _, err := r.cycle(r.work, s.cfg.Clock.Now(), 0); err != nil {
			s.storeFailed("monitor cycle", err)
			s.log.Warn("checks not recorded at shutdown; redone after the lease", "err", err, "count", len(r.done))
		}
	}()
	timer := s.cfg.Clock.NewTimer(s.cfg.Clock.Now())
	defer timer.Stop()
	for {
		// Deadlines are computed from the time the pass started: a clock
		// that moved meanwhile makes the timer fire at once, never late.
		wake, ok := r.pass(ctx, s.cfg.Clock.Now())
		if !ok {
			return
		}
		timer.Reset(wake)
		if !r.wait(ctx, timer) {
			return
		}
	}
}

// runner is one Run's state, the loop's alone.
type runner struct {
	s        *Scheduler
	work     context.Context
	claims   chan store.MonitorClaim      // to the workers
	finished chan store.MonitorCompletion // from the workers
	posted   chan struct{}                // from each post
	checks   int                          // claims handed to the workers, not finished yet
	posts    int                          // posts running
	done     []store.MonitorCompletion    // outcomes not recorded yet
	more     bool                         // the last pass left addresses due
	failures int                          // store errors in a row
	// slots are the claims put off by pacing, and the slot each was
	// given; one past by a lease was another replica's claim since.
	slots *keyrate.Slots[slotKey]
}

type slotKey struct {
	k  Key
	ip netip.Addr
}

// flushAfter bounds how long a finished outcome waits to be recorded while
// other work runs (a slow post, checks short of half a batch).
const flushAfter = time.Second

// pass runs one MonitorCycle at now and hands out its work; it returns when
// the next pass is due, and false once ctx is done.
func (r *runner) pass(ctx context.Context, now time.Time) (time.Time, bool) {
	s := r.s
	wake := now.Add(s.cfg.Poll)
	free := s.cfg.Batch - r.checks - r.posts
	if free <= 0 && len(r.done) == 0 {
		return wake, true // only finishing work brings news
	}
	res, err := r.cycle(ctx, now, free)
	switch {
	case err != nil && ctx.Err() != nil:
		return wake, false // shutting down: done is recorded on the way out
	case err != nil:
		s.storeFailed("monitor cycle", err)
		r.failures++
		if r.failures == 1 || r.failures%10 == 0 {
			s.log.Warn("monitor store unavailable, retrying", "err", err, "failures", r.failures, "unrecorded", len(r.done))
		}
		if !errors.Is(err, store.ErrUnavailable) {
			// Not a connection problem: sending the same outcomes again
			// would fail again. Their addresses are checked after the lease.
			r.done = r.done[:0]
		}
		return now.Add(loop.Backoff(r.failures)), true
	}
	r.failures = 0
	for _, p := range res.Announcements {
		r.posts++
		go func() {
			s.post(r.work, p)
			r.posted <- struct{}{}
		}()
	}
	for _, c := range res.Claims {
		// A claim put off comes back at its slot (its due time) and runs
		// then, without booking again.
		if at := r.slots.Slot(now, slotKey{Key(c.Key), c.IP}, pool.PaceDomain(c.IP)); at.After(now) {
			r.done = append(r.done, giveBack(c, at)) // recorded in the next pass
			continue
		}
		r.checks++
		r.claims <- c // never blocks: at most Batch are held
	}
	r.more = !res.Next.IsZero() && !res.Next.After(now)
	switch {
	case len(r.done) > 0:
		wake = now
	case !res.Next.IsZero() && r.checks+r.posts < s.cfg.Batch:
		// One already past was left unclaimed with room to spare, so
		// another replica took it meanwhile: look again shortly rather
		// than spin.
		wake = now.Add(min(s.cfg.Poll, max(res.Next.Sub(now), 10*time.Millisecond)))
	}
	if flush := now.Add(flushAfter); r.checks+r.posts > 0 && flush.Before(wake) {
		wake = flush
	}
	if s.cfg.Observer != nil {
		queued := len(r.claims)
		s.cfg.Observer.Backlog(queued, r.checks-queued+r.posts)
	}
	return wake, true
}

// wait blocks until the next pass is due: the timer, new work, or finished
// work worth a round trip. It returns false once ctx is done.
func (r *runner) wait(ctx context.Context, timer watch.Timer) bool {
	half := r.s.cfg.Batch / 2
	for {
		select {
		case <-ctx.Done():
			return false
		case <-r.s.kick:
			return true
		case <-timer.C():
			return true
		case c := <-r.finished:
			r.collect(c)
		case <-r.posted:
			r.posts--
		}
		r.drain()
		if held := r.checks + r.posts; held == 0 || len(r.done) >= half || (r.more && held <= half) {
			return true
		}
	}
}

func (r *runner) collect(c store.MonitorCompletion) {
	r.checks--
	r.done = append(r.done, c)
}

// drain takes every outcome and post end that came meanwhile.
func (r *runner) drain() {
	for {
		select {
		case c := <-r.finished:
			r.collect(c)
		case <-r.posted:
			r.posts--
		default:
			return
		}
	}
}

// stop gives back the claims no worker has taken (another replica, or the
// next run, takes them at once), lets the workers end, and waits for the
// checks and posts running.
func (r *runner) stop() {
	for queued := true; queued; {
		select {
		case c := <-r.claims:
			r.checks--
			r.done = append(r.done, giveBack(c, c.Due))
		default:
			queued = false
		}
	}
	close(r.claims)
	if r.s.cfg.Observer != nil {
		r.s.cfg.Observer.Backlog(0, r.checks+r.posts)
	}
	for r.checks+r.posts > 0 {
		select {
		case c := <-r.finished:
			r.collect(c)
		case <-r.posted:
			r.posts--
		}
	}
}

// giveBack is the outcome of a claim released unchecked, due at next.
func giveBack(c store.MonitorClaim, next time.Time) store.MonitorCompletion {
	return store.MonitorCompletion{Claim: c, State: c.State, Next: next}
}

// cycle is one MonitorCycle at now: it records the outcomes done (logging
// those too late for their lease) and claims up to max.
func (r *runner) cycle(ctx context.Context, now time.Time, max int) (store.MonitorCycleResult, error) {
	s := r.s
	res, err := s.cfg.Store.MonitorCycle(ctx, now, r.done, max, s.cfg.CheckLease, s.cfg.AnnounceLease, s.cfg.Gather)
	if err != nil {
		return res, err
	}
	for i, err := range res.Completed {
		if err != nil {
			s.log.Warn("check not recorded; redone after the lease", "ip", r.done[i].Claim.IP, "channel", r.done[i].Claim.Key.Channel, "err", err)
		}
	}
	r.done = r.done[:0]
	return res, nil
}

// check runs one claimed check and returns its outcome for the loop.
func (s *Scheduler) check(ctx context.Context, c store.MonitorClaim) store.MonitorCompletion {
	start := s.cfg.Clock.Now()
	if !start.Before(time.UnixMilli(c.Token).Add(-s.cfg.CheckTimeout)) {
		// It waited for a worker so long that the check could end after
		// the lease, when another replica may check it too.
		return giveBack(c, c.Due)
	}
	// The timeout bounds DNS, which runs on the wall clock, as watch's
	// rechecks do; CheckLease, on the Clock, is longer.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	r := s.cfg.Checker.DiagnoseIP(cctx, c.IP, diagnose.Options{}) // DiagnoseIP always asks DNS
	cancel()
	now := s.cfg.Clock.Now()
	if r.CheckedAt.IsZero() {
		r.CheckedAt = now
	}
	if r.IP == "" {
		r.IP = c.IP.String()
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.Checked(max(start.Sub(c.Due), 0), r)
	}
	st, changes := evaluate(c.IP, c.State, r, now, s.cfg.UnansweredAfter)
	d := store.MonitorCompletion{Claim: c, State: st, Next: s.due(Key(c.Key), c.IP, now, true)}
	if len(changes) > 0 {
		for i := range changes {
			changes[i].Result = shown(changes[i].Result)
		}
		var err error
		if d.Changes, err = json.Marshal(changes); err != nil {
			s.log.Error("changes not encoded", "ip", c.IP, "err", err)
		}
	}
	return d
}

// shown is what an announcement shows of a result (handlers' changeLine:
// the status, the PTR and forward names, the first error): all a change
// keeps of it until it is posted.
func shown(r diagnose.Result) diagnose.Result {
	out := diagnose.Result{IP: r.IP, Status: r.Status, PTRNames: r.PTRNames, ConfirmedName: r.ConfirmedName, Forward: r.Forward, CheckedAt: r.CheckedAt}
	if i := slices.IndexFunc(r.Findings, func(f diagnose.Finding) bool { return f.Severity == diagnose.SeverityError }); i >= 0 {
		out.Findings = r.Findings[i : i+1]
	}
	return out
}

// post delivers one announcement; on failure it is claimed again after its
// lease, with the same key. Its deadline is on the Clock, as watch's posts'
// (see loop.Post): the lease it must end within is measured on the Clock.
func (s *Scheduler) post(ctx context.Context, p store.MonitorPending) {
	a := Announcement{Key: Key(p.Monitor.MonitorKey), RequestedBy: p.Monitor.RequestedBy, IdempotencyKey: p.IdempotencyKey, Attempt: p.Attempt}
	log := s.log.With("channel", p.Monitor.Channel, "attempt", p.Attempt, "key", p.IdempotencyKey)
	err := loop.Post(ctx, s.cfg.Clock, s.cfg.AnnounceLease, log,
		func(ctx context.Context) error {
			if err := json.Unmarshal(p.Changes, &a.Changes); err != nil {
				return fmt.Errorf("%w: changes unreadable: %w", watch.ErrUndeliverable, err)
			}
			slices.SortStableFunc(a.Changes, func(x, y Change) int { return x.IP.Compare(y.IP) })
			return s.cfg.Announcer.AnnounceChanges(ctx, a)
		},
		func(ctx context.Context) error { return s.cfg.Store.MarkMonitorPosted(ctx, p) })
	if err != nil {
		s.storeFailed("monitor mark posted", err)
	}
}
