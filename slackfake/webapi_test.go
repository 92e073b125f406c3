package slackfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/slackfake"
)

// slackErr returns the Slack error code in err, or "" if err is not an API error.
func slackErr(err error) string {
	var e slack.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	return ""
}

func TestAuthTest(t *testing.T) {
	fake := slackfake.Start(t, slackfake.WithIdentity(slackfake.Identity{TeamID: "T0TEST", BotUserID: "U0TESTBOT", BotID: "B0TESTBOT"}))
	resp, err := newAPI(fake).AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if resp.TeamID != "T0TEST" || resp.UserID != "U0TESTBOT" || resp.BotID != "B0TESTBOT" || resp.User != "rdnsbot" {
		t.Errorf("auth.test = %+v", resp)
	}
}

func TestTokens(t *testing.T) {
	fake := slackfake.Start(t)
	for _, tc := range []struct {
		name, token, want string
	}{
		{"bot token", fake.BotToken(), ""},
		{"wrong token", "xoxb-wrong", "invalid_auth"},
		{"no token", "", "not_authed"},
		{"app token", fake.AppToken(), "not_allowed_token_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := slack.New(tc.token, slack.OptionAPIURL(fake.APIURL())).AuthTest()
			if got := slackErr(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Errorf("auth.test error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUnknownMethod(t *testing.T) {
	fake := slackfake.Start(t)
	resp, err := http.PostForm(fake.APIURL()+"chat.scheduleMessage", url.Values{"token": {fake.BotToken()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.OK || body.Error != "unknown_method" {
		t.Errorf("answer = %+v, want unknown_method", body)
	}
}

func TestPostMessageStoresMessage(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Name: "general", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)

	section := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*no PTR*", false, true), nil, nil)
	start := time.Now()
	meta := slack.SlackMetadata{EventType: "rdns_announce", EventPayload: map[string]any{"ip": "203.0.113.5"}}
	_, parent, err := api.PostMessage("C0GENERAL", slack.MsgOptionText("summary", false))
	if err != nil {
		t.Fatal(err)
	}
	_, reply, err := api.PostMessage("C0GENERAL",
		slack.MsgOptionText("guidance", false), slack.MsgOptionTS(parent), slack.MsgOptionBlocks(section),
		slack.MsgOptionMetadata(meta), slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl(),
		slack.MsgOptionParse(false))
	if err != nil {
		t.Fatal(err)
	}
	before := strconv.FormatInt(start.Unix(), 10)
	if len(parent) != len("1764590000.123456") || parent < before || reply <= parent {
		t.Errorf("ts %q then %q, want seconds.micros from %s on, then a larger one", parent, reply, before)
	}

	msgs := fake.Messages("C0GENERAL")
	if len(msgs) != 2 {
		t.Fatalf("stored %d messages, want 2", len(msgs))
	}
	got := msgs[1]
	if got.Text != "guidance" || got.ThreadTS != parent || got.BotID != "B0FAKEBOT" || got.User != "U0FAKEBOT" ||
		got.Parse != "none" || got.UnfurlLinks == nil || *got.UnfurlLinks || got.UnfurlMedia == nil || *got.UnfurlMedia {
		t.Errorf("stored reply = %+v", got)
	}
	var blocks []map[string]any
	if err := json.Unmarshal(got.Blocks, &blocks); err != nil || len(blocks) != 1 || blocks[0]["type"] != "section" {
		t.Errorf("stored blocks = %s (%v)", got.Blocks, err)
	}
	if !bytes.Contains(got.Metadata, []byte(`"rdns_announce"`)) {
		t.Errorf("stored metadata = %s", got.Metadata)
	}
	if thread := fake.Thread("C0GENERAL", parent); len(thread) != 2 {
		t.Errorf("Thread() has %d messages, want 2", len(thread))
	}
}

func TestConversationsReplies(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)
	bounce := fake.AddMessage(slackfake.Message{Channel: "C0GENERAL", User: "U0ALICE", Text: "550 5.7.25"})
	meta := slack.SlackMetadata{EventType: "rdns_fixed", EventPayload: map[string]any{"ip": "203.0.113.5"}}
	if _, _, err := api.PostMessage("C0GENERAL", slack.MsgOptionText("fixed", false),
		slack.MsgOptionTS(bounce.TS), slack.MsgOptionMetadata(meta)); err != nil {
		t.Fatal(err)
	}

	for _, withMeta := range []bool{true, false} {
		msgs, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{
			ChannelID: "C0GENERAL", Timestamp: bounce.TS, IncludeAllMetadata: withMeta,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || msgs[0].Text != "550 5.7.25" || msgs[0].ReplyCount != 1 || msgs[1].Text != "fixed" {
			t.Fatalf("replies = %+v", msgs)
		}
		if got := msgs[1].Metadata.EventType; (got == "rdns_fixed") != withMeta {
			t.Errorf("include_all_metadata=%v: metadata event type %q", withMeta, got)
		}
	}

	page, more, cursor, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{
		ChannelID: "C0GENERAL", Timestamp: bounce.TS, Limit: 1,
	})
	if err != nil || len(page) != 1 || !more || cursor == "" {
		t.Errorf("first page: %d messages, has_more %v, cursor %q, err %v", len(page), more, cursor, err)
	}
	_, _, _, err = api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: "C0GENERAL", Timestamp: "1.000000"})
	if slackErr(err) != "thread_not_found" {
		t.Errorf("unknown thread: %v, want thread_not_found", err)
	}
}

func TestChannelMembership(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0PUBLIC", Name: "mail", Type: slackfake.Public})
	fake.AddChannel(slackfake.Channel{ID: "C0SECRET", Name: "ops", Type: slackfake.Private})
	fake.AddChannel(slackfake.Channel{ID: "D0ALICE", Type: slackfake.IM, User: "U0ALICE"})
	fake.AddChannel(slackfake.Channel{ID: "G0TRIO", Type: slackfake.MPIM, BotMember: true})
	api := newAPI(fake)
	post := func(channel string) error {
		_, _, err := api.PostMessage(channel, slack.MsgOptionText("hi", false))
		return err
	}

	if got := slackErr(post("C0PUBLIC")); got != "not_in_channel" {
		t.Errorf("public, not a member: %q, want not_in_channel", got)
	}
	if _, _, _, err := api.JoinConversation("C0PUBLIC"); err != nil {
		t.Fatalf("joining a public channel: %v", err)
	}
	if err := post("C0PUBLIC"); err != nil {
		t.Errorf("public after join: %v", err)
	}
	if c, _ := fake.Channel("C0PUBLIC"); !c.BotMember {
		t.Error("bot not a member after conversations.join")
	}

	if got := slackErr(post("C0SECRET")); got != "channel_not_found" {
		t.Errorf("private, not a member: %q, want channel_not_found", got)
	}
	if _, _, _, err := api.JoinConversation("C0SECRET"); slackErr(err) != "method_not_supported_for_channel_type" {
		t.Errorf("joining a private channel: %v, want method_not_supported_for_channel_type", err)
	}
	if _, _, _, err := api.JoinConversation("C0NOWHERE"); slackErr(err) != "channel_not_found" {
		t.Errorf("joining an unknown channel: %v, want channel_not_found", err)
	}
	fake.AddChannel(slackfake.Channel{ID: "C0SECRET", Name: "ops", Type: slackfake.Private, BotMember: true}) // invited
	for _, ch := range []string{"C0SECRET", "D0ALICE", "G0TRIO"} {
		if err := post(ch); err != nil {
			t.Errorf("posting to %s: %v", ch, err)
		}
	}
	if got := slackErr(post("C0NOWHERE")); got != "channel_not_found" {
		t.Errorf("unknown channel: %q, want channel_not_found", got)
	}

	info, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "D0ALICE"})
	if err != nil || !info.IsIM || info.User != "U0ALICE" || !info.IsMember {
		t.Errorf("conversations.info = %+v, %v", info, err)
	}
}

func TestValidation(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)
	section := func(text string) slack.Block {
		return slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", text, false, false), nil, nil)
	}
	blocks := func(n int) []slack.Block {
		out := make([]slack.Block, n)
		for i := range out {
			out[i] = section("x")
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opts []slack.MsgOption
		want string
	}{
		{"50 blocks", []slack.MsgOption{slack.MsgOptionBlocks(blocks(50)...)}, ""},
		{"51 blocks", []slack.MsgOption{slack.MsgOptionBlocks(blocks(51)...)}, "invalid_blocks"},
		{"3000-char section", []slack.MsgOption{slack.MsgOptionBlocks(section(strings.Repeat("é", 3000)))}, ""},
		{"3001-char section", []slack.MsgOption{slack.MsgOptionBlocks(section(strings.Repeat("a", 3001)))}, "invalid_blocks"},
		{"40000-char text", []slack.MsgOption{slack.MsgOptionText(strings.Repeat("a", 40000), false)}, ""},
		{"40001-char text", []slack.MsgOption{slack.MsgOptionText(strings.Repeat("a", 40001), false)}, "msg_too_long"},
		{"malformed blocks", []slack.MsgOption{slack.UnsafeMsgOptionEndpoint(fake.APIURL()+"chat.postMessage",
			func(v url.Values) { v.Set("blocks", `[{"type":"section"`) })}, "invalid_blocks"},
		{"nothing to post", nil, "no_text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessage("C0GENERAL", tc.opts...)
			if got := slackErr(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)
	post := func() error {
		_, _, err := api.PostMessage("C0GENERAL", slack.MsgOptionText("hi", false))
		return err
	}

	fake.FailNext("chat.postMessage", 1, slackfake.Fault{HTTPStatus: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond})
	fake.FailNext("chat.postMessage", 1, slackfake.Fault{HTTPStatus: http.StatusServiceUnavailable})
	fake.FailNext("chat.postMessage", 1, slackfake.Fault{Error: "ratelimited"})

	var rl *slack.RateLimitedError
	if err := post(); !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
		t.Errorf("first post: %v, want a RateLimitedError retrying after 2s", err)
	}
	var sc slack.StatusCodeError
	if err := post(); !errors.As(err, &sc) || sc.Code != http.StatusServiceUnavailable {
		t.Errorf("second post: %v, want a 503", err)
	}
	if err := post(); slackErr(err) != "ratelimited" {
		t.Errorf("third post: %v, want ratelimited", err)
	}
	if err := post(); err != nil {
		t.Errorf("fourth post: %v, want ok", err)
	}
	fake.FailNext("auth.test", 1, slackfake.Fault{})
	if _, err := api.AuthTest(); slackErr(err) != "internal_error" {
		t.Errorf("empty fault: %v, want internal_error", err)
	}

	calls := fake.CallsTo("chat.postMessage")
	var statuses []int
	for _, c := range calls {
		statuses = append(statuses, c.Status)
		if c.Params.Has("token") {
			t.Errorf("call params keep the token: %v", c.Params)
		}
	}
	if want := []int{429, 503, 200, 200}; !slices.Equal(statuses, want) || calls[2].Error != "ratelimited" {
		t.Errorf("recorded statuses %v (third error %q), want %v and ratelimited", statuses, calls[2].Error, want)
	}
	if len(fake.Messages("C0GENERAL")) != 1 {
		t.Errorf("failed posts were stored: %+v", fake.Messages("C0GENERAL"))
	}
}

func TestLatency(t *testing.T) {
	fake := slackfake.Start(t)
	fake.SetLatency("auth.test", time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := newAPI(fake).AuthTestContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("auth.test with a minute of latency: %v, want the deadline to pass", err)
	}
	fake.SetLatency("auth.test", 0)
	if _, err := newAPI(fake).AuthTest(); err != nil {
		t.Errorf("auth.test without latency: %v", err)
	}
}

func TestEphemeralAndUpdate(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)

	if _, err := api.PostEphemeral("C0GENERAL", "U0ALICE", slack.MsgOptionText("checking…", false)); err != nil {
		t.Fatal(err)
	}
	if eph := fake.Ephemerals("C0GENERAL"); len(eph) != 1 || eph[0].Recipient != "U0ALICE" || len(fake.Messages("C0GENERAL")) != 0 {
		t.Errorf("ephemerals %+v, messages %+v", eph, fake.Messages("C0GENERAL"))
	}

	_, ts, err := api.PostMessage("C0GENERAL", slack.MsgOptionText("can't tell yet", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessage("C0GENERAL", ts, slack.MsgOptionText("pass", false)); err != nil {
		t.Fatal(err)
	}
	if m := fake.Messages("C0GENERAL"); len(m) != 1 || m[0].Text != "pass" || !m[0].Edited {
		t.Errorf("after update: %+v", m)
	}
	if _, _, _, err := api.UpdateMessage("C0GENERAL", ts, slack.MsgOptionText(strings.Repeat("a", 4001), false)); slackErr(err) != "msg_too_long" {
		t.Errorf("updating with 4001 chars: %v, want msg_too_long", err)
	}
	if _, _, _, err := api.UpdateMessage("C0GENERAL", "1.000000", slack.MsgOptionText("x", false)); slackErr(err) != "message_not_found" {
		t.Errorf("updating a missing message: %v, want message_not_found", err)
	}
	user := fake.AddMessage(slackfake.Message{Channel: "C0GENERAL", User: "U0ALICE", Text: "mine"})
	if _, _, _, err := api.UpdateMessage("C0GENERAL", user.TS, slack.MsgOptionText("x", false)); slackErr(err) != "cant_update_message" {
		t.Errorf("updating a user's message: %v, want cant_update_message", err)
	}
}

func TestFiles(t *testing.T) {
	fake := slackfake.Start(t)
	email := fake.AddFile(slackfake.File{
		Name: "bounce.eml", Mode: "email", Filetype: "email", Mimetype: "text/html",
		Subject:   "Undelivered Mail Returned to Sender",
		From:      []slackfake.EmailAddress{{Address: "MAILER-DAEMON@mx.example", Name: "Mail Delivery System"}},
		PlainText: "550 5.7.25 [203.0.113.5] The IP address sending this message does not have a PTR record",
		HasMore:   true,
		Content:   []byte("Received: from mx.example\r\n\r\n550 5.7.25 full body"),
	})
	api := newAPI(fake)

	got, _, _, err := api.GetFileInfo(email.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != "email" || got.Filetype != "email" || got.PlainText != email.PlainText ||
		got.URLPrivateDownload != email.URLPrivateDownload || got.From[0].Address != "MAILER-DAEMON@mx.example" {
		t.Errorf("files.info = %+v", got)
	}
	raw, err := json.Marshal(email)
	if err != nil || !bytes.Contains(raw, []byte(`"has_more":true`)) {
		t.Errorf("file object %s lacks has_more (%v)", raw, err)
	}

	var body bytes.Buffer
	if err := api.GetFile(got.URLPrivateDownload, &body); err != nil || body.String() != string(email.Content) {
		t.Errorf("download: %q, %v", body.String(), err)
	}
	stranger := slack.New("xoxb-stranger", slack.OptionAPIURL(fake.APIURL()))
	if err := stranger.GetFile(got.URLPrivate, &body); err == nil {
		t.Error("download without the bot token succeeded")
	}
	if _, _, _, err := api.GetFileInfo("F0MISSING", 0, 0); slackErr(err) != "file_not_found" {
		t.Errorf("missing file: %v, want file_not_found", err)
	}
}

func TestResponseURL(t *testing.T) {
	fake := slackfake.Start(t)
	api := newAPI(fake)
	u := fake.ResponseURL("cmd-1")
	if _, _, err := api.PostMessage("", slack.MsgOptionResponseURL(u, slack.ResponseTypeInChannel),
		slack.MsgOptionText("no PTR for 203.0.113.5", false)); err != nil {
		t.Fatal(err)
	}
	posts := fake.Responses("cmd-1")
	if len(posts) != 1 || posts[0].Text != "no PTR for 203.0.113.5" || posts[0].ResponseType != "in_channel" {
		t.Errorf("response_url posts = %+v", posts)
	}
	_, _, err := api.PostMessage("", slack.MsgOptionResponseURL(strings.Replace(u, "cmd-1", "cmd-unknown", 1), slack.ResponseTypeEphemeral),
		slack.MsgOptionText("x", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != http.StatusNotFound {
		t.Errorf("unknown response_url: %v, want 404", err)
	}
}

func TestViewsPublish(t *testing.T) {
	fake := slackfake.Start(t)
	api := newAPI(fake)
	view := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "Watching 203.0.113.5", false, false), nil, nil),
	}}}
	first, err := api.PublishView("U0ALICE", view, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.PublishView("U0ALICE", view, "stale"); slackErr(err) != "hash_conflict" {
		t.Errorf("stale hash: %v, want hash_conflict", err)
	}
	if _, err := api.PublishView("U0ALICE", view, first.Hash); err != nil {
		t.Errorf("current hash: %v", err)
	}
	if views := fake.Views("U0ALICE"); len(views) != 2 || !bytes.Contains(views[0], []byte("Watching 203.0.113.5")) {
		t.Errorf("views = %s", views)
	}
}

func TestWaitForMessage(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)
	errc := make(chan error, 1)
	go func() {
		_, _, err := api.PostMessage("C0GENERAL", slack.MsgOptionText("fixed: 203.0.113.5", false))
		errc <- err
	}()
	m, err := fake.WaitForMessage(ctx, func(m slackfake.Message) bool { return strings.HasPrefix(m.Text, "fixed") })
	if err != nil {
		t.Fatal(err)
	}
	if m.Channel != "C0GENERAL" {
		t.Errorf("message = %+v", m)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := fake.WaitForMessage(short, func(slackfake.Message) bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for nothing: %v, want the deadline to pass", err)
	}
}

func TestMessagesInTSOrder(t *testing.T) {
	fake := slackfake.Start(t)
	later := fake.AddMessage(slackfake.Message{Channel: "C0GENERAL", User: "U0ALICE", Text: "later"})
	fake.AddMessage(slackfake.Message{Channel: "C0GENERAL", User: "U0ALICE", Text: "earlier", TS: "999999999.999999"})
	msgs := fake.Messages("C0GENERAL")
	if len(msgs) != 2 || msgs[0].Text != "earlier" || msgs[1].TS != later.TS {
		t.Errorf("messages = %+v, want earlier (a shorter ts) first", msgs)
	}
}

// The faults of a call that may or may not have reached Slack: stored then
// failed, held without an answer, dropped without one.
func TestStoredHungAndDroppedCalls(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	quick := slack.New(fake.BotToken(), slack.OptionAPIURL(fake.APIURL()),
		slack.OptionHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
	post := func(text string) error {
		_, _, err := quick.PostMessage("C0GENERAL", slack.MsgOptionText(text, false))
		return err
	}
	for _, tc := range []struct {
		name   string
		fault  slackfake.Fault
		stored bool
		status int
	}{
		{"stored then 500", slackfake.Fault{Stored: true, HTTPStatus: http.StatusInternalServerError}, true, 500},
		{"stored then 503", slackfake.Fault{Stored: true, HTTPStatus: http.StatusServiceUnavailable}, true, 503},
		{"stored then hung", slackfake.Fault{Stored: true, Hang: true}, true, 0},
		{"stored then dropped", slackfake.Fault{Stored: true, Drop: true}, true, 0},
		{"hung", slackfake.Fault{Hang: true}, false, 0},
		{"dropped", slackfake.Fault{Drop: true}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(fake.Messages("C0GENERAL"))
			fake.FailNext("chat.postMessage", 1, tc.fault)
			if err := post(tc.name); err == nil {
				t.Fatal("the post succeeded")
			}
			if got := len(fake.Messages("C0GENERAL")) - before; got != map[bool]int{true: 1, false: 0}[tc.stored] {
				t.Errorf("%d messages stored, stored=%v", got, tc.stored)
			}
			calls := fake.CallsTo("chat.postMessage")
			last := calls[len(calls)-1]
			if last.Fault == nil || *last.Fault != tc.fault || last.Status != tc.status {
				t.Errorf("recorded call: fault %+v status %d, want %+v and %d", last.Fault, last.Status, tc.fault, tc.status)
			}
		})
	}
}

// Unhang releases a call as soon as Calls lists it, even one not yet held:
// the rounds give the release a chance to land in between.
func TestUnhangAnswersHeldCalls(t *testing.T) {
	ctx := testContext(t)
	fake := slackfake.Start(t)
	api := newAPI(fake)
	for round := 1; round <= 20; round++ {
		fake.FailNext("auth.test", 1, slackfake.Fault{Hang: true})
		done := make(chan error, 1)
		go func() { _, err := api.AuthTestContext(ctx); done <- err }()
		if err := fake.Wait(ctx, func() bool { return len(fake.CallsTo("auth.test")) == round }); err != nil {
			t.Fatal(err)
		}
		fake.Unhang()
		if err := <-done; err != nil {
			t.Fatalf("round %d: released auth.test: %v", round, err)
		}
		if c := fake.CallsTo("auth.test")[round-1]; c.Status != http.StatusOK || c.Fault == nil || !c.Fault.Hang {
			t.Errorf("round %d: recorded %+v", round, c)
		}
	}
}

func TestConversationsHistory(t *testing.T) {
	fake := slackfake.Start(t)
	fake.AddChannel(slackfake.Channel{ID: "C0GENERAL", Type: slackfake.Public, BotMember: true})
	api := newAPI(fake)
	old := fake.AddMessage(slackfake.Message{Channel: "C0GENERAL", User: "U0ALICE", Text: "old", TS: "1600000000.000100"})
	var posted []string
	for _, text := range []string{"one", "two", "three"} {
		_, ts, err := api.PostMessage("C0GENERAL", slack.MsgOptionText(text, false),
			slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "e", EventPayload: map[string]any{"key": text}}))
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, ts)
	}
	if _, _, err := api.PostMessage("C0GENERAL", slack.MsgOptionText("reply", false), slack.MsgOptionTS(posted[0])); err != nil {
		t.Fatal(err)
	}
	params := &slack.GetConversationHistoryParameters{ChannelID: "C0GENERAL", Oldest: old.TS, Limit: 2, IncludeAllMetadata: true}
	var keys []any
	for {
		resp, err := api.GetConversationHistory(params)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range resp.Messages {
			keys = append(keys, m.Metadata.EventPayload["key"])
		}
		if !resp.HasMore {
			break
		}
		params.Cursor = resp.ResponseMetaData.NextCursor
	}
	if want := []any{"three", "two", "one"}; !slices.Equal(keys, want) {
		t.Errorf("history after %s: keys %v, want %v (newest first, no replies, not the older message)", old.TS, keys, want)
	}
}
