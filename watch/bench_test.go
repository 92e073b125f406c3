package watch_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// instantChecker answers at once: the benchmark measures everything but DNS.
type instantChecker struct{ clock watch.Clock }

func (c instantChecker) DiagnoseIP(ctx context.Context, ip netip.Addr, _ diagnose.Options) diagnose.Result {
	return diagnose.Result{IP: ip.String(), Status: diagnose.StatusPermerror, CheckedAt: c.clock.Now()}
}

// watchMany starts n watches through the scheduler, from 16 goroutines.
func watchMany(b *testing.B, sch *watch.Scheduler, first, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := first + g; i < first+n; i += 16 {
				w := watch.Request{Key: watch.Key{IP: netip.AddrFrom4([4]byte{100, byte(64 + i>>16), byte(i >> 8), byte(i)}), Channel: "C0123456789", Thread: "1700000000.000100"},
					User: "U0123456789", Source: watch.SourceBounce}
				if err := sch.Start(context.Background(), w, diagnose.Result{Status: diagnose.StatusPermerror}); err != nil {
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

// BenchmarkSchedulerRecheck is the scheduler's overhead per due recheck, DNS
// excluded, through the real loop (claim, outcome, store update; 8 checks
// at once) on Redis holding 100,000 other active watches (target: <= 100
// µs). Run with -benchtime=Nx: each run loads the 100,000 watches.
func BenchmarkSchedulerRecheck(b *testing.B) {
	const active = 100_000
	srv := redistest.Start(b, redistest.Options{})
	clock := clocktest.New(t0.Add(-time.Hour))
	completed := make(chan netip.Addr, b.N)
	cl, err := store.NewClient(srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	st := store.NewRedis(cl, "")
	defer st.Close()
	sch, err := watch.New(watch.Config{Store: &observed{Store: st, completed: completed}, Checker: instantChecker{clock}, Announcer: newRecorder(0), Clock: clock, Concurrency: 8,
		Caps: watch.Caps{PerChannel: -1, PerUser: -1, Total: -1}})
	if err != nil {
		b.Fatal(err)
	}
	watchMany(b, sch, 0, b.N) // due at 11:01
	clock.Advance(time.Hour)
	watchMany(b, sch, b.N, active) // due at 12:01: only the b.N are due
	b.ResetTimer()
	stop := run(sch)
	for range b.N {
		<-completed
	}
	b.StopTimer()
	stop()
}
