package handlers

import (
	"fmt"
	"strings"
	"testing"

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
		if strings.HasSuffix(q.Name, ".40.200.84.in-addr.arpa.") && q.Type == 12 { // PTR
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
