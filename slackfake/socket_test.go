package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/rdnsbot/rdnsbot/slackfake"
)

// bot is the real slack-go client and socketmode client, connected to a fake.
type bot struct {
	api      *slack.Client
	client   *socketmode.Client
	requests chan socketmode.Event // events that carry a Socket Mode request
}

func newAPI(fake *slackfake.Fake) *slack.Client {
	return slack.New(fake.BotToken(),
		slack.OptionAppLevelToken(fake.AppToken()),
		slack.OptionAPIURL(fake.APIURL()))
}

// runBot starts a socketmode client against fake and stops it when the test ends.
func runBot(t *testing.T, fake *slackfake.Fake, opts ...socketmode.Option) *bot {
	t.Helper()
	b := &bot{api: newAPI(fake), requests: make(chan socketmode.Event, 100)}
	b.client = socketmode.New(b.api, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.client.RunContext(ctx)
	}()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-b.client.Events:
				if evt.Request != nil {
					b.requests <- evt
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// next returns the next request of type typ the client received, skipping hellos.
func (b *bot) next(ctx context.Context, t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	for {
		select {
		case evt := <-b.requests:
			if evt.Type == typ {
				return evt
			}
			if evt.Type != socketmode.EventTypeHello {
				t.Fatalf("got a %s request, want %s", evt.Type, typ)
			}
		case <-ctx.Done():
			t.Fatalf("no %s request: %v", typ, ctx.Err())
		}
	}
}

func messageEvent(channel, text string) slackfake.Event {
	return slackfake.Event{Inner: map[string]any{
		"type": "message", "channel": channel, "channel_type": "channel",
		"user": "U0ALICE", "text": text, "ts": "1700000000.000001",
	}}
}

func TestHelloOnConnect(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	b := runBot(t, fake)

	hello := b.next(ctx, t, socketmode.EventTypeHello)
	if hello.Request.NumConnections != 1 || hello.Request.DebugInfo.ApproximateConnectionTime == 0 {
		t.Errorf("hello = %+v, want num_connections 1 and an approximate_connection_time", *hello.Request)
	}
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := fake.Connections(); got != 1 {
		t.Errorf("Connections() = %d, want 1", got)
	}
}

func TestEventDeliveredAndAcked(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	b := runBot(t, fake)

	envID, eventID, err := fake.SendEvent(messageEvent("C0GENERAL", "550 5.7.25 from 203.0.113.5"))
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(ctx, t, socketmode.EventTypeEventsAPI)
	outer := evt.Data.(slackevents.EventsAPIEvent)
	cb := outer.Data.(*slackevents.EventsAPICallbackEvent)
	msg, ok := outer.InnerEvent.Data.(*slackevents.MessageEvent)
	if !ok || msg.Text != "550 5.7.25 from 203.0.113.5" || msg.Channel != "C0GENERAL" {
		t.Fatalf("inner event = %#v, want the message", outer.InnerEvent.Data)
	}
	if evt.Request.EnvelopeID != envID || cb.EventID != eventID || cb.TeamID != fake.Identity().TeamID {
		t.Errorf("envelope %q event %q team %q, want %q %q %q",
			evt.Request.EnvelopeID, cb.EventID, cb.TeamID, envID, eventID, fake.Identity().TeamID)
	}
	if err := b.client.Ack(*evt.Request); err != nil {
		t.Fatal(err)
	}
	payload, latency, err := fake.WaitAck(ctx, envID)
	if err != nil {
		t.Fatal(err)
	}
	if payload != nil || latency <= 0 {
		t.Errorf("ack payload %s latency %v, want none and > 0", payload, latency)
	}
}

func TestSlashCommandAckPayload(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	b := runBot(t, fake)

	envID, err := fake.SendSlashCommand(slackfake.SlashCommand{
		Command: "/rdns", Text: "203.0.113.5", UserID: "U0ALICE", ChannelID: "C0GENERAL",
	})
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(ctx, t, socketmode.EventTypeSlashCommand)
	cmd := evt.Data.(slack.SlashCommand)
	if cmd.Command != "/rdns" || cmd.Text != "203.0.113.5" || cmd.UserID != "U0ALICE" ||
		cmd.ResponseURL != fake.ResponseURL(envID) || cmd.TriggerID == "" || !evt.Request.AcceptsResponsePayload {
		t.Errorf("slash command = %+v (accepts response %v)", cmd, evt.Request.AcceptsResponsePayload)
	}
	if err := b.client.Ack(*evt.Request, map[string]any{"text": "checking…"}); err != nil {
		t.Fatal(err)
	}
	payload, _, err := fake.WaitAck(ctx, envID)
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != `{"text":"checking…"}` {
		t.Errorf("ack payload = %s", payload)
	}
}

func TestBlockAction(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	b := runBot(t, fake)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Name: "general", Type: slackfake.Public, BotMember: true})
	_, ts, err := b.api.PostMessage("C0GENERAL", slack.MsgOptionText("no PTR for 203.0.113.5", false))
	if err != nil {
		t.Fatal(err)
	}

	envID, err := fake.SendBlockAction(slackfake.BlockAction{
		UserID: "U0ALICE", ChannelID: "C0GENERAL", MessageTS: ts, ThreadTS: ts,
		ActionID: "recheck", BlockID: "b1", Value: "203.0.113.5", Text: "Recheck now",
	})
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(ctx, t, socketmode.EventTypeInteractive)
	cb := evt.Data.(slack.InteractionCallback)
	actions := cb.ActionCallback.BlockActions
	if cb.Type != slack.InteractionTypeBlockActions || len(actions) != 1 || actions[0].ActionID != "recheck" ||
		actions[0].Value != "203.0.113.5" || cb.Container.MessageTs != ts || cb.Container.ThreadTs != ts ||
		cb.Channel.ID != "C0GENERAL" || cb.Message.Text != "no PTR for 203.0.113.5" || cb.ResponseURL != fake.ResponseURL(envID) {
		t.Errorf("callback = %+v", cb)
	}
}

func TestUnackedEventIsRedelivered(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t, slackfake.WithRedelivery(50*time.Millisecond))
	b := runBot(t, fake)

	envID, eventID, err := fake.SendEvent(messageEvent("C0GENERAL", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	first := b.next(ctx, t, socketmode.EventTypeEventsAPI) // not acked
	retry := b.next(ctx, t, socketmode.EventTypeEventsAPI)
	if first.Request.RetryAttempt != 0 || retry.Request.RetryAttempt != 1 || retry.Request.RetryReason != "timeout" {
		t.Errorf("attempts %d then %d (%q), want 0 then 1 (timeout)",
			first.Request.RetryAttempt, retry.Request.RetryAttempt, retry.Request.RetryReason)
	}
	retried := retry.Data.(slackevents.EventsAPIEvent).Data.(*slackevents.EventsAPICallbackEvent)
	if retry.Request.EnvelopeID != envID || retried.EventID != eventID {
		t.Errorf("redelivered envelope %q event %q, want %q %q", retry.Request.EnvelopeID, retried.EventID, envID, eventID)
	}
	if err := b.client.Ack(*retry.Request); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fake.WaitAck(ctx, envID); err != nil {
		t.Fatal(err)
	}
}

func TestExplicitRedeliver(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	b := runBot(t, fake)

	envID, _, err := fake.SendEvent(messageEvent("C0GENERAL", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	b.next(ctx, t, socketmode.EventTypeEventsAPI)
	if err := fake.Redeliver(envID); err != nil {
		t.Fatal(err)
	}
	if got := b.next(ctx, t, socketmode.EventTypeEventsAPI); got.Request.RetryAttempt != 1 {
		t.Errorf("retry_attempt = %d, want 1", got.Request.RetryAttempt)
	}
	if err := fake.Redeliver("no-such-envelope"); err == nil {
		t.Error("Redeliver of an unknown envelope succeeded")
	}
}

func TestReconnects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cut  func(*slackfake.Fake) error
	}{
		{"refresh requested", func(f *slackfake.Fake) error { return f.Disconnect("refresh_requested") }},
		{"connection dropped", func(f *slackfake.Fake) error { f.DropConnections(); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			fake := slackfake.Start(t)
			b := runBot(t, fake)
			if err := fake.WaitConnected(ctx, 1); err != nil {
				t.Fatal(err)
			}
			if err := tc.cut(fake); err != nil {
				t.Fatal(err)
			}
			if err := fake.WaitConnected(ctx, 2); err != nil {
				t.Fatal(err)
			}
			envID, _, err := fake.SendEvent(messageEvent("C0GENERAL", "after reconnect"))
			if err != nil {
				t.Fatal(err)
			}
			evt := b.next(ctx, t, socketmode.EventTypeEventsAPI)
			if evt.Request.EnvelopeID != envID {
				t.Errorf("got envelope %q, want %q", evt.Request.EnvelopeID, envID)
			}
		})
	}
}

// A stalled socket stays open but goes silent: slack-go's ping watchdog
// drops it and reconnects, and an envelope queued on the silent socket is
// delivered on the new one.
func TestStalledSocketIsReplaced(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t, slackfake.WithPingInterval(20*time.Millisecond))
	b := runBot(t, fake, socketmode.OptionPingInterval(200*time.Millisecond))
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fake.StallSockets()
	envID, _, err := fake.SendEvent(messageEvent("C0GENERAL", "sent while stalled"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	evt := b.next(ctx, t, socketmode.EventTypeEventsAPI)
	if evt.Request.EnvelopeID != envID {
		t.Errorf("got envelope %q, want %q", evt.Request.EnvelopeID, envID)
	}
	if got := fake.Stalled(); got != 1 {
		t.Errorf("Stalled() = %d, want 1", got)
	}
}

// An envelope left unwritten on a socket that goes away is delivered on a
// socket that is still open, not kept for a later one; its ack says which
// socket it came back on.
func TestEnvelopeOfADroppedSocketGoesToAnOpenOne(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	first, _ := openSocket(ctx, t, fake)
	if err := fake.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fake.StallSockets() // the envelope waits on the first socket, unwritten
	envID, err := fake.SendEnvelope("events_api", map[string]any{"type": "event_callback", "event_id": "Ev1"})
	if err != nil {
		t.Fatal(err)
	}
	second, _ := openSocket(ctx, t, fake)
	if err := fake.WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = second.SetReadDeadline(deadline) // a missing envelope fails the test, not the run
	}
	for {
		var frame map[string]any
		if err := second.ReadJSON(&frame); err != nil {
			t.Fatalf("the envelope never came on the open socket: %v", err)
		}
		if frame["type"] == "hello" {
			continue
		}
		if frame["envelope_id"] != envID {
			t.Fatalf("frame %v, want envelope %s", frame, envID)
		}
		break
	}
	if err := second.WriteJSON(map[string]any{"envelope_id": envID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fake.WaitAck(ctx, envID); err != nil {
		t.Fatal(err)
	}
	if acks := fake.Acks(); len(acks) != 1 || acks[0].Socket != 2 {
		t.Errorf("acks = %+v, want one, on socket 2", acks)
	}
}

func TestEnvelopeQueuedUntilConnected(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	envID, err := fake.SendEnvelope("events_api", json.RawMessage(`{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","user":"U0ALICE","text":"<@U0FAKEBOT> 203.0.113.5","channel":"C0GENERAL","ts":"1.2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b := runBot(t, fake)
	evt := b.next(ctx, t, socketmode.EventTypeEventsAPI)
	if evt.Request.EnvelopeID != envID {
		t.Fatalf("got envelope %q, want %q", evt.Request.EnvelopeID, envID)
	}
	if _, ok := evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.AppMentionEvent); !ok {
		t.Errorf("inner event = %T, want an app mention", evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data)
	}
}

func TestWrongAppTokenStopsSocketMode(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	api := slack.New(fake.BotToken(), slack.OptionAppLevelToken("xapp-wrong"), slack.OptionAPIURL(fake.APIURL()))
	client := socketmode.New(api)
	go func() {
		for range client.Events { // RunContext blocks until its events are read
		}
	}()
	err := client.RunContext(ctx)
	var slackErr slack.SlackErrorResponse
	if !errors.As(err, &slackErr) || slackErr.Err != "invalid_auth" {
		t.Errorf("RunContext = %v, want invalid_auth", err)
	}
}

// TestCloseLeavesNoGoroutines runs a whole exchange, closes the fake and checks that no
// goroutine of this package is left. Close waits for its goroutines, so no wait is needed.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.New(slackfake.WithRedelivery(time.Minute))
	api := newAPI(fake)
	client := socketmode.New(api)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = client.RunContext(runCtx)
	}()
	envID, _, err := fake.SendEvent(messageEvent("C0GENERAL", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	for evt := range client.Events {
		if evt.Type == socketmode.EventTypeEventsAPI {
			if err := client.Ack(*evt.Request); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if _, _, err := fake.WaitAck(ctx, envID); err != nil {
		t.Fatal(err)
	}
	fake.Close()
	// Close waited for the goroutines the fake started, so none may be left
	// in its code, not even on its way out (it leaves the fake's code before
	// it says it is done). A socket's HTTP handler runs on net/http's
	// goroutine, which returns right after the upgrade and which Close cannot
	// wait for: it may be seen returning, never waiting on anything.
	for deadline := time.Now().Add(5 * time.Second); ; {
		left := fakeGoroutines()
		for _, g := range left {
			if !g.handler || !strings.HasPrefix(g.state, "runnable") {
				t.Fatalf("goroutine left after Close:\n%s", g.stack)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler still running after Close:\n%s", left[0].stack)
		}
		runtime.Gosched()
	}

	cancel()
	go func() { // let RunContext hand over its last events
		for range client.Events {
		}
	}()
	<-done
}

// goroutine is one goroutine of a stack dump.
type goroutine struct {
	state, stack string
	handler      bool // a goroutine of the fake's HTTP server, in a handler
}

// fakeGoroutines are the goroutines in slackfake code, but this one.
func fakeGoroutines() []goroutine {
	buf := make([]byte, 1<<20)
	all := strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n")
	var out []goroutine
	for _, g := range all[1:] { // the first is the caller's
		if !strings.Contains(g, "rdnsbot/slackfake.") {
			continue
		}
		// "goroutine 234 [runnable]:"
		_, state, _ := strings.Cut(g, "[")
		state, _, _ = strings.Cut(state, "]")
		out = append(out, goroutine{state: state, stack: g, handler: strings.Contains(g, "created by net/http.(*Server).Serve")})
	}
	return out
}

// openSocket opens a socket on fake with a bare websocket client, closed
// when the test ends, and returns it with the single-use URL it dialled.
func openSocket(ctx context.Context, t *testing.T, fake *slackfake.Fake) (*websocket.Conn, string) {
	t.Helper()
	_, wsURL, err := socketmode.New(newAPI(fake)).OpenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws, wsURL
}

// TestWireProtocol checks the frames themselves with a bare websocket client: the hello,
// server pings, acks, and that a connection URL works once.
func TestWireProtocol(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t, slackfake.WithPingInterval(10*time.Millisecond))
	ws, wsURL := openSocket(ctx, t, fake)
	if _, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("second dial with the same URL: %v, want 401", err)
	}

	pings := make(chan struct{}, 10)
	ws.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return nil
	})
	frames := make(chan map[string]any, 10)
	go func() {
		defer close(frames)
		for {
			var frame map[string]any
			if err := ws.ReadJSON(&frame); err != nil {
				return
			}
			frames <- frame
		}
	}()
	receive := func() map[string]any {
		t.Helper()
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("socket closed")
			}
			return f
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		return nil
	}

	hello := receive()
	debug, _ := hello["debug_info"].(map[string]any)
	if hello["type"] != "hello" || hello["num_connections"] != 1.0 || debug["approximate_connection_time"] == nil {
		t.Errorf("hello = %v", hello)
	}
	for range 2 {
		select {
		case <-pings:
		case <-ctx.Done():
			t.Fatal("no pings from the server")
		}
	}

	envID, err := fake.SendEnvelope("events_api", map[string]any{"type": "event_callback", "event_id": "Ev1"})
	if err != nil {
		t.Fatal(err)
	}
	env := receive()
	if env["envelope_id"] != envID || env["type"] != "events_api" || env["retry_attempt"] != 0.0 || env["accepts_response_payload"] != false {
		t.Errorf("envelope = %v", env)
	}
	if err := ws.WriteJSON(map[string]any{"envelope_id": envID, "payload": map[string]any{"ok": 1}}); err != nil {
		t.Fatal(err)
	}
	payload, _, err := fake.WaitAck(ctx, envID)
	if err != nil || string(payload) != `{"ok":1}` {
		t.Errorf("ack payload %s, %v", payload, err)
	}
	if acks := fake.Acks(); len(acks) != 1 || acks[0].EnvelopeID != envID {
		t.Errorf("acks = %+v", acks)
	}
}

func TestSendUserMessageWithEmail(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0MAIL", Name: "mail", Type: slackfake.Private, BotMember: true})
	b := runBot(t, fake)
	email := fake.AddFile(slackfake.File{Mode: "email", Filetype: "email", PlainText: "550 5.7.25 [203.0.113.5]"})

	sent, envID, err := fake.SendUserMessage(slackfake.Message{
		Channel: "C0MAIL", User: "USLACKBOT", BotID: "B0EMAIL", Files: []slackfake.File{email},
	})
	if err != nil {
		t.Fatal(err)
	}
	evt := b.next(ctx, t, socketmode.EventTypeEventsAPI)
	msg := evt.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.MessageEvent)
	if evt.Request.EnvelopeID != envID || msg.TimeStamp != sent.TS || msg.ChannelType != "group" || msg.BotID != "B0EMAIL" ||
		msg.Message == nil || len(msg.Message.Files) != 1 || msg.Message.Files[0].Mode != "email" ||
		msg.Message.Files[0].PlainText != "550 5.7.25 [203.0.113.5]" {
		t.Errorf("message event = %+v (files %+v)", msg, msg.Message)
	}
	if len(fake.Thread("C0MAIL", sent.TS)) != 1 {
		t.Error("the email post was not stored")
	}
}
