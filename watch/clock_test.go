package watch_test

import (
	"sync"
	"time"

	"github.com/rdnsbot/rdnsbot/watch"
)

// fakeClock is a watch.Clock that moves only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]time.Time // armed timers and their deadlines
	armed  chan time.Time           // when set, receives each deadline a timer is given
}

func newFakeClock(t time.Time) *fakeClock {
	return &fakeClock{now: t, timers: make(map[*fakeTimer]time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward and fires the timers it passes.
func (c *fakeClock) Advance(d time.Duration) {
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

func (c *fakeClock) NewTimer(at time.Time) watch.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(at)
	return t
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) fire(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) Reset(at time.Time) {
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

func (t *fakeTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.timers, t)
}
