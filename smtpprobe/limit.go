package smtpprobe

import (
	"sync"
	"time"
)

// limiter keeps one token bucket per key, as a "theoretical arrival time"
// (the generic cell rate algorithm): a key whose time is in the past holds a
// full bucket and can be forgotten, so the map never needs a timer.
type limiter struct {
	mu   sync.Mutex
	max  int
	now  func() time.Time
	tats map[string]time.Time
}

type bucketKey struct {
	name  string
	limit Limit
}

func newLimiter(max int, now func() time.Time) *limiter {
	return &limiter{max: max, now: now, tats: map[string]time.Time{}}
}

// allow takes one token from every key's bucket, or from none of them.
func (l *limiter) allow(keys ...bucketKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	next := make([]time.Time, len(keys))
	fresh := 0
	for i, k := range keys {
		tat, ok := l.tats[k.name]
		if !ok {
			fresh++
		}
		if tat.Before(now) {
			tat = now
		}
		next[i] = tat.Add(k.limit.Every)
		// Burst tokens fit into Burst×Every of look-ahead.
		if next[i].Sub(now) > time.Duration(k.limit.Burst)*k.limit.Every {
			return false
		}
	}
	if len(l.tats)+fresh > l.max {
		l.sweep(now)
		if len(l.tats)+fresh > l.max {
			return false // full of live buckets: refuse rather than forget one
		}
	}
	for i, k := range keys {
		l.tats[k.name] = next[i]
	}
	return true
}

// sweep forgets the keys whose buckets are full again.
func (l *limiter) sweep(now time.Time) {
	for k, tat := range l.tats {
		if !tat.After(now) {
			delete(l.tats, k)
		}
	}
}
