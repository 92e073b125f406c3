package watch

import (
	"net/netip"
	"time"

	"github.com/rdnsbot/rdnsbot/store"
)

// pacer spaces the rechecks of each reverse zone by every, so that however
// many watched IPs share a zone its authoritative servers see at most one
// diagnosis per interval from this replica. It is the loop's alone.
type pacer struct {
	every time.Duration
	next  map[string]time.Time     // zone → its next free slot
	slots map[netip.Addr]time.Time // IPs put off → the slot they were given
	// sweepAt is the size of the maps at which entries in the past go.
	sweepAt int
}

// minSweep is the least size of the pacer's maps that triggers a sweep.
const minSweep = 4096

func newPacer(every time.Duration) *pacer {
	return &pacer{every: every, next: make(map[string]time.Time), slots: make(map[netip.Addr]time.Time), sweepAt: minSweep}
}

// slot is when c may run: now, or the zone's next free slot, which it books.
// A claim that comes back at or after the slot it was given runs then.
func (p *pacer) slot(c store.Claim, now time.Time) time.Time {
	if p == nil || c.Zone == "" {
		return now
	}
	if at, ok := p.slots[c.IP]; ok && !now.Before(at) {
		delete(p.slots, c.IP)
		return now
	}
	at := now
	if next := p.next[c.Zone]; next.After(now) {
		at = next
	}
	p.next[c.Zone] = at.Add(p.every)
	if at.After(now) {
		p.slots[c.IP] = at
	}
	p.sweep(now)
	return at
}

// sweep forgets slots in the past once the maps grow (a zone idle since, an
// IP another replica checked), then lets them double before sweeping again,
// so sweeps cost as much as the insertions that paid for them.
func (p *pacer) sweep(now time.Time) {
	if len(p.next)+len(p.slots) < p.sweepAt {
		return
	}
	defer func() { p.sweepAt = max(minSweep, 2*(len(p.next)+len(p.slots))) }()
	for z, t := range p.next {
		if t.Before(now) {
			delete(p.next, z)
		}
	}
	for ip, t := range p.slots {
		if t.Before(now.Add(-p.every)) {
			delete(p.slots, ip)
		}
	}
}
