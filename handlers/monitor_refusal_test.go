package handlers

import (
	"strings"
	"testing"

	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// A monitor refused (a cap, the store down) leaves no line in the channel
// saying it is monitored: the requester alone is told why, naming the cap.
// A slash command's thread is started by a message that must exist before
// the scheduler's Add (its ts names the monitor): it says only what was
// asked, and then that it was not started.
func TestRefusedMonitorIsToldToTheRequesterAlone(t *testing.T) {
	const six = "84.200.30.1-84.200.30.6"
	tests := []struct {
		name      string
		caps      monitor.Caps
		redisDown bool
		mention   bool // asked by a mention, answered in its thread
		want      string
	}{
		{name: "per-channel cap", caps: monitor.Caps{PerChannel: 4, Total: -1}, want: "at most 4 addresses may be monitored per channel"},
		{name: "total cap", caps: monitor.Caps{PerChannel: -1, Total: 2}, want: "at most 2 addresses may be monitored in total"},
		{name: "store down", redisDown: true, want: "monitoring is unavailable right now; please try again"},
		{name: "per-channel cap, in a thread", caps: monitor.Caps{PerChannel: 4, Total: -1}, mention: true, want: "at most 4 addresses may be monitored per channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startMonitorRig(t)
			r.serve(map[int]string{}, map[int]string{})
			r.startReplica(r.poster, func(c *monitor.Config) { c.Caps = tc.caps })
			if tc.redisDown {
				r.redis.Kill(t)
			}
			var private string
			if tc.mention {
				ev := msgEvent(chanOps, userAlice, "<@"+r.fake.Identity().BotUserID+"> monitor "+six, "1700000100.000100")
				ev["type"] = "app_mention"
				r.sendEvent(ev)
				r.waitJob("mention")
				for _, m := range r.fake.Ephemerals(chanOps) {
					if m.Recipient == userAlice && m.ThreadTS == "1700000100.000100" {
						private += content(m)
					}
				}
			} else {
				private = r.response(r.slash("monitor " + six))
			}
			if !strings.Contains(private, tc.want) {
				t.Errorf("the requester was told %q, want %q", private, tc.want)
			}
			for _, m := range r.botPosts(chanOps) {
				if c := content(m); strings.Contains(c, "Monitoring") || strings.Contains(c, "at most") {
					t.Errorf("a refused monitor left %q in the channel", c)
				}
				if m.ThreadTS != "" {
					t.Errorf("a refused monitor posted in a thread: %q", content(m))
				}
			}
			posts := r.botPosts(chanOps)
			switch notStarted := "asked me to monitor `" + six + "` (6 addresses): not started."; {
			case tc.mention && len(posts) != 0:
				t.Errorf("%d messages after a refused mention, want none:%s", len(posts), r.dump())
			case !tc.mention && (len(posts) != 1 || !strings.Contains(content(posts[0]), notStarted)):
				t.Errorf("the slash command's one message should say %q:%s", notStarted, r.dump())
			}
			if tc.redisDown {
				return
			}
			if infos, err := r.late.ListChannel(r.ctx(), chanOps); err != nil || len(infos) != 0 {
				t.Errorf("monitors after a refusal: %+v, %v; want none", infos, err)
			}
			// Within the caps, a monitor starts.
			r.monitorRoot("84.200.30.1-84.200.30.2")
		})
	}
}

// A refusal from a Keep monitoring button goes to the clicker alone too,
// through the button's response_url.
func TestRefusedKeepMonitoringIsToldToTheClickerAlone(t *testing.T) {
	r := startMonitorRig(t)
	r.serve(ptr("a"), ptr("a"))
	r.startReplica(r.poster, func(c *monitor.Config) { c.Caps = monitor.Caps{PerChannel: -1, Total: -1} })
	r.redis.Kill(t)
	thread := "1700003000.000100"
	r.fake.AddMessage(slackfake.Message{Channel: chanOps, TS: thread, User: userAlice, Text: "bounce"})
	env, err := r.fake.SendBlockAction(slackfake.BlockAction{UserID: userAlice, ChannelID: chanOps, MessageTS: thread, ThreadTS: thread,
		ActionID: actionKeepMonitoring, Value: monitoredIP, Text: "Keep monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitJob("button")
	if got := r.response(env); !strings.Contains(got, monitorsUnavailable) {
		t.Errorf("the clicker was told %q, want %q", got, monitorsUnavailable)
	}
	if n := len(r.threadPosts(thread)); n != 0 {
		t.Errorf("%d messages in the thread after a refusal, want none:%s", n, r.dump())
	}
}
