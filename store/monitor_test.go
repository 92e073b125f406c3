package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
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
