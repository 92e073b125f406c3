package monitor_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/monitor"
)

// brokenAtSource is a PTR removed everywhere: the authoritative servers
// confirm it in one check.
func brokenAtSource() diagnose.Result {
	return diagnose.Result{Status: diagnose.StatusPermerror, Source: &diagnose.SourceCheck{Status: diagnose.StatusPermerror, Agree: true,
		Servers: []diagnose.ServerAnswer{{Zone: "2.0.192.in-addr.arpa", Server: "ns1.example.net", Address: "192.0.2.53"}}}}
}

// TestTwoReplicas: two schedulers on one Redis, 300 addresses in two
// monitors. Every address regresses: each regression is announced exactly
// once, in messages of one monitor each.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	const n = 300
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScripted(clock, 4*n)
	ann := newRecorder(n)
	prefix := server.Prefix()
	replica := func() (*monitor.Scheduler, *counting) {
		c := count(redisStoreAt(t, prefix), 4*n)
		return newScheduler(t, c, checker, ann, clock, func(c *monitor.Config) { c.Interval = time.Hour; c.Gather = time.Minute }), c
	}
	a, sa := replica()
	b, sb := replica()
	pool := addrs(n)
	for i, part := range [][]netip.Addr{pool[:n/2], pool[n/2:]} {
		base := make([]diagnose.Result, len(part))
		for j, ip := range part {
			base[j] = pass("host.example.com")
			base[j].IP = ip.String()
		}
		if err := a.Add(ctx, monitor.Request{Key: monitor.Key{Channel: "C1", Thread: []string{"1.1", "2.2"}[i]}, User: "U1", Addrs: part, Baseline: base}); err != nil {
			t.Fatal(err)
		}
	}
	checker.set(brokenAtSource(), pool...)
	stopA, stopB := run(a), run(b)
	defer stopA()
	defer stopB()
	clock.Advance(time.Hour) // every address due at least once
	for range n {
		select {
		case <-sa.recorded:
		case <-sb.recorded:
		case <-time.After(20 * time.Second):
			t.Fatal("timed out waiting for checks")
		}
	}
	clock.Advance(2 * time.Minute) // gathered: post
	changes := 0
	for changes < n {
		changes += len(wait(t, ann.seen, "announcements").Changes)
	}
	stopA()
	stopB()
	seen := map[netip.Addr]int{}
	for _, an := range ann.posted {
		for _, c := range an.Changes {
			if c.Kind != monitor.ChangeRegression {
				t.Fatalf("change %+v; want a regression", c)
			}
			seen[c.IP]++
		}
	}
	if len(seen) != n || ann.dups != 0 {
		t.Fatalf("%d addresses announced, %d duplicate posts; want %d, none", len(seen), ann.dups, n)
	}
	for ip, k := range seen {
		if k != 1 {
			t.Fatalf("%s announced %d times", ip, k)
		}
	}
}

// TestRestartMidAnnouncement: a post reaches Slack but the scheduler dies
// before recording it; the next scheduler claims it again after the lease
// with Attempt 2 and the same key, so the poster finds its message: one
// message in the thread.
func TestRestartMidAnnouncement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := clocktest.New(t0)
	checker := newScripted(clock, 8)
	ann := newRecorder(8)
	prefix := server.Prefix()
	ip := netip.MustParseAddr("192.0.2.20")
	stA := count(redisStoreAt(t, prefix), 8)
	// The first attempt posts, then the process "dies" before MarkPosted:
	// the error keeps it unrecorded.
	ann.fail = func(a monitor.Announcement) bool {
		if a.Attempt == 1 {
			ann.posted[a.IdempotencyKey] = a
			return true
		}
		return false
	}
	a := newScheduler(t, stA, checker, ann, clock, nil)
	base := pass("mail.example.com")
	base.IP = ip.String()
	if err := a.Add(ctx, monitor.Request{Key: key, User: "U1", Addrs: []netip.Addr{ip}, Baseline: []diagnose.Result{base}}); err != nil {
		t.Fatal(err)
	}
	checker.set(brokenAtSource(), ip)
	stopA := run(a)
	clock.Advance(time.Minute) // the address's phase came
	wait(t, stA.recorded, "check")
	first := wait(t, ann.seen, "first attempt")
	stopA()

	stB := count(redisStoreAt(t, prefix), 8)
	b := newScheduler(t, stB, checker, ann, clock, nil)
	stopB := run(b)
	defer stopB()
	clock.Advance(time.Minute) // the announce lease ends
	second := wait(t, ann.seen, "second attempt")
	wait(t, stB.posted, "recorded")
	stopB()
	if first.Attempt != 1 || second.Attempt != 2 || first.IdempotencyKey != second.IdempotencyKey {
		t.Fatalf("attempts %d, %d with keys %q, %q; want 1 then 2, one key", first.Attempt, second.Attempt, first.IdempotencyKey, second.IdempotencyKey)
	}
	if kinds, dups := ann.kinds(); len(ann.posted) != 1 || kinds[monitor.ChangeRegression] != 1 || dups != 1 {
		t.Fatalf("%d messages %v (%d found by key); want one regression, found once on retry", len(ann.posted), kinds, dups)
	}
}
