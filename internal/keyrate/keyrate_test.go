package keyrate

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestReserveSpacesEachKey(t *testing.T) {
	tests := []struct {
		name  string
		rate  Rate
		gaps  []time.Duration // when each Reserve is made, after t0
		wants []time.Duration // the slot each gets, after t0
	}{
		{"no limit", Rate{}, []time.Duration{0, 0, 0}, []time.Duration{0, 0, 0}},
		{"queued back to back", Rate{Every: time.Second}, []time.Duration{0, 0, 0}, []time.Duration{0, time.Second, 2 * time.Second}},
		{"idle key starts at once", Rate{Every: time.Second}, []time.Duration{0, 5 * time.Second}, []time.Duration{0, 5 * time.Second}},
		{"burst at once, then spaced", Rate{Every: time.Second, Burst: 2}, []time.Duration{0, 0, 0, 0}, []time.Duration{0, 0, 0, time.Second}},
		{"late caller is not owed past slots", Rate{Every: time.Second}, []time.Duration{0, 0, 10 * time.Second, 10 * time.Second}, []time.Duration{0, time.Second, 10 * time.Second, 11 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(0)
			for i, g := range tt.gaps {
				if got := l.Reserve(t0.Add(g), Key{Name: "z", Rate: tt.rate}).Sub(t0); got != tt.wants[i] {
					t.Errorf("reserve %d at +%s: slot +%s, want +%s", i, g, got, tt.wants[i])
				}
			}
			if got := l.Reserve(t0, Key{Name: "other", Rate: tt.rate}); !got.Equal(t0) {
				t.Errorf("another key waits for z: slot %s", got.Sub(t0))
			}
		})
	}
}

func TestAllowTakesFromAllKeysOrNone(t *testing.T) {
	l := New(0)
	user := Key{Name: "user", Rate: Rate{Every: time.Minute, Burst: 1}}
	channel := Key{Name: "channel", Rate: Rate{Every: time.Minute}}
	steps := []struct {
		at   time.Duration
		keys []Key
		want bool
	}{
		{0, []Key{user, channel}, true},
		{0, []Key{user, channel}, false}, // the channel is spent: the user's burst token is not taken
		{0, []Key{user}, true},           // so it is still there
		{0, []Key{user}, false},
		{time.Minute, []Key{user, channel}, true},
	}
	for i, s := range steps {
		if got := l.Allow(t0.Add(s.at), s.keys...); got != s.want {
			t.Errorf("step %d: Allow = %v, want %v", i, got, s.want)
		}
	}
}

func TestAllowRefusesRatherThanForgetALimitedKey(t *testing.T) {
	l := New(2)
	r := Rate{Every: time.Minute}
	if !l.Allow(t0, Key{"a", r}) || !l.Allow(t0, Key{"b", r}) {
		t.Fatal("first events refused")
	}
	if l.Allow(t0, Key{"c", r}) {
		t.Error("a third key was let in while a and b are limited")
	}
	if !l.Allow(t0.Add(time.Minute), Key{"c", r}) {
		t.Error("c refused once a and b were full again")
	}
	if n := len(l.tats); n != 1 {
		t.Errorf("%d keys held, want 1 (a and b swept)", n)
	}
}

func TestKeysWithFullBucketsAreForgotten(t *testing.T) {
	l := New(0)
	r := Rate{Every: time.Second}
	for i := range 10 * minSweep {
		l.Reserve(t0.Add(time.Duration(i)*time.Second), Key{Name: fmt.Sprint(i), Rate: r})
	}
	if n := len(l.tats); n > 2*minSweep {
		t.Errorf("%d keys held after %d idle ones; want at most %d", n, 10*minSweep, 2*minSweep)
	}
}

func TestSlotsKeepTheSlotGiven(t *testing.T) {
	s := NewSlots[string](New(0), Rate{Every: 10*time.Millisecond + 300*time.Microsecond}, time.Minute)
	steps := []struct {
		item string
		zone string
		at   time.Duration // after t0
		want time.Duration // the slot, after t0
	}{
		{"a", "z", 0, 0},                                         // the zone is free
		{"b", "z", 0, 11 * time.Millisecond},                     // 10.3 ms, rounded up to a whole millisecond
		{"b", "z", 5 * time.Millisecond, 11 * time.Millisecond},  // back early: the same slot, none booked
		{"c", "z", 5 * time.Millisecond, 21 * time.Millisecond},  // 20.6 ms: c is after b, only b booked
		{"b", "z", 11 * time.Millisecond, 11 * time.Millisecond}, // back at its slot: runs
		{"b", "z", 11 * time.Millisecond, 31 * time.Millisecond}, // a new item again: books anew
		{"d", "", 11 * time.Millisecond, 11 * time.Millisecond},  // no zone known: not paced
		{"e", "z", 11 * time.Millisecond, 42 * time.Millisecond}, // 41.2 ms: e is put off, then taken by another replica
		{"e", "z", 2 * time.Minute, 2 * time.Minute},             // a slot long past is not e's: books anew, the zone free
		{"f", "z", 2 * time.Minute, 2*time.Minute + 11*time.Millisecond},
	}
	for i, st := range steps {
		if got := s.Slot(t0.Add(st.at), st.item, st.zone).Sub(t0); got != st.want {
			t.Errorf("step %d: %s at +%s: slot +%s, want +%s", i, st.item, st.at, got, st.want)
		}
	}
}

func TestSlotsForgetSlotsLongPast(t *testing.T) {
	s := NewSlots[int](New(0), Rate{Every: time.Millisecond}, time.Second)
	for i := range 10 * minSweep {
		s.Slot(t0.Add(time.Duration(i)*time.Second), i, "z")
		s.Slot(t0.Add(time.Duration(i)*time.Second), -i-1, "z") // put off by i's booking
	}
	if n := len(s.given); n > 2*minSweep {
		t.Errorf("%d slots held after %d items never back; want at most %d", n, 10*minSweep, 2*minSweep)
	}
}
