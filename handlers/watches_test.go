package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// reverseZone is the test reverse zone with extra PTR records, as a fix
// published at the provider.
func reverseZone(extra string) string {
	return "$ORIGIN 10.200.84.in-addr.arpa.\n$TTL 300\n" +
		"@ SOA ns1.example.net. hostmaster.example.net. 2 3600 600 86400 30\n" +
		"@ NS ns1.example.net.\n@ NS ns2.example.net.\n" +
		"5 PTR mail.example.com.\n7 PTR bad.example.com.\n8 PTR mail.example.com.\n" + extra
}

const fixPTR = "9 PTR fixed.example.com.\n"

// stores runs a test against the in-memory store and a real Redis.
func stores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"memory": func(*testing.T) store.Store { return store.NewMemory() },
		"redis": func(t *testing.T) store.Store {
			srv := redistest.Start(t, redistest.Options{})
			c := redis.NewClient(&redis.Options{Network: "unix", Addr: srv.Socket()})
			t.Cleanup(func() { _ = c.Close() })
			return store.NewRedis(c, srv.Prefix())
		},
	}
}

// startWatchedCommand runs `/rdns 84.200.10.9` (no PTR yet) and returns the
// summary's ts: the thread the watch reports to.
func startWatchedCommand(t *testing.T, h *harness) string {
	t.Helper()
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.9", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	summary := h.waitMessage("summary", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
	guide := h.waitMessage("guidance", inThread(chanOps, summary.TS, "84.200.10.9", "I'll keep rechecking"))
	if !strings.Contains(content(guide), actionUnwatch) {
		t.Errorf("a watched IP's guidance must offer Stop watching: %s", content(guide))
	}
	return summary.TS
}

func countInThread(h *harness, thread, text string) int {
	n := 0
	for _, m := range h.fake.Thread(chanOps, thread) {
		if m.BotID != "" && strings.Contains(content(m), text) {
			n++
		}
	}
	return n
}

func TestWatchAnnouncesFixOnceInTheThread(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			h := startHarness(t, withWatches(st))
			thread := startWatchedCommand(t, h)
			if err := h.dns.Load(reverseZone(fixPTR)); err != nil {
				t.Fatal(err)
			}
			fixed := h.waitMessage("fixed announcement", inThread(chanOps, thread, "is fixed", "fixed.example.com"))
			c := content(fixed)
			if !strings.Contains(c, "<@"+userAlice+">") || !strings.Contains(c, "84.200.10.9") || !strings.Contains(c, "It took") {
				t.Errorf("announcement should mention the asker, the records and the time taken: %s", c)
			}
			var meta struct {
				EventType string `json:"event_type"`
			}
			if err := json.Unmarshal(fixed.Metadata, &meta); err != nil || meta.EventType != announcementEvent {
				t.Errorf("announcement metadata = %s", fixed.Metadata)
			}
			// The watch is over: no second announcement, nothing left to check.
			ctx := h.ctx()
			if err := waitFor(ctx, func() bool {
				n, err := st.Count(ctx)
				return err == nil && n == 0
			}); err != nil {
				t.Fatalf("watch not removed after the fix: %v", err)
			}
			if n := countInThread(h, thread, ":tada:"); n != 1 {
				t.Errorf("want one fixed announcement, got %d:%s", n, h.dump())
			}
		})
	}
}

func TestWatchSaysFixedAtSourceWhileCachesAreStale(t *testing.T) {
	h := startHarness(t, withWatches(store.NewMemory()))
	thread := startWatchedCommand(t, h)
	// The authoritative servers have the fix; the resolver (a cache) does not.
	for _, ns := range h.dns[1:] {
		if err := ns.Load(reverseZone(fixPTR)); err != nil {
			t.Fatal(err)
		}
	}
	progress := h.waitMessage("progress", inThread(chanOps, thread, "Fixed at the source"))
	if !strings.Contains(content(progress), "<!date^") {
		t.Errorf("progress should say until when resolvers may lag: %s", content(progress))
	}
	if err := h.dns[0].Load(reverseZone(fixPTR)); err != nil {
		t.Fatal(err)
	}
	h.waitMessage("fixed", inThread(chanOps, thread, "is fixed"))
	if n := countInThread(h, thread, "Fixed at the source"); n != 1 {
		t.Errorf("want one progress message, got %d", n)
	}
}

func TestStopWatchingButtonAndCommands(t *testing.T) {
	st := store.NewMemory()
	h := startHarness(t, withWatches(st))
	thread := startWatchedCommand(t, h)

	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "list", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.waitResponse(env)
	if resps := h.fake.Responses(env); len(resps) != 1 || !strings.Contains(string(resps[0].Body), "84.200.10.9") {
		t.Fatalf("/rdns list should show the watch: %v", resps)
	}

	h.sendEvent(map[string]any{"type": "app_home_opened", "user": userAlice, "channel": "D0ALICE", "tab": "home"})
	h.waitJob("home")
	if views := h.fake.Views(userAlice); len(views) == 0 || !strings.Contains(string(views[len(views)-1]), "84.200.10.9") {
		t.Errorf("App Home should list the watch: %s", views)
	}

	if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: thread,
		ActionID: actionUnwatch, Value: "84.200.10.9", Text: "Stop watching"}); err != nil {
		t.Fatal(err)
	}
	h.waitMessage("stopped", inThread(chanOps, thread, "stopped watching"))
	if n, err := st.Count(context.Background()); err != nil || n != 0 {
		t.Errorf("%d watches still there after Stop watching (%v)", n, err)
	}

	env, _ = h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "unwatch 84.200.10.9", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.waitResponse(env)
	if resps := h.fake.Responses(env); len(resps) != 1 || !strings.Contains(string(resps[0].Body), "was not being watched") {
		t.Errorf("unwatching twice should say so: %v", resps)
	}
}

func TestRecheckButtonPostsInTheThread(t *testing.T) {
	h := startHarness(t)
	thread := "1700002000.000100"
	h.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: thread, User: userAlice, Text: "bounce"})
	if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: thread,
		ActionID: actionRecheck, Value: "84.200.10.5", Text: "Recheck now"}); err != nil {
		t.Fatal(err)
	}
	h.waitMessage("recheck", inThread(chanOps, thread, "rechecked:", "84.200.10.5* passes FCrDNS"))
}

func TestRedisDownKeepsDiagnosesWorking(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	st, err := store.Open(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	h := startHarness(t, withWatches(st))
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.9", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	summary := h.waitMessage("summary", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
	h.waitMessage("guidance saying watching is unavailable", inThread(chanOps, summary.TS, "has no PTR record", "watching is unavailable"))
	if n := value(t, h, "rdnsbot_redis_errors_total", "op", "add"); n < 1 {
		t.Errorf("the failed watch was not counted as a Redis error (%v)", n)
	}
}

func TestExpiredWatchOffersKeepWatching(t *testing.T) {
	h := startHarness(t, withWatches(store.NewMemory()), withMaxAge(400*time.Millisecond))
	thread := startWatchedCommand(t, h)
	expired := h.waitMessage("expiry", inThread(chanOps, thread, "I stopped watching", actionKeepWatching))
	if !strings.Contains(content(expired), "has no PTR record") {
		t.Errorf("expiry should say how things stand: %s", content(expired))
	}
	if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: expired.TS, ThreadTS: thread,
		ActionID: actionKeepWatching, Value: "84.200.10.9", Text: "Keep watching"}); err != nil {
		t.Fatal(err)
	}
	h.waitMessage("watching again", func(m slackfake.Message) bool {
		return m.ThreadTS == thread && m.TS > expired.TS && strings.Contains(content(m), "I'll keep rechecking")
	})
}

func TestSameIPWatchedFromTwoThreadsTellsBoth(t *testing.T) {
	h := startHarness(t, withWatches(store.NewMemory()))
	first := startWatchedCommand(t, h)
	h.sendEvent(msgEvent(chanOps, userAlice, gmailBounce9, "1700004000.000100"))
	h.waitMessage("bounce reply", inThread(chanOps, "1700004000.000100", "84.200.10.9", "I'll keep rechecking"))
	if err := h.dns.Load(reverseZone(fixPTR)); err != nil {
		t.Fatal(err)
	}
	for _, thread := range []string{first, "1700004000.000100"} {
		h.waitMessage("fixed in "+thread, inThread(chanOps, thread, ":tada:"))
	}
}

// gmailBounce9 is gmailBounce for the sending IP 84.200.10.9.
var gmailBounce9 = strings.ReplaceAll(gmailBounce, "84.200.10.6", "84.200.10.9")

// TestCappedWatchIsSaidInTheThread: a watch a cap refuses is one clear line
// in the reply, naming the cap; the diagnosis is answered all the same.
func TestCappedWatchIsSaidInTheThread(t *testing.T) {
	h := startHarness(t, withWatches(store.NewMemory()), withCaps(watch.Caps{PerUser: 1}))
	startWatchedCommand(t, h)
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.9", UserID: userAlice, ChannelID: chanNoBounc})
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	summary := h.waitMessage("second summary", func(m slackfake.Message) bool { return m.Channel == chanNoBounc && m.ThreadTS == "" })
	guide := h.waitMessage("capped guidance", inThread(chanNoBounc, summary.TS, "84.200.10.9", "I can't watch"))
	c := content(guide)
	for _, want := range []string{"at most 1 watches are allowed per user", "has no PTR record"} {
		if !strings.Contains(c, want) {
			t.Errorf("capped reply lacks %q: %s", want, c)
		}
	}
	if strings.Contains(c, "I'll keep rechecking") {
		t.Errorf("capped reply promises a watch: %s", c)
	}
}

// failingRemove is a store whose Remove fails as a Redis that went away
// between the listing and the unwatch would.
type failingRemove struct{ store.Store }

func (failingRemove) Remove(context.Context, store.Key) (bool, error) {
	return false, fmt.Errorf("store: remove: %w", store.ErrUnavailable)
}

// TestUnwatchWithStoreDownSaysSo: a failed unwatch says watching is
// unavailable, not that the IP was not being watched.
func TestUnwatchWithStoreDownSaysSo(t *testing.T) {
	h := startHarness(t, withWatches(failingRemove{store.NewMemory()}))
	startWatchedCommand(t, h)
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "unwatch 84.200.10.9", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.waitResponse(env)
	resps := h.fake.Responses(env)
	if len(resps) != 1 || !strings.Contains(string(resps[0].Body), unavailableText) || strings.Contains(string(resps[0].Body), "was not being watched") {
		t.Errorf("unwatch with the store down = %v; want the unavailable text", resps)
	}
}

// TestNoWatchWhenTheBotsResolverIsUnusable: when the bot's own resolver
// answers nothing useful, the result says so and no watch starts: a watch
// would only recheck the bot's fault, not the IP's.
func TestNoWatchWhenTheBotsResolverIsUnusable(t *testing.T) {
	st := store.NewMemory()
	h := startHarness(t, withWatches(st))
	h.dns[0].SetFault("", 0, dnstest.Fault{Rcode: dns.RcodeRefused})
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.9", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	summary := h.waitMessage("summary", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
	guide := h.waitMessage("guidance", inThread(chanOps, summary.TS, "84.200.10.9", "could not be used"))
	if strings.Contains(content(guide), actionUnwatch) {
		t.Errorf("no watch, so no Stop watching: %s", content(guide))
	}
	if n, err := st.Count(context.Background()); err != nil || n != 0 {
		t.Errorf("%d watches started on an unusable resolver (%v)", n, err)
	}
}
