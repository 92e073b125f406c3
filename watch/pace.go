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
	slots *keyrate.Slots[netip.Addr] // the IPs put off, and the slot each was given
}

func newPacer(every, keep time.Duration) *pacer {
	return &pacer{rate: keyrate.Rate{Every: every}, slots: keyrate.NewSlots[netip.Addr](keyrate.New(0), keep)}
}

// slot is when c may run: now, or the zone's next free slot, which it books.
// A claim that comes back at or after the slot it was given runs then: the
// slot is its own, not a new one to book.
func (p *pacer) slot(c store.Claim, now time.Time) time.Time {
	if p == nil || c.Zone == "" {
		return now
	}
	return p.slots.Slot(now, c.IP, keyrate.Key{Name: c.Zone, Rate: p.rate})
}
