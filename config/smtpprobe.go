package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/internal/clip"
	"github.com/rdnsbot/rdnsbot/smtpprobe"
)

// The SMTP probe's variables, as their problems word what they take.
func init() {
	expected["SMTP_PROBE_HELO"] = "the bot's own fully qualified host name, sent in EHLO, such as rdnsbot.example.net"
	expected["SMTP_PROBE_PORT"] = "a port number from 1 to 65535 (25 outside tests)"
	expected["SMTP_PROBE_PER_IP"] = "BURST/EVERY, such as 2/5m: that many probes of one address at once, then one per EVERY"
	expected["SMTP_PROBE_PER_WORKSPACE"] = "BURST/EVERY, such as 20/1m: that many probes from one workspace at once, then one per EVERY"
}

// ProbeLimit is SMTP_PROBE_PER_IP or SMTP_PROBE_PER_WORKSPACE: a token
// bucket written BURST/EVERY ("2/5m"); zero means the probe's default.
type ProbeLimit smtpprobe.Limit

// EnvDecode reads BURST/EVERY; it implements envconfig.Decoder. (The
// problem Load reports for a bad value is "cannot be read" and the
// expected form: go-envconfig passes a struct decoder's error on bare.)
func (l *ProbeLimit) EnvDecode(s string) error {
	if strings.TrimSpace(s) == "" {
		*l = ProbeLimit{}
		return nil
	}
	burst, every, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return fmt.Errorf("no / between burst and interval")
	}
	n, err := strconv.Atoi(burst)
	if err != nil || n < 1 || n > 1000 {
		return fmt.Errorf("burst %q is not a whole number from 1 to 1000", burst)
	}
	d, err := time.ParseDuration(every)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return fmt.Errorf("interval %q is not a duration from 1s to 24h", every)
	}
	*l = ProbeLimit{Burst: n, Every: d}
	return nil
}

// validateSMTPProbe checks SMTP_PROBE_HELO and SMTP_PROBE_PORT as the
// probe will; an unset HELO is no problem: the probe is off unless the host
// name will do (SMTPProbe).
func (c *Config) validateSMTPProbe(problem func(variable, format string, args ...any)) {
	if c.SMTPProbeHELO != "" {
		if _, err := smtpprobe.ParseHELOName(c.SMTPProbeHELO); err != nil {
			problem("SMTP_PROBE_HELO", "%q is not a fully qualified host name", clip.To(c.SMTPProbeHELO, 80))
		}
	}
	if c.SMTPProbePort < 1 || c.SMTPProbePort > 65535 {
		problem("SMTP_PROBE_PORT", "%d is out of range", c.SMTPProbePort)
	}
}

// SMTPProbe is the probe's configuration, or why the probe is off:
// SMTP_PROBE_HELO is unset and hostname (os.Hostname in the bot) gives no
// fully qualified host name (one the probe takes: "bot_1.example.net" will
// not do either). A receiver judges the EHLO name like any client's, so the
// probe never invents one. The configuration it returns is one
// smtpprobe.New takes: Load checked the rest.
func (c *Config) SMTPProbe(hostname func() (string, error)) (smtpprobe.Config, error) {
	helo, err := smtpprobe.DefaultHELOName(c.SMTPProbeHELO, hostname)
	if he, ok := errors.AsType[*smtpprobe.HostnameError](err); ok {
		return smtpprobe.Config{}, fmt.Errorf("SMTP probe off: SMTP_PROBE_HELO is unset and the host name %q is not a fully qualified host name", clip.To(he.Hostname, 80))
	}
	if err != nil {
		return smtpprobe.Config{}, fmt.Errorf("SMTP_PROBE_HELO: %w", err) // Load refused it already
	}
	return smtpprobe.Config{HELOName: helo, Port: c.SMTPProbePort,
		PerIP: smtpprobe.Limit(c.SMTPProbePerIP), PerWorkspace: smtpprobe.Limit(c.SMTPProbePerWorkspace)}, nil
}
