package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// memMonitors are the Memory store's monitors, under Memory.mu. Claims go
// in due order (no per-channel round robin: one process holds few).
type memMonitors struct {
	byKey map[MonitorKey]*memMonitor
	total int
}

type memMonitor struct {
	m       Monitor
	addrs   map[netip.Addr]*memMonAddr
	seq     int64
	open    int64 // the intent still gathering, 0 for none
	intents map[int64]*memIntent
}

type memMonAddr struct {
	state      AddrState
	due, token int64
}

type memIntent struct {
	parts    []json.RawMessage
	attempts int
	due      int64
}

// maxParts is how many outcomes' changes one intent gathers (as MAXPARTS).
const maxParts = 64

func (m *Memory) monitors() *memMonitors {
	if m.mon == nil {
		m.mon = &memMonitors{byKey: map[MonitorKey]*memMonitor{}}
	}
	return m.mon
}

func (m *Memory) AddMonitor(ctx context.Context, mon Monitor, addrs []MonitorAddr, lim MonitorLimits) (int, error) {
	if err := mon.validate(addrs); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.monitors()
	cur := mm.byKey[mon.MonitorKey]
	isNew := func(ip netip.Addr) bool { return cur == nil || cur.addrs[ip] == nil }
	fresh := map[netip.Addr]bool{}
	for _, a := range addrs {
		if isNew(a.IP) {
			fresh[a.IP] = true
		}
	}
	inChannel := 0
	for k, x := range mm.byKey {
		if k.Channel == mon.Channel {
			inChannel += len(x.addrs)
		}
	}
	switch {
	case lim.PerChannel > 0 && inChannel+len(fresh) > lim.PerChannel:
		return 0, ErrMonitorChannelLimit
	case lim.Total > 0 && mm.total+len(fresh) > lim.Total:
		return 0, ErrMonitorTotalLimit
	}
	if cur == nil {
		mon.Targets = nil
		cur = &memMonitor{m: mon, addrs: map[netip.Addr]*memMonAddr{}, intents: map[int64]*memIntent{}}
		mm.byKey[mon.MonitorKey] = cur
	}
	if t := targetsText(append(slices.Clone(cur.m.Targets), mon.Targets...)); len(t) < maxTargets {
		cur.m.Targets, _ = unescList(t)
	}
	n := len(fresh)
	for _, a := range addrs {
		if fresh[a.IP] {
			cur.addrs[a.IP] = &memMonAddr{state: a.State, due: ms(a.Due)}
			delete(fresh, a.IP)
		}
	}
	mm.total += n
	return n, nil
}

func (m *Memory) RemoveMonitor(ctx context.Context, k MonitorKey, ips []netip.Addr) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.monitors()
	cur := mm.byKey[k]
	if cur == nil {
		return 0, nil
	}
	if ips == nil {
		ips = slices.Collect(maps.Keys(cur.addrs))
	}
	n := 0
	for _, ip := range ips {
		if cur.addrs[ip.Unmap()] != nil {
			delete(cur.addrs, ip.Unmap())
			n++
		}
	}
	mm.total -= n
	if len(cur.addrs) == 0 {
		delete(mm.byKey, k)
	}
	return n, nil
}

func (m *Memory) MonitorsByUser(ctx context.Context, user string) ([]Monitor, error) {
	return m.listMonitors(func(x *Monitor) bool { return x.RequestedBy == user }), nil
}

func (m *Memory) MonitorsByChannel(ctx context.Context, channel string) ([]Monitor, error) {
	return m.listMonitors(func(x *Monitor) bool { return x.Channel == channel }), nil
}

func (m *Memory) listMonitors(keep func(*Monitor) bool) []Monitor {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Monitor
	for _, x := range m.monitors().byKey {
		if !keep(&x.m) {
			continue
		}
		v := x.m
		v.Addresses = len(x.addrs)
		for _, a := range x.addrs {
			if a.state.Status != "" && a.state.Status != "pass" {
				v.Failing++
			}
			if a.state.Propagating {
				v.Propagating++
			}
			if t := time.UnixMilli(a.due).UTC(); a.token == 0 && (v.NextCheck.IsZero() || t.Before(v.NextCheck)) {
				v.NextCheck = t
			}
		}
		out = append(out, v)
	}
	sortMonitors(out)
	return out
}

func (m *Memory) MonitorCycle(ctx context.Context, now time.Time, done []MonitorCompletion, limit int, checkLease, announceLease, gather time.Duration) (MonitorCycleResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.monitors()
	t := ms(now)
	res := MonitorCycleResult{Completed: make([]error, len(done))}
	gathered := map[MonitorKey][]json.RawMessage{}
	var order []MonitorKey
	for i, d := range done {
		c := d.Claim
		x := mm.byKey[c.Key]
		a := (*memMonAddr)(nil)
		if x != nil {
			a = x.addrs[c.IP]
		}
		if a == nil || a.token != c.Token {
			res.Completed[i] = fmt.Errorf("store: complete %s %s: %w", c.Key.id(), c.IP, ErrLeaseLost)
			continue
		}
		a.state, a.due, a.token = d.State, ms(d.Next), 0
		if innerChanges(d.Changes) != "" {
			if gathered[c.Key] == nil {
				order = append(order, c.Key)
			}
			gathered[c.Key] = append(gathered[c.Key], d.Changes)
		}
	}
	for _, k := range order {
		x := mm.byKey[k]
		if in := x.intents[x.open]; in != nil && in.attempts == 0 && len(in.parts)+len(gathered[k]) <= maxParts {
			in.parts = append(in.parts, gathered[k]...)
			continue
		}
		x.seq++
		x.open = x.seq
		x.intents[x.seq] = &memIntent{parts: gathered[k], due: t + gather.Milliseconds()}
	}
	// Announcements first, then checks, in due order.
	type due struct {
		x   *memMonitor
		seq int64
		ip  netip.Addr
		at  int64
	}
	var anns, checks []due
	for _, x := range mm.byKey {
		for seq, in := range x.intents {
			if in.due <= t {
				anns = append(anns, due{x: x, seq: seq, at: in.due})
			}
		}
		for ip, a := range x.addrs {
			if a.due <= t {
				checks = append(checks, due{x: x, ip: ip, at: a.due})
			}
		}
	}
	byDue := func(a, b due) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.x.m.id(), b.x.m.id()), cmp.Compare(a.seq, b.seq), a.ip.Compare(b.ip))
	}
	slices.SortFunc(anns, byDue)
	slices.SortFunc(checks, byDue)
	for _, d := range anns[:min(len(anns), max(limit, 0))] {
		in := d.x.intents[d.seq]
		in.attempts++
		in.due = t + announceLease.Milliseconds()
		if d.x.open == d.seq {
			d.x.open = 0
		}
		res.Announcements = append(res.Announcements, MonitorPending{Monitor: d.x.m, Seq: d.seq, Changes: joinChanges(in.parts),
			Attempt: in.attempts, IdempotencyKey: monitorKey(d.x.m, d.seq)})
	}
	tok := t + checkLease.Milliseconds()
	for _, d := range checks[:min(len(checks), max(limit-len(res.Announcements), 0))] {
		a := d.x.addrs[d.ip]
		res.Claims = append(res.Claims, MonitorClaim{Key: d.x.m.MonitorKey, IP: d.ip, Due: time.UnixMilli(a.due).UTC(), State: a.state, Token: tok})
		a.due, a.token = tok, tok
	}
	var next int64
	for _, x := range mm.byKey {
		for _, in := range x.intents {
			if next == 0 || in.due < next {
				next = in.due
			}
		}
		for _, a := range x.addrs {
			if next == 0 || a.due < next {
				next = a.due
			}
		}
	}
	if next != 0 {
		res.Next = time.UnixMilli(next).UTC()
	}
	return res, nil
}

func (m *Memory) MarkMonitorPosted(ctx context.Context, p MonitorPending) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if x := m.monitors().byKey[p.Monitor.MonitorKey]; x != nil && x.m.CreatedAt.Equal(p.Monitor.CreatedAt) {
		delete(x.intents, p.Seq)
	}
	return nil
}
