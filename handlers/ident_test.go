package handlers

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/smtpprobe"
	"github.com/rdnsbot/rdnsbot/smtpprobe/smtptest"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// identZones add to world.zone: dual.example.org has an A whose PTR
// confirms and an AAAA without PTR (a sibling that fails); www.example.org
// points at the same address under another name; 127.0.0.1, where the test
// SMTP server listens, has a PTR to compare its greeting with.
const identZones = `
$ORIGIN example.org.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.org. 1 3600 600 86400 60
@	NS	ns1.example.net.
@	NS	ns2.example.net.
dual	A	84.200.11.20
dual	AAAA	2001:db8::20
www	A	84.200.11.20

$ORIGIN 11.200.84.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 30
@	NS	ns1.example.net.
@	NS	ns2.example.net.
20	PTR	dual.example.org.

$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 30
@	NS	ns1.example.net.
@	NS	ns2.example.net.

$ORIGIN 0.0.127.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 30
@	NS	ns1.example.net.
1	PTR	mail.example.com.
`

func startIdentHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	h := startHarness(t, opts...)
	if err := h.dns.Load(identZones); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseCommandHELOAndSMTP(t *testing.T) {
	for _, tc := range []struct {
		text    string
		helo    string
		smtp    bool
		targets string
		err     string
	}{
		{text: "84.200.10.5 helo=relay.example.org", helo: "relay.example.org", targets: "84.200.10.5"},
		{text: "HELO=Relay.Example.org. 84.200.10.5", helo: "Relay.Example.org", targets: "84.200.10.5"},
		{text: "check 84.200.10.5 helo=<http://relay.example.org|relay.example.org> please", helo: "relay.example.org", targets: "84.200.10.5"},
		{text: "84.200.10.5 helo=[84.200.10.5]", helo: "[84.200.10.5]", targets: "84.200.10.5"},
		{text: "84.200.10.5 helo=[IPv6:2001:db8::5]", helo: "[IPv6:2001:db8::5]", targets: "84.200.10.5"},
		{text: "84.200.10.5 helo=84.200.10.5", helo: "84.200.10.5", targets: "84.200.10.5"},
		{text: "84.200.10.5 helo=localhost", helo: "localhost", targets: "84.200.10.5"},
		{text: "84.200.10.5 smtp", smtp: true, targets: "84.200.10.5"},
		{text: "watch 84.200.10.5 --smtp helo=mx.example.org", smtp: true, helo: "mx.example.org", targets: "84.200.10.5"},
		{text: "mail.example.com smtp", smtp: true, targets: "mail.example.com"},
		{text: "84.200.10.5 helo=", err: "helo= needs the name"},
		{text: "84.200.10.5 helo=<!channel>", err: "is not a host name or an address literal"},
		{text: "84.200.10.5 helo=<@U0EVE>", err: "is not a host name"},
		{text: "84.200.10.5 helo=*bold*_x_", err: "is not a host name"},
		{text: "84.200.10.5 helo=[999.1.1.1]", err: "is not a host name"},
		{text: "84.200.10.5 helo=" + strings.Repeat("a.", 200) + "org", err: "is not a host name"},
		{text: "unwatch 84.200.10.5 helo=mx.example.org", err: "not with unwatch"},
		{text: "helo=mx.example.org", err: "which IP"},
	} {
		c, err := parseCommand(tc.text)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v; want %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || c.helo != tc.helo || c.smtp != tc.smtp || strings.Join(c.targets, " ") != tc.targets {
			t.Errorf("%q = %+v, %v; want helo %q smtp %v targets %q", tc.text, c, err, tc.helo, tc.smtp, tc.targets)
		}
	}
}

// helo= reaches the diagnosis from the slash command, a mention and a DM;
// hostile text in it is refused with the usage, escaped.
func TestHELOFromCommandsMentionsAndDMs(t *testing.T) {
	h := startIdentHarness(t)
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5 helo=relay.example.org", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	summary := h.waitMessage("summary", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(content(m), "84.200.10.5")
	})
	h.waitMessage("helo_mismatch in the thread", inThread(chanOps, summary.TS, "The HELO name `relay.example.org` differs from the PTR name `mail.example.com`"))

	self := h.fake.Identity().BotUserID
	ev := msgEvent(chanOps, userAlice, "<@"+self+"> 84.200.10.5 helo=[84.200.10.5]", "1700009000.000100")
	ev["type"] = "app_mention"
	h.sendEvent(ev)
	h.waitMessage("helo_literal in the mention's thread", inThread(chanOps, "1700009000.000100", "The HELO `[84.200.10.5]` is an address literal"))

	h.fake.AddChannel(slackfake.Channel{ID: "D0ALICE", Type: slackfake.IM, User: userAlice})
	dm := msgEvent("D0ALICE", userAlice, "84.200.10.5 helo=relay.example.org", "1700009001.000100")
	dm["channel_type"] = "im"
	h.sendEvent(dm)
	h.waitMessage("helo_mismatch in the DM", inThread("D0ALICE", "1700009001.000100", "differs from the PTR name"))

	env, _ = h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5 helo=<!channel>", UserID: userAlice, ChannelID: chanOps})
	payload, _ := h.ack(env)
	if shown := decodeJSON(t, payload); !strings.Contains(shown, "is not a host name or an address literal") || !strings.Contains(shown, "Usage") {
		t.Errorf("hostile helo: ack %s; want the usage with the problem", shown)
	}
}

// helloIdentityBounce is a rejection of the HELO identity (issue 11 class
// 9) with the client's EHLO in the transcript.
const heloIdentityBounce = "&lt;bob@example.org&gt;: host mx.example.org[198.51.100.25] said: 550 5.7.1 The domain you announce " +
	"does not resolve to your IP [84.200.10.5] (in reply to MAIL FROM command)\n&gt;&gt;&gt; EHLO relay.example.org\n"

// literalHELOBounce is Gmail's PTR rejection of a client that announced an
// address literal.
const literalHELOBounce = "&lt;bob@gmail.com&gt;: host gmail-smtp-in.l.google.com[142.251.170.27] said: 550 5.7.25 [84.200.10.6] " +
	"The IP address sending this message does not have a PTR record setup (in reply to RCPT TO command)\n&gt;&gt;&gt; EHLO [84.200.10.7]\n"

// A bounce's HELO goes to the diagnosis, and to the watch it starts; a
// rejection of the HELO identity says that this is what was checked; a
// literal HELO gives helo_literal and is never diagnosed as a sending IP.
func TestBounceHELO(t *testing.T) {
	st := store.NewMemory()
	h := startIdentHarness(t, withWatches(st))
	h.sendEvent(msgEvent(chanOps, userAlice, heloIdentityBounce, "1700009100.000100"))
	m := h.waitMessage("identity reply", inThread(chanOps, "1700009100.000100", "84.200.10.5", "differs from the PTR name"))
	if c := content(m); !strings.Contains(c, "The receiver checked the name your server announced in HELO/EHLO, `relay.example.org`") {
		t.Errorf("reply does not say the HELO identity was checked: %s", c)
	}

	h.sendEvent(msgEvent(chanOps, userAlice, literalHELOBounce, "1700009200.000100"))
	m = h.waitMessage("literal reply", inThread(chanOps, "1700009200.000100", "84.200.10.6", "is an address literal"))
	if c := content(m); strings.Contains(c, "*84.200.10.7*") || strings.Contains(c, "The receiver checked the name") {
		t.Errorf("literal HELO diagnosed as an IP, or a PTR rejection called a HELO check: %s", c)
	}
	ws, err := st.ListByChannel(context.Background(), chanOps)
	if err != nil || len(ws) != 1 || ws[0].IP != netip.MustParseAddr("84.200.10.6") || ws[0].HELO != "[84.200.10.7]" {
		t.Fatalf("watches = %+v, %v; want 84.200.10.6 watched with HELO [84.200.10.7]", ws, err)
	}
}

// "Diagnose this bounce" passes the bounce's HELO too.
func TestShortcutPassesHELO(t *testing.T) {
	h := startIdentHarness(t)
	h.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: "1700009300.000100", User: userAlice, Text: heloIdentityBounce})
	env, err := h.fake.SendMessageAction(slackfake.MessageAction{UserID: userAlice, ChannelID: chanOps, MessageTS: "1700009300.000100", CallbackID: shortcutDiagnose})
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	h.waitMessage("shortcut reply", inThread(chanOps, "1700009300.000100", "The receiver checked the name", "differs from the PTR name `mail.example.com`"))
}

// A passing IP whose name's IPv6 address has no PTR: the status line says
// so with a warning, the thread has the sibling's step; a typed host name
// that is not the PTR name gets name_not_ptr.
func TestSiblingsAndTypedName(t *testing.T) {
	h := startIdentHarness(t)
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.11.20", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	summary := h.waitMessage("summary", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(content(m), "84.200.11.20")
	})
	want := ":warning: *84.200.11.20* passes FCrDNS: `dual.example.org`, but `dual.example.org`'s IPv6 address 2001:db8::20 has no PTR: Gmail prefers IPv6"
	if !strings.Contains(content(summary), want) {
		t.Errorf("summary lacks %q:\n%s", want, content(summary))
	}
	h.waitMessage("sibling step in the thread", inThread(chanOps, summary.TS, "2001:db8::20", "-x 2001:db8::20"))

	env, _ = h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "www.example.org", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	summary = h.waitMessage("summary", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(content(m), "www.example.org")
	})
	h.waitMessage("name_not_ptr", inThread(chanOps, summary.TS, "You asked about `www.example.org`, but receivers that look up 84.200.11.20 see `dual.example.org`"))
}

// "Fixed" is about the watched IP; the fixed message names a sibling that
// still fails.
func TestFixedAnnouncementNamesFailingSibling(t *testing.T) {
	ip := netip.MustParseAddr("84.200.11.20")
	r := diagnose.Result{IP: ip.String(), Status: diagnose.StatusPass, PTRNames: []string{"dual.example.org"}, ConfirmedName: "dual.example.org",
		Forward:  map[string][]string{"dual.example.org": {"84.200.11.20", "2001:db8::20"}},
		Siblings: []diagnose.Sibling{{IP: "2001:db8::20", Status: diagnose.StatusPermerror, Host: "dual.example.org"}}}
	a := watch.Announcement{Kind: watch.KindFixed, Key: watch.Key{IP: ip, Channel: chanOps, Thread: "1.1"}, RequestedBy: userAlice, Result: r, Elapsed: time.Hour}
	text := announcement(a).Text
	if !strings.Contains(text, "is fixed") || !strings.Contains(text, "Still to fix: `dual.example.org`'s IPv6 address 2001:db8::20 has no PTR") {
		t.Errorf("fixed message: %s", text)
	}
	r.Siblings[0].Status = diagnose.StatusPass
	a.Result = r
	if text := announcement(a).Text; strings.Contains(text, "Still to fix") {
		t.Errorf("fixed message names a passing sibling: %s", text)
	}
}

// An expired watch's buttons carry its HELO, so *Keep watching* keeps it.
func TestExpiredAnnouncementButtonsKeepHELO(t *testing.T) {
	ip := netip.MustParseAddr("84.200.10.6")
	a := watch.Announcement{Kind: watch.KindExpired, Key: watch.Key{IP: ip, Channel: chanOps, Thread: "1.1"}, HELO: "relay.example.org",
		Result: diagnose.Result{IP: ip.String(), Status: diagnose.StatusPermerror}, Elapsed: 72 * time.Hour}
	s := blocksJSON(t, announcement(a).Blocks)
	if strings.Count(s, `"value":"84.200.10.6 helo=relay.example.org"`) != 2 {
		t.Errorf("expired message's buttons lack the HELO: %s", s)
	}
}

// `/rdns 127.0.0.1 smtp` reads the greeting of the in-process SMTP server
// (the lab's prober may probe loopback; the bot's never does by default)
// and shows banner_mismatch; the workspace's limit is charged to the
// request's team, and without a prober the reply says the probe is off.
func TestSlashSMTPProbe(t *testing.T) {
	srv := smtptest.Start(t, "other.example.org ESMTP")
	p, err := smtpprobe.New(smtpprobe.Config{HELOName: "rdnsbot.test.example", Port: srv.Port(), AllowNonPublic: true,
		PerIP: smtpprobe.Limit{Burst: 5, Every: time.Hour}, PerWorkspace: smtpprobe.Limit{Burst: 1, Every: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	h := startIdentHarness(t, withConfig(func(c *Config) { c.SMTPProbe = p }))
	ask := func(text string) slackfake.Message {
		t.Helper()
		seen := map[string]bool{}
		for _, m := range h.botPosts(chanOps) {
			seen[m.TS] = true
		}
		env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: text, UserID: userAlice, ChannelID: chanOps})
		h.ack(env)
		summary := h.waitMessage("summary", func(m slackfake.Message) bool {
			return m.Channel == chanOps && m.ThreadTS == "" && !seen[m.TS] && strings.Contains(content(m), "127.0.0.1")
		})
		return h.waitMessage("report", inThread(chanOps, summary.TS, "127.0.0.1"))
	}
	m := ask("127.0.0.1 smtp")
	if c := content(m); !strings.Contains(c, "The SMTP greeting of `127.0.0.1` names `other.example.org`, which is not a PTR name") {
		t.Errorf("no banner_mismatch: %s", c)
	}
	if cmds := srv.Commands(); len(cmds) != 2 || cmds[0] != "EHLO rdnsbot.test.example" {
		t.Errorf("server saw %q", cmds)
	}
	m = ask("127.0.0.1 smtp")
	if c := content(m); !strings.Contains(c, "was not checked: the probe limit") {
		t.Errorf("the workspace's second probe was not limited: %s", c)
	}
	if n := len(srv.Commands()); n != 2 {
		t.Errorf("server saw %d commands; want the first probe's 2", n)
	}

	// A mention is charged to its event's team: the same workspace, used up.
	self := h.fake.Identity().BotUserID
	ev := msgEvent(chanOps, userAlice, "<@"+self+"> 127.0.0.1 smtp", "1700009400.000100")
	ev["type"], ev["team"] = "app_mention", h.fake.Identity().TeamID
	h.sendEvent(ev)
	h.waitMessage("limited mention", inThread(chanOps, "1700009400.000100", "was not checked: the probe limit"))
	// An event without a team shares one budget with every other such
	// request: here its first probe.
	ev = msgEvent(chanOps, userAlice, "<@"+self+"> 127.0.0.1 smtp", "1700009500.000100")
	ev["type"] = "app_mention"
	h.sendEvent(ev)
	h.waitMessage("mention probed", inThread(chanOps, "1700009500.000100", "names `other.example.org`"))
	if n := len(srv.Commands()); n != 4 {
		t.Errorf("server saw %d commands; want two probes' 4", n)
	}
}

func TestSMTPProbeNotSetUp(t *testing.T) {
	h := startIdentHarness(t)
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5 smtp", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	h.waitMessage("summary", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(content(m), "The SMTP greeting probe is not set up")
	})
}

// The buttons of a reply carry the request's HELO: *Recheck now* is
// diagnosed with it too. A forged value is ignored.
func TestRecheckButtonKeepsHELO(t *testing.T) {
	h := startIdentHarness(t)
	env, _ := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5 helo=relay.example.org", UserID: userAlice, ChannelID: chanOps})
	h.ack(env)
	summary := h.waitMessage("summary", func(m slackfake.Message) bool {
		return m.Channel == chanOps && m.ThreadTS == "" && strings.Contains(content(m), "84.200.10.5")
	})
	h.waitMessage("buttons with the HELO", inThread(chanOps, summary.TS, `"value":"84.200.10.5 helo=relay.example.org"`, actionRecheck))
	for _, v := range []string{"84.200.10.5 helo=\u003c!channel\u003e", "84.200.10.5 rm -rf", "84.200.10.5 helo=relay.example.org"} {
		if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: summary.TS,
			ActionID: actionRecheck, Value: v, Text: "Recheck now"}); err != nil {
			t.Fatal(err)
		}
	}
	h.waitMessage("recheck with the HELO", inThread(chanOps, summary.TS, "rechecked:", "differs from the PTR name"))
	var rechecks int
	for _, m := range h.fake.Thread(chanOps, summary.TS) {
		if strings.Contains(content(m), "rechecked:") {
			rechecks++
		}
	}
	if rechecks != 1 {
		t.Errorf("%d rechecks posted; want 1 (forged values ignored)", rechecks)
	}
}
