package handlers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// TestSlashCommandOnSharedAddresses is issue 9's per-command case: /rdns
// with ten host names that all resolve to the same eight addresses runs
// eight diagnoses (each address's PTR asked once), and the reply is one
// summary with one thread of details naming each address once.
func TestSlashCommandOnSharedAddresses(t *testing.T) {
	h := startHarness(t)
	var z strings.Builder
	z.WriteString("$ORIGIN multi.example.\n$TTL 300\n@\tSOA\tns1.example.net. hostmaster.example.net. 1 3600 600 86400 60\n@\tNS\tns1.example.net.\n")
	for n := range 10 {
		for a := 1; a <= diagnose.MaxHostAddresses; a++ {
			fmt.Fprintf(&z, "h%d\tA\t84.200.40.%d\n", n, a)
		}
	}
	z.WriteString("$ORIGIN 40.200.84.in-addr.arpa.\n@\tSOA\tns1.example.net. hostmaster.example.net. 1 3600 600 86400 60\n@\tNS\tns1.example.net.\n")
	for a := 1; a <= diagnose.MaxHostAddresses; a++ {
		fmt.Fprintf(&z, "%d\tPTR\th0.multi.example.\n", a)
	}
	if err := h.dns.Load(z.String()); err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range 10 {
		names = append(names, fmt.Sprintf("h%d.multi.example", n))
	}
	h.dns.ResetLog()
	env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: strings.Join(names, " "), UserID: userAlice, ChannelID: chanOps})
	if err != nil {
		t.Fatal(err)
	}
	h.ack(env)
	h.waitJob("command")

	if got := counterSum(t, h, "rdnsbot_diagnoses_total"); got != diagnose.MaxHostAddresses {
		t.Errorf("%v diagnoses counted, want %d", got, diagnose.MaxHostAddresses)
	}
	ptrs := map[string]int{}
	for _, q := range h.dns[0].Queries() {
		if strings.HasSuffix(q.Name, ".40.200.84.in-addr.arpa.") && q.Type == dns.TypePTR {
			ptrs[q.Name]++
		}
	}
	for name, n := range ptrs {
		if n != 1 {
			t.Errorf("PTR %s asked %d times", name, n)
		}
	}
	if len(ptrs) != diagnose.MaxHostAddresses {
		t.Errorf("PTRs of %d addresses asked, want %d", len(ptrs), diagnose.MaxHostAddresses)
	}

	posts := h.botPosts(chanOps)
	var summaries []slackfake.Message
	for _, m := range posts {
		if m.ThreadTS == "" {
			summaries = append(summaries, m)
		}
	}
	if len(summaries) != 1 {
		t.Fatalf("%d summaries, want 1:%s", len(summaries), h.dump())
	}
	var details []slackfake.Message
	for _, m := range h.fake.Thread(chanOps, summaries[0].TS) {
		if m.ThreadTS == summaries[0].TS {
			details = append(details, m)
		}
	}
	if len(details) == 0 || len(details)+1 != len(posts) || len(details) > 2 {
		t.Errorf("%d posts: %d in the summary's thread, want every other one there, at most 2", len(posts), len(details))
	}
	var all strings.Builder
	for _, m := range details {
		all.WriteString(string(m.Blocks))
	}
	for a := 1; a <= diagnose.MaxHostAddresses; a++ {
		if n := strings.Count(all.String(), fmt.Sprintf("*84.200.40.%d*", a)); n != 1 {
			t.Errorf("84.200.40.%d reported %d times, want once:\n%s", a, n, all.String())
		}
	}
}

// TestRepeatReusesRecheckAsks: a repeated /rdns within DIAGNOSIS_REUSE is
// answered from the first diagnosis (no PTR question, counted as reused,
// not as a diagnosis); "Recheck now" always asks DNS.
func TestRepeatReusesRecheckAsks(t *testing.T) {
	h := startHarness(t, withDiagnose(func(c *diagnose.Config) { c.Reuse = time.Hour }))
	const rev = "5.10.200.84.in-addr.arpa."
	ptrs := func() int {
		n := 0
		for _, q := range h.dns[0].Queries() {
			if q.Name == rev && q.Type == dns.TypePTR {
				n++
			}
		}
		return n
	}
	for i, want := range []struct{ ptrs, diagnoses, reused float64 }{{1, 1, 0}, {1, 1, 1}} {
		env, err := h.fake.SendSlashCommand(slackfake.SlashCommand{Command: "/rdns", Text: "84.200.10.5", UserID: userAlice, ChannelID: chanOps})
		if err != nil {
			t.Fatal(err)
		}
		h.ack(env)
		h.waitJob("command")
		if got := [3]float64{float64(ptrs()), counterSum(t, h, "rdnsbot_diagnoses_total"), counterValue(t, h.metrics.DiagnosesReused)}; got != [3]float64{want.ptrs, want.diagnoses, want.reused} {
			t.Errorf("request %d: PTR queries, diagnoses, reused = %v, want %v", i+1, got, want)
		}
	}
	thread := h.botPosts(chanOps)[0].TS
	if _, err := h.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: thread,
		ActionID: actionRecheck, Value: "84.200.10.5", Text: "Recheck now"}); err != nil {
		t.Fatal(err)
	}
	h.waitJob("button")
	if ptrs() != 2 || counterSum(t, h, "rdnsbot_diagnoses_total") != 2 {
		t.Errorf("Recheck now: %d PTR queries, %v diagnoses in all; want 2 and 2 (a recheck asks DNS)", ptrs(), counterSum(t, h, "rdnsbot_diagnoses_total"))
	}
}
