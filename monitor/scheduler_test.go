package monitor_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/watch"
)

var key = monitor.Key{Channel: "C1", Thread: "1700000000.000100"}

func newScheduler(t *testing.T, st monitor.Store, c monitor.Checker, a monitor.Announcer, clock watch.Clock, edit func(*monitor.Config)) *monitor.Scheduler {
	t.Helper()
	// Unpaced: these tests are about what is checked when, not pacing
	// (TestZonePacing).
	cfg := monitor.Config{Store: st, Checker: c, Announcer: a, Clock: clock, Interval: time.Minute, Gather: -1, Concurrency: 8, ZoneRate: -1}
	if edit != nil {
		edit(&cfg)
	}
	s, err := monitor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConfirmedChanges: without authoritative servers to ask, a change is
// announced when two consecutive checks agree: a one-check flap is not, a
// PTR removed is one regression, restored one recovery, renamed one
// ptr_changed.
func TestConfirmedChanges(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clocktest.New(t0)
			checker := newScripted(clock, 16)
			ann := newRecorder(8)
			st := count(tc.new(t), 16)
			ip := netip.MustParseAddr("192.0.2.10")
			sch := newScheduler(t, st, checker, ann, clock, nil)
			checker.set(pass("mail.example.com"), ip)
			base := pass("mail.example.com")
			base.IP = ip.String()
			if err := sch.Add(ctx, monitor.Request{Key: key, User: "U1", Targets: []string{"192.0.2.10"}, Addrs: []netip.Addr{ip}, Baseline: []diagnose.Result{base}}); err != nil {
				t.Fatal(err)
			}
			// Before Run: a first pass before the advance would check the address
			// at 12:00 and again at 12:01, one check more than the test counts.
			clock.Advance(time.Minute) // the address's phase came
			stop := run(sch)
			defer stop()
			wait(t, st.recorded, "first check")
			step := func(r diagnose.Result, want monitor.ChangeKind) {
				t.Helper()
				checker.set(r, ip)
				clock.Advance(time.Minute)
				wait(t, st.recorded, "check")
				if want != "" {
					a := wait(t, ann.seen, string(want))
					if len(a.Changes) != 1 || a.Changes[0].Kind != want || a.Changes[0].IP != ip {
						t.Fatalf("announcement %+v; want one %s", a, want)
					}
					wait(t, st.posted, "posted")
				}
			}
			step(permerror(), "")              // a flap...
			step(pass("mail.example.com"), "") // ...is not announced
			step(permerror(), "")              // unconfirmed
			step(permerror(), monitor.ChangeRegression)
			step(permerror(), "") // no change, nothing
			step(pass("mail.example.com"), "")
			step(pass("mail.example.com"), monitor.ChangeRecovery)
			step(pass("mx.example.com"), "")
			step(pass("mx.example.com"), monitor.ChangePTRChanged)
			sibling := func(s diagnose.Status) diagnose.Result {
				r := pass("mx.example.com")
				r.Siblings = []diagnose.Sibling{{IP: "2001:db8::25", Status: s, Host: "mx.example.com"}}
				return r
			}
			step(sibling(diagnose.StatusTemperror), "") // not an answer about the sibling
			step(sibling(diagnose.StatusTemperror), "")
			step(sibling(diagnose.StatusPermerror), "")
			step(sibling(diagnose.StatusPermerror), monitor.ChangeSiblingBroke)
			step(sibling(diagnose.StatusPass), "")
			step(sibling(diagnose.StatusPass), monitor.ChangeSiblingRecovered)
			stop()
			kinds, dups := ann.kinds()
			want := map[monitor.ChangeKind]int{monitor.ChangeRegression: 1, monitor.ChangeRecovery: 1, monitor.ChangePTRChanged: 1,
				monitor.ChangeSiblingBroke: 1, monitor.ChangeSiblingRecovered: 1}
			if len(kinds) != len(want) || dups != 0 {
				t.Fatalf("posted %v (%d duplicates); want %v", kinds, dups, want)
			}
			for k, n := range want {
				if kinds[k] != n {
					t.Fatalf("posted %v; want %v", kinds, want)
				}
			}
		})
	}
}

// TestTemperrorIsNotARegression: DNS not answering is never a regression;
// after UnansweredAfter one notice, and one when it answers again.
func TestTemperrorIsNotARegression(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clocktest.New(t0)
			checker := newScripted(clock, 16)
			ann := newRecorder(8)
			st := count(tc.new(t), 16)
			ip := netip.MustParseAddr("192.0.2.11")
			sch := newScheduler(t, st, checker, ann, clock, func(c *monitor.Config) { c.UnansweredAfter = 3 * time.Minute })
			checker.set(pass("mail.example.com"), ip)
			if err := sch.Add(ctx, monitor.Request{Key: key, User: "U1", Addrs: []netip.Addr{ip}}); err != nil {
				t.Fatal(err)
			}
			// Before Run: a first pass before the advance would check the address
			// at 12:00 and again at 12:01, one check more than the test counts.
			clock.Advance(time.Minute)
			stop := run(sch)
			defer stop()
			wait(t, st.recorded, "baseline check")
			checker.set(diagnose.Result{Status: diagnose.StatusTemperror}, ip)
			for i := range 6 { // temperror from 12:02 on; the notice is due at 12:05
				clock.Advance(time.Minute)
				wait(t, st.recorded, "temperror check")
				if i == 3 {
					if a := wait(t, ann.seen, "unanswered"); len(a.Changes) != 1 || a.Changes[0].Kind != monitor.ChangeDNSUnanswered || !a.Changes[0].Since.Equal(t0.Add(2*time.Minute)) {
						t.Fatalf("announcement %+v; want dns_unanswered since 12:02", a)
					}
					wait(t, st.posted, "posted")
				}
			}
			checker.set(pass("mail.example.com"), ip)
			clock.Advance(time.Minute)
			wait(t, st.recorded, "answer again")
			if a := wait(t, ann.seen, "back"); len(a.Changes) != 1 || a.Changes[0].Kind != monitor.ChangeDNSBack {
				t.Fatalf("announcement %+v; want dns_back alone", a)
			}
			wait(t, st.posted, "posted")
			stop()
			kinds, _ := ann.kinds()
			if len(kinds) != 2 || kinds[monitor.ChangeDNSUnanswered] != 1 || kinds[monitor.ChangeDNSBack] != 1 {
				t.Fatalf("posted %v; want one dns_unanswered and one dns_back", kinds)
			}
		})
	}
}

// TestCaps: monitored addresses count against the per-channel and total
// caps; addresses already monitored do not count twice; a refusal adds none.
func TestCaps(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clocktest.New(t0)
			st := tc.new(t)
			sch := newScheduler(t, st, newScripted(clock, 64), newRecorder(1), clock, func(c *monitor.Config) { c.Caps = monitor.Caps{PerChannel: 10, Total: 15} })
			a := addrs(20)
			add := func(ch string, ips []netip.Addr) error {
				return sch.Add(ctx, monitor.Request{Key: monitor.Key{Channel: ch, Thread: "1.1"}, User: "U1", Addrs: ips})
			}
			var ce *monitor.CapError
			for _, c := range []struct {
				ch    string
				ips   []netip.Addr
				scope watch.CapScope // "" for success
			}{
				{"C1", a[:8], ""},
				{"C1", a[:8], ""}, // the same again: nothing new
				{"C1", a[5:11], watch.CapPerChannel},
				{"C1", a[5:10], ""}, // 10 in C1
				{"C2", a[10:16], watch.CapTotal},
				{"C2", a[10:15], ""}, // 15 in total
				{"C3", a[15:16], watch.CapTotal},
			} {
				err := add(c.ch, c.ips)
				switch {
				case c.scope == "" && err != nil:
					t.Fatalf("add %s %d: %v", c.ch, len(c.ips), err)
				case c.scope != "" && (!errors.As(err, &ce) || ce.Scope != c.scope || !errors.Is(err, monitor.ErrCapped)):
					t.Fatalf("add %s %d: %v; want the cap %s", c.ch, len(c.ips), err, c.scope)
				}
			}
			for ch, want := range map[string]int{"C1": 10, "C2": 5, "C3": 0} {
				infos, err := sch.ListChannel(ctx, ch)
				got := 0
				for _, in := range infos {
					got += in.Addresses
				}
				if err != nil || got != want {
					t.Fatalf("%s: %d addresses (%v); want %d", ch, got, err, want)
				}
			}
			if n, err := sch.Remove(ctx, monitor.Key{Channel: "C1", Thread: "1.1"}, a[:3]); err != nil || n != 3 {
				t.Fatalf("Remove = %d, %v; want 3", n, err)
			}
			if err := add("C3", a[15:18]); err != nil {
				t.Fatalf("after removing 3: %v", err)
			}
			if n, err := sch.Remove(ctx, monitor.Key{Channel: "C3", Thread: "1.1"}, nil); err != nil || n != 3 {
				t.Fatalf("Remove all = %d, %v; want 3", n, err)
			}
			if infos, err := sch.ListUser(ctx, "U1"); err != nil || len(infos) != 2 {
				t.Fatalf("ListUser = %+v, %v; want the monitors of C1 and C2", infos, err)
			}
		})
	}
}

// TestSpread: the phase rule spreads checks evenly over the interval
// however the addresses came: a thread's /22 added as three /24s ten
// minutes apart and then 256 single addresses, and another channel's
// monitor of the same /22 added at once, are checked 128 times in each
// sixteenth of an hour (64 for each monitor) once every address has had its
// first check.
func TestSpread(t *testing.T) {
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n, parts = 1024, 16
			ctx := context.Background()
			clock := clocktest.New(t0)
			checker := newScripted(clock, 1<<14)
			st := count(tc.new(t), 1<<14)
			st.logClaims = true
			sch := newScheduler(t, st, checker, newRecorder(1), clock, func(c *monitor.Config) { c.Interval = time.Hour; c.Caps.PerChannel = -1 })
			pool := addrs(n)
			checker.set(pass("host.example.com"), pool...)
			stop := run(sch)
			defer stop()
			a, b := monitor.Key{Channel: "C1", Thread: "1.1"}, monitor.Key{Channel: "C2", Thread: "2.2"}
			add := func(k monitor.Key, ips []netip.Addr) {
				t.Helper()
				if err := sch.Add(ctx, monitor.Request{Key: k, User: "U1", Addrs: ips}); err != nil {
					t.Fatal(err)
				}
			}
			slice := time.Hour / parts
			step := func() int { // to the end of the next slice: the checks due in it
				t.Helper()
				before := checker.total(nil)
				clock.Advance(slice)
				st.settle(t, clock.Now())
				return checker.total(nil) - before
			}
			for q := range 3 {
				add(a, pool[q*256:(q+1)*256])
				step()
				step()
			}
			for _, ip := range pool[768:] {
				add(a, []netip.Addr{ip})
			}
			add(b, pool)
			for range 2*parts - 6 { // every address had its first check by 2h
				step()
			}
			for k := range parts {
				if got := step(); got != 2*n/parts {
					t.Fatalf("slice %d of the third hour: %d checks; want %d", k, got, 2*n/parts)
				}
			}
			// Within a slice too: each monitor's checks come one every
			// Interval/1024 (3.515625 s: 3515 or 3516 ms apart), and never
			// at the same instant as the other's.
			st.mu.Lock()
			defer st.mu.Unlock()
			dues := map[monitor.Key][]time.Time{}
			at := map[time.Time]int{}
			for _, c := range st.claimed {
				if !c.Due.Before(t0.Add(2*time.Hour)) && c.Due.Before(t0.Add(3*time.Hour)) {
					dues[monitor.Key(c.Key)] = append(dues[monitor.Key(c.Key)], c.Due)
					at[c.Due]++
				}
			}
			for k, ds := range dues {
				slices.SortFunc(ds, time.Time.Compare)
				for i := 1; i < len(ds); i++ {
					if gap := ds[i].Sub(ds[i-1]); gap < 3515*time.Millisecond || gap > 3516*time.Millisecond {
						t.Fatalf("%v: checks due at %s and %s; want 3.515625 s apart on average", k, ds[i-1].Format(time.TimeOnly+".000"), ds[i].Format(time.TimeOnly+".000"))
					}
				}
			}
			if len(at) != 2*n {
				t.Fatalf("%d distinct due times for %d checks; want none shared", len(at), 2*n)
			}
		})
	}
}
