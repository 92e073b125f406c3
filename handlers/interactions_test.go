package handlers

import (
	"strings"
	"testing"

	"github.com/rdnsbot/rdnsbot/slackfake"
)

// TestMessageShortcutDiagnosesAnyMessage drives "Diagnose this bounce"
// through the fake Slack's interactivity envelope: on another bot's message
// in a channel outside BOUNCE_CHANNELS, on a reply in a thread, in a private
// channel the bot is not in (privately, through the response_url), and on
// a message that holds no bounce.
func TestMessageShortcutDiagnosesAnyMessage(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.BounceChannels = []string{chanOps} }))
	shortcut := func(channel, ts string) string {
		t.Helper()
		env, err := h.fake.SendMessageAction(slackfake.MessageAction{UserID: userAlice, ChannelID: channel, MessageTS: ts, CallbackID: shortcutDiagnose})
		if err != nil {
			t.Fatal(err)
		}
		h.ack(env)
		return env
	}

	// Another bot's message in a channel whose bounces are not read unasked.
	h.fake.AddMessage(slackfake.Message{Channel: chanNoBounc, TS: "1700008000.000100", User: "U0MONITOR", BotID: "B0MONITOR", Text: gmailBounce})
	shortcut(chanNoBounc, "1700008000.000100")
	h.waitMessage("answer in the message's thread", inThread(chanNoBounc, "1700008000.000100", "84.200.10.6", "reverse-DNS rejection"))

	// A reply inside a thread: the answer joins that thread.
	h.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: "1700008100.000100", User: userAlice, Text: "our mail bounces"})
	h.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: "1700008100.000200", ThreadTS: "1700008100.000100", User: userAlice, Text: gmailBounce})
	shortcut(chanOps, "1700008100.000200")
	h.waitMessage("answer in the parent thread", inThread(chanOps, "1700008100.000100", "84.200.10.6"))

	// A private channel the bot is not in: only the user sees the answer.
	h.fake.AddMessage(slackfake.Message{Channel: chanSecret, TS: "1700008200.000100", User: userAlice, Text: gmailBounce})
	env := shortcut(chanSecret, "1700008200.000100")
	h.waitResponse(env)
	resp := h.fake.Responses(env)[0]
	if resp.ResponseType != "ephemeral" || !strings.Contains(string(resp.Blocks), "84.200.10.6") {
		t.Errorf("private answer: %+v %s", resp, resp.Blocks)
	}
	if n := len(h.botPosts(chanSecret)); n != 0 {
		t.Errorf("bot posted %d messages in a channel it is not in", n)
	}

	// No bounce: say so, privately.
	h.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: "1700008300.000100", User: userAlice, Text: "lunch?"})
	env = shortcut(chanOps, "1700008300.000100")
	h.waitResponse(env)
	if r := h.fake.Responses(env)[0]; !strings.Contains(r.Text, "no reverse-DNS rejection") {
		t.Errorf("no-bounce answer: %+v", r)
	}
	if n := len(h.fake.Thread(chanOps, "1700008300.000100")); n != 1 {
		t.Errorf("thread of a message without a bounce has %d messages, want just it", n)
	}
}
