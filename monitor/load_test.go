package monitor_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/pool"
	"github.com/rdnsbot/rdnsbot/store"
)

// TestZonePacing: 201 addresses under one reverse domain (100.64.0.0/16)
// and five under five others, all due at once, at 10 checks a second per
// domain with two workers. The five others are checked at once, not behind
// the busy domain's checks put off; the busy domain gets one check at once
// and then exactly 10 in each second; no check is run twice.
func TestZonePacing(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const busy, rate = 201, 10
			ctx := context.Background()
			clock := clocktest.New(t0)
			checker := newScripted(clock, 1024)
			st := count(tc.new(t), 1024)
			sch := newScheduler(t, st, checker, newRecorder(1), clock, func(c *monitor.Config) {
				c.Interval, c.ZoneRate, c.Concurrency = time.Hour, rate, 2
			})
			zone := addrs(busy)
			var others []netip.Addr
			for i := range 5 {
				others = append(others, netip.AddrFrom4([4]byte{100, byte(65 + i), 0, 1}))
			}
			checker.set(pass("host.example.com"), append(zone, others...)...)
			if err := sch.Add(ctx, monitor.Request{Key: key, User: "U1", Addrs: append(zone, others...)}); err != nil {
				t.Fatal(err)
			}
			// All due, before Run: a first pass before the advance would
			// check the lowest address at once, and book its domain then.
			clock.Advance(time.Hour)
			stop := run(sch)
			defer stop()
			st.settle(t, clock.Now())
			if z, o := checker.total(zone), checker.total(others); z != 1 || o != len(others) {
				t.Fatalf("at once: %d checks in the busy domain, %d in the others; want 1 and %d", z, o, len(others))
			}
			for s := range (busy - 1) / rate {
				before := checker.total(zone)
				clock.Advance(time.Second)
				st.settle(t, clock.Now())
				if got := checker.total(zone) - before; got != rate {
					t.Fatalf("second %d: %d checks in the busy domain; want %d", s+1, got, rate)
				}
			}
			checker.mu.Lock()
			defer checker.mu.Unlock()
			for _, ip := range append(zone, others...) {
				if checker.calls[ip] != 1 {
					t.Fatalf("%s checked %d times; want once", ip, checker.calls[ip])
				}
			}
		})
	}
}

// observer records what a Scheduler reports.
type observer struct {
	mu      sync.Mutex
	lags    []time.Duration
	failed  []string
	backlog chan [2]int
}

func (o *observer) Checked(lag time.Duration, r diagnose.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lags = append(o.lags, lag)
}

func (o *observer) StoreFailed(op string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed = append(o.failed, op)
}

func (o *observer) Backlog(queued, running int) {
	select {
	case o.backlog <- [2]int{queued, running}:
	default:
	}
}

// flaky fails its first MonitorCycle as an unreachable Redis would.
type flaky struct {
	*counting
	once sync.Once
}

func (f *flaky) MonitorCycle(ctx context.Context, now time.Time, done []store.MonitorCompletion, max int, cl, al, g time.Duration) (store.MonitorCycleResult, error) {
	var err error
	f.once.Do(func() { err = store.ErrUnavailable })
	if err != nil {
		return store.MonitorCycleResult{}, err
	}
	return f.counting.MonitorCycle(ctx, now, done, max, cl, al, g)
}

// TestObserver: a failed store pass is reported and retried after the
// backoff; a check reports how late it ran against its due time.
func TestObserver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScripted(clock, 8)
	st := &flaky{counting: count(redisStore(t), 8)}
	obs := &observer{backlog: make(chan [2]int, 1)}
	sch := newScheduler(t, st, checker, newRecorder(1), clock, func(c *monitor.Config) { c.Interval, c.Observer = time.Hour, obs })
	ip := netip.MustParseAddr("192.0.2.30")
	checker.set(pass("mail.example.com"), ip)
	if err := sch.Add(ctx, monitor.Request{Key: key, User: "U1", Addrs: []netip.Addr{ip}}); err != nil {
		t.Fatal(err)
	}
	infos, err := sch.ListChannel(ctx, key.Channel)
	if err != nil || len(infos) != 1 {
		t.Fatalf("ListChannel = %+v, %v", infos, err)
	}
	due := infos[0].NextCheck
	// Before Run: a first pass before the advance would check the address
	// at its due time, 0 s late.
	clock.Advance(due.Sub(clock.Now()) + 90*time.Second)
	stop := run(sch)
	defer stop()
	wait(t, st.recorded, "the check")
	stop()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.failed) != 1 || obs.failed[0] != "monitor cycle" {
		t.Fatalf("store failures %v; want one monitor cycle", obs.failed)
	}
	if len(obs.lags) != 1 || obs.lags[0] != 90*time.Second {
		t.Fatalf("lags %v; want one of 90s", obs.lags)
	}
}

// gated is a Checker whose checks wait until it is opened.
type gated struct {
	*scripted
	open    chan struct{}
	started chan netip.Addr
}

func (g *gated) DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result {
	g.started <- ip
	<-g.open
	return g.scripted.DiagnoseIP(ctx, ip, opts)
}

// TestShutdownGivesBack: with one worker busy, the claims still waiting
// for it at shutdown are given back unchecked, and another replica checks
// them at once, not after their lease; the check running is finished and
// recorded. The backlog reports the claims waiting, then none.
func TestShutdownGivesBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	prefix := server.Prefix()
	g := &gated{scripted: newScripted(clock, 8), open: make(chan struct{}), started: make(chan netip.Addr, 8)}
	pool := addrs(4)
	g.set(pass("host.example.com"), pool...)
	obs := &observer{backlog: make(chan [2]int, 16)}
	stA := count(redisStoreAt(t, prefix), 8)
	a := newScheduler(t, stA, g, newRecorder(1), clock, func(c *monitor.Config) { c.Concurrency, c.Observer = 1, obs })
	if err := a.Add(ctx, monitor.Request{Key: key, User: "U1", Addrs: pool}); err != nil {
		t.Fatal(err)
	}
	stopA := run(a)
	clock.Advance(time.Minute) // all due
	first := wait(t, g.started, "the first check")
	for len(obs.backlog) > 0 { // the passes' reports so far
		<-obs.backlog
	}
	stopped := make(chan struct{})
	go func() {
		stopA()
		close(stopped)
	}()
	b := wait(t, obs.backlog, "the backlog")
	for b[0] > 0 { // the claiming pass's, if it came after the drain above
		b = wait(t, obs.backlog, "the backlog at shutdown")
	}
	if b != [2]int{0, 1} {
		t.Fatalf("backlog at shutdown %v; want none waiting, one running", b)
	}
	close(g.open) // the claims waiting were given back: the check running ends
	wait(t, stopped, "the shutdown")

	stB := count(redisStoreAt(t, prefix), 8)
	replica := newScheduler(t, stB, g, newRecorder(1), clock, nil)
	stopB := run(replica)
	defer stopB()
	for range len(pool) - 1 {
		if ip := wait(t, stB.recorded, "the checks given back"); ip == first {
			t.Fatalf("%s checked again; want only the three given back", ip)
		}
	}
	stopB()
	for _, ip := range pool {
		if g.calls[ip] != 1 {
			t.Fatalf("%s checked %d times; want once", ip, g.calls[ip])
		}
	}
}

// TestZoneBudgetIsShared: a domain whose budget another caller (the bot's
// pool checks) has booked a minute ahead is not checked before that
// minute; a domain left free is checked at once.
func TestZoneBudgetIsShared(t *testing.T) {
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScripted(clock, 16)
	st := count(store.NewMemory(), 16)
	budget := keyrate.New(0)
	booked, free := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("100.65.0.1")
	sch := newScheduler(t, st, checker, newRecorder(1), clock, func(c *monitor.Config) {
		c.Interval, c.ZoneRate, c.ZoneBudget = time.Hour, 10, budget
	})
	checker.set(pass("host.example.com"), booked, free)
	clock.Advance(time.Minute)
	// A pool check's pacer booked the domain's next slot at 12:02.
	budget.Reserve(clock.Now(), keyrate.Key{Name: pool.PaceDomain(booked), Rate: keyrate.Rate{Every: time.Minute}})
	if err := sch.Add(ctx, monitor.Request{Key: key, User: "U1", Addrs: []netip.Addr{booked}}); err != nil {
		t.Fatal(err)
	}
	if err := sch.Add(ctx, monitor.Request{Key: monitor.Key{Channel: "C2", Thread: "2.2"}, User: "U1", Addrs: []netip.Addr{free}}); err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	st.settle(t, clock.Now())
	if b, f := checker.total([]netip.Addr{booked}), checker.total([]netip.Addr{free}); b != 0 || f != 1 {
		t.Fatalf("at 12:01: %d checks of the booked domain, %d of the free one; want 0 and 1", b, f)
	}
	clock.Advance(time.Minute)
	st.settle(t, clock.Now())
	if b := checker.total([]netip.Addr{booked}); b != 1 {
		t.Fatalf("at 12:02, its slot: %d checks of the booked domain; want 1", b)
	}
}
