package config

import (
	"strings"
	"testing"
	"time"
)

func TestSlackBounds(t *testing.T) {
	c, err := load(t, map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken})
	if err != nil {
		t.Fatal(err)
	}
	if c.SlackTimeout != 10*time.Second || c.SlackStartupAttempts != 6 || c.SlackPingTimeout != 30*time.Second {
		t.Errorf("defaults: timeout %s, attempts %d, ping timeout %s", c.SlackTimeout, c.SlackStartupAttempts, c.SlackPingTimeout)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"SLACK_TIMEOUT", "0s", "SLACK_TIMEOUT: 0s is out of range"},
		{"SLACK_TIMEOUT", "soon", `SLACK_TIMEOUT: "soon" is not a duration`},
		{"SLACK_STARTUP_ATTEMPTS", "0", "SLACK_STARTUP_ATTEMPTS: 0 is out of range"},
		{"SLACK_PING_TIMEOUT", "1h", "SLACK_PING_TIMEOUT: 1h0m0s is out of range"},
	} {
		_, err := load(t, map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken, tc.name: tc.value})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want %q", tc.name, tc.value, err, tc.want)
		}
	}
}
