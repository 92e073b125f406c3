package watch_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// ips returns n distinct addresses from 100.64.0.0/10.
func ips(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
	}
	return out
}

// replica is one bot process: its own Redis connection and scheduler.
func replica(t *testing.T, srv *redistest.Server, prefix string, clock watch.Clock, c watch.Checker, a watch.Announcer, completed chan netip.Addr, failed chan error) *watch.Scheduler {
	t.Helper()
	cl, err := store.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewRedis(cl, prefix)
	t.Cleanup(func() { st.Close() })
	sch, err := watch.New(watch.Config{
		Store:   &observed{Store: st, completed: completed, failed: failed},
		Checker: c, Announcer: a, Clock: clock, Concurrency: 8,
		Caps: watch.Caps{PerChannel: -1, PerUser: -1, Total: -1}, // hundreds of watches in one channel
	})
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// TestTwoReplicas: two schedulers on one Redis, 500 IPs each watched from
// two threads (1,000 watches). Every due recheck runs exactly once and every
// thread gets exactly one "fixed" message.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	const nIPs = 500
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, 2*nIPs)
	ann := newRecorder(2 * nIPs)
	completed := make(chan netip.Addr, 2*nIPs)
	failed := make(chan error, 1)
	prefix := server.Prefix()
	a := replica(t, server, prefix, clock, checker, ann, completed, failed)
	b := replica(t, server, prefix, clock, checker, ann, completed, failed)
	addrs := ips(nIPs)
	for i, ip := range addrs {
		checker.script(ip, failing(diagnose.StatusPermerror), fixed())
		for _, thread := range []string{"1.1", "2.2"} {
			w := watch.Request{Key: watch.Key{IP: ip, Channel: "C1", Thread: thread}, User: "U" + string(rune('A'+i%26)), Source: watch.SourceBounce}
			if err := a.Start(ctx, w, failing(diagnose.StatusPermerror)); err != nil {
				t.Fatalf("Start: %v", err)
			}
		}
	}
	stopA, stopB := run(a), run(b)
	defer stopA()
	defer stopB()

	clock.Advance(time.Minute) // every IP due: fails
	for range nIPs {
		wait(t, completed, "first rechecks")
	}
	clock.Advance(2 * time.Minute) // due again: fixed
	for range nIPs {
		wait(t, completed, "second rechecks")
	}
	for range 2 * nIPs {
		wait(t, ann.seen, "fixed announcements")
	}
	stopA()
	stopB()

	for _, ip := range addrs {
		if n := checker.count(ip); n != 2 {
			t.Fatalf("%v checked %d times; want 2", ip, n)
		}
	}
	posted, dups := ann.snapshot()
	if len(posted) != 2*nIPs || len(dups) != 0 {
		t.Fatalf("%d distinct announcements, duplicates %v; want %d, none", len(posted), dups, 2*nIPs)
	}
	for _, p := range posted {
		if p.Kind != watch.KindFixed || p.Attempt != 1 {
			t.Fatalf("announcement %+v; want fixed, first attempt", p)
		}
	}
}

// blockingChecker hangs until released, like a replica that died mid-check.
type blockingChecker struct {
	started, release chan struct{}
}

func (c blockingChecker) DiagnoseIP(ctx context.Context, ip netip.Addr, _ diagnose.Options) diagnose.Result {
	c.started <- struct{}{}
	<-c.release
	return fixed()
}

// TestReplicaDiesMidCheck: the IP a dead replica had claimed is checked by
// another once the lease runs out, and announced once; the dead replica's
// late outcome is refused.
func TestReplicaDiesMidCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	prefix := server.Prefix()
	completed := make(chan netip.Addr, 4)
	failed := make(chan error, 1)
	dead := blockingChecker{started: make(chan struct{}, 1), release: make(chan struct{})}
	ann := newRecorder(4)
	a := replica(t, server, prefix, clock, dead, ann, completed, failed)
	live := newScriptedChecker(clock, 4)
	live.script(ip1, fixed())
	b := replica(t, server, prefix, clock, live, ann, completed, failed)

	if err := a.Start(ctx, watch.Request{Key: key("C1", "1.1"), User: "U1", Source: watch.SourceCommand}, failing(diagnose.StatusFail)); err != nil {
		t.Fatal(err)
	}
	haltA, waitA := runHalt(a)
	clock.Advance(time.Minute)
	wait(t, dead.started, "the doomed check")
	haltA() // replica A is gone: it claims nothing more
	stopB := run(b)
	defer stopB()
	clock.Advance(2 * time.Minute) // the lease (2m) runs out
	wait(t, live.seen, "the check on the live replica")
	if a := wait(t, ann.seen, "fixed"); a.Kind != watch.KindFixed {
		t.Fatalf("announcement = %+v; want fixed", a)
	}
	close(dead.release) // the dead replica's outcome arrives late
	waitA()
	stopB()
	if posted, dups := ann.snapshot(); len(posted) != 1 || len(dups) != 0 {
		t.Fatalf("posted %d, duplicates %v; want one fixed message", len(posted), dups)
	}
}

// TestRedisRestart: Redis is SIGKILLed with watches due and comes back
// (append-only file): nothing acknowledged is lost and the scheduler
// recovers by itself.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	const n = 50
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	clock := clocktest.New(t0)
	checker := newScriptedChecker(clock, n)
	ann := newRecorder(n)
	completed := make(chan netip.Addr, n)
	failed := make(chan error, 1)
	sch := replica(t, srv, "", clock, checker, ann, completed, failed)
	addrs := ips(n)
	for _, ip := range addrs {
		checker.script(ip, fixed())
		if err := sch.Start(ctx, watch.Request{Key: watch.Key{IP: ip, Channel: "C1", Thread: "1.1"}, User: "U1", Source: watch.SourceBounce}, failing(diagnose.StatusPermerror)); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(sch)
	defer stop()
	srv.Kill(t)
	clock.Advance(time.Minute)
	if err := wait(t, failed, "the scheduler to notice"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("store error = %v; want ErrUnavailable", err)
	}
	srv.Restart(t)
	clock.Advance(time.Minute) // past the retry backoff
	for range n {
		wait(t, ann.seen, "fixed announcements")
	}
	stop()
	posted, dups := ann.snapshot()
	if len(posted) != n || len(dups) != 0 {
		t.Fatalf("posted %d, duplicates %v; want %d once each", len(posted), dups, n)
	}
	for _, ip := range addrs {
		if c := checker.count(ip); c != 1 {
			t.Fatalf("%v checked %d times; want 1", ip, c)
		}
	}
}
