package store_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
)

// TestRefusalInRedisWords: when Redis refuses the bot, Ping's error carries
// Redis's own reply, not the transport error that follows it ("write:
// broken pipe" after protected mode's DENIED), and never the password.
func TestRefusalInRedisWords(t *testing.T) {
	t.Parallel()
	locked := redistest.Start(t, redistest.Options{Args: []string{"--requirepass", "s3cret-pw"}})
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
		want string
	}{
		{"no password", func(*testing.T) string { return locked.URL() }, "NOAUTH"},
		{"wrong password", func(*testing.T) string { return "unix://:wrong-pw@" + locked.Socket() }, "WRONGPASS"},
		// What protected mode does to a client that is not on loopback:
		// the reason, then the connection closed.
		{"refused at connect", func(t *testing.T) string { return "redis://" + refuser(t) }, "DENIED Redis is running in protected mode"},
		{"protected mode", protectedMode, "DENIED Redis is running in protected mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := store.Open(tc.url(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			err = st.Ping(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ping = %v; want Redis's reply %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Fatalf("Ping's error shows the password: %v", err)
			}
		})
	}
}

// refuser listens on loopback and answers every connection as protected
// mode does: its reason, then close.
func refuser(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.\r\n"))
			c.Close()
		}
	}()
	return l.Addr().String()
}

// protectedMode starts a real redis-server in protected mode on this host's
// first address off loopback, which it treats as a remote client's.
func protectedMode(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			srv := redistest.Start(t, redistest.Options{TCP: n.IP.String(), Args: []string{"--protected-mode", "yes"}})
			return "redis://" + srv.Addr()
		}
	}
	t.Skip("no IPv4 address off loopback: protected mode cannot be triggered (the refused-at-connect case covers the same reply)")
	return ""
}
