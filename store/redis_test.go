package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
)

func TestNewClient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url     string
		want    string // the client's type
		wantErr string
	}{
		{url: "redis://localhost:6379/2", want: "*redis.Client"},
		{url: "rediss://user:secret@redis.example:6380", want: "*redis.Client"},
		{url: "unix:///run/redis.sock?db=1", want: "*redis.Client"},
		{url: "redis+sentinel://:secret@s1:26379,s2:26379/mymaster/1", want: "*redis.Client"},
		{url: "redis+sentinel://s1:26379/m?sentinel_password=x&dial_timeout=2s", want: "*redis.Client"},
		{url: "redis+cluster://n1:7000?addr=n2:7000&addr=n3:7000", want: "*redis.ClusterClient"},
		{url: "localhost:6379", wantErr: "want scheme://"},
		{url: "memcached://x:1", wantErr: "unknown scheme"},
		{url: "redis+sentinel://s1:26379", wantErr: "master_name"},
		{url: "redis+sentinel://s1:26379/m?x=1", wantErr: "unknown query option"},
		{url: "redis+sentinel://s1:26379/m?master_name=n", wantErr: "in the path"},
		{url: "redis+sentinel://s1:26379/m/x", wantErr: "bad database number"},
		{url: "redis+sentinel://s1:26379,s2/m", wantErr: "bad host:port"},
		{url: "redis://host/x", wantErr: "bad database number"},
		{url: "redis://host/1/2", wantErr: "bad database number"},
		{url: "redis://host?db=x", wantErr: "bad database number"},
		{url: "redis://host?dial_timeout=soon", wantErr: "an option's value malformed"},
		{url: "unix://", wantErr: "no socket path"},
		{url: "unix:///run/redis.sock?db=one", wantErr: "bad database number"},
		{url: "redis+cluster://n1:7000?addr=n2", wantErr: "bad host:port"},
		{url: "redis+cluster://n1:7000?pool_size=many", wantErr: "an option's value malformed"},
	} {
		c, err := store.NewClient(tc.url)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewClient(%q) error = %v; want one containing %q", tc.url, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewClient(%q): %v", tc.url, err)
			continue
		}
		if got := typeName(c); got != tc.want {
			t.Errorf("NewClient(%q) = %s; want %s", tc.url, got, tc.want)
		}
		c.Close()
	}
}

// TestSecretsNeverShown: in every REDIS_URL form, wherever the secret sits
// (userinfo, password= or sentinel_password=, the fragment, escaped or not),
// neither NewClient's error nor RedactURL shows it, nor any part of it.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url      string
		redacted string   // RedactURL's result
		secrets  []string // must appear in neither
	}{
		{"redis://:hunter2@host:6379?bogus=1", "redis://:xxxxx@host:6379?bogus=1", []string{"hunter2"}},
		{"redis://alice:hunter2@host:6379/0?bogus=1", "redis://alice:xxxxx@host:6379/0?bogus=1", []string{"hunter2"}},
		{"rediss://hunter2@host?bogus=1", "rediss://xxxxx@host?bogus=1", []string{"hunter2"}},
		{"redis://host:6379?password=hunter2&bogus=1", "redis://host:6379?password=xxxxx&bogus=1", []string{"hunter2"}},
		{"redis://host:6379?Password=hunter2&dial_timeout=zz", "redis://host:6379?Password=xxxxx&dial_timeout=zz", []string{"hunter2"}},
		{"redis://host?bogus=1#hunter2", "redis://host?bogus=1#xxxxx", []string{"hunter2"}},
		{"redis://:hun#ter2@host?bogus=1", "redis://:xxxxx@host?bogus=1", []string{"hun", "ter2"}},
		{"redis://:hun?ter2@host?bogus=1", "redis://:xxxxx@host?bogus=1", []string{"hun", "ter2"}},
		{"redis://:hun%40ter2@host?bogus=1", "redis://:xxxxx@host?bogus=1", []string{"hun%40ter2", "hun@ter2"}},
		{"redis://:hun ter2@host", "redis://:xxxxx@host", []string{"hun ter2", "ter2"}},
		{"unix://:hunter2@/run/redis.sock?bogus=1", "unix://:xxxxx@/run/redis.sock?bogus=1", []string{"hunter2"}},
		{"redis+sentinel://:hunter2@s1:26379,s2:26379/m?bogus=1", "redis+sentinel://:xxxxx@s1:26379,s2:26379/m?bogus=1", []string{"hunter2"}},
		{"redis+sentinel://s1:26379/m?sentinel_password=hunter2&bogus=1", "redis+sentinel://s1:26379/m?sentinel_password=xxxxx&bogus=1", []string{"hunter2"}},
		{"redis+sentinel://s1:26379/m?password=hunter2&x=1#hunter3", "redis+sentinel://s1:26379/m?password=xxxxx&x=1#xxxxx", []string{"hunter2", "hunter3"}},
		{"redis+cluster://u:hunter2@n1:7000?addr=n2:7000&bogus=1", "redis+cluster://u:xxxxx@n1:7000?addr=n2:7000&bogus=1", []string{"hunter2"}},
		{"rediss+cluster://n1:7000?password=hunter2&addr=bad", "rediss+cluster://n1:7000?password=xxxxx&addr=bad", []string{"hunter2"}},
		{"hunter2@host:6379", "xxxxx@host:6379", []string{"hunter2"}},
		{"memcached://:hunter2@host", "memcached://:xxxxx@host", []string{"hunter2"}},
		{"redis://:hunter2@host/x?db=1", "redis://:xxxxx@host/x?db=1", []string{"hunter2"}},
		{"unix://:hunter2@", "unix://:xxxxx@", []string{"hunter2"}},
	} {
		if got := store.RedactURL(tc.url); got != tc.redacted {
			t.Errorf("RedactURL(%q) = %q; want %q", tc.url, got, tc.redacted)
		}
		_, err := store.NewClient(tc.url)
		if err == nil {
			t.Errorf("NewClient(%q) succeeded; each case is meant to fail", tc.url)
			continue
		}
		for _, s := range tc.secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("NewClient(%q) error shows %q: %v", tc.url, s, err)
			}
		}
		// The wording is this package's, never go-redis's (which quotes
		// what it refused).
		if strings.Contains(err.Error(), "redis: ") {
			t.Errorf("NewClient(%q) error shows go-redis's message: %v", tc.url, err)
		}
	}
}

// Every REDIS_URL form fails fast and dials through the refusal reader,
// unless the URL sets its own timeouts.
func TestNewClientFailsFast(t *testing.T) {
	t.Parallel()
	type setup struct {
		dial, read, write time.Duration
		retries           int
		dialer            bool
	}
	of := func(c redis.UniversalClient) setup {
		switch c := c.(type) {
		case *redis.Client:
			o := c.Options()
			return setup{o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.Dialer != nil}
		case *redis.ClusterClient:
			o := c.Options()
			return setup{o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.MaxRetries, o.Dialer != nil}
		}
		t.Fatalf("client %T", c)
		return setup{}
	}
	fast := setup{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 1, true}
	for url, want := range map[string]setup{
		"redis://localhost:6379":                    fast,
		"unix:///run/redis.sock":                    fast,
		"redis+sentinel://s1:26379/m":               fast,
		"redis+cluster://n1:7000?addr=n2:7000":      fast,
		"redis://localhost:6379?dial_timeout=2s":    {2 * time.Second, 500 * time.Millisecond, 500 * time.Millisecond, 1, true},
		"redis+cluster://n1:7000?read_timeout=3s":   {500 * time.Millisecond, 3 * time.Second, 500 * time.Millisecond, 1, true},
		"redis+sentinel://s1:26379/m?max_retries=4": {500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 4, true},
	} {
		c, err := store.NewClient(url)
		if err != nil {
			t.Fatalf("NewClient(%q): %v", url, err)
		}
		if got := of(c); got != want {
			t.Errorf("NewClient(%q): %+v, want %+v", url, got, want)
		}
		c.Close()
	}
}

func typeName(c redis.UniversalClient) string {
	switch c.(type) {
	case *redis.Client:
		return "*redis.Client"
	case *redis.ClusterClient:
		return "*redis.ClusterClient"
	}
	return "other"
}

// TestUnavailableAndDurable: with Redis down every method fails fast with
// ErrUnavailable; after a SIGKILL and restart (append-only file) every
// acknowledged watch is there and the same client works again by itself.
func TestUnavailableAndDurable(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	c, err := store.NewClient(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewRedis(c, "")
	defer st.Close()
	ctx := context.Background()
	const n = 50
	for i := range n {
		w := newWatch(ip1, "C1", "1."+string(rune('a'+i%26))+string(rune('a'+i/26)), "U1")
		mustAdd(t, st, w, t0)
	}
	srv.Kill(t)

	// The bound only keeps a regression from hanging the test: each call
	// must fail by itself (connection refused), not by running into it.
	down, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"Add":        func() error { _, err := st.Add(down, newWatch(ip2, "C1", "9.9", "U1"), t0, store.Limits{}); return err },
		"ListByUser": func() error { _, err := st.ListByUser(down, "U1"); return err },
		"ClaimDue":   func() error { _, err := st.ClaimDue(down, t0, 1, time.Minute); return err },
		"Ping":       func() error { return st.Ping(down) },
		"Cycle": func() error {
			_, err := st.Cycle(down, t0, nil, 8, time.Minute, time.Minute)
			return err
		},
	} {
		err := call()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with Redis down: %v; want ErrUnavailable", name, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with Redis down: %v; want a fast failure, not the test's bound", name, err)
		}
	}

	srv.Restart(t)
	ws, err := st.ListByUser(ctx, "U1")
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if len(ws) != n {
		t.Fatalf("after restart: %d watches; want %d", len(ws), n)
	}
}

// TestOrphanForgotten: an IP left in the schedule without its watches (a key
// lost outside the store, e.g. evicted) is dropped after one check instead
// of being checked forever.
func TestOrphanForgotten(t *testing.T) {
	t.Parallel()
	st := newRedis(t)
	ctx := context.Background()
	mustAdd(t, st, newWatch(ip1, "C1", "1.1", "U1"), t0)
	if err := st.Raw().Del(ctx, st.Key("w:"+ip1.String())).Err(); err != nil {
		t.Fatal(err)
	}
	c := mustClaim(t, st, t0, 1, ip1)[0]
	if err := complete(ctx, st, c, store.Outcome{Result: result(diagnose.StatusFail, t0), Next: t0.Add(time.Minute), Now: t0}); err != nil {
		t.Fatal(err)
	}
	if at, ok, err := nextDue(ctx, st); err != nil || ok {
		t.Fatalf("NextDue = %v, %v, %v; want nothing scheduled", at, ok, err)
	}
}

// TestScheduleBeforeQueuesMigrated: an IP scheduled by an earlier release
// (one schedule key, a four-field "#") is moved into its channel's queue and
// claimed; its record keeps its checks and status.
func TestScheduleBeforeQueuesMigrated(t *testing.T) {
	t.Parallel()
	st := newRedis(t)
	ctx := context.Background()
	mustAdd(t, st, newWatch(ip1, "C1", "1.1", "U1"), t0)
	raw := st.Raw()
	for _, err := range []error{
		raw.HSet(ctx, st.Key("w:"+ip1.String()), "#", "3|fail|1764072000000|0").Err(),
		raw.Del(ctx, st.Key("q:C1"), st.Key("wait"), st.Key("ready")).Err(),
		raw.ZAdd(ctx, st.Key("due"), redis.Z{Score: float64(t0.UnixMilli()), Member: ip1.String()}).Err(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := st.Cycle(ctx, t0, nil, 8, time.Minute, time.Minute)
	if err != nil || len(res.Claims) != 1 || res.Claims[0].IP != ip1 || res.Claims[0].Checks != 3 {
		t.Fatalf("Cycle = %+v, %v; want the old IP claimed with its 3 checks", res, err)
	}
	if n, err := raw.Exists(ctx, st.Key("due")).Result(); err != nil || n != 0 {
		t.Fatalf("old schedule left: %d, %v", n, err)
	}
}
