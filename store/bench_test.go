package store_test

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
)

const benchWatches = 100_000

// load adds n watches: distinct IPs, 10 per user, 100 per channel (Slack
// IDs and thread timestamps of realistic length), due an hour from t0.
func load(b *testing.B, st store.Store, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < n; i += 16 {
				w := store.Watch{
					Key: store.Key{
						IP:      netip.AddrFrom4([4]byte{100, byte(64 + i>>16), byte(i >> 8), byte(i)}),
						Channel: fmt.Sprintf("C0%09d", i/100),
						Thread:  fmt.Sprintf("17%08d.%06d", i, i%1000000),
					},
					RequestedBy: fmt.Sprintf("U0%09d", i/10),
					Source:      store.SourceBounce,
					CreatedAt:   t0,
					Status:      diagnose.StatusPermerror,
					CheckedAt:   t0,
					// A real reverse zone's length: the store keeps it per IP.
					Zone: fmt.Sprintf("%d.%d.100.in-addr.arpa", i>>8&255, 64+i>>16),
				}
				if _, err := st.Add(context.Background(), w, t0.Add(time.Hour), store.Limits{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func usedMemory(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// BenchmarkRedisMemoryPerWatch reports Redis's used_memory growth per
// active watch with 100,000 watches (target: <= 512 bytes).
func BenchmarkRedisMemoryPerWatch(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
	defer c.Close()
	for b.Loop() {
		b.StopTimer()
		if err := c.FlushAll(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
		st := store.NewRedis(c, "")
		before := usedMemory(b, c)
		b.StartTimer()
		load(b, st, benchWatches)
		b.StopTimer()
		b.ReportMetric(float64(usedMemory(b, c)-before)/benchWatches, "bytes/watch")
		b.StartTimer()
	}
}

// BenchmarkRedisRecheck is the store's share of one due recheck, DNS
// excluded, with 100,000 active watches, one caller, as the scheduler's loop
// does it with 8 slots: one Cycle records 8 finished rechecks and claims the
// next 8 (target: <= 100 µs). Run with -benchtime=Nx, N <= 100000.
func BenchmarkRedisRecheck(b *testing.B) {
	const batch = 8
	srv := redistest.Start(b, redistest.Options{})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
	defer c.Close()
	st := store.NewRedis(c, "")
	load(b, st, benchWatches)
	ctx := context.Background()
	now := t0.Add(time.Hour)
	// Next is past every due time so each claim gets new IPs.
	o := store.Outcome{Result: diagnose.Result{Status: diagnose.StatusPermerror, CheckedAt: now}, Next: now.Add(24 * time.Hour), Now: now}
	var claims []store.Claim
	done := make([]store.Completion, 0, batch)
	cycle := func() {
		res, err := st.Cycle(ctx, now, done, batch-len(claims), time.Minute, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range res.Completed {
			if err != nil {
				b.Fatal(err)
			}
		}
		claims, done = append(claims, res.Claims...), done[:0]
	}
	b.ResetTimer()
	for b.Loop() {
		if len(claims) == 0 {
			if cycle(); len(claims) == 0 {
				b.Fatal("nothing claimed (more iterations than watches?)")
			}
		}
		done = append(done, store.Completion{Claim: claims[0], Outcome: o})
		claims = claims[1:]
	}
	cycle() // the last outcomes
}

// BenchmarkRedisPing is the floor the others are measured against: one round
// trip to the same kind of server, on a machine that may be busy.
func BenchmarkRedisPing(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
	defer c.Close()
	for b.Loop() {
		if err := c.Ping(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
