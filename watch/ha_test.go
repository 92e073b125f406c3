package watch_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// haIPs are the senders the high-availability tests watch: 203.0.113.40 to
// .47, each with a forward name m<n>.example.com but no PTR yet.
const haIPs = 8

func haWorld(withPTRs bool) string {
	var fwd, ptr strings.Builder
	for i := range haIPs {
		fmt.Fprintf(&fwd, "m%d\tA\t203.0.113.%d\n", 40+i, 40+i)
		fmt.Fprintf(&ptr, "%d\tPTR\tm%d.example.com.\n", 40+i, 40+i)
	}
	w := strings.Replace(engineWorld, "mail\tA\t203.0.113.30\n", "mail\tA\t203.0.113.30\n"+fwd.String(), 1)
	if withPTRs {
		w += ptr.String()
	}
	return w
}

// haRun is one bot against a Redis deployment given as a REDIS_URL: the real
// scheduler, store.Open, the real diagnosis engine against in-process DNS
// and a counting announcer. Each IP is watched from two threads.
type haRun struct {
	t     *testing.T
	g     dnstest.Group
	clock *clocktest.Clock
	st    *observed
	ann   *recorder
	sch   *watch.Scheduler
	keys  []watch.Key
}

func startHA(t *testing.T, redisURL string) *haRun {
	t.Helper()
	ctx := context.Background()
	g := dnstest.Start(t, 3)
	if err := g.Load(haWorld(false)); err != nil {
		t.Fatal(err)
	}
	d, err := diagnose.New(diagnose.Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Timeout: 3 * time.Second, QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := store.Open(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	h := &haRun{t: t, g: g, clock: clocktest.New(t0), st: observe(rs, 4*haIPs), ann: newRecorder(4 * haIPs)}
	h.st.failed = make(chan error, 64)
	if h.sch, err = watch.New(watch.Config{Store: h.st, Checker: d, Announcer: h.ann, Clock: h.clock, Concurrency: 2 * haIPs,
		ZoneRate: -1, // the IPs share a zone; pacing is TestZonePacing's, and would need clock steps here
	}); err != nil {
		t.Fatal(err)
	}
	for i := range haIPs {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(40 + i)})
		first := d.DiagnoseIP(ctx, ip, diagnose.Options{})
		if first.Status != diagnose.StatusPermerror {
			t.Fatalf("%v before the fix: %s; want permerror (no PTR)", ip, first.Status)
		}
		for _, ch := range []string{"C1", "C2"} {
			k := watch.Key{IP: ip, Channel: ch, Thread: "1700000000.0001"}
			if err := h.sch.Start(ctx, watch.Request{Key: k, User: "U" + ch, Source: watch.SourceBounce}, first); err != nil {
				t.Fatal(err)
			}
			h.keys = append(h.keys, k)
		}
	}
	return h
}

// fixAndCount publishes the PTRs, lets the rechecks fall due, and waits
// until every thread was told; each time the store reports a failure (a
// failover still settling) the clock moves past the retry. It then checks
// that each thread got exactly one "fixed" message.
func (h *haRun) fixAndCount() {
	t := h.t
	if err := h.g.Load(haWorld(true)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(3 * time.Minute) // past the first recheck (the 120 s negative TTL)
	for told := 0; told < len(h.keys); {
		select {
		case <-h.st.failed:
			h.clock.Advance(time.Minute) // past the backoff
		case <-h.ann.seen:
			told++
		case <-time.After(8 * time.Second): // a hang guard, never what is waited for
			t.Fatalf("%d of %d threads told", told, len(h.keys))
		}
	}
	posted, dups := h.ann.snapshot()
	if len(dups) != 0 {
		t.Fatalf("announced twice: %v", dups)
	}
	perThread := map[watch.Key]int{}
	for _, a := range posted {
		if a.Kind != watch.KindFixed || !a.Result.Fixed() {
			t.Fatalf("announcement %+v; want fixed", a)
		}
		perThread[a.Key]++
	}
	for _, k := range h.keys {
		if perThread[k] != 1 {
			t.Fatalf("thread %v told %d times; want once", k, perThread[k])
		}
	}
}

// TestSentinelFailover: watches are created through a redis+sentinel://
// URL, the master is SIGKILLed, the sentinels promote the replica, then the
// PTRs are fixed: every thread is told exactly once. The watches were
// acknowledged by the replica (WAIT) before the kill, as they would be
// after a moment of normal running: what asynchronous replication can lose
// is only the last writes before a failover (README.md, Reliability).
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	sen := redistest.StartSentinel(t)
	h := startHA(t, sen.URL())
	master := redis.NewClient(&redis.Options{Addr: sen.Master.Addr()})
	defer master.Close()
	if n, err := master.Wait(context.Background(), 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want the replica to have every watch", n, err)
	}
	stop := run(h.sch)
	defer stop()
	old := sen.Master.Addr()
	sen.Master.Kill(t)
	if now := sen.WaitForFailover(t, old); now != sen.Replica.Addr() {
		t.Fatalf("new master %s; want the replica %s", now, sen.Replica.Addr())
	}
	h.fixAndCount()
}

// TestCluster: the same bot on a three-master redis+cluster:// deployment.
// Every key of the store carries the {rd} hash tag, so all of them live in
// one slot on one node and each script runs there (a key outside the slot
// would fail with CROSSSLOT): this proves the scripts are cluster-safe and
// that losing a node that does not hold that slot (SIGKILLed here before
// anything is written) costs the bot nothing. It does not make the bot's
// data more available than its one node: give that node replicas (or use
// Sentinel) for failover.
func TestCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t)
	ours := cl.NodeFor(t, "{rd}:wait")
	for _, n := range cl.Nodes {
		if n != ours {
			n.Kill(t)
			break
		}
	}
	h := startHA(t, cl.URL())
	stop := run(h.sch)
	defer stop()
	h.fixAndCount()
	keys, err := redis.NewClient(&redis.Options{Addr: ours.Addr()}).Keys(context.Background(), "*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("keys on the {rd} node: %v, %v; want the store's", keys, err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "{rd}:") {
			t.Fatalf("key %q outside the {rd} hash tag", k)
		}
	}
}
