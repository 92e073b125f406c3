package handlers

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/slackfake"
	"github.com/rdnsbot/rdnsbot/watch"
)

func TestAnnouncementWording(t *testing.T) {
	w := watch.Key{IP: netip.MustParseAddr("84.200.10.9"), Channel: chanOps, Thread: "1.2"}
	pass := diagnose.Result{IP: "84.200.10.9", Status: diagnose.StatusPass, ConfirmedName: "mail.example.com",
		Forward: map[string][]string{"mail.example.com": {"84.200.10.9"}},
		Source:  &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true, Servers: []diagnose.ServerAnswer{{Server: "ns1"}}}}
	unreachable := pass
	unreachable.Source = &diagnose.SourceCheck{Status: diagnose.StatusTemperror, Servers: []diagnose.ServerAnswer{{Server: "ns1", Error: "timeout"}}}
	tests := []struct {
		name string
		a    watch.Announcement
		want []string
	}{
		{"fixed", watch.Announcement{Kind: watch.KindFixed, Key: w, RequestedBy: userAlice, Result: pass, Elapsed: 72 * time.Minute},
			[]string{":tada:", "<@U0ALICE>", "`mail.example.com` → `84.200.10.9`", "every authoritative server", "1h 12m"}},
		{"fixed, source unreachable", watch.Announcement{Kind: watch.KindFixed, Key: w, RequestedBy: userAlice, Result: unreachable, Elapsed: 3 * time.Minute},
			[]string{"could not be reached to confirm", "3m"}},
		{"progress", watch.Announcement{Kind: watch.KindProgress, Key: w, RequestedBy: userAlice, Result: pass, StaleUntil: time.Unix(1700000000, 0)},
			[]string{"Fixed at the source", "<!date^1700000000^{time}|22:13 UTC>"}},
		{"expired", watch.Announcement{Kind: watch.KindExpired, Key: w, RequestedBy: userAlice, Result: diagnose.Result{Status: diagnose.StatusPermerror}, Elapsed: 72 * time.Hour},
			[]string{"I stopped watching", "3d 0h", "has no PTR record", actionKeepWatching}},
	}
	for _, tt := range tests {
		m := announcement(tt.a)
		got := m.Text + blocksJSON(t, m.Blocks)
		for _, want := range tt.want {
			if !strings.Contains(got, want) {
				t.Errorf("%s: lacks %q: %s", tt.name, want, got)
			}
		}
	}
}

func TestMentionOnlyWellFormedUserIDs(t *testing.T) {
	for user, want := range map[string]string{"U0ALICE": "<@U0ALICE> ", "W123ABC": "<@W123ABC> ", "": "", "<!channel>": "", "U0A>x": ""} {
		if got := mention(user); got != want {
			t.Errorf("mention(%q) = %q, want %q", user, got, want)
		}
	}
}

func TestAnnounceGivesUpOnArchivedChannels(t *testing.T) {
	h := startHarness(t)
	w := watch.Key{IP: netip.MustParseAddr("84.200.10.9"), Channel: chanOps, Thread: "1700006000.000100"}
	a := watch.Announcement{Kind: watch.KindFixed, Key: w, RequestedBy: userAlice, Result: diagnose.Result{Status: diagnose.StatusPass}, IdempotencyKey: "k1", Attempt: 1}
	h.fake.FailNext("chat.postMessage", 1, slackfake.Fault{Error: "is_archived"})
	if err := NewAnnouncer(h.poster).Announce(h.ctx(), a); !errors.Is(err, watch.ErrUndeliverable) {
		t.Errorf("archived channel: err = %v, want ErrUndeliverable", err)
	}
	h.fake.FailNext("chat.postMessage", maxAttempts, slackfake.Fault{HTTPStatus: 500})
	if err := NewAnnouncer(h.poster).Announce(h.ctx(), a); err == nil || errors.Is(err, watch.ErrUndeliverable) {
		t.Errorf("server errors: err = %v, want a retryable error", err)
	}
	// A retry whose first attempt did reach Slack posts nothing new.
	if err := NewAnnouncer(h.poster).Announce(h.ctx(), a); err != nil {
		t.Fatal(err)
	}
	a.Attempt = 2
	if err := NewAnnouncer(h.poster).Announce(h.ctx(), a); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.Thread(chanOps, w.Thread)); n != 1 {
		t.Errorf("want the announcement once, thread has %d messages", n)
	}
}
