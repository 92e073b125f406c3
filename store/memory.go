package store

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Memory is the Store kept in process memory, for running without Redis:
// watches die with the process and replicas do not share them. It has the
// Redis store's semantics (the same contract tests run on both); lookups scan
// every watch, which is fine for the few a single process holds.
type Memory struct {
	mu     sync.Mutex
	ips    map[netip.Addr]*memIP
	ann    map[Key]int64        // pending announcement intents: due time in Unix ms
	events map[string]time.Time // FirstDelivery: event id → when it expires
	// sweepAt is the size of events at which expired ids are dropped.
	sweepAt int
	now     func() time.Time // FirstDelivery's clock: time.Now
	// Watches per channel, per user and in total, for Limits.
	perChannel, perUser map[string]int
	total               int
	// turn is each channel's last turn in claimDue's round robin, from seq.
	turn map[string]int64
	seq  int64
	mon  *memMonitors // created on first use (monitor_memory.go)
}

// minSweep is the least number of remembered event ids that triggers a sweep.
const minSweep = 4096

var _ Store = (*Memory)(nil)

type memIP struct {
	checks    int
	status    diagnose.Status
	checkedAt time.Time
	due       int64 // Unix ms; meaningful when scheduled
	scheduled bool
	token     int64  // the current claim's, 0 when unclaimed
	queue     string // the channel the IP is scheduled under, for fairness
	zone      string // the last diagnosis's reverse zone
	watches   map[Key]*memWatch
	results   map[Kind]diagnose.Result
}

type memWatch struct {
	w        Watch // without the IP-wide fields
	attempts int
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{ips: make(map[netip.Addr]*memIP), ann: make(map[Key]int64),
		events: make(map[string]time.Time), sweepAt: minSweep, now: time.Now,
		perChannel: make(map[string]int), perUser: make(map[string]int), turn: make(map[string]int64)}
}

// count adds d to the watch counts of w.
func (m *Memory) count(w Watch, d int) {
	m.perChannel[w.Channel] += d
	m.perUser[w.RequestedBy] += d
	m.total += d
	if m.perChannel[w.Channel] == 0 {
		delete(m.perChannel, w.Channel)
	}
	if m.perUser[w.RequestedBy] == 0 {
		delete(m.perUser, w.RequestedBy)
	}
}

// overLimit reports the first of lim a new watch like w would exceed.
func (m *Memory) overLimit(w Watch, lim Limits) error {
	for _, c := range []struct {
		err        error
		limit, now int
	}{{ErrChannelLimit, lim.PerChannel, m.perChannel[w.Channel]}, {ErrUserLimit, lim.PerUser, m.perUser[w.RequestedBy]}, {ErrTotalLimit, lim.Total, m.total}} {
		if c.limit > 0 && c.now >= c.limit {
			return c.err
		}
	}
	return nil
}

func (m *Memory) Add(ctx context.Context, w Watch, due time.Time, lim Limits) (bool, error) {
	if err := w.validate(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.ips[w.IP]
	cur := (*memWatch)(nil)
	if e != nil {
		cur = e.watches[w.Key]
	}
	switch {
	case cur != nil && cur.w.State == StateActive:
		return false, nil
	case cur != nil:
		// An ended watch starts again ("Keep watching"): it counted already,
		// so no limit stops it.
		delete(m.ann, w.Key)
		m.count(cur.w, -1)
		m.count(w, 1)
	default:
		if err := m.overLimit(w, lim); err != nil {
			return false, err
		}
		m.count(w, 1)
	}
	if e == nil {
		e = &memIP{status: w.Status, checkedAt: w.CheckedAt.Truncate(time.Millisecond), zone: w.Zone, watches: make(map[Key]*memWatch), results: make(map[Kind]diagnose.Result)}
		m.ips[w.IP] = e
	}
	e.watches[w.Key] = &memWatch{w: Watch{Key: w.Key, RequestedBy: w.RequestedBy, Source: w.Source, CreatedAt: w.CreatedAt.UTC(), HELO: w.HELO, State: StateActive}}
	if !e.scheduled {
		e.queue = w.Channel
	}
	if d := ms(due); !e.scheduled || d < e.due {
		e.due, e.scheduled = d, true
	}
	return true, nil
}

func (m *Memory) Remove(ctx context.Context, k Key) (bool, error) {
	k.IP = k.IP.Unmap()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.ips[k.IP]
	if e == nil || e.watches[k] == nil {
		return false, nil
	}
	m.count(e.watches[k].w, -1)
	delete(e.watches, k)
	delete(m.ann, k)
	m.settle(k.IP, e)
	return true, nil
}

// settle unschedules an IP without active watches and forgets one without
// any watch; it reports whether an active watch remains.
func (m *Memory) settle(ip netip.Addr, e *memIP) bool {
	active := false
	for _, mw := range e.watches {
		active = active || mw.w.State == StateActive
	}
	if len(e.watches) == 0 {
		delete(m.ips, ip)
	}
	e.scheduled = e.scheduled && active
	return active
}

// view returns a watch with the IP-wide fields filled in.
func (e *memIP) view(mw *memWatch) Watch {
	w := mw.w
	w.Status, w.CheckedAt, w.Zone = e.status, e.checkedAt, e.zone
	if e.scheduled && w.State == StateActive {
		w.NextCheck = time.UnixMilli(e.due).UTC()
	}
	return w
}

func (m *Memory) ListByUser(ctx context.Context, user string) ([]Watch, error) {
	return m.filter(func(w *Watch) bool { return w.RequestedBy == user }), nil
}

func (m *Memory) ListByChannel(ctx context.Context, channel string) ([]Watch, error) {
	return m.filter(func(w *Watch) bool { return w.Channel == channel }), nil
}

func (m *Memory) Count(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.total, nil
}

func (m *Memory) filter(keep func(*Watch) bool) []Watch {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ws []Watch
	for _, e := range m.ips {
		for _, mw := range e.watches {
			if keep(&mw.w) {
				ws = append(ws, e.view(mw))
			}
		}
	}
	sortWatches(ws)
	return ws
}

// claimDue leases up to max IPs due at now fairly, as Redis does: round
// robin across the channels the IPs are queued under, least recently served
// channel first, the most overdue IP of each channel first. (A channel that
// was idle goes first here and last in Redis; either way no channel waits
// more than one turn of each other busy channel.)
func (m *Memory) claimDue(now int64, max int, lease time.Duration) []Claim {
	queues := map[string][]netip.Addr{}
	for ip, e := range m.ips {
		if e.scheduled && e.due <= now {
			queues[e.queue] = append(queues[e.queue], ip)
		}
	}
	if len(m.turn) > minSweep {
		// Forget the turns of channels with nothing due: bounded memory, at
		// the cost of letting them go first when they next have something.
		maps.DeleteFunc(m.turn, func(ch string, _ int64) bool { return queues[ch] == nil })
	}
	chans := slices.Collect(maps.Keys(queues))
	slices.SortFunc(chans, func(a, b string) int { return cmp.Or(cmp.Compare(m.turn[a], m.turn[b]), cmp.Compare(a, b)) })
	for _, q := range queues {
		slices.SortFunc(q, func(a, b netip.Addr) int { return cmp.Or(cmp.Compare(m.ips[a].due, m.ips[b].due), a.Compare(b)) })
	}
	tok := now + lease.Milliseconds()
	var claims []Claim
	for more := true; more && len(claims) < max; {
		more = false
		for _, ch := range chans {
			if len(claims) >= max {
				break
			}
			q := queues[ch]
			if len(q) == 0 {
				continue
			}
			queues[ch], more = q[1:], true
			m.seq++
			m.turn[ch] = m.seq
			claims = append(claims, m.claim(q[0], tok))
		}
	}
	return claims
}

// claim leases ip until tok.
func (m *Memory) claim(ip netip.Addr, tok int64) Claim {
	e := m.ips[ip]
	c := Claim{IP: ip, Due: time.UnixMilli(e.due).UTC(), Zone: e.zone, Checks: e.checks, Token: tok}
	e.due, e.token = tok, tok
	for _, mw := range e.watches {
		w := e.view(mw)
		w.NextCheck = time.Time{} // as in Redis: claimed, the lease is not a check time
		c.Watches = append(c.Watches, w)
	}
	sortWatches(c.Watches)
	return c
}

func (m *Memory) complete(c Claim, o Outcome) error {
	e := m.ips[c.IP]
	if e == nil || e.token != c.Token {
		return fmt.Errorf("store: complete %s: %w", c.IP, ErrLeaseLost)
	}
	e.token = 0
	if o.Deferred {
		o.Transitions = nil
	} else {
		e.checks++
		e.status, e.checkedAt = o.Result.Status, o.Result.CheckedAt.Truncate(time.Millisecond).UTC()
		e.zone = usableZone(o.Result.ReverseZone)
	}
	for _, t := range o.Transitions {
		t.Key.IP = c.IP
		mw := e.watches[t.Key]
		if mw == nil || !mw.w.CreatedAt.Equal(t.CreatedAt.Truncate(time.Millisecond)) || mw.w.State != StateActive ||
			(t.Kind == KindProgress && mw.w.ProgressAnnounced) {
			continue
		}
		switch t.Kind {
		case KindProgress:
			mw.w.ProgressAnnounced = true
		case KindFixed:
			mw.w.State = StateFixed
		default:
			mw.w.State = StateExpired
		}
		mw.w.Pending, mw.attempts = t.Kind, 0
		m.ann[t.Key] = ms(o.Now)
		e.results[t.Kind] = o.Result
	}
	if m.settle(c.IP, e) {
		// A due time below the token was set during the check (a new
		// thread's watch): keep it if it is earlier.
		next := ms(o.Next)
		if e.due < c.Token {
			next = min(next, e.due)
		}
		e.due = next
	}
	return nil
}

// nextDue is the earliest due time of a check or an announcement, zero for
// none.
func (m *Memory) nextDue() time.Time {
	var next int64
	found := false
	consider := func(d int64) {
		if !found || d < next {
			next, found = d, true
		}
	}
	for _, e := range m.ips {
		if e.scheduled {
			consider(e.due)
		}
	}
	for _, d := range m.ann {
		consider(d)
	}
	if !found {
		return time.Time{}
	}
	return time.UnixMilli(next).UTC()
}

// claimAnnouncements leases up to max intents due at now, the oldest first
// as in Redis.
func (m *Memory) claimAnnouncements(now int64, max int, lease time.Duration) []Pending {
	var due []Key
	for k, d := range m.ann {
		if d <= now {
			due = append(due, k)
		}
	}
	slices.SortFunc(due, func(a, b Key) int {
		return cmp.Or(cmp.Compare(m.ann[a], m.ann[b]), a.IP.Compare(b.IP), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Thread, b.Thread))
	})
	var ps []Pending
	for _, k := range due {
		if len(ps) >= max {
			break
		}
		e := m.ips[k.IP]
		if e == nil || e.watches[k] == nil || e.watches[k].w.Pending == "" {
			delete(m.ann, k) // as in Redis: an intent outliving its watch is dropped
			continue
		}
		mw := e.watches[k]
		mw.attempts++
		m.ann[k] = now + lease.Milliseconds()
		w := e.view(mw)
		ps = append(ps, Pending{Watch: w, Kind: w.Pending, Result: e.results[w.Pending], Attempt: mw.attempts, IdempotencyKey: idempotencyKey(w, w.Pending)})
	}
	return ps
}

func (m *Memory) Cycle(ctx context.Context, now time.Time, done []Completion, max int, checkLease, announceLease time.Duration) (CycleResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := CycleResult{Completed: make([]error, len(done))}
	for i, d := range done {
		res.Completed[i] = m.complete(d.Claim, d.Outcome)
	}
	res.Announcements = m.claimAnnouncements(ms(now), max, announceLease)
	res.Claims = m.claimDue(ms(now), max-len(res.Announcements), checkLease)
	res.Next = m.nextDue()
	return res, nil
}

func (m *Memory) MarkPosted(ctx context.Context, p Pending) error {
	k := p.Watch.Key
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.ips[k.IP]
	if e == nil {
		return nil
	}
	mw := e.watches[k]
	if mw == nil || !mw.w.CreatedAt.Equal(p.Watch.CreatedAt) || mw.w.Pending != p.Kind {
		return nil
	}
	delete(m.ann, k)
	if mw.w.State == StateActive {
		mw.w.Pending, mw.attempts = "", 0
		return nil
	}
	m.count(mw.w, -1)
	delete(e.watches, k)
	m.settle(k.IP, e)
	return nil
}

func (m *Memory) FirstDelivery(ctx context.Context, eventID string, ttl time.Duration) (bool, error) {
	if err := checkDelivery(eventID, ttl); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if exp, ok := m.events[eventID]; ok && now.Before(exp) {
		return false, nil
	}
	if len(m.events) >= m.sweepAt {
		// Drop what has expired, then let the map double before sweeping
		// again: each sweep is paid for by as many insertions, however many
		// ids are live (a sweep on every call would be quadratic).
		maps.DeleteFunc(m.events, func(_ string, exp time.Time) bool { return !now.Before(exp) })
		m.sweepAt = max(minSweep, 2*len(m.events))
	}
	m.events[eventID] = now.Add(ttl)
	return true, nil
}

func (m *Memory) Ping(ctx context.Context) error { return nil }

func (m *Memory) Close() error { return nil }
