package watch_test

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
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// onBackends runs test in parallel on a Redis and a memory store.
func onBackends(t *testing.T, test func(t *testing.T, backing watch.Store)) {
	t.Parallel()
	for name, backing := range map[string]func(*testing.T) watch.Store{
		"redis":  func(t *testing.T) watch.Store { return redisStore(t, server) },
		"memory": func(*testing.T) watch.Store { return store.NewMemory() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, backing(t))
		})
	}
}

var noCaps = watch.Caps{PerChannel: -1, PerUser: -1, Total: -1}

// TestFairAcrossChannels: channel A floods the scheduler with n due IPs;
// channel B's one IP falls due after all of them. With two channels busy,
// B's fair share is every second check: it must be checked within the first
// 2×2 checks, counted in the order the checks ran (one at a time), never
// after A's flood.
func TestFairAcrossChannels(t *testing.T) {
	const n = 60
	onBackends(t, func(t *testing.T, backing watch.Store) {
		ctx := context.Background()
		clock := clocktest.New(t0)
		checker := newScriptedChecker(clock, n+1)
		sch, err := watch.New(watch.Config{Store: backing, Checker: checker, Announcer: newRecorder(1), Clock: clock,
			Concurrency: 1, Caps: noCaps})
		if err != nil {
			t.Fatal(err)
		}
		flood := ips(n)
		for _, ip := range flood {
			if err := sch.Start(ctx, watch.Request{Key: watch.Key{IP: ip, Channel: "CA", Thread: "1.1"}, User: "UA", Source: watch.SourceBounce}, failing(diagnose.StatusPermerror)); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Second)
		other := netip.MustParseAddr("192.0.2.99")
		if err := sch.Start(ctx, watch.Request{Key: watch.Key{IP: other, Channel: "CB", Thread: "2.2"}, User: "UB", Source: watch.SourceCommand}, failing(diagnose.StatusFail)); err != nil {
			t.Fatal(err)
		}
		stop := run(sch)
		defer stop()
		clock.Advance(2 * time.Minute) // all n+1 due; B's last
		var order []netip.Addr
		for range n + 1 {
			order = append(order, wait(t, checker.seen, "a check"))
		}
		stop()
		pos := slices.Index(order, other) + 1
		if pos < 1 || pos > 4 {
			t.Fatalf("channel B checked at position %d of %d; want within the first 4 (twice its fair share)", pos, n+1)
		}
	})
}

// TestCaps: Start says which cap stopped a watch and its value; a watch
// over no cap still starts.
func TestCaps(t *testing.T) {
	onBackends(t, func(t *testing.T, backing watch.Store) {
		ctx := context.Background()
		clock := clocktest.New(t0)
		sch, err := watch.New(watch.Config{Store: backing, Checker: newScriptedChecker(clock, 1), Announcer: newRecorder(1), Clock: clock,
			Caps: watch.Caps{PerChannel: 2, PerUser: 3, Total: 4}})
		if err != nil {
			t.Fatal(err)
		}
		addrs := ips(6)
		for i, tc := range []struct {
			channel, user string
			want          string // "" when it starts
		}{
			{"C1", "U1", ""},
			{"C1", "U1", ""},
			{"C1", "U2", "watch: cap reached: at most 2 watches per channel"},
			{"C2", "U1", ""},
			{"C3", "U1", "watch: cap reached: at most 3 watches per user"},
			{"C3", "U3", ""},
			{"C4", "U4", "watch: cap reached: at most 4 watches in total"},
		} {
			err := sch.Start(ctx, watch.Request{Key: watch.Key{IP: addrs[i%len(addrs)], Channel: tc.channel, Thread: "1.1"}, User: tc.user, Source: watch.SourceBounce},
				failing(diagnose.StatusPermerror))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("watch %d: %v", i, err)
				}
				continue
			}
			var ce *watch.CapError
			if !errors.Is(err, watch.ErrCapped) || !errors.As(err, &ce) || ce.Error() != tc.want {
				t.Fatalf("watch %d: %v; want %q", i, err, tc.want)
			}
		}
		if n, err := sch.ActiveWatches(ctx); err != nil || n != 4 {
			t.Fatalf("ActiveWatches = %d, %v; want 4", n, err)
		}
	})
}

// TestZonePacing: three watched IPs in one reverse zone and one in another
// fall due together. At one recheck a second per zone, one of the three is
// checked at once with the other zone's, the next a second later, the last
// two seconds later: counted checks at each clock step.
func TestZonePacing(t *testing.T) {
	onBackends(t, func(t *testing.T, backing watch.Store) {
		ctx := context.Background()
		clock := clocktest.New(t0)
		checker := newScriptedChecker(clock, 8)
		st := observe(backing, 8)
		sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: newRecorder(1), Clock: clock, ZoneRate: 1})
		if err != nil {
			t.Fatal(err)
		}
		addrs := ips(4)
		zone := map[netip.Addr]string{addrs[0]: "64.100.in-addr.arpa", addrs[1]: "64.100.in-addr.arpa", addrs[2]: "64.100.in-addr.arpa", addrs[3]: "elsewhere.in-addr.arpa"}
		for _, ip := range addrs {
			first := failing(diagnose.StatusPermerror)
			first.ReverseZone = zone[ip]
			checker.script(ip, first)
			if err := sch.Start(ctx, watch.Request{Key: watch.Key{IP: ip, Channel: "C1", Thread: "1.1"}, User: "U1", Source: watch.SourceBounce}, first); err != nil {
				t.Fatal(err)
			}
		}
		stop := run(sch)
		defer stop()
		checked := func() (same, other int) {
			for _, ip := range addrs[:3] {
				same += checker.count(ip)
			}
			return same, checker.count(addrs[3])
		}
		clock.Advance(time.Minute)
		for range 4 { // two checks, two put off
			wait(t, st.completed, "the first round recorded")
		}
		if same, other := checked(); same != 1 || other != 1 {
			t.Fatalf("at 12:01: %d checks in the paced zone, %d in the other; want 1 and 1", same, other)
		}
		for step, want := range []int{2, 3} {
			clock.Advance(time.Second)
			wait(t, st.completed, "a paced check")
			if same, _ := checked(); same != want {
				t.Fatalf("%ds later: %d checks in the paced zone; want %d", step+1, same, want)
			}
		}
	})
}

// lagObserver records what the scheduler reports.
type lagObserver struct {
	mu     sync.Mutex
	lags   []time.Duration
	status []diagnose.Status
	ops    []string
}

func (o *lagObserver) Rechecked(lag time.Duration, r diagnose.Result) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lags, o.status = append(o.lags, lag), append(o.status, r.Status)
}

func (o *lagObserver) StoreFailed(op string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if errors.Is(err, store.ErrUnavailable) {
		o.ops = append(o.ops, op)
	}
}

// TestObserver: each recheck is reported with how late it ran against its
// due time, and each failed store call with its operation.
func TestObserver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 2)
	checker.script(ip1, failing(diagnose.StatusFail))
	obs := &lagObserver{}
	st := observe(&flaky{Store: store.NewMemory()}, 2)
	sch, err := watch.New(watch.Config{Store: st, Checker: checker, Announcer: newRecorder(1), Clock: clock, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Start(ctx, watch.Request{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceBounce}, failing(diagnose.StatusFail)); err != nil {
		t.Fatal(err)
	}
	stop := run(sch)
	defer stop()
	clock.Advance(time.Minute + 30*time.Second) // due at 12:01, run at 12:01:30
	wait(t, checker.seen, "the check")
	wait(t, st.failed, "the store to fail")
	clock.Advance(time.Second)
	wait(t, st.completed, "the outcome recorded")
	stop()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Equal(obs.lags, []time.Duration{30 * time.Second}) || !slices.Equal(obs.status, []diagnose.Status{diagnose.StatusFail}) {
		t.Fatalf("Rechecked got lags %v statuses %v; want one fail 30s late", obs.lags, obs.status)
	}
	if !slices.Equal(obs.ops, []string{"cycle"}) {
		t.Fatalf("StoreFailed got %v; want one cycle", obs.ops)
	}
}
