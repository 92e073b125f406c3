package watch_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/rdnsbot/rdnsbot/store"
)

var cycles, dones, claims atomic.Int64
var cycleNS atomic.Int64

type counting struct{ *observed }

func (c counting) Cycle(ctx context.Context, now time.Time, done []store.Completion, max int, cl, al time.Duration) (store.CycleResult, error) {
	t := time.Now()
	r, err := c.observed.Cycle(ctx, now, done, max, cl, al)
	cycleNS.Add(int64(time.Since(t)))
	cycles.Add(1)
	dones.Add(int64(len(done)))
	claims.Add(int64(len(r.Claims)))
	return r, err
}

func report() {
	fmt.Println("cycles", cycles.Load(), "dones", dones.Load(), "claims", claims.Load(), "avg cycle us", cycleNS.Load()/max(cycles.Load(), 1)/1000)
}
