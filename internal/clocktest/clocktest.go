// Package clocktest is a scheduler clock (watch.Clock, internal/loop) for
// tests: it moves only when the test advances it, and a timer whose
// deadline has come fires at once, so a test steps a scheduler through
// hours without waiting and without comparing wall-clock times.
package clocktest

import (
	"sync"
	"time"

	"github.com/rdnsbot/rdnsbot/internal/loop"
)

// Clock is a loop.Clock that moves only when Advance is called.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*timer]time.Time // armed timers and their deadlines
	armed  chan time.Time       // when set, receives each deadline a timer is given
}

var _ loop.Clock = (*Clock)(nil)

// New returns a Clock standing at t.
func New(t time.Time) *Clock {
	return &Clock{now: t, timers: map[*timer]time.Time{}}
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and fires the timers it passes.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t, at := range c.timers {
		if !at.After(c.now) {
			delete(c.timers, t)
			t.fire(c.now)
		}
	}
}

// Armed makes every later timer (Re)set send its deadline on the channel
// it returns, which holds buffer of them: for a test that checks when a
// scheduler means to wake. A full channel blocks the scheduler.
func (c *Clock) Armed(buffer int) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = make(chan time.Time, buffer)
	return c.armed
}

// NewTimer implements loop.Clock.
func (c *Clock) NewTimer(at time.Time) loop.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(at)
	return t
}

type timer struct {
	c  *Clock
	ch chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

func (t *timer) Reset(at time.Time) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	select {
	case <-t.ch: // drop a tick nobody read
	default:
	}
	if t.c.armed != nil {
		t.c.armed <- at
	}
	if at.After(t.c.now) {
		t.c.timers[t] = at
		return
	}
	delete(t.c.timers, t)
	t.fire(t.c.now)
}

func (t *timer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.timers, t)
}
