package watch

import "time"

// Clock is the scheduler's source of time, so tests can control it. Timers
// take absolute deadlines: a deadline already past fires at once, so a test
// that moves its clock forward can never make a timer miss its time.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires when the clock reaches at.
	NewTimer(at time.Time) Timer
}

// Timer is a Clock's timer.
type Timer interface {
	C() <-chan time.Time
	// Reset re-arms the timer for at, dropping any earlier deadline.
	Reset(at time.Time)
	Stop()
}

// SystemClock is the real clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) NewTimer(at time.Time) Timer { return sysTimer{time.NewTimer(time.Until(at))} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }

// Reset relies on Go 1.23 timer semantics: no stale tick survives a Reset.
func (t sysTimer) Reset(at time.Time) { t.t.Reset(time.Until(at)) }

func (t sysTimer) Stop() { t.t.Stop() }
