package monitor_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/clocktest"
	"github.com/rdnsbot/rdnsbot/monitor"
)

// engineWorld is served by 127.0.0.1 (the resolver) and by ns1 and ns2
// (127.0.0.2 and .3, authoritative). 203.0.113.30's PTR is added per test.
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
mx	A	203.0.113.30

$ORIGIN in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 3600
@	NS	ns1.example.net.

$ORIGIN 113.0.203.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 120
@	NS	ns1.example.net.
@	NS	ns2.example.net.
`

func withPTR(name string) string { return engineWorld + "30\tPTR\t" + name + ".\n" }

// engine starts the DNS world with mail.example.com as the PTR everywhere,
// a real Diagnoser and a monitor of 203.0.113.30 from its first diagnosis.
func engine(t *testing.T) (dnstest.Group, *clocktest.Clock, *recorder, *counting, *monitor.Scheduler) {
	t.Helper()
	g := dnstest.Start(t, 3)
	if err := g.Load(withPTR("mail.example.com")); err != nil {
		t.Fatal(err)
	}
	d, err := diagnose.New(diagnose.Config{Resolver: g[0].Addr(), AuthorityPort: g.Port(), Timeout: 3 * time.Second, QueryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	clock := clocktest.New(t0)
	ann := newRecorder(8)
	st := count(redisStore(t), 16)
	sch := newScheduler(t, st, d, ann, clock, nil)
	ip := netip.MustParseAddr("203.0.113.30")
	first := d.DiagnoseIP(context.Background(), ip, diagnose.Options{})
	if !first.Fixed() {
		t.Fatalf("first diagnosis: %s; want a pass everywhere", first.Status)
	}
	if err := sch.Add(context.Background(), monitor.Request{Key: key, User: "U1", Targets: []string{"203.0.113.30"}, Addrs: []netip.Addr{ip}, Baseline: []diagnose.Result{first}}); err != nil {
		t.Fatal(err)
	}
	return g, clock, ann, st, sch
}

// load sets the zones of the resolver and of the authoritative servers.
func load(t *testing.T, g dnstest.Group, resolver, authoritative string) {
	t.Helper()
	for i, s := range g {
		text := authoritative
		if i == 0 {
			text = resolver
		}
		if err := s.Load(text); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRealEngine: the PTR removed at the authoritative servers while the
// resolver still has it is propagating, nothing posted; once the resolver
// agrees, one regression (the authoritative servers confirm it in one
// check); restored, one recovery; renamed, one ptr_changed.
func TestRealEngine(t *testing.T) {
	t.Parallel()
	g, clock, ann, st, sch := engine(t)
	// Before Run: a first pass before the advance would check the address
	// at 12:00 and again at 12:01, one check more than the test counts.
	clock.Advance(time.Minute) // the address's phase came
	stop := run(sch)
	defer stop()
	wait(t, st.recorded, "first check")
	step := func(resolver, authoritative string, want monitor.ChangeKind) {
		t.Helper()
		load(t, g, resolver, authoritative)
		clock.Advance(time.Minute)
		wait(t, st.recorded, "check")
		if want == "" {
			return
		}
		a := wait(t, ann.seen, string(want))
		if len(a.Changes) != 1 || a.Changes[0].Kind != want {
			t.Fatalf("announcement %+v; want one %s", a, want)
		}
		wait(t, st.posted, "posted")
	}
	step(withPTR("mail.example.com"), engineWorld, "") // removed at the source, cached
	if infos, err := sch.ListChannel(context.Background(), key.Channel); err != nil || len(infos) != 1 || infos[0].Propagating != 1 || infos[0].Failing != 0 {
		t.Fatalf("ListChannel = %+v, %v; want 1 propagating, none failing", infos, err)
	}
	step(engineWorld, engineWorld, monitor.ChangeRegression)
	step(withPTR("mail.example.com"), withPTR("mail.example.com"), monitor.ChangeRecovery)
	step(withPTR("mx.example.com"), withPTR("mx.example.com"), monitor.ChangePTRChanged)
	stop()
	kinds, dups := ann.kinds()
	if len(kinds) != 3 || kinds[monitor.ChangeRegression] != 1 || kinds[monitor.ChangeRecovery] != 1 || kinds[monitor.ChangePTRChanged] != 1 || dups != 0 {
		t.Fatalf("posted %v, %d duplicates; want one of each", kinds, dups)
	}
	for _, a := range ann.posted {
		if c := a.Changes[0]; c.Kind == monitor.ChangePTRChanged && (strings.Join(c.BeforeNames, ",") != "mail.example.com" || strings.Join(c.AfterNames, ",") != "mx.example.com") {
			t.Fatalf("ptr_changed %v → %v; want mail.example.com → mx.example.com", c.BeforeNames, c.AfterNames)
		}
	}
}

// TestStaleResolver: a resolver that lost the PTR while the authoritative
// servers still serve it is propagating, however many checks agree: never
// a regression.
func TestStaleResolver(t *testing.T) {
	t.Parallel()
	g, clock, ann, st, sch := engine(t)
	// Before Run: a first pass before the advance would check the address
	// at 12:00 and again at 12:01, one check more than the test counts.
	clock.Advance(time.Minute) // the address's phase came
	stop := run(sch)
	defer stop()
	wait(t, st.recorded, "first check")
	load(t, g, engineWorld, withPTR("mail.example.com"))
	for range 3 {
		clock.Advance(time.Minute)
		wait(t, st.recorded, "check")
	}
	infos, err := sch.ListChannel(context.Background(), key.Channel)
	if err != nil || len(infos) != 1 || infos[0].Propagating != 1 || infos[0].Failing != 0 {
		t.Fatalf("ListChannel = %+v, %v; want 1 propagating, none failing", infos, err)
	}
	stop()
	if kinds, _ := ann.kinds(); len(kinds) != 0 {
		t.Fatalf("posted %v; want nothing", kinds)
	}
}
