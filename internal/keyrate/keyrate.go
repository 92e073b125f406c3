// Package keyrate limits events per key (a reverse zone, a channel, a user)
// with the generic cell rate algorithm (GCRA, ITU-T I.371; the "virtual
// scheduling" form): each key keeps only its theoretical arrival time (TAT),
// the time at which its bucket is full again. A key whose TAT is past holds
// a full bucket and says nothing a fresh key would not, so it can be
// forgotten: the map needs no timer and stays as large as the keys still
// limited.
//
// Allow refuses an event over the rate (abuse limits: take or refuse);
// Reserve books the next free slot and says when it is (pacing: wait, or
// put the work off until then); Slots keeps, for work put off, the slot
// each item was given. One Limiter serves keys of different rates.
package keyrate

import (
	"sync"
	"time"
)

// Rate is one event per Every, with Burst more allowed at once.
type Rate struct {
	Every time.Duration
	Burst int
}

// PerSecond is the Rate of n events a second, without burst; n ≤ 0 is no
// limit.
func PerSecond(n float64) Rate {
	if n <= 0 {
		return Rate{}
	}
	return Rate{Every: time.Duration(float64(time.Second) / n)}
}

// Key is a key and its rate.
type Key struct {
	Name string
	Rate Rate
}

// Limiter keeps the keys' arrival times. It is safe for concurrent use.
type Limiter struct {
	maxKeys int

	mu      sync.Mutex
	tats    map[string]time.Time
	sweepAt int // the map size that triggers the next sweep
}

// minSweep is the least map size at which keys with full buckets are swept.
const minSweep = 256

// New returns a Limiter that holds at most maxKeys limited keys for Allow
// (0: no bound). Reserve is not bounded: it never refuses, and its keys go
// once their slots are past.
func New(maxKeys int) *Limiter {
	return &Limiter{maxKeys: maxKeys, tats: map[string]time.Time{}, sweepAt: minSweep}
}

// Allow takes one event at now from every key's bucket, or from none of
// them: it is false when one key is over its rate, or when taking would
// hold more than maxKeys limited keys (refusing beats forgetting a key that
// is still limited, which would reset its bucket).
func (l *Limiter) Allow(now time.Time, keys ...Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := make([]time.Time, len(keys))
	fresh := 0
	for i, k := range keys {
		tat, known := l.tats[k.Name]
		if !known {
			fresh++
		}
		tat = later(tat, now)
		if tat.Sub(now) > time.Duration(k.Rate.Burst)*k.Rate.Every {
			return false
		}
		next[i] = tat.Add(k.Rate.Every)
	}
	if l.maxKeys > 0 && len(l.tats)+fresh > l.maxKeys {
		l.sweep(now)
		if len(l.tats)+fresh > l.maxKeys {
			return false
		}
	}
	for i, k := range keys {
		l.tats[k.Name] = next[i]
	}
	l.maybeSweep(now)
	return true
}

// Reserve books key's next event and returns when it may happen: now, or
// the key's next free slot. The caller must then act at that time (sleep,
// or put the work off), since the slot is taken either way.
func (l *Limiter) Reserve(now time.Time, k Key) time.Time {
	if k.Rate.Every <= 0 {
		return now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tat := l.tats[k.Name]
	at := later(now, tat.Add(-time.Duration(k.Rate.Burst)*k.Rate.Every))
	l.tats[k.Name] = later(tat, at).Add(k.Rate.Every)
	l.maybeSweep(now)
	return at
}

// Len is the number of keys held: what a shared limiter costs, which the
// tests of its users check does not grow with idle keys.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.tats)
}

// maybeSweep sweeps once the map has doubled since the last sweep, so that
// sweeps cost as much as the insertions that paid for them.
func (l *Limiter) maybeSweep(now time.Time) {
	if len(l.tats) < l.sweepAt {
		return
	}
	l.sweep(now)
	l.sweepAt = max(minSweep, 2*len(l.tats))
}

// sweep forgets the keys whose buckets are full again.
func (l *Limiter) sweep(now time.Time) {
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Slots paces work that is put off rather than waited for (a scheduler
// gives a claim back with its slot as due time): an item keeps the slot it
// was given, so coming back early gets the same slot again and coming back
// at or after it runs, without booking a second one. It is for one
// goroutine (a scheduler's loop).
type Slots[T comparable] struct {
	limiter *Limiter
	rate    Rate
	keep    time.Duration   // how long a slot past stays its item's
	given   map[T]time.Time // items put off → their slot
	sweepAt int
}

// NewSlots returns Slots booking in limiter at rate (no Every: unpaced). A
// slot more than keep in the past is no longer its item's: the item was
// taken by another replica meanwhile, and comes back as a new one.
func NewSlots[T comparable](limiter *Limiter, rate Rate, keep time.Duration) *Slots[T] {
	return &Slots[T]{limiter: limiter, rate: rate, keep: keep, given: map[T]time.Time{}, sweepAt: minSweep}
}

// Slot is when item may run: now, or the next free slot of key (its
// reverse zone; "": unknown, not paced), booked for it. A slot in the
// future is rounded up to a whole millisecond, the resolution at which the
// stores keep due times: a claim given back at a time rounded down would
// come back before its slot, and be put off again and again until the
// clock reached it.
func (s *Slots[T]) Slot(now time.Time, item T, key string) time.Time {
	if s.rate.Every <= 0 || key == "" {
		return now
	}
	if at, ok := s.given[item]; ok {
		delete(s.given, item)
		switch {
		case now.Before(at):
			s.given[item] = at
			return at
		case !at.Before(now.Add(-s.keep)):
			return now // back at its slot
		}
		// A slot long past: booked anew below.
	}
	at := s.limiter.Reserve(now, Key{Name: key, Rate: s.rate})
	if !at.After(now) {
		return now
	}
	if r := at.Truncate(time.Millisecond); r.Before(at) {
		at = r.Add(time.Millisecond)
	}
	s.given[item] = at
	if len(s.given) >= s.sweepAt {
		for it, t := range s.given {
			if t.Before(now.Add(-s.keep)) {
				delete(s.given, it)
			}
		}
		s.sweepAt = max(minSweep, 2*len(s.given))
	}
	return at
}
