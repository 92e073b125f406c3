package store

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tester is a Store with the lookups and single steps the contract tests
// use; the scheduler needs none of them.
type Tester interface {
	Store
	MonitorStore
	// Get returns one watch.
	Get(ctx context.Context, k Key) (w Watch, ok bool, err error)
	ListForIP(ctx context.Context, ip netip.Addr) ([]Watch, error)
	// ClaimDue is Cycle's claim of due IPs on its own.
	ClaimDue(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Claim, error)
	// ClaimAnnouncements is Cycle's claim of announcements on its own.
	ClaimAnnouncements(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Pending, error)
}

var (
	_ Tester = (*Memory)(nil)
	_ Tester = (*Redis)(nil)
)

// NewClientFrom is NewClient for a redis:// URL whose connections start from
// the local address src: Redis's protected mode takes every client but
// 127.0.0.1 and ::1 for a remote one (islocalClient in networking.c), so a
// test can be refused from the loopback alias 127.0.0.2.
func NewClientFrom(redisURL string, src netip.Addr) (redis.UniversalClient, error) {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries)
	d := net.Dialer{Timeout: o.DialTimeout, LocalAddr: &net.TCPAddr{IP: src.AsSlice()}}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &refusalConn{Conn: c}, nil
	}
	return redis.NewClient(o), nil
}

// SetMemoryClock replaces the clock of m's FirstDelivery, so tests can expire
// event ids without waiting.
func SetMemoryClock(m *Memory, now func() time.Time) { m.now = now }

// RememberedEvents is how many event ids m holds.
func RememberedEvents(m *Memory) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

// Raw and Key let tests damage the data behind the store's back.
func (r *Redis) Raw() redis.UniversalClient { return r.c }
func (r *Redis) Key(name string) string     { return r.key(name) }

// Prefix is r's prefix, without the hash tag's braces.
func (r *Redis) Prefix() string { return r.p[1 : len(r.p)-1] }

func (m *Memory) Get(ctx context.Context, k Key) (Watch, bool, error) {
	k.IP = k.IP.Unmap()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.ips[k.IP]; e != nil {
		if mw := e.watches[k]; mw != nil {
			return e.view(mw), true, nil
		}
	}
	return Watch{}, false, nil
}

func (m *Memory) ListForIP(ctx context.Context, ip netip.Addr) ([]Watch, error) {
	ip = ip.Unmap()
	return m.filter(func(w *Watch) bool { return w.IP == ip }), nil
}

func (m *Memory) ClaimDue(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claimDue(ms(now), max, lease), nil
}

func (m *Memory) ClaimAnnouncements(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Pending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claimAnnouncements(ms(now), max, lease), nil
}

func (r *Redis) Get(ctx context.Context, k Key) (Watch, bool, error) {
	ws, err := r.list(ctx, "get", "k", k.IP.Unmap().String(), k.Channel+":"+k.Thread)
	if err != nil || len(ws) == 0 {
		return Watch{}, false, err
	}
	return ws[0], true, nil
}

func (r *Redis) ListForIP(ctx context.Context, ip netip.Addr) ([]Watch, error) {
	return r.list(ctx, "list for IP", "i", ip.Unmap().String())
}

// scriptClaimAnn is the Lua claimAnn on its own. ARGV: prefix, now_ms, max,
// lease_ms.
var scriptClaimAnn = redis.NewScript(luaPrelude + `
return claimAnn(ARGV[2], ARGV[3], ARGV[4])
`)

// scriptClaim is the Lua claimDue on its own. ARGV: prefix, now_ms, max,
// lease_ms.
var scriptClaim = redis.NewScript(luaPrelude + `
local claims = claimDue(ARGV[2], ARGV[3], ARGV[4])
return claims
`)

func (r *Redis) ClaimDue(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Claim, error) {
	v, err := r.run(ctx, "claim due", scriptClaim, ms(now), max, lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	return decodeClaims(v)
}

func (r *Redis) ClaimAnnouncements(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Pending, error) {
	v, err := r.run(ctx, "claim announcements", scriptClaimAnn, ms(now), max, lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	return decodePending(v)
}
