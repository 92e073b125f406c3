package handlers

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// Announcement headings (changeKinds).
const (
	headBroke    = "*Broke*"
	headFixed    = "*Fixed*"
	headRenamed  = "*PTR changed*"
	headSilent   = "*DNS stopped answering*"
	headAnswers  = "*DNS answers again*"
	monitoredIP  = "84.200.30.1"
	monitoredPTR = "1.30.200.84.in-addr.arpa."
)

// ptr is .1's PTR name in monitorZone, "" for none.
func ptr(name string) map[int]string { return map[int]string{1: name} }

// TestMonitorAnnouncesEachConfirmedChangeOnce runs one address's monitor
// through zones that change between checks, the resolver and the reverse
// zone's authoritative servers apart while a change propagates. After each
// check: `/rdns monitors` shows the address as propagating exactly while
// they disagree, and the thread holds exactly the changes announced so far,
// each once, however many checks follow.
func TestMonitorAnnouncesEachConfirmedChangeOnce(t *testing.T) {
	type step struct {
		resolver, source string // .1's PTR at the resolver and at the authoritative servers
		propagating      bool
		announced        string // the heading this check announces, "" for none
	}
	tests := []struct {
		name  string
		start string // .1's PTR when the monitor starts (its baseline)
		steps []step
	}{
		{"PTR restored", "", []step{{"a", "a", false, headFixed}}},
		{"PTR changed to a name that points back", "a", []step{{"b", "b", false, headRenamed}}},
		{"PTR removed", "a", []step{{"", "", false, headBroke}}},
		{"resolver stale, source removed the PTR", "a", []step{{"a", "", true, ""}, {"a", "", true, ""}, {"", "", false, headBroke}}},
		{"source behind the resolver", "a", []step{{"", "a", true, ""}, {"", "a", true, ""}, {"", "", false, headBroke}}},
		{"fix at the source, resolver stale", "", []step{{"", "a", true, ""}, {"a", "a", false, headFixed}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startMonitorRig(t)
			r.serve(ptr(tc.start), ptr(tc.start))
			rep := r.startReplica(r.poster, nil)
			thread := r.monitorRoot(monitoredIP)
			r.waitRecorded(1) // the first check, against the baseline the command diagnosed
			want, total := map[string]int{}, 0
			for i, s := range tc.steps {
				r.serve(ptr(s.resolver), ptr(s.source))
				r.step(1)
				if s.announced != "" {
					want[s.announced]++
					total++
					r.waitPosted(total)
				}
				if n := r.claimedAnnouncements(); n != total {
					t.Errorf("check %d: %d announcements so far, want %d", i+1, n, total)
				}
				list := r.response(r.slash("monitors"))
				if got := strings.Contains(list, "1 propagating"); got != s.propagating {
					t.Errorf("check %d: /rdns monitors = %s; want propagating %v", i+1, list, s.propagating)
				}
			}
			// Two more checks of the settled zone announce nothing more.
			r.step(1)
			r.step(1)
			rep.stop()
			if n := len(r.threadPosts(thread)); n != total {
				t.Errorf("%d messages in the monitor's thread, want %d (%v):%s", n, total, want, r.dump())
			}
			for heading, n := range want {
				if got := r.announced(thread, heading, monitoredIP); got != n {
					t.Errorf("%s announced %d times, want %d:%s", heading, got, n, r.dump())
				}
			}
		})
	}
}

// TestMonitorRenameShowsBothNames: a ptr_changed line names the old PTR and
// the new one.
func TestMonitorRenameShowsBothNames(t *testing.T) {
	r := startMonitorRig(t)
	r.serve(ptr("a"), ptr("a"))
	r.startReplica(r.poster, nil)
	thread := r.monitorRoot(monitoredIP)
	r.waitRecorded(1)
	r.serve(ptr("b"), ptr("b"))
	r.step(1)
	m := r.waitMessage("ptr_changed", inThread(chanOps, thread, "PTR changed"))
	if want := "`a.example.edu` → `b.example.edu`"; !strings.Contains(decodeJSON(t, m.Blocks), want) {
		t.Errorf("ptr_changed lacks %q: %s", want, m.Blocks)
	}
}

// TestMonitorTemperrorIsNeverARegression: the reverse zone's servers go
// silent (the resolver answers SERVFAIL): never "Broke" and never failing
// in /rdns monitors; after UnansweredAfter one "DNS stopped answering", and
// one "DNS answers again" when they are back.
func TestMonitorTemperrorIsNeverARegression(t *testing.T) {
	r := startMonitorRig(t)
	r.serve(ptr("a"), ptr("a"))
	rep := r.startReplica(r.poster, func(c *monitor.Config) { c.UnansweredAfter = 2 * monInterval })
	thread := r.monitorRoot(monitoredIP)
	r.waitRecorded(1)
	r.dns[0].SetFault(monitoredPTR, dns.TypePTR, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	for _, s := range r.dns[1:] {
		s.SetFault(monitoredPTR, 0, dnstest.Fault{Drop: true})
	}
	for i := range 4 {
		r.step(1)
		if i == 2 { // 2 intervals after the first unanswered check
			r.waitPosted(1)
		}
	}
	list := r.response(r.slash("monitors"))
	if !strings.Contains(list, "none failing") {
		t.Errorf("/rdns monitors while DNS is silent = %s; want none failing", list)
	}
	r.dns[0].SetFault(monitoredPTR, dns.TypePTR, dnstest.Fault{})
	for _, s := range r.dns[1:] {
		s.SetFault(monitoredPTR, 0, dnstest.Fault{})
	}
	r.step(1)
	r.waitPosted(2)
	r.step(1)
	rep.stop()
	for heading, want := range map[string]int{headBroke: 0, headFixed: 0, headSilent: 1, headAnswers: 1} {
		if got := r.announced(thread, heading, monitoredIP); got != want {
			t.Errorf("%s announced %d times, want %d:%s", heading, got, want, r.dump())
		}
	}
	if n := len(r.threadPosts(thread)); n != 2 {
		t.Errorf("%d messages in the thread, want the two DNS notices:%s", n, r.dump())
	}
}

// TestMonitorTwoReplicasAnnounceEachChangeOnce: two replicas share one
// Redis (and the time): whichever checks an address, each regression and
// each recovery of a pool is announced once.
func TestMonitorTwoReplicasAnnounceEachChangeOnce(t *testing.T) {
	all := map[int]string{1: "h1", 2: "h2", 3: "h3", 4: "h4"}
	broken := map[int]string{1: "h1", 4: "h4"}
	r := startMonitorRig(t)
	r.serve(all, all)
	// One check slot each, so that both take part when four are due.
	one := func(c *monitor.Config) { c.Concurrency = 1 }
	a, b := r.startReplica(r.poster, one), r.startReplica(r.newPoster(), one)
	const pool = "84.200.30.1-84.200.30.4"
	thread := r.monitorRoot(pool)
	r.waitRecorded(1) // .1 at once, the others spread over the interval
	r.step(4)         // every first check is in: the baselines
	r.serve(broken, broken)
	r.step(4)
	r.step(4)
	r.serve(all, all)
	r.step(4)
	r.step(4)
	a.stop()
	b.stop()
	t.Logf("checks recorded: %d by the first replica, %d by the second", a.checked.Load(), b.checked.Load())
	for _, ip := range []string{"84.200.30.2", "84.200.30.3"} {
		for _, heading := range []string{headBroke, headFixed} {
			if n := r.announced(thread, heading, ip); n != 1 {
				t.Errorf("%s %s announced %d times, want once:%s", ip, heading, n, r.dump())
			}
		}
	}
	for _, ip := range []string{"84.200.30.1", "84.200.30.4"} {
		if n := r.announced(thread, headBroke, ip) + r.announced(thread, headFixed, ip); n != 0 {
			t.Errorf("%s never changed but was announced %d times:%s", ip, n, r.dump())
		}
	}
	if _, posted := r.counts(); posted != len(r.threadPosts(thread)) {
		t.Errorf("%d announcements recorded as posted, %d in the thread", posted, len(r.threadPosts(thread)))
	}
}

// TestMonitorRestartAnnouncesOnce: the replica that recorded a change stops
// before its announcement is in Slack for sure; a new one on the same Redis
// announces it exactly once, finding by its idempotency key (message
// metadata) a post that Slack stored although the first replica never
// heard so.
func TestMonitorRestartAnnouncesOnce(t *testing.T) {
	tests := []struct {
		name string
		// gather holds the announcement back, so the first replica stops
		// before it posts anything.
		gather time.Duration
		// slackFails makes the first replica's post reach Slack but its
		// answer, and every look-up for it, fail.
		slackFails bool
	}{
		{name: "stopped before posting", gather: time.Minute},
		{name: "stopped after Slack stored the post unanswered", gather: -1, slackFails: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startMonitorRig(t)
			r.serve(ptr("a"), ptr("a"))
			cfg := func(c *monitor.Config) { c.Gather = tc.gather }
			first := r.startReplica(r.poster, cfg)
			thread := r.monitorRoot(monitoredIP)
			r.waitRecorded(1)
			if tc.slackFails {
				r.fake.FailNext("chat.postMessage", 1, slackfake.Fault{Stored: true, HTTPStatus: http.StatusInternalServerError})
				// The post is tried maxAttempts times: once sent, then looked for.
				r.fake.FailNext("conversations.replies", maxAttempts-1, slackfake.Fault{HTTPStatus: http.StatusServiceUnavailable})
			}
			sent := len(r.fake.CallsTo("chat.postMessage"))
			r.serve(ptr(""), ptr(""))
			r.step(1) // the regression is recorded, with its announcement
			if tc.slackFails {
				r.waitMessage("the stored post", inThread(chanOps, thread, headBroke))
				if err := r.fake.Wait(r.ctx(), func() bool { return answered(r.fake.CallsTo("conversations.replies")) == maxAttempts-1 }); err != nil {
					t.Fatalf("the first replica never gave up: %v", err)
				}
			}
			first.stop()
			if _, posted := r.counts(); posted != 0 {
				t.Fatalf("the first replica recorded %d posts; the test needs it to stop before", posted)
			}

			second := r.startReplica(r.newPoster(), cfg)
			checked, _ := r.counts()
			// Past the gathering and the first replica's announcement lease;
			// the address is checked once more on the way.
			r.clock.Advance(time.Minute + monInterval)
			r.waitRecorded(checked + 1)
			r.waitPosted(1)
			r.step(1)
			r.step(1)
			second.stop()
			if n := r.announced(thread, headBroke, monitoredIP); n != 1 {
				t.Errorf("the regression was announced %d times, want once:%s", n, r.dump())
			}
			if n := len(r.fake.CallsTo("chat.postMessage")) - sent; n != 1 {
				t.Errorf("%d chat.postMessage calls for the announcement, want 1", n)
			}
			// A retry looks for its earlier attempt; a first attempt does not.
			lookups, want := 0, 0
			for _, c := range r.fake.CallsTo("conversations.replies") {
				if c.Fault == nil {
					lookups++
				}
			}
			if tc.slackFails {
				want = 1
			}
			if lookups != want {
				t.Errorf("the new replica looked for the announcement %d times, want %d", lookups, want)
			}
		})
	}
}

// answered counts the calls that got an answer.
func answered(calls []slackfake.Call) int {
	n := 0
	for _, c := range calls {
		if c.Status != 0 {
			n++
		}
	}
	return n
}
