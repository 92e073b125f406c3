// Package monitor keeps addresses under check for good and announces in the
// monitor's Slack thread each confirmed change of their forward-confirmed
// reverse DNS (FCrDNS, RFC 8601 section 3 "iprev"): a regression (pass to
// fail or permerror), a PTR name changed, a sibling address broke, and their
// recoveries. Nothing otherwise.
//
// It follows package watch's design and uses the same store machinery
// (store.MonitorStore): each address is checked every Interval at its own
// phase (see below); a due address is claimed under a lease that is also
// its retry time; an outcome is recorded fenced by the claim's token,
// together with the announcement intent of its changes; the changes one
// monitor gathers are posted as one message, with an IdempotencyKey the
// poster keeps in the message metadata and looks for before posting again
// (Attempt > 1). Several replicas share the load through the store, each
// change announced once.
//
// # Spread over the interval
//
// Where in the interval an address is checked (its phase) follows from the
// address and the monitor alone, never from when or with what it was
// added: the bits of the address reversed (the van der Corput sequence),
// shifted by a hash of the monitor's thread. Reversed, the low bits that
// differ within a block weigh the most, so an aligned block of 2^n
// addresses (a /22: n = 10) is checked at even steps of Interval/2^n, and
// blocks added to a thread later fall in the gaps of those before: every
// Interval/2^n of the interval checks one address of each such block. The
// hash keeps monitors of the same block (threads, channels) from checking
// it at the same instants. An address keeps its phase however late a check
// ran, or was put off. (Only the first check of the lowest address of each
// Add comes at once.)
//
// # Never flaps
//
// A change is announced only once confirmed: the reverse zone's
// authoritative servers show it too (Result.Source agrees with the
// resolver), or two consecutive checks found it. A temperror is never a
// regression: after UnansweredAfter without an answer a separate
// "dns_unanswered" notice is posted once, and "dns_back" when DNS answers
// again. A resolver that disagrees with the authoritative servers is
// "propagating" (Info.Propagating), not broken, and announces nothing.
//
// # Load
//
// Concurrency workers run the checks; each store round trip records and
// claims many (up to Batch held at once), so the scheduler costs a few
// microseconds per check (BenchmarkMonitorCheck). ZoneRate paces the checks
// under each reverse domain (pool.PaceDomain), so no zone's authoritative
// servers get more from this replica: a check over the rate is put off to
// its domain's next free slot, without taking a worker meanwhile.
//
// # Use
//
//	sch, err := monitor.New(monitor.Config{Store: st, Checker: d, Announcer: poster})
//	go sch.Run(ctx)
//	err = sch.Add(ctx, monitor.Request{Key: k, User: u, Targets: typed, Addrs: addrs})
//	// errors.As(err, new(*monitor.CapError)): say which cap
//
//	// "Keep monitoring" on a watch's fixed announcement wa: the same thread
//	// monitors the address from the fixed result on.
//	err = sch.Add(ctx, monitor.Request{Key: monitor.Key{Channel: wa.Key.Channel, Thread: wa.Key.Thread},
//		User: user, Targets: []string{wa.Key.IP.String()}, Addrs: []netip.Addr{wa.Key.IP}, Baseline: []diagnose.Result{wa.Result}})
package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/keyrate"
	"github.com/rdnsbot/rdnsbot/internal/loop"
	"github.com/rdnsbot/rdnsbot/pool"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// Key identifies a monitor: it lives in one thread.
type Key struct{ Channel, Thread string }

// Request asks for Addrs to be monitored in Key's thread.
type Request struct {
	Key     Key
	User    string
	Targets []string // as typed, for display
	Addrs   []netip.Addr
	// Baseline are first results (matched by Result.IP), optional: an
	// address without one takes its first answer as the baseline, silently.
	Baseline []diagnose.Result
}

// Info is one monitor as users see it.
type Info struct {
	Key         Key
	User        string
	Targets     []string
	Addresses   int
	Failing     int // confirmed fail or permerror
	Propagating int // resolvers disagree with the authoritative servers
	Since       time.Time
	NextCheck   time.Time
}

// ChangeKind is what changed.
type ChangeKind string

const (
	ChangeRegression ChangeKind = "regression" // pass → fail or permerror
	ChangeRecovery   ChangeKind = "recovery"   // fail or permerror → pass
	ChangePTRChanged ChangeKind = "ptr_changed"
	// ChangeSiblingBroke: another address of the PTR names stopped passing
	// (Change.Siblings); ChangeSiblingRecovered: it passes again.
	ChangeSiblingBroke     ChangeKind = "sibling_broke"
	ChangeSiblingRecovered ChangeKind = "sibling_recovered"
	// ChangeDNSUnanswered: no answer for Config.UnansweredAfter;
	// ChangeDNSBack: answers again (and is compared as usual).
	ChangeDNSUnanswered ChangeKind = "dns_unanswered"
	ChangeDNSBack       ChangeKind = "dns_back"
)

// Change is one confirmed change of one address.
type Change struct {
	Kind                    ChangeKind
	IP                      netip.Addr
	Before, After           diagnose.Status
	BeforeNames, AfterNames []string
	Siblings                []string // for the sibling kinds: which
	// Since is, for dns_unanswered, since when DNS has not answered.
	Since time.Time
	// Result is what the announcement shows of the check that found the
	// change: its IP, Status, PTRNames, ConfirmedName, Forward, CheckedAt
	// and first error finding (the rest is not kept until it is posted).
	Result diagnose.Result
}

// Announcement is one message for one monitor's thread: every change
// gathered since the last.
type Announcement struct {
	Key            Key
	RequestedBy    string
	Changes        []Change
	IdempotencyKey string
	Attempt        int
}

// Announcer posts an announcement in its thread. As watch.Announcer: with
// Attempt > 1 look for IdempotencyKey (message metadata) first; an error
// wrapping watch.ErrUndeliverable drops the announcement, another is
// retried after AnnounceLease.
type Announcer interface {
	AnnounceChanges(ctx context.Context, a Announcement) error
}

// Checker diagnoses an address; *diagnose.Diagnoser is one.
type Checker interface {
	DiagnoseIP(ctx context.Context, ip netip.Addr, opts diagnose.Options) diagnose.Result
}

// Observer is told how the scheduler is doing, for metrics, as
// watch.Observer. Its methods must not block.
type Observer interface {
	// Checked is called after each check with how late it started against
	// its due time (or the slot it was put off to), and its result.
	Checked(lag time.Duration, r diagnose.Result)
	// StoreFailed is called on each failed store operation (op names it:
	// "monitor cycle", "monitor mark posted", "monitor add", "monitor
	// remove", "monitor list").
	StoreFailed(op string, err error)
	// Backlog is called after each pass, and at shutdown once the claims
	// waiting were given back: the claims waiting for a worker, and the
	// checks and posts running.
	Backlog(queued, running int)
}

// Store is what the scheduler needs of a store.
type Store = store.MonitorStore

// Caps bound the monitored addresses per Slack channel and in total. Zero
// means the default (DefaultCaps), negative no cap.
type Caps struct{ PerChannel, Total int }

// DefaultCaps: a /20 per channel; in total the 100,000 addresses one
// replica checks hourly (about 29 MB of Redis at ~290 bytes per address,
// BenchmarkRedisMemoryPerMonitoredAddress).
var DefaultCaps = Caps{PerChannel: 4096, Total: 100_000}

// DefaultZoneRate is the default Config.ZoneRate: what a pool check allows
// (pool.DefaultZoneRate). Checks are spread over the interval, so it binds
// only when many are overdue at once (after an outage): 100,000 addresses
// hourly are 28 checks a second in all, and a reverse domain (a /16) holds
// at most 65,536 addresses, 18 a second.
const DefaultZoneRate = pool.DefaultZoneRate

// ErrCapped: a cap stopped Add; the error is a *CapError.
var ErrCapped = errors.New("monitor: cap reached")

// CapError says which cap stopped Add (Scope: watch.CapPerChannel or
// watch.CapTotal) and its value (Limit); it wraps ErrCapped.
type CapError = loop.CapError[addresses]

// addresses is what monitor caps count.
type addresses struct{}

func (addresses) Sentinel() error { return ErrCapped }
func (addresses) Noun() string    { return "monitored addresses" }

// Config configures a Scheduler; zero values take the defaults given.
type Config struct {
	Store     Store
	Checker   Checker
	Announcer Announcer
	Clock     watch.Clock // watch.SystemClock
	// Interval between checks of an address (MONITOR_INTERVAL): 1h; at
	// least 1s.
	Interval time.Duration
	// UnansweredAfter: how long DNS may not answer before the notice: 6h.
	UnansweredAfter time.Duration
	Caps            Caps
	// Concurrency is how many checks run at once: 16. 28 checks/s at 20 ms
	// of DNS need one; the rest is headroom for slow or silent zones.
	Concurrency int
	// Batch bounds the claims this replica holds at once, checks waiting
	// for a worker or running and posts: 8 × Concurrency. A round trip to
	// the store records what finished and claims up to the room left under
	// Batch; the loop waits until at least half of it has finished (or all
	// it held), so one round trip serves many checks whatever the
	// Concurrency. A claim that waited so long for a worker that its check
	// could not end within CheckLease is given back unchecked.
	Batch int
	// CheckLease, CheckTimeout, AnnounceLease, Poll: as in watch.Config
	// (2m, 1m, 1m, 30s).
	CheckLease, CheckTimeout, AnnounceLease, Poll time.Duration
	// Gather is how long the first change of a message waits for more of
	// the same monitor: 1m; negative: none.
	Gather time.Duration
	// ZoneRate is the most checks per second under one reverse domain
	// (pool.PaceDomain), per replica (MONITOR_ZONE_RATE): DefaultZoneRate;
	// negative: unpaced.
	ZoneRate float64
	// ZoneBudget keeps the domains' slots: its own by default. Given the
	// one the bot's pool checks book in (pool.NewRatePacerIn), a domain's
	// servers see one budget from this replica, not one per caller.
	ZoneBudget *keyrate.Limiter
	Observer   Observer // none
	Logger     *slog.Logger
}

// Scheduler checks monitored addresses and announces their changes.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	kick   chan struct{}
	limits store.MonitorLimits
	// zone is the pace of each reverse domain (no Every: unpaced); pacer
	// keeps the domains' slots.
	zone keyrate.Rate
}

// MinInterval is Config.Interval's floor (MONITOR_INTERVAL's), meant for
// tests.
const MinInterval = time.Second

// New checks cfg and fills in defaults.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Checker == nil || cfg.Announcer == nil {
		return nil, errors.New("monitor: Store, Checker and Announcer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = watch.SystemClock{}
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Interval < MinInterval {
		return nil, fmt.Errorf("monitor: interval %s is below the minimum of %s", cfg.Interval, MinInterval)
	}
	loop.Default(&cfg.UnansweredAfter, 6*time.Hour)
	loop.Default(&cfg.CheckLease, 2*time.Minute)
	loop.Default(&cfg.CheckTimeout, min(time.Minute, cfg.CheckLease/2))
	loop.Default(&cfg.AnnounceLease, time.Minute)
	loop.Default(&cfg.Poll, 30*time.Second)
	if cfg.Gather == 0 {
		cfg.Gather = time.Minute
	}
	cfg.Gather = max(cfg.Gather, 0)
	if cfg.CheckTimeout >= cfg.CheckLease {
		return nil, fmt.Errorf("monitor: CheckTimeout %s must be shorter than CheckLease %s", cfg.CheckTimeout, cfg.CheckLease)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 8 * cfg.Concurrency
	}
	if cfg.ZoneRate == 0 {
		cfg.ZoneRate = DefaultZoneRate
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ZoneBudget == nil {
		cfg.ZoneBudget = keyrate.New(0)
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("pkg", "monitor"), kick: make(chan struct{}, 1),
		limits: store.MonitorLimits{PerChannel: loop.Cap(cfg.Caps.PerChannel, DefaultCaps.PerChannel), Total: loop.Cap(cfg.Caps.Total, DefaultCaps.Total)},
		zone:   keyrate.PerSecond(cfg.ZoneRate)}, nil
}

// Add monitors req.Addrs in req.Key's thread; a thread that has a monitor
// gets the addresses added (those it has keep their state and schedule).
// The lowest address is checked at once, so that the thread soon hears of
// a monitor that does not work; every other check comes at the address's
// phase (see the package doc).
// Errors: a *CapError (ErrCapped, nothing added), store errors, wrapped.
func (s *Scheduler) Add(ctx context.Context, req Request) error {
	now := s.cfg.Clock.Now()
	base := make(map[netip.Addr]diagnose.Result, len(req.Baseline))
	for _, r := range req.Baseline {
		if ip, err := netip.ParseAddr(r.IP); err == nil {
			base[ip.Unmap()] = r
		}
	}
	add := make([]store.MonitorAddr, len(req.Addrs)) // the store drops duplicates
	first := 0
	for i, ip := range req.Addrs {
		ip = ip.Unmap()
		var st store.AddrState
		if r, ok := base[ip]; ok {
			st, _ = evaluate(ip, st, r, now, s.cfg.UnansweredAfter)
		}
		add[i] = store.MonitorAddr{IP: ip, State: st, Due: s.due(req.Key, ip, now, false)}
		if ip.Less(add[first].IP) {
			first = i
		}
	}
	if len(add) > 0 {
		add[first].Due = now
	}
	m := store.Monitor{MonitorKey: store.MonitorKey(req.Key), RequestedBy: req.User, Targets: req.Targets, CreatedAt: now}
	_, err := s.cfg.Store.AddMonitor(ctx, m, add, s.limits)
	switch {
	case errors.Is(err, store.ErrMonitorChannelLimit):
		return fmt.Errorf("monitor %s: %w", req.Key.Channel, &CapError{Scope: watch.CapPerChannel, Limit: s.limits.PerChannel})
	case errors.Is(err, store.ErrMonitorTotalLimit):
		return fmt.Errorf("monitor %s: %w", req.Key.Channel, &CapError{Scope: watch.CapTotal, Limit: s.limits.Total})
	case err != nil:
		s.storeFailed("monitor add", err)
		return fmt.Errorf("monitor %s: %w", req.Key.Channel, err)
	}
	s.wake()
	return nil
}

// Remove stops monitoring addrs (nil: all) in k's thread.
func (s *Scheduler) Remove(ctx context.Context, k Key, addrs []netip.Addr) (int, error) {
	n, err := s.cfg.Store.RemoveMonitor(ctx, store.MonitorKey(k), addrs)
	if err != nil {
		s.storeFailed("monitor remove", err)
		return 0, fmt.Errorf("unmonitor %s: %w", k.Channel, err)
	}
	return n, nil
}

// ListChannel lists a channel's monitors (/rdns monitors).
func (s *Scheduler) ListChannel(ctx context.Context, channel string) ([]Info, error) {
	return s.infos(s.cfg.Store.MonitorsByChannel(ctx, channel))
}

// ListUser lists the monitors a user created (App Home).
func (s *Scheduler) ListUser(ctx context.Context, user string) ([]Info, error) {
	return s.infos(s.cfg.Store.MonitorsByUser(ctx, user))
}

func (s *Scheduler) infos(ms []store.Monitor, err error) ([]Info, error) {
	if err != nil {
		s.storeFailed("monitor list", err)
		return nil, fmt.Errorf("list monitors: %w", err)
	}
	out := make([]Info, len(ms))
	for i, m := range ms {
		out[i] = Info{Key: Key(m.MonitorKey), User: m.RequestedBy, Targets: m.Targets, Addresses: m.Addresses,
			Failing: m.Failing, Propagating: m.Propagating, Since: m.CreatedAt, NextCheck: m.NextCheck}
	}
	return out, nil
}

func (s *Scheduler) storeFailed(op string, err error) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.StoreFailed(op, err)
	}
}

// wake wakes the loop now (after work was added); it never blocks.
func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
