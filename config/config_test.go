package config

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
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
		c.RecheckIntervals != DefaultRecheckIntervals || c.Workers != 16 || c.RedisURL != "" {
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
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL != "http://127.0.0.1:9/api/" {
		t.Errorf("APIURL not normalised to a trailing slash: %q", c.APIURL)
	}
	if len(c.BounceChannels) != 2 || c.BounceChannels[1] != "G0123" || c.RecheckIntervals != "10s,1m" ||
		len(c.Intervals) != 2 || c.Intervals[0] != 10*time.Second {
		t.Errorf("unexpected: %+v", c)
	}
}

// TestLoadReportsEveryProblem checks that one start-up names every bad
// variable, and never a secret's value.
func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := load(t, map[string]string{
		"SLACK_APP_TOKEN": "xoxb-wrong-kind-secretvalue",
		"SLACK_API_URL":   "ftp://x", "DNS_RESOLVER": "8.8.8.8", "REDIS_URL": "::pw-secret@@",
		"HTTP_ADDR": "8080", "BOUNCE_CHANNELS": "general", "LOG_LEVEL": "loud", "WORKERS": "0",
		"WATCH_MAX_AGE": "1s", "RECHECK_INTERVALS": "1m,soon",
	})
	if err == nil {
		t.Fatal("expected an error")
	}
	msg := err.Error()
	for _, want := range []string{"SLACK_APP_TOKEN: must be the app-level token", "SLACK_BOT_TOKEN: required",
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

func TestLoadBadDuration(t *testing.T) {
	_, err := load(t, map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken, "DNS_TIMEOUT": "soon"})
	if err == nil || !strings.Contains(err.Error(), "DNS_TIMEOUT") {
		t.Fatalf("want an error naming DNS_TIMEOUT, got %v", err)
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
