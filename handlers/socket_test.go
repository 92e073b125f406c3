package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/slackfake"
)

// A socket that stays open but goes silent (no pings, no frames) is
// replaced. Until the new one is up the bot is not ready, and an envelope
// Slack queues meanwhile is answered on the new socket. The replacement's
// apps.connections.open is held until the test lets it through, so "no
// socket" lasts as long as the test needs, not some time that a loaded
// machine may cut short. The ping timeout is 10 of the fake's 100 ms ping
// intervals, and slack-go's watchdog first looks one timeout after a socket
// opens, while the healthy sockets here matter only briefly (the first
// until it is stalled, the new one until the envelope is acked): a loaded
// machine does not pass for a stall.
func TestStalledSocketIsReconnected(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.Slack.PingTimeout = time.Second }))
	h.fake.FailNext("apps.connections.open", 1, slackfake.Fault{Hang: true})
	h.fake.StallSockets()
	// slack-go closes the stalled socket before it asks for a new one, so
	// both happen; the held call keeps it at that.
	dropped := func() bool { return h.fake.Connections() == 0 && len(h.fake.CallsTo("apps.connections.open")) == 2 }
	if err := h.fake.Wait(h.ctx(), dropped); err != nil {
		t.Fatalf("the stalled socket was not replaced: %v", err)
	}
	// The bot learns it is reconnecting from an event it may not have read yet.
	if err := waitFor(h.ctx(), func() bool { return !h.bot.Ready() }); err != nil {
		t.Fatal("the bot stayed ready without a live socket")
	}
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	if h.bot.Ready() {
		t.Error("the bot became ready again before it had a socket")
	}
	h.fake.Unhang()
	h.waitConnected(2)
	h.ack(env)
	for _, a := range h.fake.Acks() {
		if a.EnvelopeID == env && a.Socket != 2 {
			t.Errorf("the queued envelope was acked on socket %d, want 2 (the new one)", a.Socket)
		}
	}
	h.waitMessage("summary after the stall", func(m slackfake.Message) bool { return m.Channel == chanOps && m.ThreadTS == "" })
	if n := h.fake.Stalled(); n != 1 {
		t.Errorf("%d sockets stalled, want 1", n)
	}
}

// Once the bot ran, a socket that cannot be reopened at once is retried
// beyond the start-up bound: the bot keeps running and reconnects.
func TestLostSocketIsReopenedBeyondTheStartupBound(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.Slack.Attempts = 2 }))
	h.fake.FailNext("apps.connections.open", 3, slackfake.Fault{HTTPStatus: http.StatusServiceUnavailable})
	h.fake.DropConnections()
	h.waitConnected(2)
	if n := len(h.fake.CallsTo("apps.connections.open")); n != 5 {
		t.Errorf("%d apps.connections.open calls, want 5 (1 at start, 3 failed, 1 ok)", n)
	}
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
}

// An envelope slack-go's typed parser rejects (here a mention whose edited
// ts is a number, where slack-go wants a string) is still acked, so Slack
// does not redeliver it, and answered from its raw JSON.
func TestEnvelopeSlackGoCannotTypeIsAckedAndAnswered(t *testing.T) {
	h := startHarness(t)
	ev := msgEvent(chanOps, userAlice, "<@"+h.fake.Identity().BotUserID+"> check 84.200.10.7", "1700000100.000100")
	ev["type"] = "app_mention"
	ev["edited"] = map[string]any{"user": userAlice, "ts": 1700000200}
	env, _ := h.sendEvent(ev)
	h.ack(env)
	h.waitMessage("mention reply", inThread(chanOps, "1700000100.000100", "84.200.10.7"))
}

// runAlone runs a bot on fake with limits and returns Run's error.
func runAlone(t *testing.T, fake *slackfake.Fake, limits SlackLimits) error {
	t.Helper()
	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken(fake.AppToken()), slack.OptionAPIURL(fake.APIURL()),
		slack.OptionHTTPClient(&http.Client{Timeout: 200 * time.Millisecond}))
	b := New(NewPoster(api, nil, nil), nil, Config{Workers: 1, Slack: limits})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return b.Run(ctx)
}

func TestSlackThatDoesNotAnswerEndsRun(t *testing.T) {
	limits := SlackLimits{Attempts: 3, Backoff: time.Millisecond}
	for _, tc := range []struct {
		name, method string
		fault        slackfake.Fault
	}{
		{"auth.test hangs", "auth.test", slackfake.Fault{Hang: true}},
		{"auth.test 503", "auth.test", slackfake.Fault{HTTPStatus: http.StatusServiceUnavailable}},
		{"auth.test dropped", "auth.test", slackfake.Fault{Drop: true}},
		{"apps.connections.open hangs", "apps.connections.open", slackfake.Fault{Hang: true}},
		{"apps.connections.open 502", "apps.connections.open", slackfake.Fault{HTTPStatus: http.StatusBadGateway}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := slackfake.Start(t)
			fake.FailNext(tc.method, 100, tc.fault)
			err := runAlone(t, fake, limits)
			var down *UnreachableError
			if !errors.As(err, &down) || down.Method != tc.method || down.Attempts != limits.Attempts {
				t.Fatalf("Run: %v, want an UnreachableError for %s after %d attempts", err, tc.method, limits.Attempts)
			}
			if n := len(fake.CallsTo(tc.method)); n != limits.Attempts {
				t.Errorf("%d %s calls, want %d", n, tc.method, limits.Attempts)
			}
			if strings.Contains(err.Error(), fake.BotToken()) || strings.Contains(err.Error(), fake.AppToken()) {
				t.Errorf("the error names a token: %v", err)
			}
		})
	}
}

// A refusal is final: a wrong token is not retried.
func TestRefusedAuthIsNotRetried(t *testing.T) {
	fake := slackfake.Start(t)
	fake.FailNext("auth.test", 100, slackfake.Fault{Error: "invalid_auth"})
	err := runAlone(t, fake, SlackLimits{Attempts: 3, Backoff: time.Millisecond})
	var down *UnreachableError
	if err == nil || errors.As(err, &down) || slackError(err) != "invalid_auth" {
		t.Errorf("Run: %v, want invalid_auth at once", err)
	}
	if n := len(fake.CallsTo("auth.test")); n != 1 {
		t.Errorf("%d auth.test calls, want 1", n)
	}
}
