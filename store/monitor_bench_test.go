package store_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
)

const benchMonitored = 100_000

// loadMonitors adds n addresses as /22 monitors (1,024 addresses each),
// ten per channel, each address passing with one PTR name of realistic
// length, due over an hour.
func loadMonitors(b testing.TB, st store.MonitorStore, n int) {
	b.Helper()
	const per = 1024
	for m := 0; m*per < n; m++ {
		k := store.MonitorKey{Channel: fmt.Sprintf("C0%09d", m/10), Thread: fmt.Sprintf("17%08d.%06d", m, m)}
		var addrs []store.MonitorAddr
		for i := m * per; i < min(n, (m+1)*per); i++ {
			ip := netip.AddrFrom4([4]byte{100, byte(64 + i>>16), byte(i >> 8), byte(i)})
			addrs = append(addrs, store.MonitorAddr{IP: ip, Due: t0.Add(time.Duration(i%per) * time.Hour / per),
				State: store.AddrState{Status: diagnose.StatusPass, Names: []string{fmt.Sprintf("host-%d-%d-%d.pool.example.net", 64+i>>16, i>>8&255, i&255)}}})
		}
		if _, err := st.AddMonitor(context.Background(), store.Monitor{MonitorKey: k, RequestedBy: "U012345678", Targets: []string{"100.64.0.0/22"}, CreatedAt: t0}, addrs, store.MonitorLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedisMemoryPerMonitoredAddress reports Redis's used_memory
// growth per monitored address with 100,000 addresses (target: <= 400
// bytes).
func BenchmarkRedisMemoryPerMonitoredAddress(b *testing.B) {
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
		loadMonitors(b, st, benchMonitored)
		b.StopTimer()
		b.ReportMetric(float64(usedMemory(b, c)-before)/benchMonitored, "bytes/address")
		b.StartTimer()
	}
}

// BenchmarkMemoryMonitorCycle is one pass of the Memory store with 100,000
// addresses monitored and due: record 64 outcomes (due again at once),
// claim 64 more. A pass costs what it claims and records, not what is
// monitored.
func BenchmarkMemoryMonitorCycle(b *testing.B) {
	st := store.NewMemory()
	loadMonitors(b, st, benchMonitored)
	now := t0.Add(time.Hour)
	var done []store.MonitorCompletion
	for b.Loop() {
		res, err := st.MonitorCycle(context.Background(), now, done, 64, time.Hour, time.Minute, time.Minute)
		if err != nil || len(res.Claims) != 64 {
			b.Fatalf("%d claims, %v", len(res.Claims), err)
		}
		done = done[:0]
		for _, c := range res.Claims {
			done = append(done, store.MonitorCompletion{Claim: c, State: c.State, Next: t0})
		}
	}
}
