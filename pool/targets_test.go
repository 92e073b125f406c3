package pool

import (
	"errors"
	"testing"
)

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok       bool
		kind     errorKind // 0: no error
		canon    string
		addrsLen int
	}{
		{in: "203.0.113.5"},                               // a single address is for diagnose
		{in: "mail.example.com"},                          // so is a host name
		{in: "mail-1.example.com"},                        // a dash is no range
		{in: "37.58.100.86-static.reverse.softlayer.com"}, // nor is an address and a dash in a host name
		{in: "[203.0.113.5]"},                             // an address literal is one address
		{in: "203.0.113.0/29", ok: true, canon: "203.0.113.0/29", addrsLen: 6},
		{in: "203.0.113.10-20", ok: true, canon: "203.0.113.10-203.0.113.20", addrsLen: 11},
		{in: "2001:db8::/120", ok: true, canon: "2001:db8::/120", addrsLen: 256},
		{in: "203.0.113.0/16", kind: tooLarge},
		{in: "203.0.113.20-10", kind: reversed},
		{in: "203.0.113.0/33", kind: malformed},
		{in: "203.0.113.1-2001:db8::1", kind: mixed},
		// malformed ranges are refused as ranges, never taken for host names.
		{in: "203.0.113.10-", kind: malformed},
		{in: "203.0.113.10-256", kind: malformed},
		{in: "203.0.113.10-+5", kind: malformed},
		{in: "2001:db8::1-20", kind: malformed},
		{in: "203.0.113.10 - 203.0.113.20", ok: true, canon: "203.0.113.10-203.0.113.20", addrsLen: 11},
	} {
		p, ok, err := Target(tc.in)
		var pe *refusal
		switch {
		case tc.kind != 0:
			if !errors.As(err, &pe) || pe.kind != tc.kind || ok {
				t.Errorf("Target(%q) = %v, %v; want a kind %d error", tc.in, ok, err, tc.kind)
			}
		case err != nil || ok != tc.ok:
			t.Errorf("Target(%q) = %v, %v; want %v, nil", tc.in, ok, err, tc.ok)
		case ok && (p.String() != tc.canon || p.Len() != tc.addrsLen):
			t.Errorf("Target(%q) = %s with %d addresses; want %s with %d", tc.in, p, p.Len(), tc.canon, tc.addrsLen)
		}
	}
}
