package watch_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// server is this package's shared redis-server; tests use a prefix each.
var server *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, redistest.Options{}, func(s *redistest.Server) { server = s })
}

func redisStore(tb testing.TB, srv *redistest.Server) *store.Redis {
	tb.Helper()
	c, err := store.NewClient(srv.URL())
	if err != nil {
		tb.Fatal(err)
	}
	st := store.NewRedis(c, srv.Prefix())
	tb.Cleanup(func() { st.Close() })
	return st
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// nextDue is the earliest due time of a check or an announcement in st,
// through Cycle, claiming nothing.
func nextDue(ctx context.Context, st watch.Store) (time.Time, bool, error) {
	res, err := st.Cycle(ctx, time.Time{}, nil, 0, time.Minute, time.Minute)
	return res.Next, err == nil && !res.Next.IsZero(), err
}

// wait receives from ch or fails the test; the timeout only guards against a
// hang, it is never what a test waits for.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// scriptedChecker is a Checker that answers each IP from a script: the n-th
// check gets the n-th result, the last repeating. It reports each call.
type scriptedChecker struct {
	clock *clocktest.Clock
	mu    sync.Mutex
	plan  map[netip.Addr][]diagnose.Result
	calls map[netip.Addr]int
	seen  chan netip.Addr
}

func newScriptedChecker(clock *clocktest.Clock, buffer int) *scriptedChecker {
	return &scriptedChecker{clock: clock, plan: map[netip.Addr][]diagnose.Result{}, calls: map[netip.Addr]int{}, seen: make(chan netip.Addr, buffer)}
}

func (c *scriptedChecker) script(ip netip.Addr, rs ...diagnose.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.plan[ip] = rs
}

func (c *scriptedChecker) DiagnoseIP(ctx context.Context, ip netip.Addr, _ diagnose.Options) diagnose.Result {
	c.mu.Lock()
	rs := c.plan[ip]
	n := c.calls[ip]
	c.calls[ip]++
	c.mu.Unlock()
	r := diagnose.Result{IP: ip.String(), Status: diagnose.StatusTemperror}
	if len(rs) > 0 {
		r = rs[min(n, len(rs)-1)]
	}
	r.IP, r.CheckedAt = ip.String(), c.clock.Now()
	c.seen <- ip
	return r
}

func (c *scriptedChecker) count(ip netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[ip]
}

// recorder is an Announcer that keeps what it posted, can fail chosen
// attempts, and reports each post.
type recorder struct {
	mu     sync.Mutex
	posted map[string]watch.Announcement // by idempotency key
	dups   []string
	fail   func(watch.Announcement) bool
	seen   chan watch.Announcement
}

func newRecorder(buffer int) *recorder {
	return &recorder{posted: map[string]watch.Announcement{}, seen: make(chan watch.Announcement, buffer)}
}

var errSlackDown = errors.New("slack: 500")

func (r *recorder) Announce(ctx context.Context, a watch.Announcement) error {
	r.mu.Lock()
	if r.fail != nil && r.fail(a) {
		r.mu.Unlock()
		r.seen <- a
		return errSlackDown
	}
	// What the real poster does with the key on a retry: look before posting.
	if _, dup := r.posted[a.IdempotencyKey]; dup {
		r.dups = append(r.dups, a.IdempotencyKey)
	}
	r.posted[a.IdempotencyKey] = a
	r.mu.Unlock()
	r.seen <- a
	return nil
}

func (r *recorder) snapshot() (map[string]watch.Announcement, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]watch.Announcement, len(r.posted))
	for k, v := range r.posted {
		m[k] = v
	}
	return m, append([]string(nil), r.dups...)
}

// observed wraps the scheduler's store to report each recorded recheck,
// each recorded post and each store error, so tests know when to move the
// clock.
type observed struct {
	watch.Store
	completed chan netip.Addr
	marked    chan store.Key // nil: not reported
	failed    chan error
}

func observe(st watch.Store, buffer int) *observed {
	return &observed{Store: st, completed: make(chan netip.Addr, buffer), marked: make(chan store.Key, buffer), failed: make(chan error, buffer)}
}

func (o *observed) MarkPosted(ctx context.Context, p store.Pending) error {
	err := o.Store.MarkPosted(ctx, p)
	if err == nil && o.marked != nil {
		o.marked <- p.Watch.Key
	}
	return err
}

// Cycle is the one store call of each pass of the loop: it records the
// rechecks that finished.
func (o *observed) Cycle(ctx context.Context, now time.Time, done []store.Completion, max int, checkLease, announceLease time.Duration) (store.CycleResult, error) {
	res, err := o.Store.Cycle(ctx, now, done, max, checkLease, announceLease)
	if err != nil {
		select {
		case o.failed <- err:
		default:
		}
		return res, err
	}
	for i, d := range done {
		if res.Completed[i] == nil {
			o.completed <- d.Claim.IP
		}
	}
	return res, err
}

// run starts s and returns a function that stops it and waits for it.
func run(s *watch.Scheduler) (stop func()) {
	halt, wait := runHalt(s)
	return func() {
		halt()
		wait()
	}
}

// runHalt starts s; halt stops its loop (as a crash would stop it claiming
// work) without waiting for the work in flight, which wait waits for.
func runHalt(s *watch.Scheduler) (halt, wait func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	return cancel, func() { <-done }
}

func failing(status diagnose.Status) diagnose.Result { return diagnose.Result{Status: status} }

func fixedAtSource(stale uint32) diagnose.Result {
	return diagnose.Result{Status: diagnose.StatusPermerror, Source: &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true, StaleForSeconds: stale}}
}

func fixed() diagnose.Result {
	return diagnose.Result{Status: diagnose.StatusPass, Source: &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true}}
}
