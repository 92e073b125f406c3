package smtpprobe

import "strings"

// HostnameError is why DefaultHELOName has no name: none was given and the
// host name is not fully qualified. A receiver judges the EHLO name like any
// client's (RFC 5321 §4.1.4: the client's fully qualified domain name), so
// the probe never invents one.
type HostnameError struct {
	Hostname string // what the host calls itself; "" if unknown
	Err      error  // the host-name lookup's error, if it failed
}

func (e *HostnameError) Error() string {
	return "no EHLO name given and the host name is not fully qualified"
}

func (e *HostnameError) Unwrap() error { return e.Err }

// DefaultHELOName is the probe's EHLO name: explicit when set, else the
// host name from hostname (os.Hostname in the bot) when it is fully
// qualified, without its trailing dot.
func DefaultHELOName(explicit string, hostname func() (string, error)) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	h, err := hostname()
	h = strings.TrimSuffix(h, ".")
	if err != nil || !strings.Contains(h, ".") {
		return "", &HostnameError{Hostname: h, Err: err}
	}
	return h, nil
}
