package watch

import "github.com/rdnsbot/rdnsbot/internal/loop"

// Clock is the scheduler's source of time, so tests can control it. Timers
// take absolute deadlines: a deadline already past fires at once, so a test
// that moves its clock forward can never make a timer miss its time.
// Package monitor's scheduler runs on the same (see internal/loop).
type Clock = loop.Clock

// Timer is a Clock's timer.
type Timer = loop.Timer

// SystemClock is the real clock.
type SystemClock = loop.SystemClock
