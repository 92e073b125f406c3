package monitor_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/store"
)

// server is this package's shared redis-server; tests use a prefix each.
var server *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, redistest.Options{}, func(s *redistest.Server) { server = s })
}

func redisStore(tb testing.TB) *store.Redis { return redisStoreAt(tb, server.Prefix()) }

// redisStoreAt is one replica's connection to the keys under prefix.
func redisStoreAt(tb testing.TB, prefix string) *store.Redis {
	tb.Helper()
	c, err := store.NewClient(server.URL())
	if err != nil {
		tb.Fatal(err)
	}
	st := store.NewRedis(c, prefix)
	tb.Cleanup(func() { st.Close() })
	return st
}

// stores are the two implementations every scheduler test runs on.
var stores = []struct {
	name string
	new  func(t *testing.T) monitor.Store
}{
	{"redis", func(t *testing.T) monitor.Store { return redisStore(t) }},
	{"memory", func(t *testing.T) monitor.Store { return store.NewMemory() }},
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// wait receives from ch or fails; the timeout only guards against a hang.
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

// scripted answers each IP with its current result and reports each check.
type scripted struct {
	mu    sync.Mutex
	now   func() time.Time
	res   map[netip.Addr]diagnose.Result
	calls map[netip.Addr]int
	seen  chan netip.Addr
}

func newScripted(clock *clocktest.Clock, buffer int) *scripted {
	return &scripted{now: clock.Now, res: map[netip.Addr]diagnose.Result{}, calls: map[netip.Addr]int{}, seen: make(chan netip.Addr, buffer)}
}

func (c *scripted) set(r diagnose.Result, ips ...netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ip := range ips {
		c.res[ip] = r
	}
}

func (c *scripted) DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result {
	c.mu.Lock()
	r, ok := c.res[ip]
	c.calls[ip]++
	c.mu.Unlock()
	if !ok {
		r = diagnose.Result{Status: diagnose.StatusTemperror}
	}
	r.IP, r.CheckedAt = ip.String(), c.now()
	c.seen <- ip
	return r
}

// total is how many checks c ran of ips (nil: of all).
func (c *scripted) total(ips []netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for ip, k := range c.calls {
		if ips == nil || slices.Contains(ips, ip) {
			n += k
		}
	}
	return n
}

// recorder is an Announcer that keeps what it posted by idempotency key,
// looks before posting as the Slack poster does, and can fail on demand.
type recorder struct {
	mu     sync.Mutex
	posted map[string]monitor.Announcement
	dups   int
	fail   func(monitor.Announcement) bool
	seen   chan monitor.Announcement
}

func newRecorder(buffer int) *recorder {
	return &recorder{posted: map[string]monitor.Announcement{}, seen: make(chan monitor.Announcement, buffer)}
}

var errSlackDown = errors.New("slack: 500")

func (r *recorder) AnnounceChanges(ctx context.Context, a monitor.Announcement) error {
	r.mu.Lock()
	if r.fail != nil && r.fail(a) {
		r.mu.Unlock()
		r.seen <- a
		return errSlackDown
	}
	if _, dup := r.posted[a.IdempotencyKey]; dup {
		r.dups++
	}
	r.posted[a.IdempotencyKey] = a
	r.mu.Unlock()
	r.seen <- a
	return nil
}

// kinds counts the changes posted, by kind.
func (r *recorder) kinds() (map[monitor.ChangeKind]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[monitor.ChangeKind]int{}
	for _, a := range r.posted {
		for _, c := range a.Changes {
			out[c.Kind]++
		}
	}
	return out, r.dups
}

// counting wraps a store to report each recorded check and each recorded
// post, and to tell when the scheduler has done all that was due (settle).
type counting struct {
	monitor.Store
	recorded chan netip.Addr
	posted   chan string

	mu        sync.Mutex
	logClaims bool                 // keep every claim in claimed
	claimed   []store.MonitorClaim // with logClaims
	held      int                  // claims handed out and not completed since
	idleAt    time.Time            // the now of the last pass after which nothing was held or due
	idle      chan struct{}
}

func count(st monitor.Store, buffer int) *counting {
	return &counting{Store: st, recorded: make(chan netip.Addr, buffer), posted: make(chan string, buffer), idle: make(chan struct{}, 1)}
}

func (c *counting) MonitorCycle(ctx context.Context, now time.Time, done []store.MonitorCompletion, max int, cl, al, g time.Duration) (store.MonitorCycleResult, error) {
	res, err := c.Store.MonitorCycle(ctx, now, done, max, cl, al, g)
	if err != nil {
		return res, err
	}
	for i, d := range done {
		if res.Completed[i] == nil {
			c.recorded <- d.Claim.IP
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logClaims {
		c.claimed = append(c.claimed, res.Claims...)
	}
	c.held += len(res.Claims) - len(done)
	if c.held == 0 && len(res.Announcements) == 0 && (res.Next.IsZero() || res.Next.After(now)) && !now.Before(c.idleAt) {
		c.idleAt = now
		select {
		case c.idle <- struct{}{}:
		default:
		}
	}
	return res, err
}

// settle waits until the scheduler has checked everything due at at (the
// clock's time, which a timer or an Add made it see): a pass at at after
// which nothing was held and nothing was due.
func (c *counting) settle(t *testing.T, at time.Time) {
	t.Helper()
	for {
		c.mu.Lock()
		done := !c.idleAt.Before(at)
		c.mu.Unlock()
		if done {
			return
		}
		wait(t, c.idle, "the checks due at "+at.Format(time.TimeOnly))
	}
}

func (c *counting) MarkMonitorPosted(ctx context.Context, p store.MonitorPending) error {
	err := c.Store.MarkMonitorPosted(ctx, p)
	if err == nil {
		c.posted <- p.IdempotencyKey
	}
	return err
}

// run starts s; stop stops it and waits.
func run(s *monitor.Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

func pass(names ...string) diagnose.Result {
	return diagnose.Result{Status: diagnose.StatusPass, PTRNames: names, ConfirmedName: names[0]}
}

func permerror() diagnose.Result { return diagnose.Result{Status: diagnose.StatusPermerror} }

// addrs returns n addresses of 100.64.0.0/10.
func addrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
	}
	return out
}
