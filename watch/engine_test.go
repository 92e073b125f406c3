package watch_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/watch"
)

// engineWorld is served by 127.0.0.1 (the resolver) and by ns1 and ns2
// (127.0.0.2 and .3, authoritative). 203.0.113.30 has no PTR yet; the
// reverse zone's negative TTL (SOA minimum) is 120 s.
const engineWorld = `
$ORIGIN example.net.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 60
@	NS	ns1
@	NS	ns2
ns1	A	127.0.0.2
ns2	A	127.0.0.3

$ORIGIN example.com.
@	SOA	ns1.example.net. hostmaster.example.com. 1 3600 600 86400 60
@	NS	ns1.example.net.
@	NS	ns2.example.net.
mail	A	203.0.113.30

$ORIGIN in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 3600
@	NS	ns1.example.net.

$ORIGIN 113.0.203.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 120
@	NS	ns1.example.net.
@	NS	ns2.example.net.
`

// TestRealEngine drives the real diagnosis engine against in-process DNS:
// the PTR appears at the authoritative servers (one progress message), then
// at the resolver (one fixed message).
func TestRealEngine(t *testing.T) {
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
	first := d.DiagnoseIP(ctx, ip, diagnose.Options{})
	if first.Status != diagnose.StatusPermerror {
		t.Fatalf("first diagnosis: %s; want permerror (no PTR)", first.Status)
	}
	if err := sch.Start(ctx, watch.Request{Key: watch.Key{IP: ip, Channel: "C1", Thread: "1.1"}, User: "U1", Source: watch.SourceBounce}, first); err != nil {
		t.Fatal(err)
	}
	if infos, err := sch.ListChannel(ctx, "C1"); err != nil || len(infos) != 1 || !infos[0].NextCheck.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("ListChannel = %+v, %v; want the watch due at 12:02 (the 120 s negative TTL)", infos, err)
	}
	stop := run(sch)
	defer stop()

	withPTR := engineWorld + "30\tPTR\tmail.example.com.\n"
	for _, s := range g[1:] {
		if err := s.Load(withPTR); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	if a := wait(t, ann.seen, "progress"); a.Kind != watch.KindProgress || a.Result.Source == nil || a.Result.Source.StaleForSeconds == 0 {
		t.Fatalf("announcement = %+v; want progress with a stale time", a)
	}
	wait(t, st.marked, "progress recorded")
	if err := g[0].Load(withPTR); err != nil { // the resolver's cache expires
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	a := wait(t, ann.seen, "fixed")
	if a.Kind != watch.KindFixed || !a.Result.Fixed() || a.Result.ConfirmedName != "mail.example.com" {
		t.Fatalf("announcement = %+v; want fixed, confirmed mail.example.com", a)
	}
	wait(t, st.marked, "fixed recorded")
	stop()
	if posted, dups := ann.snapshot(); len(posted) != 2 || len(dups) != 0 {
		t.Fatalf("posted %d, duplicates %v; want progress and fixed once", len(posted), dups)
	}
}
