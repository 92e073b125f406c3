package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/store"
)

// TestMemoryForgetsExpiredEvents: a long-running bot without Redis sees an
// endless stream of event ids; the ones past their TTL do not pile up.
func TestMemoryForgetsExpiredEvents(t *testing.T) {
	t.Parallel()
	m := store.NewMemory()
	now := t0
	store.SetMemoryClock(m, func() time.Time { return now })
	for i := range 50_000 {
		now = now.Add(time.Second)
		if first, err := m.FirstDelivery(context.Background(), fmt.Sprintf("Ev%d", i), time.Minute); err != nil || !first {
			t.Fatalf("event %d: %v, %v", i, first, err)
		}
	}
	if n := store.RememberedEvents(m); n > 2*4096 {
		t.Fatalf("%d event ids remembered with 60 live; want expired ones dropped", n)
	}
	now = now.Add(-30 * time.Second)
	if first, _ := m.FirstDelivery(context.Background(), "Ev49990", time.Minute); first {
		t.Fatal("a live event id was forgotten")
	}
}
