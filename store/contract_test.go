package store_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/store"
)

// stores are the implementations the contract runs against.
var stores = []struct {
	name string
	new  func(testing.TB) store.Tester
}{
	{"memory", func(testing.TB) store.Tester { return store.NewMemory() }},
	{"redis", func(tb testing.TB) store.Tester { return newRedis(tb) }},
}

// contract runs one contract test on every store.
func contract(t *testing.T, test func(t *testing.T, st store.Tester)) {
	t.Parallel()
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			test(t, s.new(t))
		})
	}
}

var (
	t0  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ip1 = netip.MustParseAddr("203.0.113.5")
	ip2 = netip.MustParseAddr("2001:db8::25")
)

func newWatch(ip netip.Addr, channel, thread, user string) store.Watch {
	return store.Watch{
		Key:         store.Key{IP: ip, Channel: channel, Thread: thread},
		RequestedBy: user, Source: store.SourceCommand, CreatedAt: t0,
		Status: diagnose.StatusPermerror, CheckedAt: t0,
	}
}

func mustAdd(t *testing.T, st store.Tester, w store.Watch, due time.Time) {
	t.Helper()
	added, err := st.Add(context.Background(), w, due, store.Limits{})
	if err != nil || !added {
		t.Fatalf("Add(%v) = %v, %v; want true, nil", w.Key, added, err)
	}
}

func mustClaim(t *testing.T, st store.Tester, now time.Time, max int, want ...netip.Addr) []store.Claim {
	t.Helper()
	claims, err := st.ClaimDue(context.Background(), now, max, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.Addr]bool{}
	for _, c := range claims {
		got[c.IP] = true
	}
	if len(claims) != len(want) {
		t.Fatalf("ClaimDue at %v claimed %v; want %v", now, claims, want)
	}
	for _, ip := range want {
		if !got[ip] {
			t.Fatalf("ClaimDue at %v claimed %v; want %v", now, claims, want)
		}
	}
	return claims
}

func mustClaimAnn(t *testing.T, st store.Tester, now time.Time, want int) []store.Pending {
	t.Helper()
	ps, err := st.ClaimAnnouncements(context.Background(), now, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != want {
		t.Fatalf("ClaimAnnouncements at %v = %d intents %+v; want %d", now, len(ps), ps, want)
	}
	return ps
}

func get(t *testing.T, st store.Tester, k store.Key) (store.Watch, bool) {
	t.Helper()
	w, ok, err := st.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return w, ok
}

func result(s diagnose.Status, at time.Time) diagnose.Result {
	r := diagnose.Result{IP: ip1.String(), Status: s, CheckedAt: at}
	if s == diagnose.StatusPass {
		r.Source = &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true}
	}
	return r
}

// complete records one recheck's outcome as the scheduler does, through
// Cycle, claiming nothing else.
func complete(ctx context.Context, st store.Tester, c store.Claim, o store.Outcome) error {
	res, err := st.Cycle(ctx, time.Time{}, []store.Completion{{Claim: c, Outcome: o}}, 0, time.Minute, time.Minute)
	if err != nil {
		return err
	}
	return res.Completed[0]
}

// nextDue is the earliest due time of a check or an announcement, through
// Cycle, claiming nothing.
func nextDue(ctx context.Context, st store.Tester) (time.Time, bool, error) {
	res, err := st.Cycle(ctx, time.Time{}, nil, 0, time.Minute, time.Minute)
	return res.Next, err == nil && !res.Next.IsZero(), err
}

func TestAddIsIdempotent(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		w := newWatch(ip1, "C1", "1700.1", "U1")
		w.Source = store.SourceBounce
		mustAdd(t, st, w, t0.Add(time.Minute))
		again := w
		again.RequestedBy = "U2"
		if added, err := st.Add(ctx, again, t0, store.Limits{}); err != nil || added {
			t.Fatalf("second Add = %v, %v; want false, nil", added, err)
		}
		got, ok := get(t, st, w.Key)
		want := store.Watch{Key: w.Key, RequestedBy: "U1", Source: store.SourceBounce, CreatedAt: t0,
			State: store.StateActive, Status: diagnose.StatusPermerror, CheckedAt: t0, NextCheck: t0.Add(time.Minute)}
		if !ok || !equalWatch(got, want) {
			t.Fatalf("Get = %+v, %v; want %+v", got, ok, want)
		}
		if ws, err := st.ListByUser(ctx, "U2"); err != nil || len(ws) != 0 {
			t.Fatalf("ListByUser(U2) = %v, %v; want nothing: the second Add must change nothing", ws, err)
		}
	})
}

func equalWatch(a, b store.Watch) bool {
	return a.Key == b.Key && a.RequestedBy == b.RequestedBy && a.Source == b.Source && a.CreatedAt.Equal(b.CreatedAt) &&
		a.State == b.State && a.Pending == b.Pending && a.ProgressAnnounced == b.ProgressAnnounced &&
		a.Status == b.Status && a.CheckedAt.Equal(b.CheckedAt) && a.NextCheck.Equal(b.NextCheck)
}

func TestAddRejectsInvalid(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		for name, mutate := range map[string]func(*store.Watch){
			"no IP":        func(w *store.Watch) { w.IP = netip.Addr{} },
			"no channel":   func(w *store.Watch) { w.Channel = "" },
			"colon":        func(w *store.Watch) { w.Thread = "1:2" },
			"pipe in user": func(w *store.Watch) { w.RequestedBy = "U|1" },
			"no user":      func(w *store.Watch) { w.RequestedBy = "" },
			"no time":      func(w *store.Watch) { w.CreatedAt = time.Time{} },
			"bad source":   func(w *store.Watch) { w.Source = "carrier pigeon" },
			// A zone may hold the encoding's separators: "fe80::1%a b" once
			// lost its announcements in Redis.
			"zone":         func(w *store.Watch) { w.IP = netip.MustParseAddr("fe80::1%a b") },
			"huge user":    func(w *store.Watch) { w.RequestedBy = "U" + strings.Repeat("X", 100_000) },
			"huge channel": func(w *store.Watch) { w.Channel = "C" + strings.Repeat("X", 64) },
			"huge thread":  func(w *store.Watch) { w.Thread = strings.Repeat("1", 65) },
		} {
			w := newWatch(ip1, "C1", "1.1", "U1")
			mutate(&w)
			if _, err := st.Add(context.Background(), w, t0, store.Limits{}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("%s: Add error = %v; want ErrInvalid", name, err)
			}
		}
	})
}

func TestListsAndRemove(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		a := newWatch(ip1, "C1", "1.1", "U1")
		b := newWatch(ip1, "C2", "2.2", "U2")
		c := newWatch(ip2, "C1", "3.3", "U1")
		for _, w := range []store.Watch{a, b, c} {
			mustAdd(t, st, w, t0.Add(time.Minute))
		}
		keys := func(ws []store.Watch, err error) []store.Key {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var ks []store.Key
			for _, w := range ws {
				ks = append(ks, w.Key)
			}
			return ks
		}
		for _, tc := range []struct {
			name string
			got  []store.Key
			want []store.Key
		}{
			{"ip1", keys(st.ListForIP(ctx, ip1)), []store.Key{a.Key, b.Key}},
			{"ip2", keys(st.ListForIP(ctx, ip2)), []store.Key{c.Key}},
			{"U1", keys(st.ListByUser(ctx, "U1")), []store.Key{a.Key, c.Key}},
			{"U2", keys(st.ListByUser(ctx, "U2")), []store.Key{b.Key}},
			{"C1", keys(st.ListByChannel(ctx, "C1")), []store.Key{a.Key, c.Key}},
			{"C3", keys(st.ListByChannel(ctx, "C3")), nil},
		} {
			if !equalKeys(tc.got, tc.want) {
				t.Errorf("%s: got %v; want %v", tc.name, tc.got, tc.want)
			}
		}
		for _, tc := range []struct {
			k    store.Key
			want bool
		}{{a.Key, true}, {a.Key, false}, {c.Key, true}} {
			if removed, err := st.Remove(ctx, tc.k); err != nil || removed != tc.want {
				t.Fatalf("Remove(%v) = %v, %v; want %v", tc.k, removed, err, tc.want)
			}
		}
		if ks := keys(st.ListByUser(ctx, "U1")); len(ks) != 0 {
			t.Fatalf("ListByUser(U1) after Remove = %v", ks)
		}
		// ip2 lost its last watch: it is no longer checked; ip1 still is.
		mustClaim(t, st, t0.Add(time.Hour), 10, ip1)
	})
}

func equalKeys(a, b []store.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClaimLeaseAndComplete(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		// One IP watched from two threads is one schedule entry.
		mustAdd(t, st, newWatch(ip1, "C1", "1.1", "U1"), t0.Add(time.Minute))
		mustAdd(t, st, newWatch(ip1, "C2", "2.2", "U2"), t0.Add(2*time.Minute))
		mustAdd(t, st, newWatch(ip2, "C1", "3.3", "U1"), t0.Add(3*time.Minute))

		mustClaim(t, st, t0, 10)
		claims := mustClaim(t, st, t0.Add(90*time.Second), 10, ip1)
		if c := claims[0]; c.Checks != 0 || len(c.Watches) != 2 || c.Watches[0].Thread != "1.1" || c.Watches[1].RequestedBy != "U2" {
			t.Fatalf("claim = %+v; want no checks yet and both watches", c)
		}
		// Leased: no other replica gets it within the lease.
		mustClaim(t, st, t0.Add(2*time.Minute), 10)
		// The lease runs out (the replica died): claimed again, and the old
		// claim can no longer complete.
		retry := mustClaim(t, st, t0.Add(150*time.Second), 1, ip1)
		err := complete(ctx, st, claims[0], store.Outcome{Result: result(diagnose.StatusFail, t0), Next: t0.Add(time.Hour), Now: t0})
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("Complete with an expired claim = %v; want ErrLeaseLost", err)
		}
		checked := t0.Add(151 * time.Second)
		next := t0.Add(10 * time.Minute)
		if err := complete(ctx, st, retry[0], store.Outcome{Result: result(diagnose.StatusFail, checked), Next: next, Now: checked}); err != nil {
			t.Fatal(err)
		}
		ws, err := st.ListForIP(ctx, ip1)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if w.Status != diagnose.StatusFail || !w.CheckedAt.Equal(checked) || !w.NextCheck.Equal(next) {
				t.Errorf("after Complete: %+v; want status fail, checked %v, next %v", w, checked, next)
			}
		}
		if at, ok, err := nextDue(ctx, st); err != nil || !ok || !at.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("NextDue = %v, %v, %v; want ip2's %v", at, ok, err, t0.Add(3*time.Minute))
		}
		// Max is respected: two IPs are due, one is claimed at a time. ip1
		// comes back with one check done.
		first, err := st.ClaimDue(ctx, next, 1, time.Minute)
		if err != nil || len(first) != 1 {
			t.Fatalf("ClaimDue(max 1) = %v, %v; want one claim", first, err)
		}
		for _, c := range append(first, mustClaim(t, st, next, 5, map[netip.Addr]netip.Addr{ip1: ip2, ip2: ip1}[first[0].IP])...) {
			if want := map[netip.Addr]int{ip1: 1, ip2: 0}[c.IP]; c.Checks != want {
				t.Errorf("%v: Checks = %d; want %d", c.IP, c.Checks, want)
			}
		}
	})
}

// check claims ip at now and completes it with r and transitions for ws.
func check(t *testing.T, st store.Tester, now time.Time, r diagnose.Result, kind store.Kind, ws ...store.Watch) {
	t.Helper()
	c := mustClaim(t, st, now, 1, ip1)
	var ts []store.Transition
	for _, w := range ws {
		ts = append(ts, store.Transition{Key: w.Key, CreatedAt: w.CreatedAt, Kind: kind})
	}
	if err := complete(context.Background(), st, c[0], store.Outcome{Result: r, Next: now.Add(time.Minute), Transitions: ts, Now: now}); err != nil {
		t.Fatal(err)
	}
}

func TestProgressAnnouncedOnceAndRetried(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		w := newWatch(ip1, "C1", "1.1", "U1")
		mustAdd(t, st, w, t0)
		r := result(diagnose.StatusPermerror, t0)
		r.Source = &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true, StaleForSeconds: 300}
		check(t, st, t0, r, store.KindProgress, w)

		p := mustClaimAnn(t, st, t0, 1)[0]
		if p.Kind != store.KindProgress || p.Attempt != 1 || p.Watch.Key != w.Key || p.Result.Source == nil || p.Result.Source.StaleForSeconds != 300 {
			t.Fatalf("intent = %+v; want progress, attempt 1, with the result", p)
		}
		mustClaimAnn(t, st, t0.Add(30*time.Second), 0) // leased
		// The poster failed; after the lease the same intent comes back.
		again := mustClaimAnn(t, st, t0.Add(time.Minute), 1)[0]
		if again.Attempt != 2 || again.IdempotencyKey != p.IdempotencyKey {
			t.Fatalf("retry = attempt %d key %q; want attempt 2 key %q", again.Attempt, again.IdempotencyKey, p.IdempotencyKey)
		}
		if err := st.MarkPosted(ctx, again); err != nil {
			t.Fatal(err)
		}
		mustClaimAnn(t, st, t0.Add(time.Hour), 0)
		// Fixed at the source a second time: no second progress message.
		check(t, st, t0.Add(time.Minute), r, store.KindProgress, w)
		mustClaimAnn(t, st, t0.Add(time.Hour), 0)
		got, _ := get(t, st, w.Key)
		if got.State != store.StateActive || !got.ProgressAnnounced || got.Pending != "" {
			t.Fatalf("after progress: %+v", got)
		}
	})
}

func TestFixedEndsWatchOnce(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		a := newWatch(ip1, "C1", "1.1", "U1")
		b := newWatch(ip1, "C2", "2.2", "U2")
		mustAdd(t, st, a, t0)
		mustAdd(t, st, b, t0)
		// A progress intent is pending for a when the fix lands: fixed
		// supersedes it, one message per thread.
		src := result(diagnose.StatusPermerror, t0)
		src.Source = &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true}
		check(t, st, t0, src, store.KindProgress, a)
		stale := mustClaimAnn(t, st, t0, 1)[0]
		fixedAt := t0.Add(2 * time.Minute)
		check(t, st, fixedAt, result(diagnose.StatusPass, fixedAt), store.KindFixed, a, b)

		if err := st.MarkPosted(ctx, stale); err != nil {
			t.Fatal(err)
		}
		// ip1 has no active watch: it is not checked any more, so a later
		// regression cannot be announced fixed again.
		mustClaim(t, st, t0.Add(time.Hour), 10)
		ps := mustClaimAnn(t, st, fixedAt, 2)
		for _, p := range ps {
			if p.Kind != store.KindFixed || p.Result.Status != diagnose.StatusPass || p.Attempt != 1 {
				t.Fatalf("intent = %+v; want fixed with the passing result", p)
			}
			if w, _ := get(t, st, p.Watch.Key); w.State != store.StateFixed {
				t.Fatalf("watch before posting = %+v; want fixed", w)
			}
			if err := st.MarkPosted(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if ws, err := st.ListForIP(ctx, ip1); err != nil || len(ws) != 0 {
			t.Fatalf("ListForIP after the fixed announcements = %v, %v; want none", ws, err)
		}
		if n, err := st.Count(ctx); err != nil || n != 0 {
			t.Fatalf("Count after the fixed announcements = %d, %v; want 0", n, err)
		}
		if _, ok, err := nextDue(ctx, st); err != nil || ok {
			t.Fatalf("NextDue = %v, %v; want nothing left", ok, err)
		}
	})
}

func TestStaleTransitionIgnored(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		w := newWatch(ip1, "C1", "1.1", "U1")
		mustAdd(t, st, w, t0)
		old := w
		old.CreatedAt = t0.Add(-time.Hour) // another generation of the watch
		check(t, st, t0, result(diagnose.StatusPass, t0), store.KindFixed, old)
		mustClaimAnn(t, st, t0.Add(time.Hour), 0)
		if got, _ := get(t, st, w.Key); got.State != store.StateActive {
			t.Fatalf("watch = %+v; want still active", got)
		}
	})
}

func TestKeepWatchingRestartsExpired(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		w := newWatch(ip1, "C1", "1.1", "U1")
		mustAdd(t, st, w, t0)
		check(t, st, t0, result(diagnose.StatusFail, t0), store.KindExpired, w)
		p := mustClaimAnn(t, st, t0, 1)[0]
		if p.Kind != store.KindExpired {
			t.Fatalf("intent kind = %s; want expired", p.Kind)
		}
		again := w
		again.CreatedAt = t0.Add(time.Hour)
		again.Source = store.SourceButton
		mustAdd(t, st, again, t0.Add(time.Hour+time.Minute))
		// The old generation's intent is void: posting it changes nothing.
		if err := st.MarkPosted(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, ok := get(t, st, w.Key)
		if !ok || got.State != store.StateActive || !got.CreatedAt.Equal(again.CreatedAt) || got.Source != store.SourceButton {
			t.Fatalf("after Keep watching: %+v, %v", got, ok)
		}
		mustClaimAnn(t, st, t0.Add(2*time.Hour), 0)
		mustClaim(t, st, t0.Add(time.Hour+time.Minute), 1, ip1)
	})
}

// TestAddDuringCheck: a thread that starts watching an IP while it is being
// checked neither voids the check nor loses its earlier due time.
func TestAddDuringCheck(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		mustAdd(t, st, newWatch(ip1, "C1", "1.1", "U1"), t0)
		c := mustClaim(t, st, t0, 1, ip1)[0]
		late := newWatch(ip1, "C2", "2.2", "U2")
		late.CreatedAt = t0.Add(time.Second)
		mustAdd(t, st, late, t0.Add(30*time.Second)) // before the lease ends
		if err := complete(ctx, st, c, store.Outcome{Result: result(diagnose.StatusFail, t0), Next: t0.Add(time.Hour), Now: t0}); err != nil {
			t.Fatalf("Complete after an Add: %v", err)
		}
		if at, ok, err := nextDue(ctx, st); err != nil || !ok || !at.Equal(t0.Add(30*time.Second)) {
			t.Fatalf("NextDue = %v, %v, %v; want the new thread's %v", at, ok, err, t0.Add(30*time.Second))
		}
		// The claim is used up: completing it twice is refused.
		if err := complete(ctx, st, c, store.Outcome{Result: result(diagnose.StatusFail, t0), Next: t0.Add(time.Hour), Now: t0}); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("second Complete = %v; want ErrLeaseLost", err)
		}
	})
}

func TestFirstDelivery(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		for i, want := range []bool{true, false, false} {
			first, err := st.FirstDelivery(ctx, "Ev0ONE", time.Minute)
			if err != nil || first != want {
				t.Errorf("delivery %d: first=%v err=%v, want %v", i+1, first, err, want)
			}
		}
		if first, err := st.FirstDelivery(ctx, "Ev0TWO", time.Minute); err != nil || !first {
			t.Errorf("another event: first=%v err=%v", first, err)
		}
		// Redis keeps a key set without a TTL forever, where the memory
		// store forgot it at once: both refuse it, and ids no Slack event has.
		for _, tc := range []struct {
			id  string
			ttl time.Duration
		}{{"Ev0THREE", 0}, {"Ev0THREE", -time.Second}, {"", time.Minute}, {strings.Repeat("E", 65), time.Minute}} {
			if _, err := st.FirstDelivery(ctx, tc.id, tc.ttl); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("FirstDelivery(%.10q, %v) = %v; want ErrInvalid", tc.id, tc.ttl, err)
			}
		}
	})
}

// TestKeyInjection: IDs from Slack payloads that contain the encoding's
// separators reach neither another watch nor another index.
func TestKeyInjection(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		w := newWatch(ip1, "C1", "1.1", "U1")
		mustAdd(t, st, w, t0)
		for _, k := range []store.Key{
			{IP: ip1, Channel: "C1:1.1", Thread: ""},
			{IP: ip1, Channel: "C1", Thread: "1.1 "},
			{IP: ip1, Channel: "#", Thread: ""},
			{IP: netip.MustParseAddr("fe80::1%x"), Channel: "C1", Thread: "1.1"},
		} {
			if _, ok := get(t, st, k); ok {
				t.Errorf("Get(%q) found a watch", k)
			}
			if removed, err := st.Remove(ctx, k); err != nil || removed {
				t.Errorf("Remove(%q) = %v, %v; want false, nil", k, removed, err)
			}
		}
		for _, id := range []string{"U1 203.0.113.5", "U1|x", "#"} {
			if ws, err := st.ListByUser(ctx, id); err != nil || len(ws) != 0 {
				t.Errorf("ListByUser(%q) = %v, %v; want nothing", id, ws, err)
			}
		}
		if got, ok := get(t, st, w.Key); !ok || got.State != store.StateActive {
			t.Fatalf("the real watch: %+v, %v", got, ok)
		}
	})
}

// TestClaimOldestFirst: with more due than can be claimed, the most overdue
// go first in both stores, so a backlog drains in order.
func TestClaimOldestFirst(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		const n = 40
		var want netip.Addr
		for i := range n {
			ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
			if i == n/2 {
				want = ip
			}
			due := t0.Add(time.Duration(n-i) * time.Second)
			if ip == want {
				due = t0
			}
			mustAdd(t, st, newWatch(ip, "C1", "1.1", "U1"), due)
		}
		mustClaim(t, st, t0.Add(time.Hour), 1, want)
	})
}

// TestCycle: one call records finished rechecks, claims the announcements
// they made and the due IPs within max, and says when to look again.
func TestCycle(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		ip3 := netip.MustParseAddr("192.0.2.7")
		a := newWatch(ip1, "C1", "1.1", "U1")
		mustAdd(t, st, a, t0)
		mustAdd(t, st, newWatch(ip2, "C1", "2.2", "U1"), t0.Add(time.Second))
		mustAdd(t, st, newWatch(ip3, "C1", "3.3", "U1"), t0.Add(time.Second))
		c := mustClaim(t, st, t0, 1, ip1)[0]
		stale := c
		stale.Token-- // a claim some other replica lost
		now := t0.Add(time.Second)
		fix := store.Outcome{Result: result(diagnose.StatusPass, now), Next: now.Add(time.Hour), Now: now,
			Transitions: []store.Transition{{Key: a.Key, CreatedAt: a.CreatedAt, Kind: store.KindFixed}}}
		res, err := st.Cycle(ctx, now, []store.Completion{{Claim: stale, Outcome: fix}, {Claim: c, Outcome: fix}}, 2, time.Minute, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Completed) != 2 || !errors.Is(res.Completed[0], store.ErrLeaseLost) || res.Completed[1] != nil {
			t.Fatalf("Completed = %v; want [lease lost, nil]", res.Completed)
		}
		if len(res.Announcements) != 1 || res.Announcements[0].Kind != store.KindFixed || res.Announcements[0].Watch.Key != a.Key {
			t.Fatalf("Announcements = %+v; want the fixed one just recorded", res.Announcements)
		}
		// One slot left for two due IPs: the other stays due, so Next is now.
		if len(res.Claims) != 1 || !res.Next.Equal(now) {
			t.Fatalf("Claims = %v, Next = %v; want one claim and the other IP due at %v", res.Claims, res.Next, now)
		}
		res, err = st.Cycle(ctx, now, nil, 8, 2*time.Minute, time.Minute)
		if err != nil || len(res.Claims) != 1 || len(res.Announcements) != 0 || !res.Next.Equal(now.Add(time.Minute)) {
			t.Fatalf("second Cycle = %+v, %v; want the last IP, and the leases' first end (the announcement's) next", res, err)
		}
	})
}

// TestLimits: a new watch beyond a limit is refused with the error
// naming it and changes nothing; a watch counts until it is removed or its
// final announcement is posted; restarting an ended watch is never refused.
func TestLimits(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		lim := store.Limits{PerChannel: 2, PerUser: 3, Total: 4}
		add := func(w store.Watch) error {
			due := t0 // ip1 first: check claims it alone
			if w.IP != ip1 {
				due = t0.Add(time.Second)
			}
			_, err := st.Add(ctx, w, due, lim)
			return err
		}
		a := newWatch(ip1, "C1", "1.1", "U1")
		for _, w := range []store.Watch{a, newWatch(ip2, "C1", "2.2", "U1")} {
			if err := add(w); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			w    store.Watch
			want error // nil: added
		}{
			{newWatch(ip1, "C1", "3.3", "U9"), store.ErrChannelLimit}, // C1's third
			{newWatch(ip1, "C2", "1.1", "U1"), nil},                   // U1's third
			{newWatch(ip2, "C3", "1.1", "U1"), store.ErrUserLimit},    // U1's fourth
			{newWatch(ip2, "C3", "1.1", "U2"), nil},                   // the fourth in total
			{newWatch(ip2, "C4", "1.1", "U3"), store.ErrTotalLimit},
		} {
			err := add(tc.w)
			if tc.want == nil && err != nil || tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, store.ErrLimit)) {
				t.Fatalf("Add(%v, %s) = %v; want %v", tc.w.Key, tc.w.RequestedBy, err, tc.want)
			}
		}
		if n, err := st.Count(ctx); err != nil || n != 4 {
			t.Fatalf("Count = %d, %v; want 4", n, err)
		}
		if ws, err := st.ListByUser(ctx, "U3"); err != nil || len(ws) != 0 {
			t.Fatalf("a refused watch was stored: %v, %v", ws, err)
		}
		// a ends (expired): it still counts until its message is posted, and
		// "Keep watching" restarts it whatever the limits.
		check(t, st, t0, result(diagnose.StatusFail, t0), store.KindExpired, a)
		again := a
		again.CreatedAt = t0.Add(time.Hour)
		if _, err := st.Add(ctx, again, t0.Add(time.Hour), store.Limits{PerChannel: 1, PerUser: 1, Total: 1}); err != nil {
			t.Fatalf("Keep watching over the limits: %v", err)
		}
		if n, err := st.Count(ctx); err != nil || n != 4 {
			t.Fatalf("Count after Keep watching = %d, %v; want 4", n, err)
		}
		if _, err := st.Remove(ctx, a.Key); err != nil {
			t.Fatal(err)
		}
		if err := add(newWatch(ip2, "C4", "1.1", "U3")); err != nil {
			t.Fatalf("after a Remove there is room again: %v", err)
		}
	})
}

// TestLimitsAtomic: many callers at once, on two connections (replicas),
// never get more watches in than a limit allows.
func TestLimitsAtomic(t *testing.T) {
	t.Parallel()
	const limit, tries = 10, 64
	shared := store.NewMemory()
	a := newRedis(t)
	b := store.NewRedis(mustClient(t), a.Prefix())
	t.Cleanup(func() { b.Close() })
	for name, replicas := range map[string][]store.Store{"memory": {shared, shared}, "redis": {a, b}} {
		t.Run(name, func(t *testing.T) {
			var added atomic.Int64
			var wg sync.WaitGroup
			for i := range tries {
				wg.Go(func() {
					w := newWatch(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "C1", "1.1", "U1")
					ok, err := replicas[i%2].Add(context.Background(), w, t0, store.Limits{PerChannel: limit})
					if ok {
						added.Add(1)
					} else if !errors.Is(err, store.ErrLimit) {
						t.Errorf("Add: %v, %v; want added or ErrLimit", ok, err)
					}
				})
			}
			wg.Wait()
			if n := added.Load(); n != limit {
				t.Fatalf("%d watches added; want exactly %d", n, limit)
			}
		})
	}
}

// TestClaimsFairAcrossChannels: channel A has 40 IPs due, the oldest first;
// channel B one, due last. Claimed one at a time, B's comes second: after
// one of A's, never after all of them.
func TestClaimsFairAcrossChannels(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		const n = 40
		for i := range n {
			mustAdd(t, st, newWatch(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), "CA", "1.1", "UA"), t0.Add(time.Duration(i)*time.Millisecond))
		}
		mustAdd(t, st, newWatch(ip2, "CB", "1.1", "UB"), t0.Add(time.Second))
		now := t0.Add(time.Minute)
		var order []netip.Addr
		for range n + 1 {
			cs, err := st.ClaimDue(ctx, now, 1, time.Hour)
			if err != nil || len(cs) != 1 {
				t.Fatalf("ClaimDue = %v, %v; want one claim", cs, err)
			}
			order = append(order, cs[0].IP)
		}
		if i := slices.Index(order, ip2); i < 0 || i > 1 {
			t.Fatalf("channel B's IP claimed at position %d of %v; want 0 or 1", i, order)
		}
		// Within A, the most overdue first.
		for i, ip := range slices.DeleteFunc(order, func(ip netip.Addr) bool { return ip == ip2 }) {
			if want := netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}); ip != want {
				t.Fatalf("A's claim %d = %v; want %v", i, ip, want)
			}
		}
	})
}

// TestDeferredOutcome: a recheck put off (its zone paced) releases the
// claim and moves the due time, and changes nothing else: no check counted,
// the status and zone kept.
func TestDeferredOutcome(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		w := newWatch(ip1, "C1", "1.1", "U1")
		w.Zone = "113.0.203.in-addr.arpa"
		mustAdd(t, st, w, t0)
		c := mustClaim(t, st, t0, 1, ip1)[0]
		if c.Zone != w.Zone || !c.Due.Equal(t0) {
			t.Fatalf("claim zone %q due %v; want %q, %v", c.Zone, c.Due, w.Zone, t0)
		}
		later := t0.Add(3 * time.Second)
		if err := complete(ctx, st, c, store.Outcome{Deferred: true, Next: later, Now: t0, Result: result(diagnose.StatusPass, t0),
			Transitions: []store.Transition{{Key: w.Key, CreatedAt: w.CreatedAt, Kind: store.KindFixed}}}); err != nil {
			t.Fatal(err)
		}
		got, _ := get(t, st, w.Key)
		if got.State != store.StateActive || got.Status != diagnose.StatusPermerror || got.Zone != w.Zone || !got.NextCheck.Equal(later) {
			t.Fatalf("after a deferral: %+v; want active, permerror, zone kept, next %v", got, later)
		}
		c = mustClaim(t, st, later, 1, ip1)[0]
		if c.Checks != 0 || !c.Due.Equal(later) {
			t.Fatalf("claim after the deferral: checks %d due %v; want 0, %v", c.Checks, c.Due, later)
		}
	})
}

func mustClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	c, err := store.NewClient(server.URL())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
