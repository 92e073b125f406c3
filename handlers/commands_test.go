package handlers

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/dnstest"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

func TestSlashCommandAcksThenPostsSummaryAndThreadedGuidance(t *testing.T) {
	h := startHarness(t)
	// Every DNS answer is held until the ack has come: the ack does not
	// wait for the diagnosis.
	step := h.dns.Lockstep()
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.6 84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := h.ack(env)
	stop, released := make(chan struct{}), make(chan struct{})
	go func() { defer close(released); step.Run(stop, 5*time.Millisecond) }()
	t.Cleanup(func() { close(stop); <-released })
	if !strings.Contains(string(payload), "ephemeral") || !strings.Contains(string(payload), "Checking 84.200.10.6, 84.200.10.5") {
		t.Errorf("ack payload = %s, want an ephemeral 'Checking…'", payload)
	}
	summary := h.waitMessage("summary", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(content(m), "84.200.10.6")
	})
	for _, want := range []string{"84.200.10.6* has no PTR record (permerror)", "84.200.10.5* passes FCrDNS"} {
		if !strings.Contains(content(summary), want) {
			t.Errorf("summary lacks %q: %s", want, content(summary))
		}
	}
	guide := h.waitMessage("threaded guidance", inThread(chanOps, summary.TS, "no PTR", "-x 84.200.10.6", actionRecheck))
	if !strings.Contains(content(guide), "10.200.84.in-addr.arpa") || !strings.Contains(content(guide), "not your domain registrar") {
		t.Errorf("guidance does not say who fixes it: %s", content(guide))
	}
	if *guide.UnfurlLinks || *guide.UnfurlMedia {
		t.Errorf("replies must not unfurl links")
	}
}

func TestBadSlashCommandsGetUsageInTheAck(t *testing.T) {
	h := startHarness(t)
	for _, tc := range []struct{ text, want string }{
		{"", "which IP"},
		{"999.1.1.1", "999.1.1.1"},
		{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"<!channel>", "which IP"},
		{"help", "/rdns watch"},
	} {
		env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: tc.text, UserID: userAlice, ChannelID: chanOps})
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := h.ack(env)
		var ack struct {
			ResponseType string          `json:"response_type"`
			Blocks       json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(payload, &ack); err != nil {
			t.Fatalf("%q: ack payload %s: %v", tc.text, payload, err)
		}
		shown := decodeJSON(t, ack.Blocks)
		if ack.ResponseType != "ephemeral" || !strings.Contains(shown, tc.want) || !strings.Contains(shown, "Usage") {
			t.Errorf("%q: ack = %s, want ephemeral usage mentioning %q", tc.text, payload, tc.want)
		}
		if strings.Contains(shown, "<script>") || strings.Contains(shown, "<!channel>") {
			t.Errorf("%q: hostile input echoed raw: %s", tc.text, shown)
		}
	}
	if posts := h.botPosts(chanOps); len(posts) != 0 {
		t.Errorf("bad commands must not post in the channel, got %d posts", len(posts))
	}
}

func TestSlashCommandJoinsPublicChannelOrFallsBackToResponseURL(t *testing.T) {
	h := startHarness(t)
	// Public channel the bot is not in: it joins, then posts.
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOther})
	h.ack(env)
	h.waitMessage("summary after join", func(m slackfake.Message) bool { return m.Channel == chanOther && m.ThreadTS == "" })
	if len(h.fake.CallsTo("conversations.join")) != 1 {
		t.Errorf("expected one conversations.join")
	}
	// Private channel: Slack refuses both post and join; answer via response_url.
	env, _ = h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.6", UserID: userAlice, ChannelID: chanSecret})
	h.ack(env)
	h.waitResponse(env)
	resps := h.fake.Responses(env)
	if len(resps) == 0 {
		t.Fatalf("no response_url post; calls: %v", h.fake.Calls())
	}
	body := string(resps[0].Body)
	if !strings.Contains(body, "84.200.10.6") || !strings.Contains(body, "ephemeral") {
		t.Errorf("response_url post = %s", body)
	}
	if len(h.botPosts(chanSecret)) != 0 {
		t.Error("posted in a private channel the bot is not in")
	}
}

func TestRateLimitedPostIsRetriedAfterRetryAfter(t *testing.T) {
	h := startHarness(t)
	h.fake.FailNext("chat.postMessage", 1, slackfake.Fault{HTTPStatus: 429, RetryAfter: time.Second})
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	// Once the command's job is done, so are its posts (and the fake's
	// records of them): the summary, refused and then answered, and the
	// guidance in its thread.
	h.waitJob("command")
	calls := h.fake.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].Status != 429 || calls[1].Status != 200 || calls[2].Status != 200 ||
		calls[1].Params.Get("thread_ts") != "" || calls[2].Params.Get("thread_ts") == "" {
		t.Errorf("chat.postMessage calls = %+v; want the summary refused (429) then posted, then the guidance in its thread", calls)
	}
	var summaries int
	for _, m := range h.botPosts(chanOps) {
		if m.ThreadTS == "" {
			summaries++
		}
	}
	if summaries != 1 {
		t.Errorf("%d summaries in the channel; want one:%s", summaries, h.dump())
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	h := startHarness(t)
	h.fake.FailNext("chat.postMessage", 2, slackfake.Fault{HTTPStatus: 503})
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.waitMessage("summary after 5xx", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
}

func TestMentionIsAnsweredInItsThread(t *testing.T) {
	h := startHarness(t)
	bot := h.fake.Identity().BotUserID
	ev := msgEvent(chanOps, userAlice, "<@"+bot+"> can you check 84.200.10.7 please", "1700000100.000100")
	ev["type"] = "app_mention"
	h.sendEvent(ev)
	// The same text also arrives as a message event: it must not be answered twice.
	h.sendEvent(msgEvent(chanOps, userAlice, "<@"+bot+"> can you check 84.200.10.7 please", "1700000100.000100"))
	m := h.waitMessage("mention reply", inThread(chanOps, "1700000100.000100", "84.200.10.7", "does not point back"))
	if !strings.Contains(content(m), "84.200.10.99") {
		t.Errorf("reply should show where the PTR name points: %s", content(m))
	}
	h.waitJob("mention")
	if n := len(h.botPosts(chanOps)); n != 1 {
		t.Errorf("want exactly one reply, got %d:%s", n, h.dump())
	}
}

func TestTemperrorIsNeverCalledMissingPTR(t *testing.T) {
	h := startHarness(t)
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.8", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	m := h.waitMessage("summary", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
	if c := content(m); !strings.Contains(c, "can't tell yet") || strings.Contains(c, "no PTR") {
		t.Errorf("a timeout must read as 'can't tell', not 'no PTR': %s", c)
	}
}

func TestDisconnectMidRunRecovers(t *testing.T) {
	h := startHarness(t)
	if err := h.fake.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	h.waitConnected(2)
	h.fake.DropConnections()
	h.waitConnected(3)
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.waitMessage("summary after reconnects", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
}

func TestAppHomeListsWatchesOrSaysUnavailable(t *testing.T) {
	h := startHarness(t)
	h.sendEvent(map[string]any{"type": "app_home_opened", "user": userAlice, "channel": "D0ALICE", "tab": "home"})
	h.waitJob("home")
	views := h.fake.Views(userAlice)
	if len(views) != 1 || !strings.Contains(string(views[0]), "Your reverse-DNS watches") || !strings.Contains(string(views[0]), "unavailable") {
		t.Errorf("home view = %s", views)
	}
}

func TestDirectMessagesAndGroupDMs(t *testing.T) {
	h := startHarness(t)
	h.fake.AddChannel(slackfake.Channel{ID: "D0ALICE", Type: slackfake.IM, User: userAlice})
	h.fake.AddChannel(slackfake.Channel{ID: "G0GROUPDM", Type: slackfake.MPIM})
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: "D0ALICE"})
	h.ack(env)
	h.waitMessage("DM summary", func(m slackfake.Message) bool {
		return m.Channel == "D0ALICE" && strings.Contains(m.Text, "passes FCrDNS")
	})
	// A group DM the bot is not part of: the answer goes to the response_url.
	env, _ = h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: "G0GROUPDM"})
	h.ack(env)
	h.waitResponse(env)
	if body := string(h.fake.Responses(env)[0].Body); !strings.Contains(body, "passes FCrDNS") {
		t.Errorf("group DM answer = %s", body)
	}
}

func TestShutdownFinishesInFlightWork(t *testing.T) {
	h := startHarness(t)
	// Slow DNS: the diagnosis is still running when shutdown starts.
	h.dns[0].SetFault("", 0, dnstest.Fault{Delay: 150 * time.Millisecond})
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.stop()
	if h.runErr != nil {
		t.Fatalf("Run returned %v", h.runErr)
	}
	var summary bool
	for _, m := range h.botPosts(chanOps) {
		summary = summary || (m.ThreadTS == "" && strings.Contains(m.Text, "84.200.10.5"))
	}
	if !summary {
		t.Errorf("in-flight command was dropped at shutdown:%s", h.dump())
	}
}

func TestDirectMessageTextIsACommand(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.BounceChannels = []string{chanOps} }))
	h.fake.AddChannel(slackfake.Channel{ID: "D0ALICE", Type: slackfake.IM, User: userAlice})
	ev := msgEvent("D0ALICE", userAlice, "84.200.10.7", "1700008000.000100")
	ev["channel_type"] = "im"
	h.sendEvent(ev)
	h.waitMessage("DM answer", inThread("D0ALICE", "1700008000.000100", "84.200.10.7", "does not point back"))
	ev = msgEvent("D0ALICE", userAlice, "hello there", "1700008001.000100")
	ev["channel_type"] = "im"
	h.sendEvent(ev)
	h.waitMessage("usage in DM", inThread("D0ALICE", "1700008001.000100", "Usage"))
}

// Slack rejecting our blocks (invalid_blocks) or our length (msg_too_long)
// still gets the user an answer, as text.
func TestRejectedMessagesFallBackToText(t *testing.T) {
	for _, slackErr := range []string{"invalid_blocks", "msg_too_long"} {
		t.Run(slackErr, func(t *testing.T) {
			h := startHarness(t)
			h.fake.FailNext("chat.postMessage", 1, slackfake.Fault{Error: slackErr})
			env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.6", UserID: userAlice, ChannelID: chanOps})
			h.ack(env)
			m := h.waitMessage("text fallback", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
			if m.Blocks != nil || !strings.Contains(m.Text, "84.200.10.6") || !strings.Contains(m.Text, "no PTR record") {
				t.Errorf("fallback = text %q blocks %s", m.Text, m.Blocks)
			}
		})
	}
}

// TestFullQueueTellsADirectMessage: a DM is always answered (a command or
// the usage), so when the work queue is full it is told so in its thread,
// as a bounce would be, never dropped in silence.
func TestFullQueueTellsADirectMessage(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.Workers, c.QueueSize = 1, 1 }))
	h.fake.AddChannel(slackfake.Channel{ID: "D0ALICE", Type: slackfake.IM, User: userAlice})
	for _, s := range h.dns {
		s.SetFault("", 0, dnstest.Fault{Delay: 300 * time.Millisecond}) // the worker stays busy
	}
	// One worker and one queue slot hold two; of four sent while the first
	// is running, at least two are refused.
	for i := range 4 {
		ev := msgEvent("D0ALICE", userAlice, "84.200.10.7", fmt.Sprintf("1700008100.%06d", i))
		ev["channel_type"] = "im"
		h.sendEvent(ev)
	}
	h.waitMessage("busy notice in the DM", func(m slackfake.Message) bool {
		return m.Channel == "D0ALICE" && m.ThreadTS != "" && strings.Contains(content(m), "overloaded")
	})
}
