package config

import (
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/monitor"
)

func TestMonitorConfig(t *testing.T) {
	base := map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	c, err := load(t, base)
	if err != nil {
		t.Fatal(err)
	}
	if mc := c.Monitor(); mc.Interval != time.Hour || mc.UnansweredAfter != 0 || mc.Caps != (monitor.Caps{}) || mc.ZoneRate != 0 {
		t.Errorf("defaults: %+v", mc)
	}
	c, err = load(t, with("MONITOR_INTERVAL", "15m", "MONITOR_UNANSWERED_AFTER", "2h", "MONITOR_MAX_PER_CHANNEL", "256", "MONITOR_MAX_TOTAL", "-1", "MONITOR_ZONE_RATE", "2.5"))
	if err != nil {
		t.Fatal(err)
	}
	if mc := c.Monitor(); mc.Interval != 15*time.Minute || mc.UnansweredAfter != 2*time.Hour || mc.Caps != (monitor.Caps{PerChannel: 256, Total: -1}) || mc.ZoneRate != 2.5 {
		t.Errorf("overrides: %+v", mc)
	}
	for _, tc := range []struct{ name, value, want string }{
		{"MONITOR_INTERVAL", "500ms", "shorter than 1s"},
		{"MONITOR_INTERVAL", "hourly", "at least 1s"},
		{"MONITOR_UNANSWERED_AFTER", "-1h", "negative"},
		{"MONITOR_MAX_TOTAL", "many", "whole number of addresses"},
		{"MONITOR_ZONE_RATE", "fast", "checks a second"},
		{"MONITOR_ZONE_RATE", "NaN", "not a rate"},
	} {
		_, err := load(t, with(tc.name, tc.value))
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v, want a problem naming it and %q", tc.name, tc.value, err, tc.want)
		}
	}
}
