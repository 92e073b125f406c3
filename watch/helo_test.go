package watch_test

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/watch"
)

// A watch's HELO is stored with it and every recheck diagnoses with it: the
// fixed announcement's result holds helo_mismatch when the server announces
// another name than its new PTR. A watch of the same IP without a HELO does
// not take it away.
func TestRecheckUsesHELO(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := dnstest.Start(t, 3)
	if err := g.Load(engineWorld); err != nil {
		t.Fatal(err)
	}
	d, err := diagnose.New(diagnose.Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Timeout: 3 * time.Second, QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(t0)
	ann := newRecorder(4)
	st := observe(redisStore(t, server), 4)
	sch, err := watch.New(watch.Config{Store: st, Checker: d, Announcer: ann, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("203.0.113.30")
	first := d.DiagnoseIP(ctx, ip, diagnose.Options{HELO: "relay.example.org"})
	for _, req := range []watch.Request{
		{Key: watch.Key{IP: ip, Channel: "C1", Thread: "1.1"}, User: "U1", Source: watch.SourceCommand},
		{Key: watch.Key{IP: ip, Channel: "C2", Thread: "2.2"}, User: "U2", Source: watch.SourceBounce, HELO: "relay.example.org"},
	} {
		if err := sch.Start(ctx, req, first); err != nil {
			t.Fatal(err)
		}
	}
	stop := run(sch)
	defer stop()
	withPTR := engineWorld + "30\tPTR\tmail.example.com.\n"
	if err := g.Load(withPTR); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	for range 2 {
		a := wait(t, ann.seen, "fixed")
		if a.Kind != watch.KindFixed {
			t.Fatalf("announcement = %+v; want fixed", a)
		}
		if !slices.ContainsFunc(a.Result.Findings, func(f diagnose.Finding) bool { return f.Code == diagnose.CodeHELOMismatch }) {
			t.Fatalf("fixed result for %s has findings %+v; want helo_mismatch (HELO relay.example.org, PTR mail.example.com)", a.Key.Channel, a.Result.Findings)
		}
		if want := map[string]string{"C1": "", "C2": "relay.example.org"}[a.Key.Channel]; a.HELO != want {
			t.Errorf("announcement for %s has HELO %q; want %q (its own watch's)", a.Key.Channel, a.HELO, want)
		}
	}
}
