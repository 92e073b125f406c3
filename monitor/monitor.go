// Package monitor keeps addresses under check for good and announces in the
// monitor's Slack thread each confirmed change of their forward-confirmed
// reverse DNS (FCrDNS, RFC 8601 section 3 "iprev"): a regression (pass to
// fail or permerror), a PTR name changed, a sibling address broke, and their
// recoveries. Nothing otherwise.
//
// It follows package watch's design and uses the same store machinery
// (store.MonitorStore): each address is checked every Interval, the
// addresses of a monitor spread evenly over it so a /22 is never checked in
// one burst; a due address is claimed under a lease that is also its retry
// time; an outcome is recorded fenced by the claim's token, together with
// the announcement intent of its changes; the changes one monitor gathers
// are posted as one message, with an IdempotencyKey the poster keeps in the
// message metadata and looks for before posting again (Attempt > 1). Several
// replicas share the load through the store, each change announced once.
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
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
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
	Since  time.Time
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

// Store is what the scheduler needs of a store.
type Store = store.MonitorStore

// Caps bound the monitored addresses per Slack channel and in total. Zero
// means the default (DefaultCaps), negative no cap.
type Caps struct{ PerChannel, Total int }

// DefaultCaps: a /20 per channel; in total the 100,000 addresses one
// replica checks hourly (about 27 MB of Redis at ~270 bytes per address,
// BenchmarkRedisMemoryPerMonitoredAddress).
var DefaultCaps = Caps{PerChannel: 4096, Total: 100_000}

// ErrCapped: a cap stopped Add; the error is a *CapError.
var ErrCapped = errors.New("monitor: cap reached")

// CapError says which cap stopped Add.
type CapError struct {
	Scope watch.CapScope // watch.CapPerChannel or watch.CapTotal
	Limit int
}

func (e *CapError) Error() string {
	return fmt.Sprintf("monitor: cap reached: at most %d monitored addresses %s", e.Limit, e.Scope)
}

func (e *CapError) Unwrap() error { return ErrCapped }

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
	// Concurrency bounds the checks and posts at once: 16. 28 checks/s at
	// 20 ms of DNS need one slot; the rest is headroom for slow or silent
	// zones, and makes each store round trip record and claim a batch.
	Concurrency int
	// CheckLease, CheckTimeout, AnnounceLease, Poll: as in watch.Config
	// (2m, 1m, 1m, 30s).
	CheckLease, CheckTimeout, AnnounceLease, Poll time.Duration
	// Gather is how long the first change of a message waits for more of
	// the same monitor: 1m; negative: none.
	Gather time.Duration
	Logger *slog.Logger
}

// Scheduler checks monitored addresses and announces their changes.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	kick   chan struct{}
	limits store.MonitorLimits
}

// minInterval is MONITOR_INTERVAL's floor, meant for tests.
const minInterval = time.Second

// New checks cfg and fills in defaults.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Checker == nil || cfg.Announcer == nil {
		return nil, errors.New("monitor: Store, Checker and Announcer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = watch.SystemClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.Interval, time.Hour)
	if cfg.Interval < minInterval {
		return nil, fmt.Errorf("monitor: interval %s is below the minimum of %s", cfg.Interval, minInterval)
	}
	def(&cfg.UnansweredAfter, 6*time.Hour)
	def(&cfg.CheckLease, 2*time.Minute)
	def(&cfg.CheckTimeout, min(time.Minute, cfg.CheckLease/2))
	def(&cfg.AnnounceLease, time.Minute)
	def(&cfg.Poll, 30*time.Second)
	def(&cfg.Gather, time.Minute)
	cfg.Gather = max(cfg.Gather, 0)
	if cfg.CheckTimeout >= cfg.CheckLease {
		return nil, fmt.Errorf("monitor: CheckTimeout %s must be shorter than CheckLease %s", cfg.CheckTimeout, cfg.CheckLease)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	capOr := func(v, d int) int {
		if v == 0 {
			return d
		}
		return max(v, 0)
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger.With("pkg", "monitor"), kick: make(chan struct{}, 1),
		limits: store.MonitorLimits{PerChannel: capOr(cfg.Caps.PerChannel, DefaultCaps.PerChannel), Total: capOr(cfg.Caps.Total, DefaultCaps.Total)}}, nil
}

// Add monitors req.Addrs in req.Key's thread; a thread that has a monitor
// gets the addresses added (those it has keep their state). The addresses'
// first checks are spread over the interval. Errors: a *CapError
// (ErrCapped, nothing added), store errors, wrapped.
func (s *Scheduler) Add(ctx context.Context, req Request) error {
	now := s.cfg.Clock.Now()
	base := make(map[netip.Addr]diagnose.Result, len(req.Baseline))
	for _, r := range req.Baseline {
		if ip, err := netip.ParseAddr(r.IP); err == nil {
			base[ip.Unmap()] = r
		}
	}
	addrs := slices.Clone(req.Addrs)
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Unmap().Compare(b.Unmap()) })
	addrs = slices.CompactFunc(addrs, func(a, b netip.Addr) bool { return a.Unmap() == b.Unmap() })
	add := make([]store.MonitorAddr, len(addrs))
	for i, ip := range addrs {
		var st store.AddrState
		if r, ok := base[ip.Unmap()]; ok {
			st, _ = evaluate(ip.Unmap(), st, r, now, s.cfg.UnansweredAfter)
		}
		add[i] = store.MonitorAddr{IP: ip, State: st, Due: now.Add(s.spread(i, len(addrs)))}
	}
	m := store.Monitor{MonitorKey: store.MonitorKey(req.Key), RequestedBy: req.User, Targets: req.Targets, CreatedAt: now}
	_, err := s.cfg.Store.AddMonitor(ctx, m, add, s.limits)
	switch {
	case errors.Is(err, store.ErrMonitorChannelLimit):
		return fmt.Errorf("monitor %s: %w", req.Key.Channel, &CapError{Scope: watch.CapPerChannel, Limit: s.limits.PerChannel})
	case errors.Is(err, store.ErrMonitorTotalLimit):
		return fmt.Errorf("monitor %s: %w", req.Key.Channel, &CapError{Scope: watch.CapTotal, Limit: s.limits.Total})
	case err != nil:
		return fmt.Errorf("monitor %s: %w", req.Key.Channel, err)
	}
	s.wake()
	return nil
}

// spread is the first check's offset of the i-th of n addresses added
// together: evenly over the interval, the first at once.
func (s *Scheduler) spread(i, n int) time.Duration {
	return time.Duration(int64(s.cfg.Interval) / int64(n) * int64(i))
}

// Remove stops monitoring addrs (nil: all) in k's thread.
func (s *Scheduler) Remove(ctx context.Context, k Key, addrs []netip.Addr) (int, error) {
	n, err := s.cfg.Store.RemoveMonitor(ctx, store.MonitorKey(k), addrs)
	if err != nil {
		return 0, fmt.Errorf("unmonitor %s: %w", k.Channel, err)
	}
	return n, nil
}

// ListChannel lists a channel's monitors (/rdns monitors).
func (s *Scheduler) ListChannel(ctx context.Context, channel string) ([]Info, error) {
	return infos(s.cfg.Store.MonitorsByChannel(ctx, channel))
}

// ListUser lists the monitors a user created (App Home).
func (s *Scheduler) ListUser(ctx context.Context, user string) ([]Info, error) {
	return infos(s.cfg.Store.MonitorsByUser(ctx, user))
}

func infos(ms []store.Monitor, err error) ([]Info, error) {
	if err != nil {
		return nil, fmt.Errorf("list monitors: %w", err)
	}
	out := make([]Info, len(ms))
	for i, m := range ms {
		out[i] = Info{Key: Key(m.MonitorKey), User: m.RequestedBy, Targets: m.Targets, Addresses: m.Addresses,
			Failing: m.Failing, Propagating: m.Propagating, Since: m.CreatedAt, NextCheck: m.NextCheck}
	}
	return out, nil
}

func (s *Scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// observed is what one check found, normalised for comparison.
type observed struct {
	status   diagnose.Status
	names    []string
	siblings []string // failing, temperror excluded
}

func observe(r diagnose.Result) observed {
	o := observed{status: r.Status, names: normNames(r.PTRNames)}
	for _, sib := range r.FailingSiblings() {
		if sib.Status != diagnose.StatusTemperror {
			o.siblings = append(o.siblings, sib.IP)
		}
	}
	slices.Sort(o.siblings)
	o.siblings = slices.Compact(o.siblings)
	return o
}

func normNames(ns []string) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, strings.TrimSuffix(strings.ToLower(n), "."))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sig names an observation, to recognise it on the next check.
func (o observed) sig() string {
	h := fnv.New64a()
	h.Write([]byte(string(o.status) + "|" + strings.Join(o.names, ",") + "|" + strings.Join(o.siblings, ",")))
	return strconv.FormatUint(h.Sum64(), 36)
}

func (o observed) same(st store.AddrState) bool {
	return o.status == st.Status && slices.Equal(o.names, st.Names) && slices.Equal(o.siblings, st.FailingSiblings)
}

// authoritative reports whether the authoritative servers agree among
// themselves and answered (a usable second opinion), and their status.
func authoritative(r diagnose.Result) (diagnose.Status, bool) {
	if r.Source == nil || !r.Source.Agree || r.SourceUnreachable() || r.Source.Status == diagnose.StatusTemperror || r.Source.Status == "" {
		return "", false
	}
	return r.Source.Status, true
}

// sourceNames are the PTR names the reverse zone's servers gave.
func sourceNames(r diagnose.Result) []string {
	for _, a := range r.Source.Servers {
		if a.Error == "" && len(a.Addresses) == 0 && len(a.PTRNames) > 0 {
			return normNames(a.PTRNames)
		}
	}
	return []string{}
}

// evaluate compares a check's result with an address's state: the new state
// and the confirmed changes.
func evaluate(ip netip.Addr, st store.AddrState, r diagnose.Result, now time.Time, unansweredAfter time.Duration) (store.AddrState, []Change) {
	var out []Change
	if r.Status == diagnose.StatusTemperror || r.Status == "" {
		// Not an answer: neither a regression nor a confirmation.
		st.Candidate = ""
		if st.TempSince.IsZero() {
			st.TempSince = now
		}
		if !st.TempNoticed && now.Sub(st.TempSince) >= unansweredAfter {
			st.TempNoticed = true
			out = append(out, Change{Kind: ChangeDNSUnanswered, IP: ip, Before: st.Status, After: diagnose.StatusTemperror, Since: st.TempSince, Result: r})
		}
		return st, out
	}
	if st.TempNoticed {
		out = append(out, Change{Kind: ChangeDNSBack, IP: ip, Before: diagnose.StatusTemperror, After: r.Status, Result: r})
	}
	st.TempSince, st.TempNoticed = time.Time{}, false
	o := observe(r)
	src, ok := authoritative(r)
	st.Propagating = ok && src != r.Status
	switch {
	case st.Status == "": // the first answer is the baseline
		st.Status, st.Names, st.FailingSiblings, st.Candidate = o.status, o.names, o.siblings, ""
		return st, out
	case st.Propagating, o.same(st):
		st.Candidate = ""
		return st, out
	}
	confirmed := ok && (o.status == diagnose.StatusPermerror || slices.Equal(sourceNames(r), o.names))
	if sig := o.sig(); !confirmed && st.Candidate != sig {
		st.Candidate = sig // a second check must agree
		return st, out
	}
	c := Change{IP: ip, Before: st.Status, After: o.status, BeforeNames: st.Names, AfterNames: o.names, Result: r}
	switch was, is := st.Status == diagnose.StatusPass, o.status == diagnose.StatusPass; {
	case was && !is:
		c.Kind = ChangeRegression
	case !was && is:
		c.Kind = ChangeRecovery
	case !slices.Equal(st.Names, o.names) && len(o.names) > 0 && len(st.Names) > 0:
		c.Kind = ChangePTRChanged
	}
	if c.Kind != "" {
		out = append(out, c)
	}
	if broke := minus(o.siblings, st.FailingSiblings); len(broke) > 0 {
		out = append(out, Change{Kind: ChangeSiblingBroke, IP: ip, Before: st.Status, After: o.status, Siblings: broke, Result: r})
	}
	if back := minus(st.FailingSiblings, o.siblings); len(back) > 0 {
		out = append(out, Change{Kind: ChangeSiblingRecovered, IP: ip, Before: st.Status, After: o.status, Siblings: back, Result: r})
	}
	st.Status, st.Names, st.FailingSiblings, st.Candidate = o.status, o.names, o.siblings, ""
	return st, out
}

// minus is a without b (both sorted).
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}

// next keeps an address's phase in the interval: due + Interval, or the
// same phase in the next interval when the check ran that late.
func (s *Scheduler) next(due, now time.Time) time.Time {
	iv := s.cfg.Interval
	n := due.Add(iv)
	if !n.After(now) {
		n = n.Add(iv * (now.Sub(n)/iv + 1))
	}
	return n
}

// check runs one claimed check and returns its outcome for the loop.
func (s *Scheduler) check(ctx context.Context, c store.MonitorClaim) store.MonitorCompletion {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	r := s.cfg.Checker.DiagnoseIP(cctx, c.IP, diagnose.Options{}) // DiagnoseIP always asks DNS
	cancel()
	now := s.cfg.Clock.Now()
	if r.CheckedAt.IsZero() {
		r.CheckedAt = now
	}
	if r.IP == "" {
		r.IP = c.IP.String()
	}
	st, changes := evaluate(c.IP, c.State, r, now, s.cfg.UnansweredAfter)
	d := store.MonitorCompletion{Claim: c, State: st, Next: s.next(c.Due, now)}
	if len(changes) > 0 {
		var err error
		if d.Changes, err = json.Marshal(changes); err != nil {
			s.log.Error("changes not encoded", "ip", c.IP, "err", err)
		}
	}
	return d
}

// post delivers one announcement; on failure it is claimed again after its
// lease, with the same key.
func (s *Scheduler) post(ctx context.Context, p store.MonitorPending) {
	a := Announcement{Key: Key(p.Monitor.MonitorKey), RequestedBy: p.Monitor.RequestedBy, IdempotencyKey: p.IdempotencyKey, Attempt: p.Attempt}
	log := s.log.With("channel", p.Monitor.Channel, "attempt", p.Attempt, "key", p.IdempotencyKey)
	if err := json.Unmarshal(p.Changes, &a.Changes); err != nil {
		log.Error("announcement unreadable; dropped", "err", err)
	} else {
		slices.SortStableFunc(a.Changes, func(x, y Change) int { return x.IP.Compare(y.IP) })
		actx, cancel := context.WithTimeout(ctx, s.cfg.AnnounceLease/2)
		err := s.cfg.Announcer.AnnounceChanges(actx, a)
		cancel()
		switch {
		case errors.Is(err, watch.ErrUndeliverable):
			log.Warn("announcement undeliverable; given up", "err", err)
		case err != nil:
			log.Warn("announcement failed; retried after the lease", "err", err)
			return
		}
	}
	if err := s.cfg.Store.MarkMonitorPosted(ctx, p); err != nil {
		log.Warn("announcement posted but not recorded", "err", err)
	}
}

// Run checks and announces until ctx is done, then waits for the work in
// flight and records it. Each pass is one MonitorCycle: record the checks
// that finished, claim announcements and due addresses for the free slots,
// sleep until the earliest due time left (at most Poll).
func (s *Scheduler) Run(ctx context.Context) {
	timer := s.cfg.Clock.NewTimer(s.cfg.Clock.Now())
	defer timer.Stop()
	work := context.WithoutCancel(ctx)
	type result struct {
		c  store.MonitorCompletion
		ok bool // false: a post
	}
	finished := make(chan result, s.cfg.Concurrency)
	busy, failures := 0, 0
	var done []store.MonitorCompletion
	take := func(r result) {
		busy--
		if r.ok {
			done = append(done, r.c)
		}
	}
	defer func() {
		for ; busy > 0; take(<-finished) {
		}
		if len(done) > 0 {
			if _, err := s.cfg.Store.MonitorCycle(work, s.cfg.Clock.Now(), done, 0, s.cfg.CheckLease, s.cfg.AnnounceLease, s.cfg.Gather); err != nil {
				s.log.Warn("checks not recorded at shutdown; redone after the lease", "err", err, "count", len(done))
			}
		}
	}()
	for {
		now := s.cfg.Clock.Now()
		wake := now.Add(s.cfg.Poll)
		if free := s.cfg.Concurrency - busy; free > 0 || len(done) > 0 {
			res, err := s.cfg.Store.MonitorCycle(ctx, now, done, free, s.cfg.CheckLease, s.cfg.AnnounceLease, s.cfg.Gather)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				failures++
				wake = now.Add(min(time.Second<<min(failures-1, 5), 30*time.Second))
				s.log.Warn("monitor store unavailable, retrying", "err", err, "failures", failures)
				if !errors.Is(err, store.ErrUnavailable) {
					done = done[:0]
				}
			default:
				failures = 0
				for i, e := range res.Completed {
					if e != nil {
						s.log.Warn("check not recorded; redone after the lease", "ip", done[i].Claim.IP, "err", e)
					}
				}
				done = done[:0]
				for _, p := range res.Announcements {
					busy++
					go func() { s.post(work, p); finished <- result{} }()
				}
				for _, c := range res.Claims {
					busy++
					go func() { finished <- result{c: s.check(work, c), ok: true} }()
				}
				if !res.Next.IsZero() && busy < s.cfg.Concurrency {
					wake = now.Add(min(s.cfg.Poll, max(res.Next.Sub(now), 10*time.Millisecond)))
				}
			}
		}
		timer.Reset(wake)
		// A pass per finished check would cost a round trip each: wait
		// until half the slots are free (or the timer, at most Poll, or new
		// work), so each pass records and claims a batch.
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
				waiting = false
			case <-timer.C():
				waiting = false
			case r := <-finished:
				take(r)
				for drained := false; !drained; {
					select {
					case r := <-finished:
						take(r)
					default:
						drained = true
					}
				}
				waiting = busy > 0 && 2*(s.cfg.Concurrency-busy) < s.cfg.Concurrency
			}
		}
	}
}
