package watch_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

var ip1 = netip.MustParseAddr("203.0.113.5")

func key(ch, thread string) watch.Key { return watch.Key{IP: ip1, Channel: ch, Thread: thread} }

// TestSchedulerLifecycle walks one IP watched from two threads through a
// negative-TTL floor, a progress message (one per thread, one of them retried
// after a failed post), a repeated fixed-at-source result that says nothing
// more, and the fix, with the clock under the test's control.
func TestSchedulerLifecycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		st   func(t *testing.T) store.Store
	}{
		{"redis", func(t *testing.T) store.Store { return redisStore(t, server) }},
		{"memory", func(t *testing.T) store.Store { return store.NewMemory() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testLifecycle(t, tc.st(t))
		})
	}
}

func testLifecycle(t *testing.T, backing store.Store) {
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 10)
	checker.script(ip1, fixedAtSource(300), fixedAtSource(300), fixed())
	ann := newRecorder(10)
	failedOnce := false
	ann.fail = func(a watch.Announcement) bool { // the first post to thread B fails
		if a.Key.Thread == "2.2" && !failedOnce {
			failedOnce = true
			return true
		}
		return false
	}
	st := observe(backing, 10)
	sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: ann, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}

	ttl := uint32(120)
	first := diagnose.Result{Status: diagnose.StatusPermerror, NegativeTTLSeconds: &ttl, CheckedAt: t0}
	for _, r := range []watch.Request{
		{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceBounce},
		{Key: key("C2", "2.2"), User: "U2", Source: watch.SourceCommand},
		{Key: key("C1", "1.1"), User: "U3", Source: watch.SourceButton}, // already watched: unchanged
	} {
		if err := sch.Start(ctx, r, first); err != nil {
			t.Fatalf("Start(%v): %v", r.Key, err)
		}
	}
	for _, ch := range []string{"C1", "C2"} {
		// The negative TTL (2m) beats the first interval (1m).
		infos, err := sch.ListChannel(ctx, ch)
		if err != nil || len(infos) != 1 || !infos[0].NextCheck.Equal(t0.Add(2*time.Minute)) || !infos[0].Since.Equal(t0) {
			t.Fatalf("ListChannel(%s) = %+v, %v; want one watch since 12:00, next check 12:02", ch, infos, err)
		}
	}
	if mine, err := sch.ListUser(ctx, "U3"); err != nil || len(mine) != 0 {
		t.Fatalf("ListUser(U3) = %+v, %v; want none: the second Start changed nothing", mine, err)
	}
	if err := sch.Start(ctx, watch.Request{Key: key("C3", "3.3"), User: "U1", Source: watch.SourceCommand}, fixed()); !errors.Is(err, watch.ErrFixed) {
		t.Fatalf("Start for a passing IP: %v; want ErrFixed", err)
	}
	stop := run(sch)
	defer stop()

	// 12:02, check 1: fixed at the source. One progress message per thread.
	clock.Advance(2 * time.Minute)
	wait(t, checker.seen, "check 1")
	wait(t, st.completed, "check 1 recorded")
	for range 2 {
		a := wait(t, ann.seen, "progress")
		if a.Kind != watch.KindProgress || a.Attempt != 1 || !a.StaleUntil.Equal(t0.Add(7*time.Minute)) {
			t.Fatalf("announcement = %+v; want progress, attempt 1, stale until 12:07", a)
		}
	}
	wait(t, st.marked, "progress recorded") // the post that succeeded
	// 12:03: the failed post is retried after its lease, with the same key.
	clock.Advance(time.Minute)
	if a := wait(t, ann.seen, "progress retry"); a.Key.Thread != "2.2" || a.Attempt != 2 {
		t.Fatalf("retry = %+v; want thread 2.2 attempt 2", a)
	}
	wait(t, st.marked, "retried progress recorded")
	// 12:07, check 2: the stale time (5m) beat the 2m interval. Still fixed
	// at the source only: nothing new to say.
	clock.Advance(4 * time.Minute)
	wait(t, checker.seen, "check 2")
	wait(t, st.completed, "check 2 recorded")
	// 12:12, check 3: fixed. Each thread is told once, with who asked and
	// how long it took.
	clock.Advance(5 * time.Minute)
	wait(t, checker.seen, "check 3")
	for range 2 {
		a := wait(t, ann.seen, "fixed")
		if a.Kind != watch.KindFixed || a.Elapsed != 12*time.Minute || a.Result.Status != diagnose.StatusPass || !a.Since.Equal(t0) ||
			a.RequestedBy != map[string]string{"1.1": "U1", "2.2": "U2"}[a.Key.Thread] {
			t.Fatalf("announcement = %+v; want fixed after 12m for the one who asked", a)
		}
	}
	// Both posts recorded before the clock jumps past their lease: else a
	// post still being recorded is claimed again (a race of the test, not
	// of the scheduler, whose retry would find the message by its key).
	for range 2 {
		wait(t, st.marked, "fixed recorded")
	}
	clock.Advance(3 * time.Hour)
	stop()

	posted, dups := ann.snapshot()
	if len(posted) != 4 || len(dups) != 0 {
		t.Fatalf("posted %d announcements (duplicates %v); want 4, none twice", len(posted), dups)
	}
	if n := checker.count(ip1); n != 3 {
		t.Fatalf("%d checks; want 3", n)
	}
	if n, err := sch.ActiveWatches(ctx); err != nil || n != 0 {
		t.Fatalf("%d watches left, %v; want none", n, err)
	}
	if _, ok, err := nextDue(ctx, backing); err != nil || ok {
		t.Fatalf("NextDue = %v, %v; want nothing scheduled", ok, err)
	}
}

// TestExpiry: a watch that never gets fixed ends at WATCH_MAX_AGE, on time,
// with one "expired" message; "Keep watching" starts it again.
func TestExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 10)
	checker.script(ip1, failing(diagnose.StatusFail))
	ann := newRecorder(10)
	st := observe(redisStore(t, server), 10)
	sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: ann, Clock: clock,
		Intervals: []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute}, MaxAge: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	w := watch.Request{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceCommand}
	if err := sch.Start(ctx, w, failing(diagnose.StatusFail)); err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	// Checks at 12:01, 12:03, 12:08; the next (12:13) is pulled in to the
	// expiry at 12:10.
	for _, step := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 2 * time.Minute} {
		clock.Advance(step)
		wait(t, checker.seen, "check")
		wait(t, st.completed, "check recorded")
	}
	a := wait(t, ann.seen, "expired")
	if a.Kind != watch.KindExpired || a.Elapsed != 10*time.Minute {
		t.Fatalf("announcement = %+v; want expired after 10m", a)
	}
	// Keep watching: the same thread starts again and is checked again.
	w.Source = watch.SourceButton
	if err := sch.Start(ctx, w, a.Result); err != nil {
		t.Fatalf("Keep watching: %v", err)
	}
	if infos, err := sch.ListChannel(ctx, "C1"); err != nil || len(infos) != 1 || !infos[0].NextCheck.Equal(t0.Add(11*time.Minute)) {
		t.Fatalf("after Keep watching: %+v, %v; want one watch due 12:11", infos, err)
	}
	clock.Advance(time.Minute)
	wait(t, checker.seen, "check after Keep watching")
	wait(t, st.completed, "check recorded")
	stop()
	if posted, _ := ann.snapshot(); len(posted) != 1 {
		t.Fatalf("posted %v; want the one expired message", posted)
	}
}

// TestUndeliverable: an announcement Slack will never take (archived
// channel) is given up, not retried forever, and the fixed watch ends.
func TestUndeliverable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 4)
	checker.script(ip1, fixed())
	ann := newRecorder(4)
	ann.fail = func(watch.Announcement) bool { return true }
	archived := &undeliverable{ann}
	backing := redisStore(t, server)
	st := observe(backing, 4)
	sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: archived, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Start(ctx, watch.Request{Key: key("C9", "9.9"), User: "U1", Source: watch.SourceBounce}, failing(diagnose.StatusPermerror)); err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	clock.Advance(time.Minute)
	wait(t, ann.seen, "the attempt")
	wait(t, st.marked, "the announcement given up")
	stop()
	if n, err := sch.ActiveWatches(ctx); err != nil || n != 0 {
		t.Fatalf("%d watches left, %v; want the fixed watch ended", n, err)
	}
	if _, ok, err := nextDue(ctx, backing); err != nil || ok {
		t.Fatalf("NextDue = %v, %v; want no retry scheduled", ok, err)
	}
}

// undeliverable answers like a poster facing an archived channel.
type undeliverable struct{ *recorder }

func (u *undeliverable) Announce(ctx context.Context, a watch.Announcement) error {
	if err := u.recorder.Announce(ctx, a); err != nil {
		return fmt.Errorf("chat.postMessage: is_archived: %w", watch.ErrUndeliverable)
	}
	return nil
}

// hangOn hangs the checks of one IP until released, like a DNS server that
// never answers, and hands the others to next.
type hangOn struct {
	blockingChecker
	ip   netip.Addr
	next watch.Checker
}

func (h hangOn) DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result {
	if ip == h.ip {
		return h.blockingChecker.DiagnoseIP(ctx, ip, opts)
	}
	return h.next.DiagnoseIP(ctx, ip, opts)
}

// TestEarliestDueWhileChecking: while one check hangs, an IP that falls due
// meanwhile is checked on time, not when the slow check returns or at the
// next poll.
func TestEarliestDueWhileChecking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	slow := netip.MustParseAddr("203.0.113.9")
	scripted := newScriptedChecker(clock, 4)
	checker := hangOn{blockingChecker{started: make(chan struct{}, 1), release: make(chan struct{})}, slow, scripted}
	st := observe(store.NewMemory(), 4)
	sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: newRecorder(4), Clock: clock, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Added behind the scheduler's back, so that no kick wakes its loop:
	// only its timer can bring it to the second IP.
	for ip, due := range map[netip.Addr]time.Time{slow: t0.Add(time.Minute), ip1: t0.Add(3 * time.Minute)} {
		w := store.Watch{Key: store.Key{IP: ip, Channel: "C1", Thread: "1.1"}, RequestedBy: "U1", Source: store.SourceBounce, CreatedAt: t0}
		if _, err := st.Add(ctx, w, due, store.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(sch)
	defer stop()
	defer close(checker.release) // before stop: it waits for the check
	clock.Advance(time.Minute)
	wait(t, checker.started, "the check that hangs")
	clock.Advance(2 * time.Minute)
	if ip := wait(t, scripted.seen, "the check due at 12:03"); ip != ip1 {
		t.Fatalf("checked %v; want %v", ip, ip1)
	}
	wait(t, st.completed, "its outcome recorded")
}

// hangingAnnouncer hangs each post until its context ends, and reports
// that context's cause.
type hangingAnnouncer struct {
	started chan struct{}
	ended   chan error
}

func (h hangingAnnouncer) Announce(ctx context.Context, a watch.Announcement) error {
	h.started <- struct{}{}
	<-ctx.Done()
	h.ended <- context.Cause(ctx)
	return ctx.Err()
}

// TestPostEndsWithinLease: a post that hangs is given up before its lease
// ends; otherwise the replica that claims it next would look for the message
// before it exists and post it a second time.
func TestPostEndsWithinLease(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 2)
	checker.script(ip1, fixed())
	ann := hangingAnnouncer{make(chan struct{}, 2), make(chan error, 2)}
	const lease = time.Minute
	sch, err := watch.New(watch.Config{Store: store.NewMemory(), Checker: checker, Announcer: ann, Clock: clock, AnnounceLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Start(context.Background(), watch.Request{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceBounce}, failing(diagnose.StatusFail)); err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	clock.Advance(time.Minute)
	wait(t, ann.started, "the post")
	// The clock stands still here: the post hangs until the clock reaches
	// half the lease, and only then.
	clock.Advance(lease/2 - time.Second)
	select {
	case err := <-ann.ended:
		t.Fatalf("post ended before half the lease: %v", err)
	default:
	}
	clock.Advance(time.Second)
	if err := wait(t, ann.ended, "the post given up"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("post ended with %v; want its deadline (half the %v lease)", err, lease)
	}
	stop()
}

// TestShutdownRecordsInFlight: stopping the scheduler waits for the check in
// flight and records its outcome, so the IP is not checked again after the
// lease and the fix is announced by whichever replica runs next.
func TestShutdownRecordsInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := blockingChecker{started: make(chan struct{}, 1), release: make(chan struct{})}
	backing := store.NewMemory()
	sch, err := watch.New(watch.Config{Store: backing, Checker: checker, Announcer: newRecorder(2), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	w := watch.Request{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceBounce}
	if err := sch.Start(ctx, w, failing(diagnose.StatusFail)); err != nil {
		t.Fatal(err)
	}
	halt, stopped := runHalt(sch)
	clock.Advance(time.Minute)
	wait(t, checker.started, "the check")
	halt()
	close(checker.release)
	stopped()
	ws, err := backing.ListByChannel(ctx, "C1")
	if err != nil || len(ws) != 1 || ws[0].State != store.StateFixed || ws[0].Pending != store.KindFixed {
		t.Fatalf("after shutdown: %+v, %v; want the fix recorded, its announcement pending", ws, err)
	}
}

// down is a store that cannot be reached.
type down struct{ watch.Store }

func (down) Cycle(context.Context, time.Time, []store.Completion, int, time.Duration, time.Duration) (store.CycleResult, error) {
	return store.CycleResult{}, fmt.Errorf("cycle: %w", store.ErrUnavailable)
}

// TestBackoffWhileStoreDown: with the store unreachable the loop looks again
// after 1s, 2s, 4s… up to 30s, never at once.
func TestBackoffWhileStoreDown(t *testing.T) {
	t.Parallel()
	clock := clocktest.New(t0)
	armed := clock.Armed(16) // read as the loop goes
	sch, err := watch.New(watch.Config{Store: down{store.NewMemory()}, Checker: newScriptedChecker(clock, 1), Announcer: newRecorder(1), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	if at := wait(t, armed, "the first pass"); !at.Equal(t0) {
		t.Fatalf("first pass at %v; want at once", at)
	}
	for _, want := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
		want *= time.Second
		if at := wait(t, armed, "a retry"); !at.Equal(clock.Now().Add(want)) {
			t.Fatalf("retry at %v; want %v after %v", at, want, clock.Now())
		}
		clock.Advance(want)
	}
}

// flaky is a store that is unreachable for the first pass that records a
// recheck.
type flaky struct {
	watch.Store
	failedOnce bool
}

func (f *flaky) Cycle(ctx context.Context, now time.Time, done []store.Completion, max int, checkLease, announceLease time.Duration) (store.CycleResult, error) {
	if len(done) > 0 && !f.failedOnce {
		f.failedOnce = true // only the loop's goroutine calls Cycle
		return store.CycleResult{}, fmt.Errorf("cycle: %w", store.ErrUnavailable)
	}
	return f.Store.Cycle(ctx, now, done, max, checkLease, announceLease)
}

// TestOutcomeKeptWhileStoreDown: a recheck that finishes while the store is
// unreachable is recorded when it comes back, within the lease, instead of
// being lost and the IP checked again.
func TestOutcomeKeptWhileStoreDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 2)
	checker.script(ip1, failing(diagnose.StatusFail))
	backing := store.NewMemory()
	st := observe(&flaky{Store: backing}, 2)
	sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: newRecorder(1), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	w := watch.Request{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceBounce}
	if err := sch.Start(ctx, w, failing(diagnose.StatusFail)); err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	clock.Advance(time.Minute)
	wait(t, checker.seen, "the check")
	if err := wait(t, st.failed, "the store to fail"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("store error = %v", err)
	}
	clock.Advance(time.Second) // the first backoff
	wait(t, st.completed, "the outcome recorded")
	stop()
	got, err := sch.ListChannel(ctx, "C1")
	if want := t0.Add(3 * time.Minute); err != nil || len(got) != 1 || got[0].Status != diagnose.StatusFail || !got[0].NextCheck.Equal(want) {
		t.Fatalf("watches = %+v, %v; want the 12:01 check recorded, next at %v", got, err, want)
	}
	if n := checker.count(ip1); n != 1 {
		t.Fatalf("%d checks; want 1", n)
	}
}
