package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/store"
)

// gmailBounce is a Postfix bounce of a Gmail 550 5.7.25 rejection, as Slack
// delivers pasted text: entities escaped, addresses auto-linked. Gmail's
// wording is from support.google.com/a/answer/3726730.
const gmailBounce = "This is the mail system at host mx.sender.example.\n\n" +
	"I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n\n" +
	"&lt;<mailto:bob@gmail.com|bob@gmail.com>&gt;: host gmail-smtp-in.l.google.com[142.251.170.27] said:\n" +
	"    550-5.7.25 [84.200.10.6] The IP address sending this message does not have a\n" +
	"    550-5.7.25 PTR record setup, or the corresponding forward DNS entry does not\n" +
	"    550-5.7.25 point to the sending IP. As a policy, Gmail does not accept messages\n" +
	"    550-5.7.25 from IPs with missing PTR records. For more information, go to\n" +
	"    550-5.7.25  <https://support.google.com/mail/answer/81126#ip-practices>\n" +
	"    550 5.7.25 d9443c01a7336-2456f0e3c1fsi12345ad.58 - gsmtp (in reply to end of DATA command)\n"

// gmailBounceRaw is the same bounce as an email body (no Slack escaping).
var gmailBounceRaw = strings.NewReplacer("&lt;<mailto:bob@gmail.com|bob@gmail.com>&gt;", "<bob@gmail.com>",
	"<https://support.google.com/mail/answer/81126#ip-practices>", "https://support.google.com/mail/answer/81126#ip-practices").Replace(gmailBounce)

func TestPastedBounceGetsThreadedReply(t *testing.T) {
	h := startHarness(t)
	h.sendEvent(msgEvent(chanOps, userAlice, gmailBounce, "1700000200.000100"))
	m := h.waitMessage("bounce reply", inThread(chanOps, "1700000200.000100", "84.200.10.6", "has no PTR record"))
	c := content(m)
	if !strings.Contains(c, "5.7.25") || strings.Contains(c, "142.251.170.27") {
		t.Errorf("reply should name the rejection and never the receiver's IP: %s", c)
	}
}

func TestForwardedBounceGetsThreadedReply(t *testing.T) {
	h := startHarness(t)
	shared := msgEvent(chanOps, userAlice, "see below, any idea?", "1700000300.000100")
	shared["attachments"] = []map[string]any{{
		"is_share": true, "is_msg_unfurl": true, "fallback": "[November 25th] bob: bounce",
		"message_blocks": []map[string]any{{"team": "T0", "channel": "C0ELSE", "ts": "1700000000.000001",
			"message": map[string]any{"text": gmailBounce, "blocks": []any{}}}},
	}}
	h.sendEvent(shared)
	h.waitMessage("forwarded reply", inThread(chanOps, "1700000300.000100", "84.200.10.6"))
}

func TestEmailedBounceFromSlackbotIsRead(t *testing.T) {
	h := startHarness(t)
	// The event carries a cut body; files.info has the whole one.
	f := h.fake.AddFile(slackfake.File{Name: "Undelivered Mail Returned to Sender", Mode: "email", Filetype: "email",
		Mimetype: "text/html", Subject: "Undelivered Mail Returned to Sender", PlainText: gmailBounceRaw, Channels: []string{chanOps}})
	ev := msgEvent(chanOps, slackbotID, "", "1700000400.000100")
	ev["bot_id"] = slackbotBot
	ev["subtype"] = "file_share"
	ev["files"] = []map[string]any{{"id": f.ID, "mode": "email", "filetype": "email", "plain_text": gmailBounceRaw[:120], "has_more": true}}
	h.sendEvent(ev)
	h.waitMessage("email reply", inThread(chanOps, "1700000400.000100", "84.200.10.6"))
	if len(h.fake.CallsTo("files.info")) == 0 {
		t.Error("a cut email body must be fetched with files.info")
	}
	// Detected by files[].mode, with no subtype at all.
	ev = msgEvent(chanOps, slackbotID, "", "1700000401.000100")
	ev["bot_id"] = slackbotBot
	ev["files"] = []map[string]any{{"id": f.ID, "mode": "email", "plain_text": gmailBounceRaw}}
	h.sendEvent(ev)
	h.waitMessage("email reply without subtype", inThread(chanOps, "1700000401.000100", "84.200.10.6"))
}

func TestUploadedEMLIsDownloadedAndRead(t *testing.T) {
	h := startHarness(t)
	eml := "From: MAILER-DAEMON@mx.sender.example\r\nTo: alice@sender.example\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + strings.ReplaceAll(gmailBounceRaw, "\n", "\r\n")
	f := h.fake.AddFile(slackfake.File{Name: "bounce.eml", Mimetype: "message/rfc822", Filetype: "eml", Content: []byte(eml), Channels: []string{chanOps}})
	ev := msgEvent(chanOps, userAlice, "", "1700000500.000100")
	ev["subtype"] = "file_share"
	ev["files"] = []map[string]any{{"id": f.ID, "name": "bounce.eml", "mimetype": "message/rfc822", "filetype": "eml",
		"size": len(eml), "url_private_download": f.URLPrivateDownload}}
	h.sendEvent(ev)
	h.waitMessage("upload reply", inThread(chanOps, "1700000500.000100", "84.200.10.6"))
}

func TestOversizedUploadIsRefusedWithoutDownload(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.MaxFileBytes = 1024; c.Workers = 1 }))
	big := strings.Repeat("x", 2048) + gmailBounceRaw
	f := h.fake.AddFile(slackfake.File{Name: "bounce.txt", Mimetype: "text/plain", Content: []byte(big), Channels: []string{chanOps}})
	ev := msgEvent(chanOps, userAlice, "", "1700000600.000100")
	ev["files"] = []map[string]any{{"id": f.ID, "name": "bounce.txt", "mimetype": "text/plain", "size": len(big), "url_private_download": f.URLPrivateDownload}}
	h.sendEvent(ev)
	h.waitJob("bounce")
	if posts := h.botPosts(chanOps); len(posts) != 1 || !strings.Contains(posts[0].Text, "too large") || strings.Contains(posts[0].Text, "84.200.10.6") {
		t.Errorf("oversized file must be refused in one reply, never answered from partial content:%s", h.dump())
	}
	if n := len(h.fake.CallsTo("files.info")); n != 0 {
		t.Errorf("%d files.info calls for a file whose size is known", n)
	}
}

func TestNothingForChatterOtherBouncesOrOwnMessages(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.Workers = 1 }))
	self := h.fake.Identity()
	mailboxFull := "<mailto:bob@example.org|bob@example.org>: host mx.example.org[192.0.2.8] said: 552 5.2.2 Mailbox full (in reply to RCPT TO command)"
	own := msgEvent(chanOps, self.BotUserID, gmailBounce, "1700000700.000100")
	own["bot_id"] = self.BotID
	edited := msgEvent(chanOps, userAlice, gmailBounce, "1700000700.000300")
	edited["subtype"] = "message_changed"
	for _, ev := range []map[string]any{
		msgEvent(chanOps, userAlice, "lunch anyone? my IP is 84.200.10.6 lol", "1700000700.000200"),
		msgEvent(chanOps, userAlice, mailboxFull, "1700000700.000250"),
		own, edited,
	} {
		h.sendEvent(ev)
	}
	// Events are handled in order by the single worker: once this mention is
	// answered, every earlier event has been handled (or dropped).
	mentionEv := msgEvent(chanOps, userAlice, "<@"+self.BotUserID+"> help", "1700000700.000900")
	mentionEv["type"] = "app_mention"
	h.sendEvent(mentionEv)
	h.waitMessage("help reply", inThread(chanOps, "1700000700.000900", "Usage"))
	if n := len(h.botPosts(chanOps)); n != 1 {
		t.Errorf("only the help reply expected, got %d posts:%s", n, h.dump())
	}
}

func TestBounceChannelsLimitsWhereBouncesAreRead(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.BounceChannels = []string{chanOps}; c.Workers = 1 }))
	h.sendEvent(msgEvent(chanNoBounc, userAlice, gmailBounce, "1700000800.000100"))
	h.sendEvent(msgEvent(chanOps, userAlice, gmailBounce, "1700000800.000200"))
	h.waitMessage("reply in watched channel", inThread(chanOps, "1700000800.000200", "84.200.10.6"))
	if n := len(h.botPosts(chanNoBounc)); n != 0 {
		t.Errorf("bounce outside BOUNCE_CHANNELS answered:%s", h.dump())
	}
}

func TestHostileBounceIsNeverEchoedRaw(t *testing.T) {
	h := startHarness(t)
	hostile := "<!channel> <@U0VICTIM> <http://evil.example/phish|click here> " +
		"host <!here>[84.200.10.77] said: 550 5.7.25 [84.200.10.6] The IP address sending this message does not have a PTR record setup <!everyone>"
	h.sendEvent(msgEvent(chanOps, userAlice, hostile, "1700000900.000100"))
	h.waitMessage("reply to hostile bounce", inThread(chanOps, "1700000900.000100", "84.200.10.6"))
	// checkNoRawControlSequences (at cleanup) asserts nothing was echoed raw.
}

func TestRedeliveredEventIsHandledOnce(t *testing.T) {
	h := startHarness(t, withConfig(func(c *Config) { c.Workers = 1 }))
	env, _ := h.sendEvent(msgEvent(chanOps, userAlice, gmailBounce, "1700001000.000100"))
	h.ack(env)
	if err := h.fake.Redeliver(env); err != nil {
		t.Fatal(err)
	}
	h.waitJob("bounce")
	mentionEv := msgEvent(chanOps, userAlice, "<@"+h.fake.Identity().BotUserID+"> help", "1700001000.000900")
	mentionEv["type"] = "app_mention"
	h.sendEvent(mentionEv)
	h.waitMessage("sentinel reply", inThread(chanOps, "1700001000.000900", "Usage"))
	var replies int
	for _, m := range h.botPosts(chanOps) {
		if m.ThreadTS == "1700001000.000100" {
			replies++
		}
	}
	if replies != 1 || counterValue(t, h.metrics.Duplicates) != 1 {
		t.Errorf("want 1 reply and 1 duplicate dropped, got %d replies, %v duplicates", replies, counterValue(t, h.metrics.Duplicates))
	}
}

func TestBounceNamingNoIPAsksForIt(t *testing.T) {
	h := startHarness(t)
	text := "Remote server returned '550 5.7.25 The sending IP address does not have a PTR record, or the PTR record's forward DNS entry does not match the sending IP address'"
	h.sendEvent(msgEvent(chanOps, userAlice, text, "1700001100.000100"))
	h.waitMessage("ask for IP", inThread(chanOps, "1700001100.000100", "does not say which IP"))
}

func TestForwardedRichTextOnlyBounce(t *testing.T) {
	h := startHarness(t)
	var elements []map[string]any
	for _, line := range strings.Split(gmailBounceRaw, "\n") {
		elements = append(elements, map[string]any{"type": "text", "text": line + "\n"})
	}
	shared := msgEvent(chanOps, userAlice, "", "1700005000.000100")
	shared["attachments"] = []map[string]any{{
		"is_share": true, "is_msg_unfurl": true,
		"message_blocks": []map[string]any{{"message": map[string]any{"text": "", "blocks": []map[string]any{{
			"type": "rich_text", "elements": []map[string]any{{"type": "rich_text_preformatted", "elements": elements}},
		}}}}},
	}}
	h.sendEvent(shared)
	h.waitMessage("reply to rich-text forward", inThread(chanOps, "1700005000.000100", "84.200.10.6"))
}

func TestFileStubIsCompletedWithFilesInfo(t *testing.T) {
	h := startHarness(t)
	f := h.fake.AddFile(slackfake.File{Name: "bounce", Mode: "email", Filetype: "email", PlainText: gmailBounceRaw, Channels: []string{chanOps}})
	ev := msgEvent(chanOps, slackbotID, "", "1700005100.000100")
	ev["bot_id"] = slackbotBot
	ev["files"] = []map[string]any{{"id": f.ID, "file_access": "check_file_info"}}
	h.sendEvent(ev)
	h.waitMessage("reply to a file stub", inThread(chanOps, "1700005100.000100", "84.200.10.6"))
}

func TestEventHandledOnceAcrossReplicas(t *testing.T) {
	shared := store.NewMemory()
	h := startHarness(t, withConfig(func(c *Config) { c.Deliveries = shared; c.Workers = 1 }))
	// Replica B shares the store and the workspace; it got the event first.
	api := slack.New(h.fake.BotToken(), slack.OptionAPIURL(h.fake.APIURL()))
	other := New(NewPoster(api, h.bot.log, nil), h.diag, Config{Deliveries: shared})
	id := h.fake.Identity()
	other.self.Store(&identity{UserID: id.BotUserID, BotID: id.BotID})
	ev := msgEvent(chanOps, userAlice, gmailBounce, "1700007000.000100")
	payload, err := json.Marshal(map[string]any{"type": "event_callback", "event_id": "Ev0SAME", "event": ev})
	if err != nil {
		t.Fatal(err)
	}
	other.onEventsAPI(h.ctx(), payload, 0)
	other.runJob(h.ctx(), <-other.jobs)

	// Slack redelivers it to replica A, which must stay silent.
	if _, _, err := h.fake.SendEvent(slackfake.Event{ID: "Ev0SAME", Inner: ev}); err != nil {
		t.Fatal(err)
	}
	h.waitJob("bounce")
	replies := 0
	for _, m := range h.botPosts(chanOps) {
		if m.ThreadTS == "1700007000.000100" {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("want one reply across replicas, got %d:%s", replies, h.dump())
	}
}
