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
// put the work off until then). One Limiter serves keys of different rates.
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

// Len is the number of keys held, for tests and metrics.
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
