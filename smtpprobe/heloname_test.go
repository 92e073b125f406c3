package smtpprobe_test

import (
	"errors"
	"testing"

	"github.com/rdnsbot/rdnsbot/smtpprobe"
)

func TestDefaultHELOName(t *testing.T) {
	lookupFails := errors.New("no host name")
	for _, tc := range []struct {
		explicit, host string
		hostErr        error
		want           string
		wantHost       string // HostnameError.Hostname; "-" for no error
	}{
		{explicit: "mail.example.com", host: "box", want: "mail.example.com", wantHost: "-"},
		{host: "mx1.example.net.", want: "mx1.example.net", wantHost: "-"},
		{host: "box", wantHost: "box"},
		{host: "box.", wantHost: "box"},
		{host: "", hostErr: lookupFails, wantHost: ""},
		{host: "a.example", hostErr: lookupFails, wantHost: "a.example"},
		// Dotted is not enough: the name must pass ParseHELOName, like an
		// explicit one, or the probe would refuse it later.
		{host: "bot_1.example.net", wantHost: "bot_1.example.net"},
		{host: "203.0.113.5", wantHost: "203.0.113.5"},
		{host: "-box.example.net", wantHost: "-box.example.net"},
	} {
		got, err := smtpprobe.DefaultHELOName(tc.explicit, func() (string, error) { return tc.host, tc.hostErr })
		he, isHE := errors.AsType[*smtpprobe.HostnameError](err)
		switch {
		case tc.wantHost == "-" && (err != nil || got != tc.want):
			t.Errorf("DefaultHELOName(%q, %q) = %q, %v; want %q", tc.explicit, tc.host, got, err, tc.want)
		case tc.wantHost != "-" && (!isHE || he.Hostname != tc.wantHost || got != ""):
			t.Errorf("DefaultHELOName(%q, %q) = %q, %v; want a HostnameError for %q", tc.explicit, tc.host, got, err, tc.wantHost)
		case tc.hostErr != nil && !errors.Is(err, tc.hostErr):
			t.Errorf("DefaultHELOName(%q, %q): %v does not wrap the lookup's error", tc.explicit, tc.host, err)
		}
	}
}

// An explicit name that ParseHELOName refuses is an error, never a
// HostnameError (nothing to do with the host) and never passed on.
func TestDefaultHELONameRefusesExplicit(t *testing.T) {
	for _, name := range []string{"bot_1.example.net", "box", "not a name", "192.0.2.1", "mail.example.com\r\nRCPT TO:<x@example.com>"} {
		got, err := smtpprobe.DefaultHELOName(name, func() (string, error) { return "bot.example.net", nil })
		if _, isHE := errors.AsType[*smtpprobe.HostnameError](err); err == nil || isHE || got != "" {
			t.Errorf("DefaultHELOName(%q) = %q, %v; want a plain error", name, got, err)
		}
	}
	if got, err := smtpprobe.DefaultHELOName("Mail.Example.com.", nil); err != nil || got != "Mail.Example.com" {
		t.Errorf("DefaultHELOName(Mail.Example.com.) = %q, %v", got, err)
	}
}
