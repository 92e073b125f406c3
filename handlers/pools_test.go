package handlers

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/pool"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/store"
)

// poolZone is a /28 for the pool tests: .5 and .9–.12 have no PTR, .7's
// PTR names another address, .3's PTR is a hostile name, the rest pass.
const poolZone = `
$ORIGIN example.org.
$TTL 300
@	SOA	ns1.example.net. hostmaster.example.org. 1 3600 600 86400 60
@	NS	ns1.example.net.
@	NS	ns2.example.net.
h1	A	84.200.20.1
h2	A	84.200.20.2
h4	A	84.200.20.4
h6	A	84.200.20.6
wrong	A	84.200.20.99
h8	A	84.200.20.8
h13	A	84.200.20.13
h14	A	84.200.20.14

$ORIGIN 20.200.84.in-addr.arpa.
@	SOA	ns1.example.net. hostmaster.example.net. 1 3600 600 86400 30
@	NS	ns1.example.net.
@	NS	ns2.example.net.
1	PTR	h1.example.org.
2	PTR	h2.example.org.
3	PTR	<!channel>.example.org.
4	PTR	h4.example.org.
6	PTR	h6.example.org.
7	PTR	wrong.example.org.
8	PTR	h8.example.org.
13	PTR	h13.example.org.
14	PTR	h14.example.org.
`

func TestSlashCommandPoolPostsOneSummaryAndGroupedThread(t *testing.T) {
	st := store.NewMemory()
	h := startHarness(t, withWatches(st))
	if err := h.dns.Load(poolZone); err != nil {
		t.Fatal(err)
	}
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.20.0/28", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	if payload, _ := h.ack(env); !strings.Contains(string(payload), "Checking 84.200.20.0/28") {
		t.Errorf("ack = %s, want Checking 84.200.20.0/28", payload)
	}
	h.waitJob("command")

	var top, thread []slackfake.Message
	for _, m := range h.botPosts(chanOps) {
		if m.ThreadTS == "" {
			top = append(top, m)
		} else {
			thread = append(thread, m)
		}
	}
	if len(top) != 1 {
		t.Fatalf("%d channel messages, want exactly one summary:\n%s", len(top), h.dump())
	}
	summary := top[0].Text + decodeJSON(t, top[0].Blocks)
	for _, want := range []string{
		"84.200.20.0/28*: 14 addresses", "network and broadcast addresses left out",
		"`no_ptr` (5): .5, .9–.12", "`forward_mismatch` (1): .7",
		"`20.200.84.in-addr.arpa`", "don't watch pool addresses",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if len(thread) == 0 || len(thread) > 3 {
		t.Fatalf("%d thread messages, want 1 to 3 (grouped, not one per address):\n%s", len(thread), h.dump())
	}
	var details strings.Builder
	for _, m := range thread {
		if m.ThreadTS != top[0].TS {
			t.Errorf("detail %s is in thread %s, not under the summary %s", m.TS, m.ThreadTS, top[0].TS)
		}
		details.WriteString(m.Text + decodeJSON(t, m.Blocks))
	}
	for _, want := range []string{
		"`84.200.20.7`: `wrong.example.org`", "`84.200.20.99`", // the mismatch's name and where it points
		"&lt;!channel&gt;.example.org", // the hostile PTR, escaped
		"served by `ns1.example.net`", "-x 84.200.20.",
	} {
		if !strings.Contains(details.String(), want) {
			t.Errorf("thread lacks %q:\n%s", want, details.String())
		}
	}
	// Every pool address's diagnosis is counted, by origin.
	if n := sumCounter(t, h, "rdnsbot_diagnoses_total", "origin", "slash"); n != 14 {
		t.Errorf("rdnsbot_diagnoses_total{origin=slash} = %v, want 14", n)
	}
	// Pool addresses are not watched.
	if infos, err := h.bot.watches.ListChannel(h.ctx(), chanOps); err != nil || len(infos) != 0 {
		t.Errorf("watches after a pool check = %v, %v; want none", infos, err)
	}
}

func TestPoolCommandsParse(t *testing.T) {
	for _, tc := range []struct {
		text        string
		pools, addr int
		wantErr     string
	}{
		{text: "84.200.20.0/28", pools: 1},
		{text: "84.200.20.10-84.200.20.20, 84.200.20.30-40 84.200.10.5 mail.example.com", pools: 2, addr: 2},
		{text: "2001:db8::/120", pools: 1},
		{text: "84.200.0.0/16", wantErr: "at most 1024 (a /22)"},
		{text: "2001:db8::/64", wantErr: "at most 256 (a /120)"},
		{text: "84.200.20.20-84.200.20.10", wantErr: "ends before it starts"},
		{text: "84.200.0.0/22 84.200.4.0/22", wantErr: "add up to 2044 addresses"},
		{text: "watch 84.200.20.0/28", wantErr: "not a block or range"},
	} {
		c, err := parseCommand(tc.text)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseCommand(%q) = %v, want error with %q", tc.text, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("parseCommand(%q): %v", tc.text, err)
		case len(c.pools) != tc.pools || len(c.targets) != tc.addr:
			t.Errorf("parseCommand(%q): %d pools, %d other targets; want %d, %d", tc.text, len(c.pools), len(c.targets), tc.pools, tc.addr)
		}
	}
}

func TestTooLargePoolIsRefusedInTheAck(t *testing.T) {
	h := startHarness(t)
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.0.0/16", UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := h.ack(env)
	if !strings.Contains(string(payload), "split it into /22 blocks") {
		t.Errorf("ack = %s, want the /22 limit", payload)
	}
	if n := len(h.botPosts(chanOps)); n != 0 {
		t.Errorf("%d messages posted for a refused pool", n)
	}
}

// TestPoolMessagesStayWithinBlockKitLimits renders worstPoolSummary and
// checks Block Kit's limits and the number of thread messages.
func TestPoolMessagesStayWithinBlockKitLimits(t *testing.T) {
	s, ex := worstPoolSummary()
	pools := []pool.Pool{mustPool(t, "84.200.20.0/22")}
	msgs := append([]message{poolSummaryMessage(pools, &s, nil, poolNotWatched)}, poolDetailMessages(&s, &ex, "")...)
	t.Logf("%d messages", len(msgs))
	if len(msgs) > 5 {
		t.Errorf("%d messages for a /22, want at most 5", len(msgs))
	}
	for i, m := range msgs {
		if len(m.Blocks) > maxBlocksPerMessage {
			t.Errorf("message %d has %d blocks", i, len(m.Blocks))
		}
		raw, err := json.Marshal(m.Blocks)
		if err != nil {
			t.Fatal(err)
		}
		text := decodeJSON(t, raw) + m.Text
		if strings.Contains(text, "<!channel>") || strings.Contains(text, "<!here>") {
			t.Errorf("message %d holds a raw mention", i)
		}
		for _, blk := range m.Blocks {
			if sec, ok := blk.(*slack.SectionBlock); ok && len(sec.Text.Text) > 3000 {
				t.Errorf("message %d: a section of %d characters", i, len(sec.Text.Text))
			}
		}
	}
}

// worstPoolSummary is the worst a /22 can give: every finding code, a
// hostile long name per address, a zone per address (RFC 2317 children).
func worstPoolSummary() (pool.Summary, poolExamples) {
	hostile := "<!channel>" + strings.Repeat("x", 60) + ".example.org"
	s := pool.Summary{Addresses: 1024, Counts: map[diagnose.Status]int{diagnose.StatusFail: 1000, diagnose.StatusTemperror: 24}}
	var ex poolExamples
	for c := range 40 {
		g := pool.Group{Code: diagnose.Code(fmt.Sprintf("code_%d", c)), Severity: diagnose.SeverityError, Count: 1024}
		var items []string
		for i := range 1024 {
			ip := netip.AddrFrom4([4]byte{84, 200, byte(20 + i/256), byte(i)})
			items = append(items, ip.String())
			g.Details = append(g.Details, pool.Detail{IP: ip, Name: hostile, Addresses: []string{hostile}})
		}
		g.Addresses = strings.Join(items, ", ")
		s.Findings = append(s.Findings, g)
		ex.add(diagnose.Result{IP: "84.200.20.1", Status: diagnose.StatusFail, Findings: []diagnose.Finding{{Code: g.Code, Message: hostile}}})
	}
	for i := range 300 {
		s.ReverseZones = append(s.ReverseZones, pool.Zone{Name: fmt.Sprintf("%d/28.20.200.84.in-addr.arpa", i), Classless: true, Count: 3, Addresses: hostile, Nameservers: []string{hostile}, Provider: hostile})
		s.Providers = append(s.Providers, pool.ProviderCount{Provider: diagnose.Provider{Name: hostile, HowTo: hostile, DocURL: "https://x|<!here>"}, Count: 3})
	}
	return s, ex
}

// BenchmarkPoolMessages22 renders a /22's summary and thread from the
// worst summary: the cost of the Slack side of a pool check.
func BenchmarkPoolMessages22(b *testing.B) {
	s, ex := worstPoolSummary()
	p, _ := pool.Parse("84.200.20.0/22")
	b.ReportAllocs()
	for b.Loop() {
		_ = poolSummaryMessage([]pool.Pool{p}, &s, nil, poolNotWatched)
		_ = poolDetailMessages(&s, &ex, "")
	}
}

func mustPool(t *testing.T, s string) pool.Pool {
	t.Helper()
	p, err := pool.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A mention mixing a range with a host name: the summary and the details
// in the mention's thread, the host name's failing address watched, the
// range's not.
func TestMentionMixesAPoolWithAHostName(t *testing.T) {
	st := store.NewMemory()
	h := startHarness(t, withWatches(st))
	if err := h.dns.Load(poolZone); err != nil {
		t.Fatal(err)
	}
	const thread = "1700000200.000100"
	ev := msgEvent(chanOps, userAlice, "<@"+h.fake.Identity().BotUserID+"> check 84.200.20.4-7 and bad.example.com", thread)
	ev["type"] = "app_mention"
	h.sendEvent(ev)
	h.waitJob("mention")
	posts := h.botPosts(chanOps)
	if len(posts) < 2 || len(posts) > 4 {
		t.Fatalf("%d replies, want the summary and a few details:\n%s", len(posts), h.dump())
	}
	for _, m := range posts {
		if m.ThreadTS != thread {
			t.Errorf("reply %s outside the mention's thread", m.TS)
		}
	}
	summary := posts[0].Text + decodeJSON(t, posts[0].Blocks)
	for _, want := range []string{"84.200.20.4-84.200.20.7*: 4 addresses", "`no_ptr` (1): .5", "84.200.10.99* has no PTR record", "don't watch pool addresses"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	infos, err := h.bot.watches.ListChannel(h.ctx(), chanOps)
	if err != nil || len(infos) != 1 || infos[0].Key.IP.String() != "84.200.10.99" || infos[0].Key.Thread != thread {
		t.Errorf("watches = %+v, %v; want only 84.200.10.99 in the thread", infos, err)
	}
}

// sumCounter sums a counter's series whose label has value.
func sumCounter(t *testing.T, h *harness, name, label, value string) float64 {
	t.Helper()
	families, err := h.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
