package handlers

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// ptrQueries counts the PTR queries for name the resolver received: each
// check of an address asks it once.
func (h *harness) ptrQueries(name string) int {
	n := 0
	for _, q := range h.dns[0].Queries() {
		if q.Type == dns.TypePTR && strings.EqualFold(q.Name, name) {
			n++
		}
	}
	return n
}

// waitPTRQueries waits until the resolver has had n PTR queries for name.
func (h *harness) waitPTRQueries(name string, n int) {
	h.t.Helper()
	if err := waitFor(h.ctx(), func() bool { return h.ptrQueries(name) >= n }); err != nil {
		h.t.Fatalf("%s was asked %d times, want %d: %v", name, h.ptrQueries(name), n, err)
	}
}

// threadPosts are the bot's messages in thread holding want.
func (h *harness) threadPosts(thread, want string) int {
	n := 0
	for _, m := range h.botPosts(chanOps) {
		if m.ThreadTS == thread && strings.Contains(content(m), want) {
			n++
		}
	}
	return n
}

// The Redis store: the memory store forgets a new monitor's targets
// (store/monitor_memory.go sets them to nil before it copies them).
func TestMonitorPoolAnnouncesARegressionOnceListsAndEnds(t *testing.T) {
	st := stores(t)["redis"](t).(*store.Redis)
	h := startHarness(t, withMonitors(st))
	if err := h.dns.Load(poolZone); err != nil {
		t.Fatal(err)
	}
	slash := func(text string) string {
		t.Helper()
		env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: text, UserID: userAlice, ChannelID: chanOps})
		if err != nil {
			t.Fatal(err)
		}
		h.ack(env)
		h.waitJob("command")
		return env
	}
	slash("monitor 84.200.20.0/29")
	root := h.waitMessage("monitor started", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(m.Text, "Monitoring `84.200.20.0/29` (6 addresses)")
	})

	// The first check of each address is its baseline, announced to nobody;
	// a second query of .6 means its first check was recorded.
	const six = "6.20.200.84.in-addr.arpa."
	h.waitPTRQueries(six, 2)
	if n := len(h.botPosts(chanOps)); n != 1 {
		t.Fatalf("%d messages before any change, want only the monitor's:\n%s", n, h.dump())
	}
	if err := h.dns.Load(strings.Replace(poolZone, "6\tPTR\th6.example.org.\n", "", 1)); err != nil {
		t.Fatal(err)
	}
	h.waitMessage("regression", inThread(chanOps, root.TS, "Broke", "84.200.20.6"))
	// Two more checks of .6 after the announcement: still one message.
	seen := h.ptrQueries(six)
	h.waitPTRQueries(six, seen+2)
	if n := h.threadPosts(root.TS, "Broke"); n != 1 {
		t.Errorf("%d regression messages, want exactly one:\n%s", n, h.dump())
	}
	if n := h.threadPosts(root.TS, ""); n != 1 {
		t.Errorf("%d messages in the monitor's thread, want only the regression:\n%s", n, h.dump())
	}

	env := slash("monitors")
	h.waitResponse(env)
	if r := h.fake.Responses(env); !strings.Contains(string(r[0].Body), "84.200.20.0/29") || !strings.Contains(string(r[0].Body), "6 addresses") {
		t.Errorf("/rdns monitors = %s, want the pool's monitor", r[0].Body)
	}

	h.sendEvent(map[string]any{"type": "app_home_opened", "user": userAlice, "channel": "D0ALICE", "tab": "home"})
	h.waitJob("home")
	views := h.fake.Views(userAlice)
	if len(views) == 0 || !strings.Contains(string(views[len(views)-1]), "84.200.20.0/29") || !strings.Contains(string(views[len(views)-1]), actionUnmonitor) {
		t.Fatalf("App Home should list the monitor with Unmonitor: %s", views)
	}

	env = slash("unmonitor 84.200.20.1-84.200.20.2")
	h.waitResponse(env)
	if r := h.fake.Responses(env); !strings.Contains(string(r[0].Body), "Stopped monitoring 2 addresses") {
		t.Errorf("/rdns unmonitor = %s", r[0].Body)
	}
	infos, err := h.bot.cfg.Monitors.ListChannel(h.ctx(), chanOps)
	if err != nil || len(infos) != 1 || infos[0].Addresses != 4 {
		t.Fatalf("after unmonitoring two: %+v, %v; want one monitor of 4 addresses", infos, err)
	}

	if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ActionID: actionUnmonitor,
		Value: monitorValue(infos[0].Key), Text: "Unmonitor"}); err != nil {
		t.Fatal(err)
	}
	h.waitJob("button")
	if infos, err := h.bot.cfg.Monitors.ListChannel(h.ctx(), chanOps); err != nil || len(infos) != 0 {
		t.Errorf("after Unmonitor: %+v, %v; want none", infos, err)
	}
}

func TestKeepMonitoringOnAFixedWatchStartsAMonitor(t *testing.T) {
	h := startHarness(t, withMonitors(store.NewMemory()))
	thread := "1700003000.000100"
	h.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: thread, User: userAlice, Text: "bounce"})
	fixed := announcement(watch.Announcement{Kind: watch.KindFixed, Key: watch.Key{IP: mustAddr("84.200.10.5"), Channel: chanOps, Thread: thread}, RequestedBy: userAlice})
	if !strings.Contains(decodeJSON(t, mustJSON(t, fixed.Blocks)), actionKeepMonitoring) {
		t.Fatalf("the fixed message offers no Keep monitoring: %+v", fixed)
	}
	if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: thread, ThreadTS: thread,
		ActionID: actionKeepMonitoring, Value: "84.200.10.5", Text: "Keep monitoring"}); err != nil {
		t.Fatal(err)
	}
	h.waitMessage("monitoring", inThread(chanOps, thread, "Monitoring `84.200.10.5`"))
	infos, err := h.bot.cfg.Monitors.ListUser(context.Background(), userAlice)
	if err != nil || len(infos) != 1 || infos[0].Key.Thread != thread || infos[0].Addresses != 1 {
		t.Errorf("monitors = %+v, %v; want 84.200.10.5 in the watch's thread", infos, err)
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMonitorAnnouncementGroupsByKindAndStaysBounded(t *testing.T) {
	hostile := "<!channel>.example.org"
	var changes []monitor.Change
	for i := range 1024 { // a whole /22 breaks at once
		ip := netip.AddrFrom4([4]byte{84, 200, byte(20 + i/256), byte(i)})
		changes = append(changes, monitor.Change{Kind: monitor.ChangeRegression, IP: ip, Before: diagnose.StatusPass, After: diagnose.StatusPermerror,
			Result: diagnose.Result{Status: diagnose.StatusPermerror, Findings: []diagnose.Finding{{Code: diagnose.CodeNoPTR, Severity: diagnose.SeverityError}}}})
	}
	changes = append(changes,
		monitor.Change{Kind: monitor.ChangePTRChanged, IP: mustAddr("84.200.30.1"), BeforeNames: []string{"a.example.org"}, AfterNames: []string{hostile}},
		monitor.Change{Kind: monitor.ChangeRecovery, IP: mustAddr("84.200.30.2"), Before: diagnose.StatusFail, After: diagnose.StatusPass, AfterNames: []string{hostile}})
	m := monitorAnnouncement(monitor.Announcement{Key: monitor.Key{Channel: chanOps, Thread: "1.2"}, RequestedBy: userAlice, Changes: changes})
	text := decodeJSON(t, mustJSON(t, m.Blocks))
	broke, ptr, fixed := strings.Index(text, "Broke"), strings.Index(text, "PTR changed"), strings.Index(text, "Fixed")
	if broke < 0 || ptr < broke || fixed < ptr {
		t.Errorf("groups missing or out of order (broke %d, ptr %d, fixed %d):\n%s", broke, ptr, fixed, text)
	}
	for _, want := range []string{"(1024 addresses)", "…and 1004 more.", "`no_ptr`", "`a.example.org` → `&lt;!channel&gt;.example.org`"} {
		if !strings.Contains(text, want) {
			t.Errorf("announcement lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "<!channel>") {
		t.Errorf("a raw mention from DNS:\n%s", text)
	}
	if len(m.Blocks) > maxBlocksPerMessage || len(text) > 20000 {
		t.Errorf("%d blocks, %d characters: not one bounded message", len(m.Blocks), len(text))
	}
}
