// Package store keeps rdnsbot's watches (an IP being rechecked for a Slack
// thread until its reverse DNS passes FCrDNS, RFC 8601 section 3 "iprev"), the
// recheck schedule, and the announcement intents that make every "fixed",
// "progress" and "expired" message reach each thread exactly once.
//
// Two implementations pass one contract test suite: Redis (NewRedis, Open;
// several bot replicas share one Redis deployment) and Memory (watches die
// with the process; main should log a warning when it uses it).
//
// # Model
//
// A Watch is one (IP, channel, thread) subscription. The schedule is keyed by
// IP: an IP watched from several threads is checked once per due time and the
// outcome is applied to all of its watches.
//
// The scheduler (package watch) drives the store, one round trip per pass:
//
//	res, _ := st.Cycle(ctx, now, done, 8, 2*time.Minute, time.Minute)
//	// res.Completed: which of done (finished rechecks) were applied
//	// res.Claims: due IPs and their watches, leased; diagnose each (DNS, no
//	//   store access) and pass the outcome as a Completion to the next Cycle
//	// res.Announcements: intents, leased; post each (Slack, keyed by
//	//   p.IdempotencyKey), then st.MarkPosted(ctx, p)
//	// res.Next: when to run the next pass
//
// Claiming a due IP moves its due time to the end of the lease, atomically:
// that is both the lease (no other replica sees the IP as due) and the retry
// time if this replica dies mid-check. Recording an outcome is fenced by the
// claim's token and fails with ErrLeaseLost once another replica has
// re-claimed the IP (or the outcome was recorded already). A watch added
// while the IP is being checked keeps its earlier due time. The Redis key
// schema is in docs/ARCHITECTURE.md.
//
// # Fairness and limits
//
// Due IPs are claimed round robin across channels (each IP is queued under
// the channel of the watch that scheduled it), least recently served channel
// first, so one channel's backlog cannot hold back another channel's
// rechecks. Add enforces Limits (watches per channel, per user and in total)
// in the same atomic step that adds the watch, so replicas sharing one Redis
// cannot overshoot them together.
//
// Announcements are recorded as intents with the outcome, in the same atomic
// step as the watch's state change, before anything is posted. At most one intent per
// watch is pending (fixed or expired supersede progress). A claimed intent is
// leased like a check; a poster that crashes or fails leaves it to be claimed
// again after the lease with Attempt+1 and the same IdempotencyKey, so the
// poster can look for its earlier message before posting again.
//
// The scheduler uses Add, Remove, ListByUser (App Home), ListByChannel
// (/rdns list) and Count on behalf of the handlers. Adding a watch that ended
// (fixed or expired, its final announcement possibly still pending) starts
// it again: that is "Keep watching".
//
// # Errors
//
// Methods of the Redis store fail with an error wrapping ErrUnavailable, fast
// (short dial and read timeouts), when Redis cannot be reached; handlers then
// say "watching is unavailable". A refusal Redis sent (a protected-mode
// DENIED, NOAUTH, WRONGPASS) is reported in Redis's own words. go-redis
// reconnects by itself, and every write is acknowledged only once the Redis
// master has applied it; see README.md "Reliability" for what an
// asynchronous replica may lose in a failover.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

var (
	// ErrUnavailable: the backing store could not be reached; nothing was
	// acknowledged, retry later.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrLeaseLost: the claim expired and the IP was claimed again elsewhere;
	// the outcome was not applied.
	ErrLeaseLost = errors.New("store: lease lost")
	// ErrInvalid: the watch is malformed (no IP, no channel, a field containing
	// the separators the encoding reserves).
	ErrInvalid = errors.New("store: invalid watch")
	// ErrLimit: Add refused a new watch because one of Limits was reached;
	// the error is one of the three below, which wrap it.
	ErrLimit        = errors.New("store: watch limit reached")
	ErrChannelLimit = fmt.Errorf("%w: per channel", ErrLimit)
	ErrUserLimit    = fmt.Errorf("%w: per user", ErrLimit)
	ErrTotalLimit   = fmt.Errorf("%w: in total", ErrLimit)
)

// Limits bound the watches Add accepts; zero means no limit. A watch counts
// from Add until it is removed or its final announcement is posted.
type Limits struct {
	PerChannel, PerUser, Total int
}

// Source says how a watch was started.
type Source string

const (
	SourceCommand  Source = "command"  // /rdns or /rdns watch
	SourceMention  Source = "mention"  // @rdnsbot <ip>
	SourceBounce   Source = "bounce"   // a bounce posted in a channel
	SourceButton   Source = "button"   // "Watch until fixed" or "Keep watching"
	SourceShortcut Source = "shortcut" // a message shortcut on a bounce
	SourceDM       Source = "dm"       // a direct message to the bot
)

// State is where a watch is in its life.
type State string

const (
	// StateActive: rechecked on schedule.
	StateActive State = "active"
	// StateFixed: the IP passed; the "fixed" announcement is pending, then the
	// watch is deleted.
	StateFixed State = "fixed"
	// StateExpired: WATCH_MAX_AGE passed; the "expired" announcement is
	// pending, then the watch is deleted.
	StateExpired State = "expired"
)

// Kind is the kind of an announcement posted in a watching thread.
type Kind string

const (
	// KindProgress: fixed at the authoritative servers, caches still serve the
	// old answer. Posted at most once per watch.
	KindProgress Kind = "progress"
	// KindFixed: FCrDNS passes everywhere; the watch ends.
	KindFixed Kind = "fixed"
	// KindExpired: the watch reached its maximum age; it ends.
	KindExpired Kind = "expired"
)

// Key identifies a watch.
type Key struct {
	IP      netip.Addr
	Channel string // Slack channel ID
	Thread  string // thread_ts of the thread the bot answers in
}

func (k Key) String() string { return k.IP.String() + " " + k.Channel + ":" + k.Thread }

// Watch is one thread's subscription to an IP's reverse DNS.
type Watch struct {
	Key
	RequestedBy string // Slack user ID
	Source      Source
	CreatedAt   time.Time // truncated to milliseconds; identifies this generation of the watch
	// HELO is the name the sending server announced, when known: rechecks
	// pass it to the diagnosis (helo_mismatch, the HELO identity's SPF).
	HELO string

	// Filled in by the store.
	State             State
	Pending           Kind // the announcement waiting to be posted, "" if none
	ProgressAnnounced bool

	// IP-wide, filled in by the store (Add takes them from the diagnosis
	// that started the watch): the last recheck's status, time (zero before
	// the first recheck) and reverse zone (for pacing), and the next check
	// (zero when none is scheduled).
	Status    diagnose.Status
	CheckedAt time.Time
	Zone      string
	NextCheck time.Time
}

// Claim is a due IP leased to one replica by Cycle.
type Claim struct {
	IP      netip.Addr
	Due     time.Time // when the check was due: how late it runs is Due's lag
	Zone    string    // the last diagnosis's reverse zone ("" when unknown)
	Checks  int       // rechecks completed so far for this IP
	Watches []Watch   // the IP's watches when claimed
	Token   int64     // fences the outcome's Completion
}

// Transition moves one watch (identified by Key and CreatedAt) on, and records
// the announcement intent for it.
type Transition struct {
	Key
	CreatedAt time.Time
	Kind      Kind
}

// Outcome is the result of one recheck of a claimed IP.
type Outcome struct {
	Result diagnose.Result // stored for the announcements of this outcome
	// Next is when the IP is due again if any watch is still active after
	// Transitions are applied.
	Next        time.Time
	Transitions []Transition
	// Now is when the recheck finished; intents become claimable from then.
	Now time.Time
	// Deferred: the check did not run (its reverse zone was paced); only
	// Next is applied, Result and Transitions are ignored and the IP's
	// check count and status stay as they were.
	Deferred bool
}

// Completion is a finished recheck: the claim it ran under and its outcome.
type Completion struct {
	Claim   Claim
	Outcome Outcome
}

// CycleResult is what one Cycle did.
type CycleResult struct {
	// Completed has one entry per Completion passed in: nil when it was
	// applied, ErrLeaseLost (wrapped) when not.
	Completed []error
	// Announcements and Claims were leased by this call.
	Announcements []Pending
	Claims        []Claim
	// Next is the earliest due time of a check or an announcement left
	// after the claims (zero when nothing is scheduled): the scheduler's
	// timer, without another round trip.
	Next time.Time
}

// Pending is an announcement intent claimed by Cycle.
type Pending struct {
	Watch  Watch
	Kind   Kind
	Result diagnose.Result
	// Attempt counts claims of this intent, starting at 1. Above 1 an earlier
	// attempt may have reached Slack: look for IdempotencyKey before posting.
	Attempt int
	// IdempotencyKey is the same on every attempt for this (watch generation,
	// kind) and differs for any other.
	IdempotencyKey string
}

// Store keeps watches and their schedule. Times are passed in (the Memory
// store's FirstDelivery excepted, which reads time.Now to expire event ids),
// so callers and tests control time.
type Store interface {
	// Add stores w (IP, Channel, RequestedBy, Source and CreatedAt are
	// required; Status, CheckedAt and Zone seed the IP's state when it is new)
	// and schedules its IP no later than due. It reports false when an
	// active watch for the key exists already (it is left as it is). A watch
	// that ended is started again. A new watch beyond lim fails with
	// ErrChannelLimit, ErrUserLimit or ErrTotalLimit, checked atomically with
	// the insertion.
	Add(ctx context.Context, w Watch, due time.Time, lim Limits) (added bool, err error)
	// Remove deletes a watch and any announcement pending for it.
	Remove(ctx context.Context, k Key) (removed bool, err error)
	ListByUser(ctx context.Context, user string) ([]Watch, error)
	ListByChannel(ctx context.Context, channel string) ([]Watch, error)
	// Count is how many watches count against Limits.Total.
	Count(ctx context.Context) (int, error)

	// Cycle is one pass of a scheduler, atomic and in one round trip: apply
	// the outcome of each of done (fenced by its claim's token), then claim
	// up to max announcement intents due at now (leased for announceLease),
	// then up to max minus those of the IPs due at now (leased for
	// checkLease, round robin across channels), then report the earliest due
	// time left. With max 0 it only records outcomes and reads that time.
	Cycle(ctx context.Context, now time.Time, done []Completion, max int, checkLease, announceLease time.Duration) (CycleResult, error)
	// MarkPosted records that p reached its thread. A fixed or expired watch
	// is then deleted. It does nothing when p was superseded meanwhile.
	MarkPosted(ctx context.Context, p Pending) error

	// FirstDelivery records a Slack event id for ttl (at least a
	// millisecond) and reports whether it is the first time any replica saw
	// it: Slack may redeliver an event to another connection, and each event
	// must be handled once. A malformed id or ttl is ErrInvalid.
	FirstDelivery(ctx context.Context, eventID string, ttl time.Duration) (bool, error)

	// Ping checks that the store is reachable and accepts the bot (for
	// /readyz and at startup); a refusal carries Redis's own message.
	Ping(ctx context.Context) error
	Close() error
}

// maxIDLen bounds the Slack IDs and timestamps a watch or an event carries
// (real ones are under 25 bytes). They arrive in Slack payloads and end up in
// Redis keys and fields: a bound keeps a forged one from bloating every index
// it is written to, and keeps records within Redis's compact encodings.
const maxIDLen = 64

// maxHELOLen bounds a stored HELO: a host name has at most 253 octets,
// an IPv6 address literal fewer.
const maxHELOLen = 255

// maxZoneLen is a DNS name's longest presentation form (RFC 1035 section
// 2.3.4: 255 octets).
const maxZoneLen = 255

// validate checks what every store requires of a new watch. The Redis
// encoding reserves '|', ' ' and ':' (channel IDs and thread timestamps never
// contain them; user IDs never contain '|' or ' '). An IPv6 zone ("%eth0")
// names an interface of one host, has no reverse DNS, and may hold any of
// those separators, so it is refused too.
func (w *Watch) validate() error {
	if err := checkAddr(w.IP); err != nil {
		return err
	}
	if err := checkIDs(w.Channel, w.Thread, w.RequestedBy, w.CreatedAt); err != nil {
		return err
	}
	if len(w.HELO) > maxHELOLen || strings.ContainsAny(w.HELO, "| \r\n") {
		return fmt.Errorf("%w: HELO %.80q", ErrInvalid, w.HELO)
	}
	switch w.Source {
	case SourceCommand, SourceMention, SourceBounce, SourceButton, SourceShortcut, SourceDM:
	default:
		return fmt.Errorf("%w: source %q", ErrInvalid, w.Source)
	}
	w.IP = w.IP.Unmap()
	w.CreatedAt = w.CreatedAt.Truncate(time.Millisecond)
	w.Zone = usableZone(w.Zone)
	return nil
}

// checkAddr refuses an invalid IP or one with an IPv6 zone.
func checkAddr(ip netip.Addr) error {
	if !ip.IsValid() || ip.Zone() != "" {
		return fmt.Errorf("%w: IP %q", ErrInvalid, ip)
	}
	return nil
}

// checkIDs checks the Slack IDs and creation time a watch or a monitor
// carries.
func checkIDs(channel, thread, user string, created time.Time) error {
	switch {
	case channel == "" || len(channel) > maxIDLen || strings.ContainsAny(channel, "| :"):
		return fmt.Errorf("%w: channel %.80q", ErrInvalid, channel)
	case len(thread) > maxIDLen || strings.ContainsAny(thread, "| :"):
		return fmt.Errorf("%w: thread %.80q", ErrInvalid, thread)
	case user == "" || len(user) > maxIDLen || strings.ContainsAny(user, "| "):
		return fmt.Errorf("%w: user %.80q", ErrInvalid, user)
	case created.IsZero():
		return fmt.Errorf("%w: no creation time", ErrInvalid)
	}
	return nil
}

// usableZone is z, or "" when z cannot be stored: the zone comes from DNS
// answers, so a name with the encoding's separators or longer than a DNS
// name can be only costs its IP the pacing, never the watch.
func usableZone(z string) string {
	if len(z) > maxZoneLen || strings.ContainsAny(z, "| ") {
		return ""
	}
	return z
}

// checkDelivery validates FirstDelivery's arguments the same way in every
// store. Redis would keep a key set with a zero TTL forever, and refuses a
// negative one.
func checkDelivery(eventID string, ttl time.Duration) error {
	switch {
	case eventID == "" || len(eventID) > maxIDLen:
		return fmt.Errorf("%w: event id %.80q", ErrInvalid, eventID)
	case ttl < time.Millisecond:
		return fmt.Errorf("%w: event TTL %s", ErrInvalid, ttl)
	}
	return nil
}

// idempotencyKey names one announcement of one generation of a watch.
func idempotencyKey(w Watch, k Kind) string {
	return fmt.Sprintf("rdns/%s/%s/%s/%s/%d", k, w.IP, w.Channel, w.Thread, w.CreatedAt.UnixMilli())
}

// sortWatches orders lists the same way in every store: by IP, then channel
// and thread.
func sortWatches(ws []Watch) {
	slices.SortFunc(ws, func(a, b Watch) int {
		return cmp.Or(a.IP.Compare(b.IP), cmp.Compare(a.Channel, b.Channel), cmp.Compare(a.Thread, b.Thread))
	})
}
