package handlers

import (
	"strings"
	"testing"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/watch"
)

// Keep monitoring on a watch's fixed announcement starts the monitor from
// the result that message showed (kept in its metadata): the PTR changed
// since (a → b) is announced by the first check, and the click diagnoses
// nothing. Without that message at hand the address is diagnosed again and
// that result is the baseline: nothing to announce.
func TestKeepMonitoringStartsFromTheFixedResult(t *testing.T) {
	tests := []struct {
		name        string
		fixedPosted bool // the fixed announcement is in the thread, with its metadata
		// resolverPTRs are the PTR queries the resolver gets: the first
		// check's, and a diagnosis at the click.
		resolverPTRs int
		renamed      int
	}{
		{"fixed announcement at hand", true, 1, 1},
		{"no fixed announcement", false, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startMonitorRig(t)
			r.serve(ptr("b"), ptr("b"))
			r.startReplica(r.poster, nil)
			parent := r.fake.AddMessage(slackfake.Message{Channel: chanOps, User: userAlice, Text: "check " + monitoredIP})
			clicked := parent.TS
			if tc.fixedPosted {
				fixed := diagnose.Result{IP: monitoredIP, Status: diagnose.StatusPass, PTRNames: []string{"a.example.edu"}, ConfirmedName: "a.example.edu",
					Forward: map[string][]string{"a.example.edu": {monitoredIP}}}
				a := watch.Announcement{Kind: watch.KindFixed, Key: watch.Key{IP: mustAddr(monitoredIP), Channel: chanOps, Thread: parent.TS},
					RequestedBy: userAlice, Result: fixed, IdempotencyKey: "fixed-1", Attempt: 1}
				if err := NewAnnouncer(r.poster).Announce(r.ctx(), a); err != nil {
					t.Fatal(err)
				}
				clicked = r.waitMessage("fixed", inThread(chanOps, parent.TS, actionKeepMonitoring)).TS
			}
			r.dns[0].ResetLog()
			if _, err := r.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: clicked, ThreadTS: parent.TS,
				ActionID: actionKeepMonitoring, Value: monitoredIP, Text: "Keep monitoring"}); err != nil {
				t.Fatal(err)
			}
			r.waitJob("button")
			r.waitMessage("monitoring", inThread(chanOps, parent.TS, "Monitoring `"+monitoredIP+"`"))
			r.waitRecorded(1)
			if tc.renamed > 0 {
				r.waitPosted(tc.renamed)
			}
			if n := r.ptrQueries(monitoredPTR); n != tc.resolverPTRs {
				t.Errorf("the resolver was asked %s %d times, want %d", monitoredPTR, n, tc.resolverPTRs)
			}
			r.step(1)
			if n := r.announced(parent.TS, headRenamed, monitoredIP); n != tc.renamed {
				t.Errorf("the PTR change was announced %d times, want %d:%s", n, tc.renamed, r.dump())
			}
			if n := r.claimedAnnouncements(); n != tc.renamed {
				t.Errorf("%d announcements, want %d:%s", n, tc.renamed, r.dump())
			}
			if tc.renamed > 0 {
				m := r.waitMessage("ptr_changed", inThread(chanOps, parent.TS, "PTR changed"))
				if want := "`a.example.edu` → `b.example.edu`"; !strings.Contains(decodeJSON(t, m.Blocks), want) {
					t.Errorf("ptr_changed lacks %q: %s", want, m.Blocks)
				}
			}
		})
	}
}

// The metadata round trip: what a fixed announcement keeps is read back as
// the baseline; anything else is no baseline.
func TestBaselinePayload(t *testing.T) {
	r := diagnose.Result{IP: monitoredIP, Status: diagnose.StatusPass, PTRNames: []string{"a.example.edu"},
		Siblings: []diagnose.Sibling{{IP: "2001:db8::1", Status: diagnose.StatusPermerror, Host: "a.example.edu"}, {IP: "84.200.30.9", Status: diagnose.StatusPass}}}
	got, ok := parseBaseline(monitoredIP, baselinePayload(r))
	if !ok || got.IP != monitoredIP || got.Status != r.Status || len(got.PTRNames) != 1 || len(got.Siblings) != 1 || got.Siblings[0].IP != "2001:db8::1" {
		t.Errorf("parseBaseline(baselinePayload) = %+v, %v; want the status, names and the failing sibling", got, ok)
	}
	for _, bad := range []any{nil, 3, "", "{", `{"status":"temperror"}`, `{"status":"<!channel>"}`} {
		if got, ok := parseBaseline(monitoredIP, bad); ok {
			t.Errorf("parseBaseline(%v) = %+v: not a baseline", bad, got)
		}
	}
}
