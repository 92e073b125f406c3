package store_test

import (
	"context"
	"net"
	"net/netip"
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
		open func(t *testing.T) *store.Redis
		want string
	}{
		{"no password", openURL(locked.URL()), "NOAUTH"},
		{"wrong password", openURL("unix://:wrong-pw@" + locked.Socket()), "WRONGPASS"},
		// What protected mode does to a client that is not on loopback:
		// the reason, then the connection closed.
		{"refused at connect", func(t *testing.T) *store.Redis { return openURL("redis://" + refuser(t))(t) }, "DENIED Redis is running in protected mode"},
		{"protected mode", protectedMode, "DENIED Redis is running in protected mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.open(t)
			defer st.Close()
			err := st.Ping(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Ping = %v; want Redis's reply %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Fatalf("Ping's error shows the password: %v", err)
			}
		})
	}
}

func openURL(u string) func(t *testing.T) *store.Redis {
	return func(t *testing.T) *store.Redis {
		st, err := store.Open(u)
		if err != nil {
			t.Fatal(err)
		}
		return st
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

// protectedMode starts a real redis-server in protected mode on loopback
// and connects to it from 127.0.0.2, which protected mode treats as a
// remote client's address (only 127.0.0.1 and ::1 are local to it), so the
// case runs on every host, with no address off loopback needed.
func protectedMode(t *testing.T) *store.Redis {
	srv := redistest.Start(t, redistest.Options{TCP: "127.0.0.1", Args: []string{"--protected-mode", "yes"}})
	c, err := store.NewClientFrom("redis://"+srv.Addr(), netip.MustParseAddr("127.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	return store.NewRedis(c, "")
}
