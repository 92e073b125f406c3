package smtpprobe

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
)

// ParseHELOName checks the probe's own EHLO name and returns it without its
// trailing dot. A receiver judges the EHLO name like any client's (RFC 5321
// §4.1.4: the client's fully qualified domain name), so it must be a host
// name of at least two labels by diagnose's rules for targets (RFC 1123
// labels, the last not numeric): no address, literal or range, and nothing
// that could end the EHLO line.
func ParseHELOName(s string) (string, error) {
	if why := hostNameProblem(s); why != "" {
		return "", fmt.Errorf("smtpprobe: EHLO name %q is not a fully qualified host name: %s", clip.To(s, 80), why)
	}
	return strings.TrimSuffix(s, "."), nil
}

// hostNameProblem says why s is no fully qualified host name, or "".
func hostNameProblem(s string) string {
	if strings.TrimSpace(s) != s {
		return "white space around it"
	}
	_, isIP, err := diagnose.ParseTarget(s)
	if te, ok := errors.AsType[*diagnose.TargetError](err); ok {
		return te.Why
	}
	if isIP {
		return "an IP address"
	}
	return ""
}

// HostnameError is why DefaultHELOName has no name: none was given and the
// host name is not a fully qualified host name (ParseHELOName). The probe
// never invents one.
type HostnameError struct {
	Hostname string // what the host calls itself; "" if unknown
	Err      error  // the host-name lookup's error, or why the name will not do
}

func (e *HostnameError) Error() string {
	return "no EHLO name given and the host name is not a fully qualified host name"
}

func (e *HostnameError) Unwrap() error { return e.Err }

// DefaultHELOName is the probe's EHLO name: explicit when set (an error
// when ParseHELOName refuses it), else the host name from hostname
// (os.Hostname in the bot) when ParseHELOName takes it (a *HostnameError
// when not), without its trailing dot.
func DefaultHELOName(explicit string, hostname func() (string, error)) (string, error) {
	if explicit != "" {
		return ParseHELOName(explicit)
	}
	h, err := hostname()
	h = strings.TrimSuffix(h, ".")
	if err == nil {
		_, err = ParseHELOName(h)
	}
	if err != nil {
		return "", &HostnameError{Hostname: h, Err: err}
	}
	return h, nil
}
