package store

import "time"

// SetMemoryClock replaces the clock of m's FirstDelivery, so tests can expire
// event ids without waiting.
func SetMemoryClock(m *Memory, now func() time.Time) { m.now = now }

// RememberedEvents is how many event ids m holds.
func RememberedEvents(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}
