package watch

import (
	"net/netip"
	"time"

	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/store"
)

// pacer spaces the rechecks of each reverse zone by every, so that however
// many watched IPs share a zone its authoritative servers see at most one
// diagnosis per interval from this replica. It is the loop's alone.
type pacer struct {
	rate  keyrate.Rate
	zones *keyrate.Limiter         // zone → its next free slot
	slots map[netip.Addr]time.Time // IPs put off → the slot they were given
	// sweepAt is the size of slots at which entries in the past go.
	sweepAt int
}

// minSweep is the least size of slots that triggers a sweep.
const minSweep = 4096

func newPacer(every time.Duration) *pacer {
	return &pacer{rate: keyrate.Rate{Every: every}, zones: keyrate.New(0), slots: make(map[netip.Addr]time.Time), sweepAt: minSweep}
}

// slot is when c may run: now, or the zone's next free slot, which it books.
// A claim that comes back at or after the slot it was given runs then: the
// slot is its own, not a new one to book.
func (p *pacer) slot(c store.Claim, now time.Time) time.Time {
	if p == nil || c.Zone == "" {
		return now
	}
	if at, ok := p.slots[c.IP]; ok && !now.Before(at) {
		delete(p.slots, c.IP)
		return now
	}
	at := p.zones.Reserve(now, keyrate.Key{Name: c.Zone, Rate: p.rate})
	if at.After(now) {
		p.slots[c.IP] = at
	}
	p.sweep(now)
	return at
}

// sweep forgets slots long past once the map grows (an IP another replica
// checked meanwhile), then lets it double before sweeping again, so sweeps
// cost as much as the insertions that paid for them. (keyrate forgets the
// zones.)
func (p *pacer) sweep(now time.Time) {
	if len(p.slots) < p.sweepAt {
		return
	}
	for ip, t := range p.slots {
		if t.Before(now.Add(-p.rate.Every)) {
			delete(p.slots, ip)
		}
	}
	p.sweepAt = max(minSweep, 2*len(p.slots))
}
