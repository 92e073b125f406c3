// Package config reads rdnsbot's configuration from the environment
// (github.com/sethvargo/go-envconfig) and validates it, reporting every
// problem at once, naming the variable and never echoing a secret's value.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/rdnsbot/rdnsbot/watch"
)

// Secret is a string that never prints: fmt, slog and JSON all see
// "[redacted]". Reveal returns the value for the one place that needs it.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string                { return redacted }
func (s Secret) GoString() string              { return redacted }
func (s Secret) LogValue() slog.Value          { return slog.StringValue(redacted) }
func (s Secret) MarshalText() ([]byte, error)  { return []byte(redacted), nil }
func (s Secret) Reveal() string                { return string(s) }
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// DefaultRecheckIntervals is the recheck schedule when RECHECK_INTERVALS is
// unset: early checks catch quick fixes, later ones stay cheap.
const DefaultRecheckIntervals = "1m,2m,5m,10m,15m,30m,1h"

// Config is the bot's whole configuration. Every field is documented in
// README.md and .env.example.
type Config struct {
	AppToken Secret `env:"SLACK_APP_TOKEN"`
	BotToken Secret `env:"SLACK_BOT_TOKEN"`
	// APIURL lets tests point the bot at a local fake Slack.
	APIURL string `env:"SLACK_API_URL, default=https://slack.com/api/"`

	DNSResolver string        `env:"DNS_RESOLVER"`
	DNSTimeout  time.Duration `env:"DNS_TIMEOUT, default=5s"`
	// DNSAuthorityPort is where authoritative servers are asked directly;
	// only test labs change it.
	DNSAuthorityPort int `env:"DNS_AUTHORITY_PORT, default=53"`

	// RedisURL may carry a password, hence Secret.
	RedisURL Secret `env:"REDIS_URL"`
	HTTPAddr string `env:"HTTP_ADDR"`

	BounceChannels []string `env:"BOUNCE_CHANNELS"`
	LogLevel       string   `env:"LOG_LEVEL, default=info"`
	Workers        int      `env:"WORKERS, default=16"`

	RecheckIntervals string        `env:"RECHECK_INTERVALS"`
	WatchMaxAge      time.Duration `env:"WATCH_MAX_AGE, default=72h"`

	// Intervals is RecheckIntervals parsed, filled in by Load.
	Intervals []time.Duration
}

// Load reads the configuration through l (envconfig.OsLookuper() in main,
// envconfig.MapLookuper in tests) and validates it. The error lists every
// problem found, one per line.
func Load(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return nil, fmt.Errorf("config: %s", envNames(err))
	}
	if c.RecheckIntervals == "" {
		c.RecheckIntervals = DefaultRecheckIntervals
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate() error {
	var errs []error
	problem := func(variable, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", variable, fmt.Sprintf(format, args...)))
	}
	checkToken := func(variable string, token Secret, prefix, what string) {
		switch v := token.Reveal(); {
		case v == "":
			problem(variable, "required (the %s token, %s…)", what, prefix)
		case !strings.HasPrefix(v, prefix):
			problem(variable, "must be the %s token, starting with %q", what, prefix)
		case strings.ContainsAny(v, " \t\r\n"):
			problem(variable, "contains white space; copy the token again")
		}
	}
	checkToken("SLACK_APP_TOKEN", c.AppToken, "xapp-", "app-level")
	checkToken("SLACK_BOT_TOKEN", c.BotToken, "xoxb-", "bot")

	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problem("SLACK_API_URL", "must be an http(s) URL such as https://slack.com/api/")
	} else if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.DNSResolver != "" {
		if _, _, err := net.SplitHostPort(c.DNSResolver); err != nil {
			problem("DNS_RESOLVER", "must be host:port, e.g. 127.0.0.1:53 or [::1]:53 (%v)", err)
		}
	}
	if c.DNSAuthorityPort < 1 || c.DNSAuthorityPort > 65535 {
		problem("DNS_AUTHORITY_PORT", "must be a port number, got %d", c.DNSAuthorityPort)
	}
	if c.DNSTimeout <= 0 || c.DNSTimeout > time.Minute {
		problem("DNS_TIMEOUT", "must be between 0 and 1m, got %s", c.DNSTimeout)
	}
	if r := c.RedisURL.Reveal(); r != "" {
		if u, err := url.Parse(r); err != nil || u.Scheme == "" {
			// The URL itself may hold a password: do not echo it.
			problem("REDIS_URL", "is not a URL (expected redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://)")
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			problem("HTTP_ADDR", "must be [host]:port, e.g. :8080 (%v)", err)
		}
	}
	for _, ch := range c.BounceChannels {
		if !validChannelID(ch) {
			problem("BOUNCE_CHANNELS", "%q is not a Slack channel ID (C…, G… or D…)", ch)
		}
	}
	if _, err := c.Level(); err != nil {
		problem("LOG_LEVEL", "%v", err)
	}
	if c.Workers < 1 || c.Workers > 1024 {
		problem("WORKERS", "must be between 1 and 1024, got %d", c.Workers)
	}
	var err error
	if c.Intervals, err = watch.ParseIntervals(c.RecheckIntervals); err != nil {
		problem("RECHECK_INTERVALS", "%v", err)
	}
	if c.WatchMaxAge < time.Minute {
		problem("WATCH_MAX_AGE", "must be at least 1m, got %s", c.WatchMaxAge)
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// Level is the slog level named by LOG_LEVEL.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return l, nil
}

func validChannelID(s string) bool {
	if len(s) < 2 || len(s) > 32 || !strings.ContainsRune("CGD", rune(s[0])) {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// envNames rewrites envconfig's "FieldName: problem" into "ENV_VAR: problem",
// so the message names what the user actually sets.
func envNames(err error) string {
	msg := err.Error()
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if rest, ok := strings.CutPrefix(msg, f.Name+":"); ok {
			return name + ":" + rest
		}
	}
	return msg
}
