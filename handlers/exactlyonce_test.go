package handlers

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/watch"
)

// faultsThatMayStore are answers after which Slack may hold the message:
// before a repeat, the bot must look for it. sends is how many
// chat.postMessage calls it then takes: one when the first was stored.
var faultsThatMayStore = []struct {
	name  string
	fault slackfake.Fault
	sends int
}{
	{"stored, then 500", slackfake.Fault{Stored: true, HTTPStatus: http.StatusInternalServerError}, 1},
	{"stored, then 503", slackfake.Fault{Stored: true, HTTPStatus: http.StatusServiceUnavailable}, 1},
	{"stored, then dropped", slackfake.Fault{Stored: true, Drop: true}, 1},
	{"stored, then hung", slackfake.Fault{Stored: true, Hang: true}, 1},
	{"not stored, 503", slackfake.Fault{HTTPStatus: http.StatusServiceUnavailable}, 2},
	{"not stored, dropped", slackfake.Fault{Drop: true}, 2},
}

// lostAnswer is how long a Web API call waits for its answer in these
// tests: a hung answer is then a lost one within the test.
var lostAnswer = withWebTimeout(300 * time.Millisecond)

func TestAnnouncementIsPostedOnceWhenSlackStoresItButFails(t *testing.T) {
	for _, tc := range faultsThatMayStore {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, lostAnswer)
			parent := h.fake.AddMessage(slackfake.Message{Channel: chanOps, User: userAlice, Text: "check 84.200.10.9"})
			w := watch.Key{IP: netip.MustParseAddr("84.200.10.9"), Channel: chanOps, Thread: parent.TS}
			a := watch.Announcement{Kind: watch.KindFixed, Key: w, RequestedBy: userAlice,
				Result: diagnose.Result{Status: diagnose.StatusPass}, IdempotencyKey: "fixed-1", Attempt: 1}
			h.fake.FailNext("chat.postMessage", 1, tc.fault)
			if err := NewAnnouncer(h.poster).Announce(h.ctx(), a); err != nil {
				t.Fatal(err)
			}
			if n := len(h.botPosts(chanOps)); n != 1 {
				t.Errorf("the thread got %d announcements, want 1:%s", n, h.dump())
			}
			if n := len(h.fake.CallsTo("chat.postMessage")); n != tc.sends {
				t.Errorf("%d chat.postMessage calls, want %d (a stored one is found, not sent again)", n, tc.sends)
			}
			if n := len(h.fake.CallsTo("conversations.replies")); n != 1 {
				t.Errorf("%d conversations.replies calls, want 1 (the look-up before the repeat)", n)
			}
		})
	}
}

func TestReplyIsPostedOnceWhenSlackStoresItButFails(t *testing.T) {
	for _, tc := range faultsThatMayStore {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, lostAnswer)
			h.fake.FailNext("chat.postMessage", 1, tc.fault)
			bot := h.fake.Identity().BotUserID
			ev := msgEvent(chanOps, userAlice, "<@"+bot+"> check 84.200.10.7", "1700000100.000100")
			ev["type"] = "app_mention"
			h.sendEvent(ev)
			h.waitJob("mention")
			if n := len(h.botPosts(chanOps)); n != 1 {
				t.Errorf("the thread got %d replies, want 1:%s", n, h.dump())
			}
			if n := len(h.fake.CallsTo("conversations.replies")); n != 1 {
				t.Errorf("%d conversations.replies calls, want 1 (the look-up before the repeat)", n)
			}
		})
	}
}

// A slash command's summary is a top-level post: it is looked for in the
// channel's history. Its guidance goes into the summary's thread.
func TestSummaryIsPostedOnceWhenSlackStoresItButFails(t *testing.T) {
	for _, tc := range faultsThatMayStore {
		t.Run(tc.name, func(t *testing.T) {
			h := startHarness(t, lostAnswer)
			h.fake.FailNext("chat.postMessage", 1, tc.fault)
			env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
			h.ack(env)
			h.waitJob("command")
			var top, replies int
			for _, m := range h.botPosts(chanOps) {
				if m.ThreadTS == "" {
					top++
				} else {
					replies++
				}
			}
			if top != 1 || replies == 0 {
				t.Errorf("%d summaries and %d replies, want 1 summary and its replies:%s", top, replies, h.dump())
			}
			if n := len(h.fake.CallsTo("conversations.history")); n != 1 {
				t.Errorf("%d conversations.history calls, want 1", n)
			}
		})
	}
}

// A 429 is a refusal: the post is repeated without a look-up.
func TestRateLimitedPostIsRepeatedWithoutLookup(t *testing.T) {
	h := startHarness(t)
	h.fake.FailNext("chat.postMessage", 1, slackfake.Fault{HTTPStatus: http.StatusTooManyRequests, RetryAfter: 1})
	bot := h.fake.Identity().BotUserID
	ev := msgEvent(chanOps, userAlice, "<@"+bot+"> check 84.200.10.7", "1700000100.000100")
	ev["type"] = "app_mention"
	h.sendEvent(ev)
	h.waitJob("mention")
	if n := len(h.botPosts(chanOps)); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
	if n := len(h.fake.CallsTo("conversations.replies")) + len(h.fake.CallsTo("conversations.history")); n != 0 {
		t.Errorf("%d look-ups after a 429, want none", n)
	}
}

// A redelivered event may have been answered by another replica whose
// store write was lost: its posts carry the same keys, so they are found.
func TestRedeliveredEventFindsTheOtherReplicasReply(t *testing.T) {
	first := startHarness(t)
	bot := first.fake.Identity().BotUserID
	ev := msgEvent(chanOps, userAlice, "<@"+bot+"> check 84.200.10.7", "1700000100.000100")
	ev["type"] = "app_mention"
	env, _ := first.sendEvent(ev)
	first.waitJob("mention")
	first.stop()

	// The second replica: a new bot on the same workspace.
	poster := NewPoster(newFakeAPI(first.fake), first.poster.log, nil)
	second := New(poster, first.diag, Config{Workers: 1})
	jobs := make(chan string, 16)
	second.afterJob = func(name string) { jobs <- name }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The second replica's live socket: a redelivery needs one to land on.
	if err := first.fake.WaitConnected(first.ctx(), 2); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(first.ctx(), second.Ready); err != nil {
		t.Fatal("the second replica never got ready")
	}
	if err := first.fake.Redeliver(env); err != nil {
		t.Fatal(err)
	}
	select {
	case <-jobs:
	case <-first.ctx().Done():
		t.Fatal("the second replica never handled the redelivery")
	}
	if n := len(first.fake.CallsTo("conversations.replies")); n != 1 {
		t.Errorf("%d look-ups, want 1: a redelivered event looks before it posts", n)
	}
	if n := len(first.botPosts(chanOps)); n != 1 {
		t.Errorf("%d replies after the redelivery, want 1:%s", n, first.dump())
	}
}

// newFakeAPI is a Web API client of fake.
func newFakeAPI(fake *slackfake.Fake) *slack.Client {
	return slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.APIURL()))
}

// The look-up may fail as well: it is repeated (it posts nothing), and the
// stored message is still found.
func TestFailedLookupIsRepeated(t *testing.T) {
	h := startHarness(t, lostAnswer)
	parent := h.fake.AddMessage(slackfake.Message{Channel: chanOps, User: userAlice, Text: "check 84.200.10.9"})
	a := watch.Announcement{Kind: watch.KindFixed, Key: watch.Key{IP: netip.MustParseAddr("84.200.10.9"), Channel: chanOps, Thread: parent.TS},
		RequestedBy: userAlice, Result: diagnose.Result{Status: diagnose.StatusPass}, IdempotencyKey: "fixed-2", Attempt: 1}
	h.fake.FailNext("chat.postMessage", 1, slackfake.Fault{Stored: true, HTTPStatus: http.StatusInternalServerError})
	h.fake.FailNext("conversations.replies", 1, slackfake.Fault{HTTPStatus: http.StatusServiceUnavailable})
	if err := NewAnnouncer(h.poster).Announce(h.ctx(), a); err != nil {
		t.Fatal(err)
	}
	if n := len(h.botPosts(chanOps)); n != 1 {
		t.Errorf("%d announcements, want 1:%s", n, h.dump())
	}
	if p, r := len(h.fake.CallsTo("chat.postMessage")), len(h.fake.CallsTo("conversations.replies")); p != 1 || r != 2 {
		t.Errorf("%d posts and %d look-ups, want 1 and 2", p, r)
	}
}

// TestRetriedAnnouncementIsFoundInALongThread: a monitor's thread lives for
// good; replies come oldest first, so the look-up reads the whole thread,
// and finds an attempt stored after more replies than any page bound.
func TestRetriedAnnouncementIsFoundInALongThread(t *testing.T) {
	h := startHarness(t)
	parent := h.fake.AddMessage(slackfake.Message{Channel: chanOps, User: userAlice, Text: "check 84.200.10.9"})
	for range maxLookupPages*lookupPageSize + 10 {
		h.fake.AddMessage(slackfake.Message{Channel: chanOps, User: userAlice, ThreadTS: parent.TS, Text: "noted"})
	}
	w := watch.Key{IP: netip.MustParseAddr("84.200.10.9"), Channel: chanOps, Thread: parent.TS}
	a := watch.Announcement{Kind: watch.KindFixed, Key: w, RequestedBy: userAlice,
		Result: diagnose.Result{Status: diagnose.StatusPass}, IdempotencyKey: "fixed-long", Attempt: 1}
	an := NewAnnouncer(h.poster)
	if err := an.Announce(h.ctx(), a); err != nil {
		t.Fatal(err)
	}
	a.Attempt = 2 // another replica, or a restart: look first
	if err := an.Announce(h.ctx(), a); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.CallsTo("chat.postMessage")); n != 1 {
		t.Errorf("%d chat.postMessage calls, want 1: the first attempt, past %d replies, was not found", n, maxLookupPages*lookupPageSize)
	}
}
