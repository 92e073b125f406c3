// Package config reads rdnsbot's configuration from the environment
// (github.com/sethvargo/go-envconfig) and validates it. Every problem is
// reported at once, one line each in one format ("config: VAR: what is
// wrong; expected what"), naming the variable and never echoing a secret.
package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/store"
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

// Config is the bot's whole configuration. Every field is documented in
// README.md and .env.example.
type Config struct {
	AppToken Secret `env:"SLACK_APP_TOKEN"`
	BotToken Secret `env:"SLACK_BOT_TOKEN"`
	// APIURL lets tests point the bot at a local fake Slack.
	APIURL string `env:"SLACK_API_URL, default=https://slack.com/api/"`
	// SlackTimeout bounds each Web API call and the socket's handshake;
	// SlackStartupAttempts the tries of auth.test and of opening the first
	// socket before the bot exits; SlackPingTimeout how long a socket may go
	// without Slack's ping before it is replaced.
	SlackTimeout         time.Duration `env:"SLACK_TIMEOUT, default=10s"`
	SlackStartupAttempts int           `env:"SLACK_STARTUP_ATTEMPTS, default=6"`
	SlackPingTimeout     time.Duration `env:"SLACK_PING_TIMEOUT, default=30s"`

	// DNSResolver is "host:port" once loaded (diagnose.ParseResolver), or ""
	// for the first nameserver of /etc/resolv.conf.
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

	// The opt-in SMTP greeting probe (`/rdns IP smtp`; smtpprobe.go here):
	// the bot's own EHLO name ("" for the host name when it is a FQDN, else
	// the probe is off), the port probed (25; tests use another) and the
	// rate limits, "BURST/EVERY" ("" for the package's defaults).
	SMTPProbeHELO         string     `env:"SMTP_PROBE_HELO"`
	SMTPProbePort         int        `env:"SMTP_PROBE_PORT, default=25"`
	SMTPProbePerIP        ProbeLimit `env:"SMTP_PROBE_PER_IP"`
	SMTPProbePerWorkspace ProbeLimit `env:"SMTP_PROBE_PER_WORKSPACE"`

	// RecheckIntervals is watch.DefaultIntervals when unset.
	RecheckIntervals watch.Intervals `env:"RECHECK_INTERVALS"`
	WatchMaxAge      time.Duration   `env:"WATCH_MAX_AGE, default=72h"`
	// Watch caps: 0 is the scheduler's default (watch.DefaultCaps), a
	// negative value no cap.
	WatchMaxPerChannel int `env:"WATCH_MAX_PER_CHANNEL"`
	WatchMaxPerUser    int `env:"WATCH_MAX_PER_USER"`
	WatchMaxTotal      int `env:"WATCH_MAX_TOTAL"`

	// Load (issue 9). FileBytesBudget bounds the bytes of file downloads
	// held at once, 0 or less the default (handlers.DefaultFileBytesBudget).
	// DiagnosisReuse is how long a finished diagnosis answers repeated
	// requests for its address: 0 the default (diagnose.DefaultReuse),
	// negative never; rechecks always ask DNS.
	FileBytesBudget int           `env:"FILE_BYTES_BUDGET"`
	DiagnosisReuse  time.Duration `env:"DIAGNOSIS_REUSE"`

	// Monitors (issue 12; monitor.go here): how often each monitored
	// address is checked, how long DNS may not answer before the notice (0:
	// the scheduler's default), and the caps on monitored addresses (0 the
	// default, monitor.DefaultCaps; negative no cap).
	MonitorInterval        time.Duration `env:"MONITOR_INTERVAL, default=1h"`
	MonitorUnansweredAfter time.Duration `env:"MONITOR_UNANSWERED_AFTER"`
	MonitorMaxPerChannel   int           `env:"MONITOR_MAX_PER_CHANNEL"`
	MonitorMaxTotal        int           `env:"MONITOR_MAX_TOTAL"`
	// MonitorZoneRate paces the checks under each reverse domain: 0 the
	// scheduler's default (monitor.DefaultZoneRate), negative unpaced.
	MonitorZoneRate float64 `env:"MONITOR_ZONE_RATE"`
}

// Caps are the watch caps as the scheduler takes them.
func (c *Config) Caps() watch.Caps {
	return watch.Caps{PerChannel: c.WatchMaxPerChannel, PerUser: c.WatchMaxPerUser, Total: c.WatchMaxTotal}
}

// Problem is one variable that is unusable: Msg says what is wrong and what
// is expected, without the value when the variable is a secret.
type Problem struct {
	Var, Msg string
}

func (p Problem) Error() string { return "config: " + p.Var + ": " + p.Msg }

// Error is every problem Load found, in the order of the variables.
type Error struct {
	Problems []Problem
}

// Error is one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// expected says what each variable takes, for its problem's message.
var expected = map[string]string{
	"SLACK_APP_TOKEN":       "the app-level token, xapp-… (Basic Information → App-Level Tokens, scope connections:write)",
	"SLACK_BOT_TOKEN":       "the Bot User OAuth Token, xoxb-… (Install App)",
	"SLACK_API_URL":         "an http(s) URL such as https://slack.com/api/",
	"DNS_RESOLVER":          "an IP address, IP:port, [IPv6]:port or host:port, such as 1.1.1.1, 127.0.0.1:53 or [2606:4700:4700::1111]:53",
	"DNS_TIMEOUT":           "a duration from 100ms to 1m, such as 5s",
	"DNS_AUTHORITY_PORT":    "a port number from 1 to 65535",
	"REDIS_URL":             "redis://[user:pass@]host:port/db, rediss://…, unix:///path?db=N, redis+sentinel://… or redis+cluster://…",
	"HTTP_ADDR":             "[host]:port, such as :8080 or 127.0.0.1:8080",
	"BOUNCE_CHANNELS":       "comma-separated Slack channel IDs (C…, G… or D…)",
	"LOG_LEVEL":             "debug, info, warn or error",
	"WORKERS":               "a whole number from 1 to 1024",
	"RECHECK_INTERVALS":     "comma-separated durations of at least 1s, such as 1m,2m,5m,1h",
	"WATCH_MAX_AGE":         "a duration of at least 1m, such as 72h",
	"WATCH_MAX_PER_CHANNEL": "a whole number: 0 for the default, negative for no cap",
	"WATCH_MAX_PER_USER":    "a whole number: 0 for the default, negative for no cap",
	"WATCH_MAX_TOTAL":       "a whole number: 0 for the default, negative for no cap",
	"FILE_BYTES_BUDGET":     "a whole number of bytes, such as 134217728; 0 for the default",
	"DIAGNOSIS_REUSE":       "a duration such as 10s; 0 for the default, negative for never",

	// The Slack bounds (SLACK_TIMEOUT and on).
	"SLACK_TIMEOUT":          "a duration from 100ms to 5m, such as 10s",
	"SLACK_STARTUP_ATTEMPTS": "a whole number from 1 to 100",
	"SLACK_PING_TIMEOUT":     "a duration from 100ms to 10m, such as 30s",
}

// Load reads the configuration through l (envconfig.OsLookuper() in main,
// envconfig.MapLookuper in tests) and validates it. The error is an *Error
// listing every problem found.
func Load(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	problems := decode(ctx, &c, l)
	problems = append(problems, c.validate(problems)...)
	// In the order of the variables, as README lists them.
	slices.SortStableFunc(problems, func(a, b Problem) int { return varOrder(a.Var) - varOrder(b.Var) })
	if len(problems) > 0 {
		return nil, &Error{Problems: problems}
	}
	return &c, nil
}

// varOrder is the position of an environment variable among Config's fields.
func varOrder(name string) int {
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if v, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ","); v == name {
			return i
		}
	}
	return t.NumField()
}

// decode fills c field by field, so that one unreadable variable does not
// hide the next one (envconfig stops at its first error).
func decode(ctx context.Context, c *Config, l envconfig.Lookuper) []Problem {
	var problems []Problem
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("env")
		if tag == "" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		one := reflect.New(reflect.StructOf([]reflect.StructField{{Name: f.Name, Type: f.Type, Tag: f.Tag}}))
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: one.Interface(), Lookuper: l}); err != nil {
			raw, _ := l.Lookup(name)
			problems = append(problems, Problem{name, unreadable(f.Type, raw, err) + "; expected " + expected[name]})
			continue
		}
		v.Field(i).Set(one.Elem().Field(0))
	}
	return problems
}

// unreadable says why raw could not be decoded into a value of type t, in
// words rather than strconv's.
func unreadable(t reflect.Type, raw string, err error) string {
	switch {
	case t == reflect.TypeFor[Secret]():
		return "cannot be read"
	case reflect.PointerTo(t).Implements(reflect.TypeFor[envconfig.Decoder]()):
		// Our own decoders word their errors for users.
		if inner := errors.Unwrap(err); inner != nil {
			return fmt.Sprintf("%q: %v", raw, inner)
		}
	case t == reflect.TypeFor[time.Duration]():
		return fmt.Sprintf("%q is not a duration", raw)
	case t.Kind() == reflect.Int:
		return fmt.Sprintf("%q is not a whole number", raw)
	}
	return fmt.Sprintf("%q cannot be read", raw)
}

// validate checks the decoded values. Variables that could not be decoded
// (already in decoded) are not reported twice.
func (c *Config) validate(decoded []Problem) []Problem {
	var problems []Problem
	skip := map[string]bool{}
	for _, p := range decoded {
		skip[p.Var] = true
	}
	problem := func(variable, format string, args ...any) {
		if !skip[variable] {
			problems = append(problems, Problem{variable, fmt.Sprintf(format, args...) + "; expected " + expected[variable]})
		}
	}
	checkToken := func(variable string, token Secret, prefix string) {
		v := token.Reveal()
		rest, ok := strings.CutPrefix(v, prefix)
		switch {
		case v == "":
			problem(variable, "required")
		case strings.ContainsAny(v, " \t\r\n"):
			problem(variable, "contains white space (copy the token again)")
		case !ok:
			problem(variable, "is not a %s token", prefix+"…")
		case placeholder(rest):
			problem(variable, "is still the placeholder from .env.example")
		case !tokenChars(rest):
			problem(variable, "holds characters no Slack token has")
		}
	}
	checkToken("SLACK_APP_TOKEN", c.AppToken, "xapp-")
	checkToken("SLACK_BOT_TOKEN", c.BotToken, "xoxb-")
	if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problem("SLACK_API_URL", "%q is not an http(s) URL", c.APIURL)
	} else if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.SlackTimeout < 100*time.Millisecond || c.SlackTimeout > 5*time.Minute {
		problem("SLACK_TIMEOUT", "%s is out of range", c.SlackTimeout)
	}
	if c.SlackStartupAttempts < 1 || c.SlackStartupAttempts > 100 {
		problem("SLACK_STARTUP_ATTEMPTS", "%d is out of range", c.SlackStartupAttempts)
	}
	if c.SlackPingTimeout < 100*time.Millisecond || c.SlackPingTimeout > 10*time.Minute {
		problem("SLACK_PING_TIMEOUT", "%s is out of range", c.SlackPingTimeout)
	}
	if c.DNSResolver != "" {
		if addr, err := diagnose.ParseResolver(c.DNSResolver); err != nil {
			problem("DNS_RESOLVER", "%q is not a resolver address", c.DNSResolver)
		} else {
			c.DNSResolver = addr
		}
	}
	if c.DNSAuthorityPort < 1 || c.DNSAuthorityPort > 65535 {
		problem("DNS_AUTHORITY_PORT", "%d is out of range", c.DNSAuthorityPort)
	}
	if c.DNSTimeout < 100*time.Millisecond || c.DNSTimeout > time.Minute {
		problem("DNS_TIMEOUT", "%s is out of range", c.DNSTimeout)
	}
	if r := c.RedisURL.Reveal(); r != "" {
		if why := redisURLProblem(r); why != "" {
			problem("REDIS_URL", "%s", why)
		}
	}
	if c.HTTPAddr != "" && !validListenAddr(c.HTTPAddr) {
		problem("HTTP_ADDR", "%q is not [host]:port", c.HTTPAddr)
	}
	for _, ch := range c.BounceChannels {
		if !validChannelID(ch) {
			problem("BOUNCE_CHANNELS", "%q is not a Slack channel ID", ch)
		}
	}
	if _, err := c.Level(); err != nil {
		problem("LOG_LEVEL", "%q is not a log level", c.LogLevel)
	}
	if c.Workers < 1 || c.Workers > 1024 {
		problem("WORKERS", "%d is out of range", c.Workers)
	}
	if c.WatchMaxAge < time.Minute {
		problem("WATCH_MAX_AGE", "%s is too short", c.WatchMaxAge)
	}
	c.validateSMTPProbe(problem)
	c.validateMonitor(problem)
	return problems
}

// placeholder reports whether a token's part after its prefix is the
// "xapp-..." / "xoxb-…" of an example file rather than a real token.
func placeholder(rest string) bool {
	rest = strings.TrimSpace(rest)
	return rest == "" || strings.Trim(rest, ".…") == "" || strings.Contains(rest, "...") || strings.Contains(rest, "…")
}

// tokenChars reports whether s holds only what Slack tokens are made of.
func tokenChars(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// redisURLProblem checks a REDIS_URL with the store's own parser, without
// connecting. The URL may hold a password, so the message shows at most
// its scheme, never the URL.
func redisURLProblem(s string) string {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return "is not a URL"
	}
	switch scheme {
	case "redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster":
	default:
		return fmt.Sprintf("scheme %q is not one rdnsbot speaks", clip.To(scheme, 20))
	}
	c, err := store.NewClient(s) // go-redis dials lazily: nothing connects here
	if err != nil {
		// The store's error names the variable and the (redacted) URL
		// itself; this line says it once, without the URL.
		return "cannot be parsed (characters such as @ : / ? # in the user name or password must be percent-encoded)"
	}
	_ = c.Close()
	return ""
}

// validListenAddr reports whether s is [host]:port with a numeric port.
func validListenAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p >= 0 && p <= 65535
}

// Level is the slog level named by LOG_LEVEL.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL %q: %w", c.LogLevel, err)
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
