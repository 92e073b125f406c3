package store

import (
	"cmp"
	"container/heap"
	"container/list"
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// memMonitors are the Memory store's monitors, under Memory.mu, kept the
// way Redis keeps them so that a pass costs what it claims and records,
// however many addresses are monitored: each channel's queue is a heap by
// due time; the channels that may have an address due take turns in ready
// (READY's round robin), the others wait in a heap by their queue's
// earliest time (WAIT, exact here); intents are in a heap by due time.
type memMonitors struct {
	byKey   map[MonitorKey]*memMonitor
	chans   map[string]*memChan
	ready   list.List // of *memChan, the next turn first
	waiting heapOf[memChan]
	intents heapOf[memIntent]
	total   int
}

type memMonitor struct {
	m       Monitor
	addrs   map[netip.Addr]*memMonAddr
	seq     int64
	open    int64 // the intent still gathering, 0 for none
	intents map[int64]*memIntent
}

// memChan is one channel's queue and its place in the round robin: in
// ready (turn set) or waiting (at ≥ 0), never both.
type memChan struct {
	queue heapOf[memMonAddr]
	turn  *list.Element
	at    int
}

type memMonAddr struct {
	key        MonitorKey
	ip         netip.Addr
	state      AddrState
	due, token int64 // token: the current claim's lease end, 0 when unclaimed
	at         int
}

type memIntent struct {
	mon      *memMonitor
	seq      int64
	parts    []json.RawMessage
	attempts int
	due      int64
	at       int
}

// maxParts is how many outcomes' changes one intent gathers (as MAXPARTS).
const maxParts = 64

func (m *Memory) monitors() *memMonitors {
	if m.mon == nil {
		m.mon = &memMonitors{byKey: map[MonitorKey]*memMonitor{}, chans: map[string]*memChan{},
			waiting: heapOf[memChan]{less: func(a, b *memChan) bool { return a.queue.less(a.queue.s[0], b.queue.s[0]) },
				at: func(c *memChan) *int { return &c.at }},
			intents: heapOf[memIntent]{less: func(a, b *memIntent) bool {
				return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.mon.m.id(), b.mon.m.id()), cmp.Compare(a.seq, b.seq)) < 0
			}, at: func(in *memIntent) *int { return &in.at }}}
	}
	return m.mon
}

func newMemChan() *memChan {
	return &memChan{at: -1, queue: heapOf[memMonAddr]{
		less: func(a, b *memMonAddr) bool {
			return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.key.Thread, b.key.Thread), a.ip.Compare(b.ip)) < 0
		},
		at: func(a *memMonAddr) *int { return &a.at }}}
}

// moved restores the order after a's due time changed.
func (mm *memMonitors) moved(a *memMonAddr) {
	ch := mm.chans[a.key.Channel]
	heap.Fix(&ch.queue, a.at)
	if ch.at >= 0 {
		heap.Fix(&mm.waiting, ch.at)
	}
}

func (m *Memory) AddMonitor(ctx context.Context, mon Monitor, addrs []MonitorAddr, lim MonitorLimits) (int, error) {
	addrs, err := mon.validate(addrs)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.monitors()
	cur := mm.byKey[mon.MonitorKey]
	var fresh []MonitorAddr
	for _, a := range addrs {
		if cur == nil || cur.addrs[a.IP] == nil {
			fresh = append(fresh, a)
		}
	}
	ch := mm.chans[mon.Channel]
	inChannel := 0
	if ch != nil {
		inChannel = ch.queue.Len()
	}
	switch {
	case lim.PerChannel > 0 && inChannel+len(fresh) > lim.PerChannel:
		return 0, ErrMonitorChannelLimit
	case lim.Total > 0 && mm.total+len(fresh) > lim.Total:
		return 0, ErrMonitorTotalLimit
	}
	if cur == nil {
		first := mon
		first.Targets = nil // added below
		cur = &memMonitor{m: first, addrs: map[netip.Addr]*memMonAddr{}, intents: map[int64]*memIntent{}}
		mm.byKey[mon.MonitorKey] = cur
	}
	if cur.m.Targets == nil || len(escList(cur.m.Targets))+len(escList(mon.Targets)) < maxTargets {
		cur.m.Targets, _ = unescList(targetsText(append(slices.Clone(cur.m.Targets), mon.Targets...)))
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	if ch == nil {
		ch = newMemChan()
		mm.chans[mon.Channel] = ch
	}
	for _, a := range fresh {
		e := &memMonAddr{key: mon.MonitorKey, ip: a.IP, state: a.State, due: ms(a.Due)}
		cur.addrs[a.IP] = e
		heap.Push(&ch.queue, e)
	}
	switch {
	case ch.at >= 0:
		heap.Fix(&mm.waiting, ch.at)
	case ch.turn == nil:
		heap.Push(&mm.waiting, ch)
	}
	mm.total += len(fresh)
	return len(fresh), nil
}

func (m *Memory) RemoveMonitor(ctx context.Context, k MonitorKey, ips []netip.Addr) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.monitors()
	cur := mm.byKey[k]
	if cur == nil {
		return 0, nil
	}
	ch := mm.chans[k.Channel]
	n := 0
	remove := func(a *memMonAddr) {
		heap.Remove(&ch.queue, a.at)
		delete(cur.addrs, a.ip)
		n++
	}
	if ips == nil {
		for _, a := range cur.addrs {
			remove(a)
		}
	}
	for _, ip := range ips {
		if a := cur.addrs[ip.Unmap()]; a != nil {
			remove(a)
		}
	}
	mm.total -= n
	switch {
	case ch.queue.Len() == 0:
		if ch.turn != nil {
			mm.ready.Remove(ch.turn)
		}
		if ch.at >= 0 {
			heap.Remove(&mm.waiting, ch.at)
		}
		delete(mm.chans, k.Channel)
	case ch.at >= 0:
		heap.Fix(&mm.waiting, ch.at)
	}
	if len(cur.addrs) == 0 {
		for _, in := range cur.intents {
			heap.Remove(&mm.intents, in.at)
		}
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
			if a.state.Status == diagnose.StatusFail || a.state.Status == diagnose.StatusPermerror {
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
	res := MonitorCycleResult{Completed: mm.complete(done, t+gather.Milliseconds())}
	for limit > len(res.Announcements) && mm.intents.Len() > 0 && mm.intents.s[0].due <= t {
		in := mm.intents.s[0]
		x := in.mon
		in.attempts++
		in.due = t + announceLease.Milliseconds()
		heap.Fix(&mm.intents, in.at)
		if x.open == in.seq {
			x.open = 0
		}
		res.Announcements = append(res.Announcements, MonitorPending{Monitor: x.m, Seq: in.seq, Changes: joinChanges(in.parts),
			Attempt: in.attempts, IdempotencyKey: monitorKey(x.m, in.seq)})
	}
	res.Claims = mm.claim(t, limit-len(res.Announcements), t+checkLease.Milliseconds())
	var next int64
	switch {
	case mm.ready.Len() > 0:
		next = t
	case mm.waiting.Len() > 0:
		next = mm.waiting.s[0].queue.s[0].due
	}
	if mm.intents.Len() > 0 && (next == 0 || mm.intents.s[0].due < next) {
		next = mm.intents.s[0].due
	}
	if next != 0 {
		res.Next = time.UnixMilli(next).UTC()
	}
	return res, nil
}

// complete records done as the Redis store does: an outcome applies while
// its claim holds; the changes of each monitor's go to one intent, due at
// due.
func (mm *memMonitors) complete(done []MonitorCompletion, due int64) []error {
	errs := make([]error, len(done))
	gathered := map[*memMonitor][]json.RawMessage{}
	var order []*memMonitor
	for i, d := range done {
		c := d.Claim
		x := mm.byKey[c.Key]
		var a *memMonAddr
		if x != nil {
			a = x.addrs[c.IP]
		}
		if a == nil || a.token != c.Token {
			errs[i] = leaseLost(c)
			continue
		}
		a.state, a.due, a.token = d.State, ms(d.Next), 0
		mm.moved(a)
		if innerChanges(d.Changes) != "" {
			if gathered[x] == nil {
				order = append(order, x)
			}
			gathered[x] = append(gathered[x], d.Changes)
		}
	}
	for _, x := range order {
		if in := x.intents[x.open]; in != nil && in.attempts == 0 && len(in.parts)+len(gathered[x]) <= maxParts {
			in.parts = append(in.parts, gathered[x]...)
			continue
		}
		x.seq++
		x.open = x.seq
		in := &memIntent{mon: x, seq: x.seq, parts: gathered[x], due: due}
		x.intents[x.seq] = in
		heap.Push(&mm.intents, in)
	}
	return errs
}

// claim leases up to max addresses due at now until tok, round robin as
// the Redis store's mclaim deals them.
func (mm *memMonitors) claim(now int64, max int, tok int64) []MonitorClaim {
	if max <= 0 {
		return nil
	}
	for mm.waiting.Len() > 0 && mm.waiting.s[0].queue.s[0].due <= now {
		ch := heap.Pop(&mm.waiting).(*memChan)
		ch.turn = mm.ready.PushBack(ch)
	}
	var chans []*memChan
	for e := mm.ready.Front(); e != nil && len(chans) < max; e = e.Next() {
		chans = append(chans, e.Value.(*memChan))
	}
	var claims []MonitorClaim
	served, exhausted := map[*memChan]bool{}, map[*memChan]bool{}
	for round, left := chans, max; left > 0 && len(round) > 0; {
		share, extra := left/len(round), left%len(round)
		var less, more []*memChan
		for k, ch := range round {
			want := share
			if k < extra {
				want++
			}
			if want == 0 {
				less = append(less, ch)
				continue
			}
			for n := 0; n < want && ch.queue.s[0].due <= now; n++ {
				a := ch.queue.s[0]
				claims = append(claims, MonitorClaim{Key: a.key, IP: a.ip, Due: time.UnixMilli(a.due).UTC(), State: a.state, Token: tok})
				a.due, a.token = tok, tok
				heap.Fix(&ch.queue, 0)
				served[ch] = true
				left--
			}
			switch {
			case ch.queue.s[0].due > now:
				exhausted[ch] = true
			case k < extra:
				more = append(more, ch)
			default:
				less = append(less, ch)
			}
		}
		round = append(less, more...)
	}
	for _, ch := range chans {
		switch {
		case exhausted[ch]:
			mm.ready.Remove(ch.turn)
			ch.turn = nil
			heap.Push(&mm.waiting, ch)
		case served[ch]:
			mm.ready.MoveToBack(ch.turn)
		}
	}
	return claims
}

func (m *Memory) MarkMonitorPosted(ctx context.Context, p MonitorPending) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mm := m.monitors()
	if x := mm.byKey[p.Monitor.MonitorKey]; x != nil && x.m.CreatedAt.Equal(p.Monitor.CreatedAt) {
		if in := x.intents[p.Seq]; in != nil {
			heap.Remove(&mm.intents, in.at)
			delete(x.intents, p.Seq)
		}
	}
	return nil
}

// heapOf is a min-heap of *T (container/heap's interface) that keeps each
// element's position in the int at returns, so that an element can be
// fixed or removed where it is.
type heapOf[T any] struct {
	s    []*T
	less func(a, b *T) bool
	at   func(*T) *int
}

func (h *heapOf[T]) Len() int           { return len(h.s) }
func (h *heapOf[T]) Less(i, j int) bool { return h.less(h.s[i], h.s[j]) }

func (h *heapOf[T]) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	*h.at(h.s[i]), *h.at(h.s[j]) = i, j
}

func (h *heapOf[T]) Push(x any) {
	e := x.(*T)
	*h.at(e) = len(h.s)
	h.s = append(h.s, e)
}

func (h *heapOf[T]) Pop() any {
	n := len(h.s) - 1
	e := h.s[n]
	h.s[n], h.s = nil, h.s[:n]
	*h.at(e) = -1
	return e
}
