package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/store"
)

var mkey = store.MonitorKey{Channel: "C1", Thread: "1700000000.000100"}

func newMonitor(k store.MonitorKey, user string, targets ...string) store.Monitor {
	return store.Monitor{MonitorKey: k, RequestedBy: user, Targets: targets, CreatedAt: t0}
}

// mcycle runs one MonitorCycle at now with 1m leases and gather.
func mcycle(t *testing.T, st store.Tester, now time.Time, max int, done ...store.MonitorCompletion) store.MonitorCycleResult {
	t.Helper()
	res, err := st.MonitorCycle(context.Background(), now, done, max, time.Minute, time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func changes(kinds ...string) json.RawMessage {
	var cs []map[string]string
	for _, k := range kinds {
		cs = append(cs, map[string]string{"Kind": k})
	}
	b, _ := json.Marshal(cs)
	return b
}

func changeKinds(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var cs []map[string]string
	if err := json.Unmarshal(raw, &cs); err != nil {
		t.Fatalf("changes %s: %v", raw, err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c["Kind"])
	}
	return out
}

// TestMonitorLifecycle: addresses are claimed when due and leased; an
// outcome is fenced by the claim's token; changes become one intent per
// monitor, gathered until claimed, claimed again after the lease with the
// same key and a higher attempt, gone once posted.
func TestMonitorLifecycle(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		odd := store.AddrState{Status: diagnose.StatusPass, Names: []string{"a|b.example", "c, d"}, FailingSiblings: []string{"2001:db8::1"}, Candidate: "x y"}
		n, err := st.AddMonitor(ctx, newMonitor(mkey, "U1", "192.0.2.0/31"), []store.MonitorAddr{
			{IP: ip1, State: odd, Due: t0},
			{IP: ip2, State: store.AddrState{Status: diagnose.StatusPermerror}, Due: t0.Add(30 * time.Second)},
		}, store.MonitorLimits{})
		if err != nil || n != 2 {
			t.Fatalf("AddMonitor = %d, %v; want 2", n, err)
		}
		ms, err := st.MonitorsByChannel(ctx, "C1")
		if err != nil || len(ms) != 1 || ms[0].Addresses != 2 || ms[0].Failing != 1 || !ms[0].NextCheck.Equal(t0) || !slices.Equal(ms[0].Targets, []string{"192.0.2.0/31"}) {
			t.Fatalf("MonitorsByChannel = %+v, %v", ms, err)
		}
		res := mcycle(t, st, t0, 8)
		if len(res.Claims) != 1 || res.Claims[0].IP != ip1 {
			t.Fatalf("claims %+v; want %s alone", res.Claims, ip1)
		}
		c := res.Claims[0]
		if got := c.State; got.Status != odd.Status || !slices.Equal(got.Names, odd.Names) || !slices.Equal(got.FailingSiblings, odd.FailingSiblings) || got.Candidate != odd.Candidate {
			t.Fatalf("claimed state %+v; want %+v", got, odd)
		}
		again := mcycle(t, st, t0.Add(59*time.Second), 8)
		if len(again.Claims) != 1 || again.Claims[0].IP != ip2 {
			t.Fatalf("within the lease: claims %+v; want %s alone", again.Claims, ip2)
		}
		// The lease ends: claimed again elsewhere; the first outcome is fenced off.
		retry := mcycle(t, st, t0.Add(time.Minute), 1)
		if len(retry.Claims) != 1 || retry.Claims[0].IP != ip1 || retry.Claims[0].Token == c.Token {
			t.Fatalf("after the lease: claims %+v; want %s with a new token", retry.Claims, ip1)
		}
		late := mcycle(t, st, t0.Add(time.Minute), 0, store.MonitorCompletion{Claim: c, State: odd, Next: t0.Add(time.Hour), Changes: changes("regression")})
		if !errors.Is(late.Completed[0], store.ErrLeaseLost) {
			t.Fatalf("stale outcome: %v; want ErrLeaseLost", late.Completed[0])
		}
		broken := store.AddrState{Status: diagnose.StatusPermerror}
		now := t0.Add(time.Minute)
		res = mcycle(t, st, now, 0, store.MonitorCompletion{Claim: retry.Claims[0], State: broken, Next: t0.Add(time.Hour), Changes: changes("regression")})
		// Next: ip2's lease ends at 12:01:59, before the intent's 12:02.
		if res.Completed[0] != nil || len(res.Announcements) != 0 || !res.Next.Equal(t0.Add(119*time.Second)) {
			t.Fatalf("completion %v, announcements %d, next %s; want recorded, gathering", res.Completed[0], len(res.Announcements), res.Next)
		}
		// ip2's outcome joins the intent still gathering.
		res = mcycle(t, st, now.Add(10*time.Second), 0, store.MonitorCompletion{Claim: again.Claims[0], State: broken, Next: t0.Add(time.Hour), Changes: changes("sibling_broke")})
		if res.Completed[0] != nil {
			t.Fatal(res.Completed[0])
		}
		first := mcycle(t, st, now.Add(time.Minute), 8).Announcements
		if len(first) != 1 || first[0].Attempt != 1 || !slices.Equal(changeKinds(t, first[0].Changes), []string{"regression", "sibling_broke"}) || first[0].Monitor.RequestedBy != "U1" {
			t.Fatalf("announcements %+v; want one with both changes, attempt 1", first)
		}
		second := mcycle(t, st, now.Add(2*time.Minute), 8).Announcements
		if len(second) != 1 || second[0].Attempt != 2 || second[0].IdempotencyKey != first[0].IdempotencyKey {
			t.Fatalf("after the lease: %+v; want attempt 2 with key %q", second, first[0].IdempotencyKey)
		}
		if err := st.MarkMonitorPosted(ctx, second[0]); err != nil {
			t.Fatal(err)
		}
		if res := mcycle(t, st, now.Add(4*time.Minute), 8); len(res.Announcements) != 0 || !res.Next.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after posting: %+v; want nothing until %s", res, t0.Add(time.Hour))
		}
		// A change after the claim starts a new intent, with another key.
		c2 := mcycle(t, st, t0.Add(time.Hour), 1).Claims
		mcycle(t, st, t0.Add(time.Hour), 0, store.MonitorCompletion{Claim: c2[0], State: broken, Next: t0.Add(2 * time.Hour), Changes: changes("ptr_changed")})
		third := mcycle(t, st, t0.Add(time.Hour+time.Minute), 1).Announcements
		if len(third) != 1 || third[0].IdempotencyKey == first[0].IdempotencyKey || third[0].Attempt != 1 {
			t.Fatalf("new change: %+v; want a new intent", third)
		}
		if n, err := st.RemoveMonitor(ctx, mkey, nil); err != nil || n != 2 {
			t.Fatalf("RemoveMonitor = %d, %v; want 2", n, err)
		}
		res = mcycle(t, st, t0.Add(3*time.Hour), 8)
		if len(res.Announcements) != 0 || len(res.Claims) != 0 || !res.Next.IsZero() {
			t.Fatalf("after removal: %+v; want nothing left", res)
		}
		if ms, err := st.MonitorsByUser(ctx, "U1"); err != nil || len(ms) != 0 {
			t.Fatalf("MonitorsByUser = %+v, %v; want none", ms, err)
		}
	})
}

// TestMonitorInput: bad input is refused and stores nothing; re-adding
// keeps an address's state and schedule and counts nothing twice.
func TestMonitorInput(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		for _, m := range []store.Monitor{
			newMonitor(store.MonitorKey{Channel: "C|1", Thread: "1.1"}, "U1"),
			newMonitor(store.MonitorKey{Channel: "C1", Thread: "1 1"}, "U1"),
			newMonitor(mkey, ""),
			{MonitorKey: mkey, RequestedBy: "U1"},
		} {
			if _, err := st.AddMonitor(ctx, m, []store.MonitorAddr{{IP: ip1, Due: t0}}, store.MonitorLimits{}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("AddMonitor(%+v) = %v; want ErrInvalid", m, err)
			}
		}
		if _, err := st.AddMonitor(ctx, newMonitor(mkey, "U1"), []store.MonitorAddr{{IP: netip.MustParseAddr("fe80::1%eth0"), Due: t0}}, store.MonitorLimits{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("zoned IP: %v; want ErrInvalid", err)
		}
		if _, err := st.AddMonitor(ctx, newMonitor(mkey, "U1"), nil, store.MonitorLimits{}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("no addresses: %v; want ErrInvalid", err)
		}
		if _, err := st.AddMonitor(ctx, newMonitor(mkey, "U1"), []store.MonitorAddr{{IP: ip1, Due: t0.Add(time.Hour), State: store.AddrState{Status: diagnose.StatusFail}}}, store.MonitorLimits{}); err != nil {
			t.Fatal(err)
		}
		n, err := st.AddMonitor(ctx, newMonitor(mkey, "U2", "more"), []store.MonitorAddr{{IP: ip1, Due: t0}, {IP: ip2, Due: t0.Add(time.Hour)}}, store.MonitorLimits{PerChannel: 2, Total: 2})
		if err != nil || n != 1 {
			t.Fatalf("re-add = %d, %v; want 1 new", n, err)
		}
		ms, err := st.MonitorsByChannel(ctx, mkey.Channel)
		if err != nil || len(ms) != 1 || ms[0].Failing != 1 || ms[0].RequestedBy != "U1" || !ms[0].NextCheck.Equal(t0.Add(time.Hour)) || len(ms[0].Targets) != 1 {
			t.Fatalf("MonitorsByChannel = %+v, %v; want the first owner, ip1 still failing and due at 13:00", ms, err)
		}
		if res := mcycle(t, st, t0, 8); len(res.Claims) != 0 {
			t.Fatalf("claims %+v; want none before 13:00", res.Claims)
		}
	})
}

// addMon adds n addresses of 198.51.100.0/24 from first on, due at due plus
// i ms, to k's monitor.
func addMon(t *testing.T, st store.Tester, k store.MonitorKey, first, n int, due time.Time) []netip.Addr {
	t.Helper()
	var ips []netip.Addr
	var addrs []store.MonitorAddr
	for i := range n {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(first + i)})
		ips = append(ips, ip)
		addrs = append(addrs, store.MonitorAddr{IP: ip, State: store.AddrState{Status: diagnose.StatusPass}, Due: due.Add(time.Duration(i) * time.Millisecond)})
	}
	if _, err := st.AddMonitor(context.Background(), newMonitor(k, "U1"), addrs, store.MonitorLimits{}); err != nil {
		t.Fatal(err)
	}
	return ips
}

// byChannel counts claims per channel.
func claimsPerChannel(cs []store.MonitorClaim) map[string]int {
	out := map[string]int{}
	for _, c := range cs {
		out[c.Key.Channel]++
	}
	return out
}

// TestMonitorClaimsFairAcrossChannels: the slots of a pass are dealt evenly
// over the channels with addresses due, what one cannot use going to the
// others, the channels dealt less last time first.
func TestMonitorClaimsFairAcrossChannels(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		a := store.MonitorKey{Channel: "CA", Thread: "1.1"}
		b := store.MonitorKey{Channel: "CB", Thread: "1.1"}
		c := store.MonitorKey{Channel: "CC", Thread: "1.1"}
		addMon(t, st, a, 0, 40, t0)
		addMon(t, st, b, 100, 40, t0)
		addMon(t, st, c, 200, 3, t0)
		now := t0.Add(time.Minute)
		for _, tc := range []struct {
			max  int
			want map[string]int
		}{
			{9, map[string]int{"CA": 3, "CB": 3, "CC": 3}}, // evenly
			{10, map[string]int{"CA": 5, "CB": 5}},         // CC has none left
			{1, map[string]int{"CA": 1}},                   // CA's turn came again first
			{3, map[string]int{"CA": 1, "CB": 2}},          // CB was dealt less last time
			{100, map[string]int{"CA": 30, "CB": 30}},      // all that is left
			{5, map[string]int{}},                          // nothing due
		} {
			res := mcycle(t, st, now, tc.max)
			if got := claimsPerChannel(res.Claims); !maps.Equal(got, tc.want) {
				t.Fatalf("max %d: claims per channel %v; want %v", tc.max, got, tc.want)
			}
		}
	})
}

// TestMonitorClaimOrder: claimed one at a time, a channel's one address
// due last comes first or second, never after all of another's; within a
// channel the most overdue first.
func TestMonitorClaimOrder(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		d := store.MonitorKey{Channel: "CD", Thread: "1.1"}
		e := store.MonitorKey{Channel: "CE", Thread: "1.1"}
		later := t0.Add(time.Hour)
		ds := addMon(t, st, d, 0, 40, later)
		es := addMon(t, st, e, 100, 1, later.Add(time.Second))
		var order []netip.Addr
		for range 41 {
			res := mcycle(t, st, later.Add(time.Minute), 1)
			if len(res.Claims) != 1 {
				t.Fatalf("claims %+v; want one", res.Claims)
			}
			order = append(order, res.Claims[0].IP)
		}
		if i := slices.Index(order, es[0]); i < 0 || i > 1 {
			t.Fatalf("CE's address claimed at position %d of %v; want 0 or 1", i, order)
		}
		if got := slices.DeleteFunc(order, func(ip netip.Addr) bool { return ip == es[0] }); !slices.Equal(got, ds) {
			t.Fatalf("CD's claims in the order %v; want the most overdue first, %v", got, ds)
		}
	})
}

// TestMonitorFencing: an outcome is recorded only while its claim holds:
// not after another claim of the address, not twice (a resend after a
// lost reply), not after the address was removed, even when it was added
// again; the outcomes of one pass across channels are told apart.
func TestMonitorFencing(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		k1 := store.MonitorKey{Channel: "C1", Thread: "1.1"}
		k2 := store.MonitorKey{Channel: "C2", Thread: "2.2"}
		k3 := store.MonitorKey{Channel: "C3", Thread: "3.3"}
		a := addMon(t, st, k1, 0, 2, t0)
		b := addMon(t, st, k2, 10, 2, t0)
		c3 := addMon(t, st, k3, 20, 1, t0)
		first := mcycle(t, st, t0.Add(time.Second), 5).Claims
		if len(first) != 5 {
			t.Fatalf("claims %+v; want all 5", first)
		}
		claim := map[netip.Addr]store.MonitorClaim{}
		for _, c := range first {
			claim[c.IP] = c
		}
		done := func(c store.MonitorClaim, st store.AddrState) store.MonitorCompletion {
			return store.MonitorCompletion{Claim: c, State: st, Next: t0.Add(time.Hour)}
		}
		failing := store.AddrState{Status: diagnose.StatusFail, Names: []string{"x.example"}}
		// a[0]'s outcome is recorded; a[1] is removed and added again; the
		// other leases end and they are claimed again.
		again := mcycle(t, st, t0.Add(time.Minute), 0, done(claim[a[0]], failing))
		if again.Completed[0] != nil {
			t.Fatal(again.Completed[0])
		}
		if _, err := st.RemoveMonitor(ctx, k1, a[1:]); err != nil {
			t.Fatal(err)
		}
		addMon(t, st, k1, 1, 1, t0.Add(time.Minute))
		re := mcycle(t, st, t0.Add(2*time.Minute), 10).Claims
		if got := claimsPerChannel(re); !maps.Equal(got, map[string]int{"C1": 1, "C2": 2, "C3": 1}) {
			t.Fatalf("after the lease: claims %+v; want a[1] (added again), b[0], b[1] and C3's", re)
		}
		// One pass, outcomes of three channels interleaved: a[0] again (a
		// resend), a[1]'s stale claim, b's stale claims, C3's stale one,
		// then the new claims' outcomes.
		stale := []store.MonitorCompletion{done(claim[b[0]], failing), done(claim[a[0]], failing), done(claim[c3[0]], failing),
			done(claim[a[1]], failing), done(claim[b[1]], failing)}
		var fresh []store.MonitorCompletion
		for _, c := range re {
			fresh = append(fresh, done(c, failing))
		}
		all := append(slices.Clone(stale), fresh...)
		res := mcycle(t, st, t0.Add(2*time.Minute), 0, all...)
		for i, err := range res.Completed {
			if wantLost := i < len(stale); wantLost != errors.Is(err, store.ErrLeaseLost) {
				t.Fatalf("outcome %d (%s %s): %v; want lease lost %v", i, all[i].Claim.Key.Channel, all[i].Claim.IP, err, wantLost)
			}
		}
		ms, err := st.MonitorsByChannel(ctx, "C2")
		if err != nil || len(ms) != 1 || ms[0].Failing != 2 || !ms[0].NextCheck.Equal(t0.Add(time.Hour)) {
			t.Fatalf("C2 = %+v, %v; want both failing, next at 13:00", ms, err)
		}
		// An outcome whose state is unchanged keeps it.
		c := mcycle(t, st, t0.Add(time.Hour), 1).Claims
		if len(c) != 1 || c[0].State.Status != diagnose.StatusFail || !slices.Equal(c[0].State.Names, failing.Names) {
			t.Fatalf("claims %+v; want one failing x.example", c)
		}
		mcycle(t, st, t0.Add(time.Hour), 0, done(c[0], c[0].State))
		c = mcycle(t, st, t0.Add(2*time.Hour), 1).Claims
		if len(c) != 1 || c[0].State.Status != diagnose.StatusFail || !slices.Equal(c[0].State.Names, failing.Names) {
			t.Fatalf("claims %+v; want the state kept", c)
		}
	})
}

// TestMonitorRemoveAll: an empty list removes nothing; removing every
// address (nil) of one monitor leaves the
// channel's other monitor as it was; the channel's last address removed,
// nothing is left to claim or wait for.
func TestMonitorRemoveAll(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		k1 := store.MonitorKey{Channel: "C1", Thread: "1.1"}
		k2 := store.MonitorKey{Channel: "C1", Thread: "2.2"}
		addMon(t, st, k1, 0, 3, t0)
		b := addMon(t, st, k2, 10, 2, t0.Add(time.Minute))
		if n, err := st.RemoveMonitor(ctx, k1, []netip.Addr{}); err != nil || n != 0 {
			t.Fatalf("RemoveMonitor(none) = %d, %v; want 0: only nil means all", n, err)
		}
		if n, err := st.RemoveMonitor(ctx, k1, nil); err != nil || n != 3 {
			t.Fatalf("RemoveMonitor = %d, %v; want 3", n, err)
		}
		ms, err := st.MonitorsByChannel(ctx, "C1")
		if err != nil || len(ms) != 1 || ms[0].MonitorKey != k2 || ms[0].Addresses != 2 || !ms[0].NextCheck.Equal(t0.Add(time.Minute)) {
			t.Fatalf("MonitorsByChannel = %+v, %v; want k2's monitor alone, 2 addresses due at 12:01", ms, err)
		}
		if n, err := st.AddMonitor(ctx, newMonitor(k2, "U1"), []store.MonitorAddr{{IP: ip1, Due: t0}}, store.MonitorLimits{PerChannel: 3}); err != nil || n != 1 {
			t.Fatalf("AddMonitor = %d, %v; want room for 1 more in C1", n, err)
		}
		res := mcycle(t, st, t0.Add(2*time.Minute), 10)
		if len(res.Claims) != 3 || res.Claims[0].IP != ip1 {
			t.Fatalf("claims %+v; want ip1 (most overdue) then %v", res.Claims, b)
		}
		if n, err := st.RemoveMonitor(ctx, k2, nil); err != nil || n != 3 {
			t.Fatalf("RemoveMonitor = %d, %v; want 3", n, err)
		}
		if res := mcycle(t, st, t0.Add(time.Hour), 10); len(res.Claims) != 0 || !res.Next.IsZero() {
			t.Fatalf("after removing all: %+v; want nothing", res)
		}
		if ms, err := st.MonitorsByChannel(ctx, "C1"); err != nil || len(ms) != 0 {
			t.Fatalf("MonitorsByChannel = %+v, %v; want none", ms, err)
		}
	})
}

// TestMonitorCapsAtomic: many adds at once, on two connections (replicas),
// never get more addresses in a channel than its cap.
func TestMonitorCapsAtomic(t *testing.T) {
	t.Parallel()
	const limit, tries = 10, 32
	shared := store.NewMemory()
	a := newRedis(t)
	b := store.NewRedis(mustClient(t), a.Prefix())
	t.Cleanup(func() { b.Close() })
	for name, replicas := range map[string][]store.MonitorStore{"memory": {shared, shared}, "redis": {a, b}} {
		t.Run(name, func(t *testing.T) {
			var added atomic.Int64
			var wg sync.WaitGroup
			for i := range tries {
				wg.Go(func() {
					k := store.MonitorKey{Channel: "C1", Thread: fmt.Sprintf("%d.1", i)}
					addrs := []store.MonitorAddr{{IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(2 * i)}), Due: t0}, {IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(2*i + 1)}), Due: t0}}
					n, err := replicas[i%2].AddMonitor(context.Background(), newMonitor(k, "U1"), addrs, store.MonitorLimits{PerChannel: limit})
					if err == nil {
						added.Add(int64(n))
					} else if !errors.Is(err, store.ErrMonitorChannelLimit) {
						t.Errorf("AddMonitor: %d, %v; want added or the channel cap", n, err)
					}
				})
			}
			wg.Wait()
			if n := added.Load(); n != limit {
				t.Fatalf("%d addresses added; want exactly %d", n, limit)
			}
		})
	}
}

// TestMonitorLostStateIsCountedOut: a state deleted outside the scripts (an
// operator's HDEL) drops its address from the queue and from the counts, so
// the total cap does not shrink for good and the monitor still ends with
// its last address.
func TestMonitorLostStateIsCountedOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newRedis(t)
	raw := mustClient(t)
	t.Cleanup(func() { raw.Close() })
	k := store.MonitorKey{Channel: "C9", Thread: "9.9"}
	a := addMon(t, st, k, 0, 2, t0)
	if err := raw.HDel(ctx, "{"+st.Prefix()+"}:ms:C9", k.Thread+" "+a[0].String()).Err(); err != nil {
		t.Fatal(err)
	}
	if res := mcycle(t, st, t0.Add(time.Minute), 10); len(res.Claims) != 1 || res.Claims[0].IP != a[1] {
		t.Fatalf("claims %+v; want %v alone", res.Claims, a[1])
	}
	other := store.MonitorKey{Channel: "C8", Thread: "8.8"}
	if n, err := st.AddMonitor(ctx, newMonitor(other, "U1"), []store.MonitorAddr{{IP: netip.MustParseAddr("203.0.113.7"), Due: t0}}, store.MonitorLimits{Total: 2}); err != nil || n != 1 {
		t.Fatalf("AddMonitor = %d, %v; want room for 1 under a total of 2 (the lost address counted out)", n, err)
	}
	if n, err := st.RemoveMonitor(ctx, k, []netip.Addr{a[1]}); err != nil || n != 1 {
		t.Fatalf("RemoveMonitor = %d, %v; want 1", n, err)
	}
	if ms, err := st.MonitorsByChannel(ctx, "C9"); err != nil || len(ms) != 0 {
		t.Fatalf("MonitorsByChannel = %+v, %v; want none: its last address was removed", ms, err)
	}
}

// TestMonitorTargetsBounded: the targets as typed are kept whole up to
// about 1 KiB; a first target longer than that alone is cut, not dropped.
func TestMonitorTargetsBounded(t *testing.T) {
	long := strings.Repeat("a", 3000) + ".example.com"
	tests := []struct {
		name    string
		targets []string
		want    func([]string) bool
	}{
		{"many, whole ones kept", slices.Repeat([]string{"203.0.113.0/24"}, 200), func(ts []string) bool {
			return len(ts) > 10 && len(ts) < 200 && ts[len(ts)-1] == "203.0.113.0/24"
		}},
		{"one too long, cut", []string{long, "192.0.2.1"}, func(ts []string) bool {
			return len(ts) == 1 && strings.HasPrefix(long, strings.TrimSuffix(ts[0], "…")) && len(ts[0]) <= 1024
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			contract(t, func(t *testing.T, st store.Tester) {
				k := store.MonitorKey{Channel: "C7", Thread: "7.7"}
				if _, err := st.AddMonitor(context.Background(), newMonitor(k, "U1", tt.targets...), []store.MonitorAddr{{IP: ip1, Due: t0}}, store.MonitorLimits{}); err != nil {
					t.Fatal(err)
				}
				ms, err := st.MonitorsByChannel(context.Background(), "C7")
				if err != nil || len(ms) != 1 || !tt.want(ms[0].Targets) {
					t.Fatalf("MonitorsByChannel = %+v, %v", ms, err)
				}
			})
		})
	}
}
