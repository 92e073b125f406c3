package monitor_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/monitor"
)

// instant is a Checker without DNS: every address passes at once.
type instant struct{}

func (instant) DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result {
	return diagnose.Result{IP: ip.String(), Status: diagnose.StatusPass, PTRNames: []string{"host.pool.example.net"}}
}

// BenchmarkMonitorCheck is the scheduler's overhead per check, DNS
// excluded: the real loop on a real Redis with the default concurrency and
// batch, b.N addresses in /22 monitors all due, until every check is
// recorded (target: <= 20 µs). Unpaced: the clock stands still, and the
// pacing of a zone is DNS's time, not the scheduler's. Run with
// -benchtime=Nx, N <= 100000.
func BenchmarkMonitorCheck(b *testing.B) { benchChecks(b, instant{}) }

// slowDNS passes every address after 20 ms, the DNS time of issue 12's
// throughput target.
type slowDNS struct{}

func (slowDNS) DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result {
	time.Sleep(20 * time.Millisecond)
	return instant{}.DiagnoseIP(ctx, ip, opts)
}

// BenchmarkMonitorThroughput is one replica's rate with 20 ms of DNS per
// check and the default concurrency: checks/s must stay well above the 28
// that 100,000 addresses hourly need. Run with -benchtime=Nx, N of a few
// thousand.
func BenchmarkMonitorThroughput(b *testing.B) {
	benchChecks(b, slowDNS{})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
}

// benchChecks monitors b.N addresses, all due, and times the real loop
// until checker has checked and the store recorded every one.
func benchChecks(b *testing.B, checker monitor.Checker) {
	ctx := context.Background()
	clock := clocktest.New(t0)
	st := count(redisStore(b), b.N)
	sch, err := monitor.New(monitor.Config{Store: st, Checker: checker, Announcer: newRecorder(1), Clock: clock,
		Caps: monitor.Caps{PerChannel: -1, Total: -1}, ZoneRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	pool := addrs(b.N)
	for m := 0; m*1024 < b.N; m++ {
		part := pool[m*1024 : min(b.N, (m+1)*1024)]
		base := make([]diagnose.Result, len(part))
		for i, ip := range part {
			base[i] = instant{}.DiagnoseIP(ctx, ip, diagnose.Options{})
		}
		k := monitor.Key{Channel: fmt.Sprintf("C%d", m/10), Thread: fmt.Sprintf("%d.1", m)}
		if err := sch.Add(ctx, monitor.Request{Key: k, User: "U1", Addrs: part, Baseline: base}); err != nil {
			b.Fatal(err)
		}
	}
	clock.Advance(time.Hour) // all due
	b.ResetTimer()
	stop := run(sch)
	for range b.N {
		<-st.recorded
	}
	b.StopTimer()
	stop()
}
