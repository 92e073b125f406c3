package redistest_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/internal/redistest"
)

// TestKillRestartKeepsAcknowledgedWrites: with AppendOnly every write Redis
// acknowledged survives a SIGKILL; Close removes everything.
func TestKillRestartKeepsAcknowledgedWrites(t *testing.T) {
	s, err := redistest.New(redistest.Options{AppendOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Socket()) > 100 {
		t.Fatalf("socket path %q too long for sockaddr_un", s.Socket())
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: s.Socket(), MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill(t)
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("Ping after Kill succeeded")
	}
	s.Restart(t)
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart: %q, %v; want the acknowledged write", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory left behind: %v", err)
	}
}

func TestPrefixesAreDistinct(t *testing.T) {
	s := redistest.Start(t, redistest.Options{})
	if a, b := s.Prefix(), s.Prefix(); a == b {
		t.Fatalf("Prefix returned %q twice", a)
	}
	if !strings.HasPrefix(s.URL(), "unix://") {
		t.Fatalf("URL() = %q; want unix://", s.URL())
	}
}

func TestMissingBinaryFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := redistest.New(redistest.Options{})
	if err == nil || !strings.Contains(err.Error(), "redis-server is not on PATH") {
		t.Fatalf("New without redis-server: %v; want a clear error", err)
	}
}
