package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/smtpprobe"
)

func TestSMTPProbeConfig(t *testing.T) {
	env := func(kv ...string) map[string]string {
		m := map[string]string{"SLACK_APP_TOKEN": appToken, "SLACK_BOT_TOKEN": botToken}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	fqdn := func() (string, error) { return "bot1.example.net", nil }
	short := func() (string, error) { return "bot1", nil }

	c, err := load(t, env())
	if err != nil {
		t.Fatal(err)
	}
	if pc, err := c.SMTPProbe(fqdn); err != nil || pc.HELOName != "bot1.example.net" || pc.Port != 25 || pc.AllowNonPublic ||
		pc.PerIP != (smtpprobe.Limit{}) || pc.PerWorkspace != (smtpprobe.Limit{}) {
		t.Errorf("defaults with a FQDN host name: %+v, %v", pc, err)
	}
	if _, err := c.SMTPProbe(short); err == nil || !strings.Contains(err.Error(), "SMTP_PROBE_HELO is unset") {
		t.Errorf("a short host name must turn the probe off with a reason, got %v", err)
	}
	// A dotted host name the probe would refuse turns it off the same way,
	// at once, rather than failing the bot's start later.
	for _, h := range []string{"bot_1.example.net", "203.0.113.5", "-bot.example.net"} {
		if _, err := c.SMTPProbe(func() (string, error) { return h, nil }); err == nil || !strings.Contains(err.Error(), "SMTP_PROBE_HELO is unset") {
			t.Errorf("host name %q: %v; want the probe off with a reason", h, err)
		}
	}

	c, err = load(t, env("SMTP_PROBE_HELO", "rdnsbot.example.org", "SMTP_PROBE_PORT", "2525",
		"SMTP_PROBE_PER_IP", "3/10m", "SMTP_PROBE_PER_WORKSPACE", "50/30s"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := c.SMTPProbe(short)
	if err != nil || pc.HELOName != "rdnsbot.example.org" || pc.Port != 2525 ||
		pc.PerIP != (smtpprobe.Limit{Burst: 3, Every: 10 * time.Minute}) || pc.PerWorkspace != (smtpprobe.Limit{Burst: 50, Every: 30 * time.Second}) {
		t.Errorf("set: %+v, %v", pc, err)
	}
	if _, err := smtpprobe.New(pc); err != nil {
		t.Errorf("the probe refuses its configuration: %v", err)
	}

	// A bad explicit name is a problem of the variable, dotted or not.
	for _, helo := range []string{"bot_1.example.net", "bot", "203.0.113.5", "bot.example.net-", "mail.example.com\r\n"} {
		_, err := load(t, env("SMTP_PROBE_HELO", helo))
		var ce *Error
		if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Var != "SMTP_PROBE_HELO" {
			t.Errorf("SMTP_PROBE_HELO=%q: %v; want one problem of SMTP_PROBE_HELO", helo, err)
		}
	}

	_, err = load(t, env("SMTP_PROBE_HELO", "<!channel>", "SMTP_PROBE_PORT", "0", "SMTP_PROBE_PER_IP", "3", "SMTP_PROBE_PER_WORKSPACE", "0/1m"))
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Problems) != 4 {
		t.Fatalf("want four problems, got %v", err)
	}
	for i, want := range []string{"SMTP_PROBE_HELO: \"<!channel>\" is not a fully qualified host name; expected the bot's own",
		"SMTP_PROBE_PORT: 0 is out of range", "SMTP_PROBE_PER_IP: \"3\" cannot be read; expected BURST/EVERY, such as 2/5m",
		"SMTP_PROBE_PER_WORKSPACE: \"0/1m\" cannot be read; expected BURST/EVERY"} {
		if !strings.Contains(ce.Problems[i].Error(), want) {
			t.Errorf("problem %d = %q; want %q", i, ce.Problems[i].Error(), want)
		}
	}
}
