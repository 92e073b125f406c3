package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/rdnsbot/rdnsbot/watch"
)

const (
	appToken = "xapp-1-A0-0-secretappvalue"
	botToken = "xoxb-0-0-secretbotvalue"
)

func load(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(context.Background(), envconfig.MapLookuper(env))
}

func TestLoadDefaults(t *testing.T) {
	c, err := load(t, map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL != "https://slack.com/api/" || c.DNSTimeout != 5*time.Second || c.WatchMaxAge != 72*time.Hour ||
		c.RecheckIntervals.String() != "1m,2m,5m,10m,15m,30m,1h" || c.Workers != 16 || c.RedisURL != "" || c.Caps() != (watch.Caps{}) {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if l, _ := c.Level(); l != slog.LevelInfo {
		t.Errorf("level %v", l)
	}
}

func TestLoadOverrides(t *testing.T) {
	c, err := load(t, map[string]string{
		"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken,
		"SLACK_API_URL": "http://127.0.0.1:9/api", "DNS_RESOLVER": "127.0.0.1:5353",
		"BOUNCE_CHANNELS": "C012AB3CD,G0123", "LOG_LEVEL": "debug", "RECHECK_INTERVALS": "10s,1m",
		"REDIS_URL": "redis://:pw@127.0.0.1:6379/2", "HTTP_ADDR": ":8080",
		"WATCH_MAX_PER_CHANNEL": "5", "WATCH_MAX_PER_USER": "-1", "WATCH_MAX_TOTAL": "100",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL != "http://127.0.0.1:9/api/" {
		t.Errorf("APIURL not normalised to a trailing slash: %q", c.APIURL)
	}
	if len(c.BounceChannels) != 2 || c.BounceChannels[1] != "G0123" || c.RecheckIntervals.String() != "10s,1m" ||
		c.Caps() != (watch.Caps{PerChannel: 5, PerUser: -1, Total: 100}) {
		t.Errorf("unexpected: %+v", c)
	}
}

// TestLoadReportsEveryProblem checks that one start-up names every bad
// variable, and never a secret's value.
func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := load(t, map[string]string{
		"SLACK_APP_TOKEN": "xoxb-wrong-kind-secretvalue",
		"SLACK_API_URL":   "ftp://x", "DNS_RESOLVER": "8.8.8.8:x", "REDIS_URL": "::pw-secret@@",
		"HTTP_ADDR": "8080", "BOUNCE_CHANNELS": "general", "LOG_LEVEL": "loud", "WORKERS": "zero", "DNS_TIMEOUT": "0s",
		"WATCH_MAX_AGE": "1s", "RECHECK_INTERVALS": "1m,soon",
	})
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	for _, want := range []string{"SLACK_APP_TOKEN: is not a xapp-… token", "SLACK_BOT_TOKEN: required", "DNS_TIMEOUT",
		"SLACK_API_URL", "DNS_RESOLVER", "REDIS_URL", "HTTP_ADDR", "BOUNCE_CHANNELS", "LOG_LEVEL", "WORKERS", "WATCH_MAX_AGE", "RECHECK_INTERVALS"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, secret := range []string{"secretvalue", "pw-secret"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error leaks a secret: %s", msg)
		}
	}
}

// TestLoadProblemWording: each problem is one line "config: VAR: what is
// wrong; expected what", in words, never a raw Go error.
func TestLoadProblemWording(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WORKERS": "zero"}, `config: WORKERS: "zero" is not a whole number; expected a whole number from 1 to 1024`},
		{map[string]string{"WORKERS": "0"}, `config: WORKERS: 0 is out of range; expected a whole number from 1 to 1024`},
		{map[string]string{"DNS_TIMEOUT": "soon"}, `config: DNS_TIMEOUT: "soon" is not a duration; expected a duration from 100ms to 1m`},
		{map[string]string{"DNS_TIMEOUT": "0s"}, `config: DNS_TIMEOUT: 0s is out of range; expected a duration from 100ms to 1m`},
		{map[string]string{"DNS_AUTHORITY_PORT": "x"}, `config: DNS_AUTHORITY_PORT: "x" is not a whole number`},
		{map[string]string{"SLACK_APP_TOKEN": "xapp-..."}, `config: SLACK_APP_TOKEN: is still the placeholder from .env.example; expected the app-level token`},
		{map[string]string{"SLACK_BOT_TOKEN": "xoxb-…"}, `config: SLACK_BOT_TOKEN: is still the placeholder from .env.example; expected the Bot User OAuth Token`},
		{map[string]string{"SLACK_BOT_TOKEN": "xoxb-<your-token>"}, `config: SLACK_BOT_TOKEN: holds characters no Slack token has`},
		{map[string]string{"DNS_RESOLVER": "nope"}, `config: DNS_RESOLVER: "nope" is not a resolver address; expected an IP address, IP:port, [IPv6]:port or host:port`},
		{map[string]string{"REDIS_URL": "redis://:hunter2@127.0.0.1:port/0"}, `config: REDIS_URL: cannot be parsed (characters such as @ : / ? # in the user name or password must be percent-encoded); expected redis://`},
		{map[string]string{"REDIS_URL": "redis://:hunter2@127.0.0.1:6379/zero"}, `config: REDIS_URL: cannot be parsed`},
		{map[string]string{"REDIS_URL": "http://:hunter2@127.0.0.1"}, `config: REDIS_URL: scheme "http" is not one rdnsbot speaks; expected redis://`},
		{map[string]string{"REDIS_URL": "hunter2"}, `config: REDIS_URL: is not a URL; expected redis://`},
		{map[string]string{"WATCH_MAX_TOTAL": "lots"}, `config: WATCH_MAX_TOTAL: "lots" is not a whole number; expected a whole number: 0 for the default`},
		{map[string]string{"HTTP_ADDR": "8080"}, `config: HTTP_ADDR: "8080" is not [host]:port; expected [host]:port, such as :8080`},
		{map[string]string{"RECHECK_INTERVALS": "1m,soon"}, `config: RECHECK_INTERVALS: "1m,soon": recheck intervals: item 2 "soon" is not a duration like 90s, 5m or 1h; expected comma-separated durations`},
	}
	for _, tc := range tests {
		env := map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken}
		for k, v := range tc.env {
			env[k] = v
		}
		_, err := load(t, env)
		var cerr *Error
		if !errors.As(err, &cerr) || len(cerr.Problems) != 1 {
			t.Errorf("%v: want one problem, got %v", tc.env, err)
			continue
		}
		if got := cerr.Problems[0].Error(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%v:\n got %s\nwant %s…", tc.env, got, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "time:") {
			t.Errorf("%v: leaks a secret or a raw Go error: %v", tc.env, err)
		}
	}
}

// TestLoadAcceptsWhatTheCLIAccepts: DNS_RESOLVER takes the forms
// `bot diagnose --resolver` does, normalised to host:port.
func TestLoadAcceptsWhatTheCLIAccepts(t *testing.T) {
	for in, want := range map[string]string{"1.1.1.1": "1.1.1.1:53", "127.0.0.1:5353": "127.0.0.1:5353", "::1": "[::1]:53",
		"[2001:db8::1]:53": "[2001:db8::1]:53", "dns.example:53": "dns.example:53"} {
		c, err := load(t, map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken, "DNS_RESOLVER": in})
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if c.DNSResolver != want {
			t.Errorf("%s: resolver %q, want %q", in, c.DNSResolver, want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := Config{AppToken: appToken, BotToken: botToken}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "app", c.AppToken, "cfg", c)
	js, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprint(c.AppToken), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c.BotToken, c.BotToken), logged.String(), string(js)} {
		if strings.Contains(out, "secret") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if c.AppToken.Reveal() != appToken {
		t.Error("Reveal lost the value")
	}
}
