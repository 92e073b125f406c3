// Package loop holds what the schedulers of package watch and package
// monitor share: the Clock they run on (and Post's timeout on it), the
// backoff while the store is unreachable, the defaults of their settings, the shape of
// their cap errors and the posting of one claimed announcement. Each
// package re-exports what is part of its API (watch.Clock is Clock).
package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Clock is a scheduler's source of time, so tests can control it. Timers
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

// withTimeout is context.WithTimeout on c: ctx is done, with cause
// context.DeadlineExceeded, when c reaches now + d.
func withTimeout(ctx context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	t := c.NewTimer(c.Now().Add(d))
	go func() {
		select {
		case <-t.C():
			cancel(context.DeadlineExceeded)
		case <-ctx.Done():
		}
		t.Stop()
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Backoff is how long a loop waits after failures store errors in a row:
// from 1s, doubling, up to 30s.
func Backoff(failures int) time.Duration {
	return min(time.Second<<min(max(failures, 1)-1, 5), 30*time.Second)
}

// Default sets *d to v when it is zero or negative.
func Default(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Cap is a configured cap as the store takes it: v, def for zero, 0 (the
// store's "no limit") for a negative v.
func Cap(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// CapScope names one cap.
type CapScope string

const (
	CapPerChannel CapScope = "per channel"
	CapPerUser    CapScope = "per user"
	CapTotal      CapScope = "in total"
)

// Counted is what a package's caps count: its sentinel, which its
// CapErrors wrap, and the word for what is counted.
type Counted interface {
	Sentinel() error
	Noun() string
}

// CapError says which cap stopped a request and its value; C is what the
// cap counts (each package's own, so errors.Is finds its sentinel).
type CapError[C Counted] struct {
	Scope CapScope
	Limit int
}

func (e *CapError[C]) Error() string {
	var c C
	return fmt.Sprintf("%v: at most %d %s %s", c.Sentinel(), e.Limit, c.Noun(), e.Scope)
}

func (e *CapError[C]) Unwrap() error {
	var c C
	return c.Sentinel()
}

// ErrUndeliverable, wrapped by an announcer's error, says retrying cannot
// help (channel archived, bot removed): the announcement is given up as if
// posted.
var ErrUndeliverable = errors.New("watch: announcement undeliverable")

// Post posts one claimed announcement and, unless that failed, records it
// with mark: a failed post is claimed again after the lease (lease, the
// claim's) with the same idempotency key; an undeliverable one is recorded
// as if posted. The post is given up within half the lease, measured on c
// because the lease is: a post still running when the lease ends could be
// duplicated by the replica that claims it next, which looks for the
// message before it exists. It returns mark's error (the post reached its
// thread but is not recorded: claimed again, the poster finds it by key).
func Post(ctx context.Context, c Clock, lease time.Duration, log *slog.Logger, post, mark func(context.Context) error) error {
	pctx, cancel := withTimeout(ctx, c, lease/2)
	err := post(pctx)
	timedOut := errors.Is(context.Cause(pctx), context.DeadlineExceeded)
	cancel()
	switch {
	case errors.Is(err, ErrUndeliverable):
		log.Warn("announcement undeliverable; given up", "err", err)
	case err != nil:
		log.Warn("announcement failed; retried after the lease", "err", err, "timed_out", timedOut)
		return nil
	}
	if err := mark(ctx); err != nil {
		log.Warn("announcement posted but not recorded", "err", err)
		return err
	}
	return nil
}
