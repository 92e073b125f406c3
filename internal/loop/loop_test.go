package loop

import (
	"errors"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for failures, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 100: 30 * time.Second} {
		if got := Backoff(failures); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", failures, got, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	for _, c := range []struct{ v, def, want int }{{0, 50, 50}, {-1, 50, 0}, {7, 50, 7}} {
		if got := Cap(c.v, c.def); got != c.want {
			t.Errorf("Cap(%d, %d) = %d, want %d", c.v, c.def, got, c.want)
		}
	}
	for _, c := range []struct{ d, want time.Duration }{{0, time.Minute}, {-time.Second, time.Minute}, {time.Second, time.Second}} {
		d := c.d
		if Default(&d, time.Minute); d != c.want {
			t.Errorf("Default(%s) = %s, want %s", c.d, d, c.want)
		}
	}
}

var errThings = errors.New("things: cap reached")

type things struct{}

func (things) Sentinel() error { return errThings }
func (things) Noun() string    { return "things" }

func TestCapError(t *testing.T) {
	var err error = &CapError[things]{Scope: CapPerChannel, Limit: 3}
	if err.Error() != "things: cap reached: at most 3 things per channel" || !errors.Is(err, errThings) {
		t.Fatalf("%q (is the sentinel: %v)", err, errors.Is(err, errThings))
	}
	var ce *CapError[things]
	if !errors.As(err, &ce) || ce.Limit != 3 {
		t.Fatalf("errors.As: %+v", ce)
	}
}
