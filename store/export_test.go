package store

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// SetMemoryClock replaces the clock of m's FirstDelivery, so tests can expire
// event ids without waiting.
func SetMemoryClock(m *Memory, now func() time.Time) { m.now = now }

// RememberedEvents is how many event ids m holds.
func RememberedEvents(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

// Raw and Key let tests damage the data behind the store's back.
func (r *Redis) Raw() redis.UniversalClient { return r.c }
func (r *Redis) Key(name string) string     { return r.key(name) }
