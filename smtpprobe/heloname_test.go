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
